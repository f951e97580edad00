import Foundation
import SluiceTestSupport
import SluiceCore
import Testing
@testable import SluiceLedger

/// Shards in the ledger, on both stores: claims with leases and fences, a claim taken over after
/// its lease ran out, a stale holder that can neither renew nor finish, and a closed set.
@Suite struct LedgerShardContractTests {
    static func window(_ ranges: [(Int32, Int64, Int64)]) -> WindowPlan {
        WindowPlan(topic: "events", startMillis: 0, endMillis: 1, plannedAtMillis: 1, topicPartitionCount: 3,
                   partitions: ranges.map { PartitionPlan(partition: $0.0, fromOffset: $0.1, toOffset: $0.2, lowWatermark: 0, highWatermark: $0.2) })
    }

    static func result(_ plan: WindowPlan, rows: Int64) -> ShardResult {
        ShardResult(summary: ReadSummary(plan: plan, partitions: plan.partitions.map { PartitionReadStats(partition: $0.partition, delivered: rows, position: $0.toOffset) }),
                    rows: rows, dirty: 0, overLength: 0, bytesRead: 0, seconds: 0.1, written: ShardWrite(shard: 0, location: "stage", rows: rows))
    }

    @Test(arguments: LedgerStore.allCases) func claimsFencesAndTakeOvers(store: LedgerStore) async throws {
        let clock = ManualTestClock()
        let ledger = try await store.newLocation().open(clock)
        let r = try await ledger.startAttempt(NewInstance(job: "j", scheduledAt: hour(1)))
        let plans = [Self.window([(0, 0, 10)]), Self.window([(1, 0, 10)])]
        let spec = ShardSetSpec(jobPath: "/jobs/j.yaml", jobDigest: "ab", parameters: [:], datasourcesPath: nil, scheduledTime: 1,
                                businessDate: nil, partition: "ds=1", token: "t", count: 2)
        try await ledger.createShards(id: r.id, attempt: 1, job: "j", spec: spec, plans: plans)

        let a = try #require(try await ledger.claimShard(worker: "a", leaseUntil: clock.now.addingTimeInterval(10), only: nil))
        #expect(a.shard.shard == 0 && a.shard.fence == 1 && a.set == spec && a.job == "j" && a.shard.plan == plans[0])
        let b = try #require(try await ledger.claimShard(worker: "b", leaseUntil: clock.now.addingTimeInterval(10), only: (r.id, 1)))
        #expect(b.shard.shard == 1)
        #expect(try await ledger.claimShard(worker: "c", leaseUntil: clock.now.addingTimeInterval(10), only: nil) == nil)

        // a's lease runs out: c takes shard 0 over; a can neither renew nor finish it.
        clock.advance(seconds: 11)
        #expect(try await ledger.renewShard(id: r.id, attempt: 1, shard: 1, fence: 1, leaseUntil: clock.now.addingTimeInterval(10)))
        let c = try #require(try await ledger.claimShard(worker: "c", leaseUntil: clock.now.addingTimeInterval(10), only: nil))
        #expect(c.shard.shard == 0 && c.shard.fence == 2)
        #expect(try await !ledger.renewShard(id: r.id, attempt: 1, shard: 0, fence: 1, leaseUntil: clock.now.addingTimeInterval(10)))
        #expect(try await !ledger.finishShard(id: r.id, attempt: 1, shard: 0, fence: 1, result: Self.result(plans[0], rows: 9), error: nil))
        #expect(try await ledger.finishShard(id: r.id, attempt: 1, shard: 0, fence: 2, result: Self.result(plans[0], rows: 10), error: nil))
        #expect(try await ledger.finishShard(id: r.id, attempt: 1, shard: 1, fence: 1, result: nil, error: "bad"))

        let shards = try await ledger.shards(id: r.id, attempt: 1)
        #expect(shards.map(\.status) == [.done, .failed])
        #expect(shards[0].worker == "c" && shards[0].result?.rows == 10 && shards[0].fence == 2)
        #expect(shards[1].error == "bad" && shards[1].result == nil)
    }

    @Test(arguments: LedgerStore.allCases) func aClosedSetCannotBeClaimedOrFinished(store: LedgerStore) async throws {
        let clock = ManualTestClock()
        let ledger = try await store.newLocation().open(clock)
        let r = try await ledger.startAttempt(NewInstance(job: "j", scheduledAt: hour(1)))
        let plan = Self.window([(0, 0, 10)])
        let spec = ShardSetSpec(jobPath: "/j", jobDigest: "", parameters: [:], datasourcesPath: nil, scheduledTime: 1,
                                businessDate: "20221121", partition: "", token: "t", count: 2)
        try await ledger.createShards(id: r.id, attempt: 1, job: "j", spec: spec, plans: [plan, plan])
        let a = try #require(try await ledger.claimShard(worker: "a", leaseUntil: clock.now.addingTimeInterval(10), only: nil))
        try await ledger.closeShards(id: r.id, attempt: 1)
        #expect(try await ledger.claimShard(worker: "b", leaseUntil: clock.now.addingTimeInterval(10), only: nil) == nil)
        #expect(try await !ledger.finishShard(id: r.id, attempt: 1, shard: a.shard.shard, fence: 1, result: Self.result(plan, rows: 1), error: nil))
        #expect(try await !ledger.renewShard(id: r.id, attempt: 1, shard: a.shard.shard, fence: 1, leaseUntil: clock.now))
    }
}
