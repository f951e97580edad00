import Foundation
import Testing
@testable import SluiceCore
@testable import SluiceJob

@Suite struct PlanTests {
    func facts(_ p: Int32, low: Int64 = 0, high: Int64, start: Int64? = nil, end: Int64? = nil,
               committed: Int64? = nil, startFallback: Int64? = nil) -> PartitionFacts {
        PartitionFacts(partition: p, lowWatermark: low, highWatermark: high, startLookup: start,
                       endLookup: end, committedOffset: committed, startFallback: startFallback)
    }

    @Test func timeBoundsUseLookupsAndFallBackToTheLogEnd() throws {
        let plan = try WindowPlanner.plan(
            topic: "t", begin: .timestampMillis(1000), end: .timestampMillis(2000), topicPartitionCount: 4,
            facts: [facts(2, low: 5, high: 50, start: 10, end: 20),
                    facts(0, high: 30, start: 12, end: -1),          // no record ≥ end: high watermark
                    facts(1, high: 40, start: -1, end: -1, startFallback: 38),  // nothing in the window yet
                    facts(3, high: 0, start: nil, end: nil)],       // empty partition
            autoOffsetReset: .none, plannedAtMillis: 2500)
        #expect(plan.partitions.map(\.partition) == [0, 1, 2, 3])
        #expect(plan.partitions.map(\.fromOffset) == [12, 38, 10, 0])
        #expect(plan.partitions.map(\.toOffset) == [30, 40, 20, 0])
        #expect(plan.partitions.map(\.lowWatermark) == [0, 0, 5, 0])
        #expect(plan.startMillis == 1000 && plan.endMillis == 2000 && plan.plannedAtMillis == 2500)
        #expect(plan.topicPartitionCount == 4)
        #expect(plan.offsetCount == 18 + 2 + 10)
        #expect(plan.isByTime)
    }

    @Test func lookupsBeyondTheHighWatermarkAreClamped() throws {
        let plan = try WindowPlanner.plan(topic: "t", begin: .timestampMillis(0), end: .timestampMillis(5),
                                          topicPartitionCount: 1, facts: [facts(0, high: 10, start: 12, end: 15)],
                                          autoOffsetReset: .none, plannedAtMillis: 0)
        #expect(plan.partitions[0].fromOffset == 10 && plan.partitions[0].toOffset == 10)
    }

    @Test func offsetBounds() throws {
        let plan = try WindowPlanner.plan(topic: "t", begin: .offset(3), end: .offset(100), topicPartitionCount: 2,
                                          facts: [facts(0, high: 10), facts(1, high: 200)],
                                          autoOffsetReset: .none, plannedAtMillis: 0)
        #expect(plan.partitions.map(\.fromOffset) == [3, 3])
        #expect(plan.partitions.map(\.toOffset) == [10, 100])
        #expect(!plan.isByTime)
        #expect(throws: SluiceError.self) {
            try WindowPlanner.plan(topic: "t", begin: .offset(5), end: .offset(4), topicPartitionCount: 1,
                                   facts: [facts(0, high: 10)], autoOffsetReset: .none, plannedAtMillis: 0)
        }
        #expect(throws: SluiceError.self) {
            try WindowPlanner.plan(topic: "t", begin: .timestampMillis(5), end: .timestampMillis(4),
                                   topicPartitionCount: 1, facts: [facts(0, high: 10)], autoOffsetReset: .none,
                                   plannedAtMillis: 0)
        }
    }

    @Test func earliestLatestAndContiguous() throws {
        let plan = try WindowPlanner.plan(topic: "t", begin: .earliest, end: .latest, topicPartitionCount: 2,
                                          facts: [facts(0, low: 4, high: 10), facts(1, high: 7)],
                                          autoOffsetReset: .none, plannedAtMillis: 0)
        #expect(plan.partitions.map(\.fromOffset) == [4, 0])
        #expect(plan.partitions.map(\.toOffset) == [10, 7])
        let next = try WindowPlanner.plan(topic: "t", begin: .offsets(plan.endOffsets), end: .latest,
                                          topicPartitionCount: 3,
                                          facts: [facts(0, low: 4, high: 12), facts(1, high: 7), facts(2, low: 2, high: 3)],
                                          autoOffsetReset: .none, plannedAtMillis: 0)
        #expect(next.partitions.map(\.fromOffset) == [10, 7, 2])  // a new partition starts at its log start
        #expect(next.partitions.map(\.toOffset) == [12, 7, 3])
    }

    @Test func retentionLossIsAnErrorNamingPartitionAndRange() throws {
        let f = [facts(0, low: 0, high: 10), facts(1, low: 50, high: 90)]
        do {
            _ = try WindowPlanner.plan(topic: "orders", begin: .offset(20), end: .offset(70),
                                       topicPartitionCount: 2, facts: f, autoOffsetReset: .none, plannedAtMillis: 0)
            Issue.record("expected an error")
        } catch let e as SluiceError {
            // partition 0: 20 > high 10 (beyond the end); reported first
            #expect(e.message.contains("partition 0"))
        }
        do {
            _ = try WindowPlanner.plan(topic: "orders", begin: .offset(20), end: .offset(70), topicPartitionCount: 2,
                                       facts: [f[1]], autoOffsetReset: .none, plannedAtMillis: 0)
            Issue.record("expected an error")
        } catch let e as SluiceError {
            #expect(e.kind == .kafka)
            #expect(e.message.contains("partition 1"))
            #expect(e.message.contains("20..<50"))
            #expect(e.message.contains("retention"))
        }
        let earliest = try WindowPlanner.plan(topic: "orders", begin: .offset(20), end: .offset(70), topicPartitionCount: 2,
                                              facts: [f[1]], autoOffsetReset: .earliest, plannedAtMillis: 0)
        #expect(earliest.partitions[0].fromOffset == 50 && earliest.partitions[0].toOffset == 70)
        #expect(earliest.partitions[0].resetFromOffset == 20)
        let latest = try WindowPlanner.plan(topic: "orders", begin: .offset(20), end: .offset(70), topicPartitionCount: 2,
                                            facts: [f[1]], autoOffsetReset: .latest, plannedAtMillis: 0)
        #expect(latest.partitions[0].isEmpty)
    }

    @Test func groupOffsets() throws {
        let plan = try WindowPlanner.plan(topic: "t", begin: .groupOffset, end: .latest, topicPartitionCount: 2,
                                          facts: [facts(0, high: 10, committed: 6), facts(1, low: 3, high: 9, committed: nil)],
                                          autoOffsetReset: .earliest, groupId: "g", plannedAtMillis: 0)
        #expect(plan.partitions.map(\.fromOffset) == [6, 3])
        do {
            _ = try WindowPlanner.plan(topic: "t", begin: .groupOffset, end: .latest, topicPartitionCount: 1,
                                       facts: [facts(1, high: 9)], autoOffsetReset: .none, groupId: "g",
                                       plannedAtMillis: 0)
            Issue.record("expected an error")
        } catch let e as SluiceError {
            #expect(e.message.contains("consumer group g has no committed offset"))
            #expect(e.message.contains("partition 1"))
        }
    }

    @Test func revalidationOfAStoredPlan() throws {
        let plan = WindowPlan(topic: "t", startMillis: 1, endMillis: 2, plannedAtMillis: 3, topicPartitionCount: 2,
                              partitions: [PartitionPlan(partition: 0, fromOffset: 5, toOffset: 15, lowWatermark: 0, highWatermark: 20),
                                           PartitionPlan(partition: 1, fromOffset: 7, toOffset: 7, lowWatermark: 0, highWatermark: 7)])
        #expect(try WindowPlanner.revalidate(plan, watermarks: [0: (0, 30), 1: (9, 9)], autoOffsetReset: .none) == plan)
        #expect(throws: SluiceError.self) {
            try WindowPlanner.revalidate(plan, watermarks: [0: (8, 30), 1: (0, 9)], autoOffsetReset: .none)
        }
        let reset = try WindowPlanner.revalidate(plan, watermarks: [0: (8, 30), 1: (0, 9)], autoOffsetReset: .earliest)
        #expect(reset.partitions[0].fromOffset == 8 && reset.partitions[0].resetFromOffset == 5)
        #expect(throws: SluiceError.self) {  // truncated below the planned end
            try WindowPlanner.revalidate(plan, watermarks: [0: (0, 12), 1: (0, 9)], autoOffsetReset: .none)
        }
        #expect(throws: SluiceError.self) {  // partition gone
            try WindowPlanner.revalidate(plan, watermarks: [0: (0, 30)], autoOffsetReset: .none)
        }
    }

    @Test func plansRoundTripThroughJSON() throws {
        let plan = WindowPlan(topic: "t", startMillis: 1_700_000_000_000, endMillis: nil, plannedAtMillis: 3,
                              topicPartitionCount: 2,
                              partitions: [PartitionPlan(partition: 1, fromOffset: 5, toOffset: 15, lowWatermark: 0,
                                                         highWatermark: 20, resetFromOffset: 2)])
        let data = try JSONEncoder().encode(plan)
        #expect(try JSONDecoder().decode(WindowPlan.self, from: data) == plan)
        let summary = ReadSummary(plan: plan, partitions: [PartitionReadStats(partition: 1, delivered: 9, late: 1,
                                                                             exceeding: 2, skipped: 1, position: 15)])
        #expect(try JSONDecoder().decode(ReadSummary.self, from: JSONEncoder().encode(summary)) == summary)
        #expect(summary.delivered == 9 && summary.skipped == 1)
    }

    /// Whatever the broker answers, a plan stays inside the retained log and never runs backwards.
    @Test func plansStayInsideTheRetainedLog() throws {
        var rng = SystemRandomNumberGenerator()
        func maybe(_ range: ClosedRange<Int64>) -> Int64? {
            Bool.random(using: &rng) ? Int64.random(in: range, using: &rng) : nil
        }
        for _ in 0..<2000 {
            let low = Int64.random(in: 0...50, using: &rng)
            let high = low + Int64.random(in: 0...50, using: &rng)
            let f = PartitionFacts(partition: 0, lowWatermark: low, highWatermark: high,
                                   startLookup: maybe(-1...(high + 5)), endLookup: maybe(-1...(high + 5)),
                                   committedOffset: maybe(0...(high + 5)), startFallback: maybe(low...high))
            let begins: [PlanBegin] = [.timestampMillis(10), .offset(Int64.random(in: 0...120, using: &rng)), .earliest,
                                       .groupOffset, .offsets([0: Int64.random(in: 0...120, using: &rng)])]
            let ends: [PlanEnd] = [.timestampMillis(20), .offset(Int64.random(in: 0...120, using: &rng)), .latest]
            let reset = AutoOffsetReset.allCases.randomElement(using: &rng)!
            for begin in begins {
                for end in ends {
                    guard let plan = try? WindowPlanner.plan(topic: "t", begin: begin, end: end, topicPartitionCount: 1,
                                                             facts: [f], autoOffsetReset: reset, groupId: "g",
                                                             plannedAtMillis: 0) else {
                        continue
                    }
                    let p = plan.partitions[0]
                    #expect(low <= p.fromOffset && p.fromOffset <= p.toOffset && p.toOffset <= high,
                            "\(begin) \(end) \(reset) \(f) → \(p)")
                    if reset != .none {
                        continue
                    }
                    #expect(p.resetFromOffset == nil)
                }
            }
        }
    }

    @Test func beginAndEndFromJobBounds() {
        let b = PlanBegin(BeginBound.time("20250101000000")) { _ in 42 }
        #expect(b == .timestampMillis(42))
        #expect(PlanBegin(BeginBound.offset(7)) { _ in 0 } == .offset(7))
        #expect(PlanEnd(EndBound.latest) { _ in 0 } == .latest)
        #expect(PlanEnd(EndBound.timestampMillis("99")) { _ in 99 } == .timestampMillis(99))
    }
}
