import Foundation
import SluiceCore
import SluiceDevKafka
import Synchronization
import Testing
@testable import SluiceKafka
import SluiceJob
import SluiceMapping

/// Acceptance tests of the reader against `sluice dev-kafka` (in-process), in both personalities.
@Suite struct ReaderDevKafkaTests {
    static let base: Int64 = 1_700_000_000_000

    func broker(_ version: KafkaVersion, _ topics: [DevKafkaTopic]) async throws -> DevKafkaBroker {
        try await DevKafkaBroker.start(version: version, topics: topics)
    }

    /// Reads a plan and returns the records copied out.
    func readAll(_ source: KafkaSource, _ plan: WindowPlan, options: ReadOptions = ReadOptions()) async throws
        -> ([OwnedRecord], ReadSummary) {
        let got = Collected()
        let summary = try await source.read(plan, options: options) { got.records += $0.owned().records }
        return (got.records, summary)
    }

    /// kcat's reading of the window, as "partition offset" lines.
    func kcatWindow(_ bootstrap: String, _ topic: String, start: Int64, end: Int64) async throws -> Set<String> {
        let kcat = which("kcat") ?? "/usr/bin/kcat"
        let r = try await run(kcat, ["-C", "-b", bootstrap, "-t", topic, "-o", "s@\(start)", "-o", "e@\(end)",
                                     "-e", "-q", "-f", "%p %o\\n"])
        #expect(r.status == 0, "kcat failed: \(r.stderr)")
        return Set(r.stdout.split(separator: "\n").map(String.init))
    }

    @Test(arguments: KafkaVersion.allCases)
    func windowEqualsWhatKcatReads(version: KafkaVersion) async throws {
        let topic = uniqueTopic("kcat")
        let b = try await broker(version, [DevKafkaTopic(name: topic, partitions: 3)])
        defer { Task { try? await b.shutdown() } }
        var rng = SystemRandomNumberGenerator()
        // Rising timestamps with random gaps, several batches per partition; partition 2 stays empty.
        for p: Int32 in 0...1 {
            var ts = Self.base
            for _ in 0..<6 {
                var records: [OwnedRecord] = []
                for _ in 0..<Int.random(in: 1...40, using: &rng) {
                    ts += Int64.random(in: 0...3000, using: &rng)
                    records.append(OwnedRecord(timestamp: ts, key: bytes("k"), value: bytes("v\(ts)")))
                }
                try b.produce(topic: topic, partition: p, records: records)
            }
        }
        let source = try KafkaSource(bootstrapServers: [b.bootstrapServers], topic: topic)
        for _ in 0..<4 {
            let start = Self.base + Int64.random(in: 0...200_000, using: &rng)
            let end = start + Int64.random(in: 0...400_000, using: &rng)
            let plan = try await source.plan(begin: .timestampMillis(start), end: .timestampMillis(end))
            let (records, summary) = try await readAll(source, plan)
            let ours = Set(records.map { "\($0.partition) \($0.offset)" })
            #expect(ours.count == records.count)
            let theirs = try await kcatWindow(b.bootstrapServers, topic, start: start, end: end)
            #expect(ours == theirs, "window \(start)..<\(end)")
            #expect(records.allSatisfy { $0.timestamp >= start && $0.timestamp < end })
            #expect(summary.late == 0 && summary.exceeding == 0)
            #expect(plan.partitions[2].isEmpty)
        }
    }

    @Test(arguments: KafkaVersion.allCases)
    func outOfOrderTimestampsFollowOffsetsForTimes(version: KafkaVersion) async throws {
        let topic = uniqueTopic("ooo")
        let b = try await broker(version, [DevKafkaTopic(name: topic, partitions: 1)])
        defer { Task { try? await b.shutdown() } }
        let stamps: [Int64] = [100, 900, 1000, 950, 1500, 1200, 2100, 1800, 2500, 1999, 3000]
        try b.produce(topic: topic, partition: 0, records: stamps.map { OwnedRecord(timestamp: $0, value: bytes("\($0)")) })
        let source = try KafkaSource(bootstrapServers: [b.bootstrapServers], topic: topic)
        let plan = try await source.plan(begin: .timestampMillis(1000), end: .timestampMillis(2000))
        // Lowest offset with ts ≥ 1000 is 2; lowest with ts ≥ 2000 is 6.
        #expect(plan.partitions[0].fromOffset == 2 && plan.partitions[0].toOffset == 6)
        let (records, summary) = try await readAll(source, plan)
        #expect(records.map(\.timestamp) == [1000, 950, 1500, 1200])
        #expect(summary.late == 1 && summary.exceeding == 0)
        // The end offset is the first record at or after the end, so nothing in the range exceeds
        // it; later records before the start are counted as late.
        let wide = try await source.plan(begin: .timestampMillis(1500), end: .timestampMillis(2400))
        #expect(wide.partitions[0].fromOffset == 4 && wide.partitions[0].toOffset == 8)
        let (wideRecords, counted) = try await readAll(source, wide)
        #expect(wideRecords.map(\.timestamp) == [1500, 1200, 2100, 1800])
        #expect(counted.exceeding == 0 && counted.late == 1)
    }

    @Test(arguments: KafkaVersion.allCases)
    func emptyAndSilentPartitionsEndTheRead(version: KafkaVersion) async throws {
        let topic = uniqueTopic("silent")
        let b = try await broker(version, [DevKafkaTopic(name: topic, partitions: 3)])
        defer { Task { try? await b.shutdown() } }
        // p0: records in the window and after; p1: empty; p2: only records long before the window.
        try b.produce(topic: topic, partition: 0, records: (0..<10).map { OwnedRecord(timestamp: Self.base + Int64($0) * 1000) })
        try b.produce(topic: topic, partition: 2, records: (0..<5).map { OwnedRecord(timestamp: 1000 + Int64($0)) })
        let source = try KafkaSource(bootstrapServers: [b.bootstrapServers], topic: topic)
        let plan = try await source.plan(begin: .timestampMillis(Self.base + 2000), end: .timestampMillis(Self.base + 60_000))
        #expect(plan.partitions.map(\.fromOffset) == [2, 0, 5])
        #expect(plan.partitions.map(\.toOffset) == [10, 0, 5])
        let (records, summary) = try await readAll(source, plan)
        #expect(records.map(\.offset) == Array(2..<10))
        #expect(summary.partitions.map(\.position) == [10, 0, 5])
        // A window after every record: empty everywhere, the read ends at once.
        let later = try await source.plan(begin: .timestampMillis(Self.base + 100_000), end: .timestampMillis(Self.base + 200_000))
        #expect(later.partitions.allSatisfy { $0.isEmpty })
        #expect(later.partitions.map(\.fromOffset) == [10, 0, 5])
        let (none, _) = try await readAll(source, later)
        #expect(none.isEmpty)
    }

    @Test func headersKeysAndValuesArriveAsProduced() async throws {
        let topic = uniqueTopic("hdr")
        let b = try await broker(.v2_2, [DevKafkaTopic(name: topic, partitions: 1)])
        defer { Task { try? await b.shutdown() } }
        let records = [
            OwnedRecord(timestamp: 10, key: bytes("key"), value: [0, 1, 2, 255],
                        headers: [KafkaHeader(name: "a", value: bytes("1")), KafkaHeader(name: "a", value: nil)]),
            OwnedRecord(timestamp: 11, key: nil, value: nil),
            OwnedRecord(timestamp: 12, key: [0, 0, 0, 0, 0, 0, 0, 42], value: Array(repeating: 7, count: 100_000)),
        ]
        try b.produce(topic: topic, partition: 0, records: records)
        let source = try KafkaSource(bootstrapServers: [b.bootstrapServers], topic: topic)
        let plan = try await source.plan(begin: .timestampMillis(0), end: .latest)
        let (got, _) = try await readAll(source, plan)
        #expect(got.map(\.key) == records.map(\.key))
        #expect(got.map(\.value) == records.map(\.value))
        #expect(got.map(\.headers) == records.map(\.headers))
        #expect(got.map(\.timestamp) == [10, 11, 12])
        #expect(got.allSatisfy { $0.timestampType == .createTime })
    }

    @Test func theFieldProgramRendersHeadersInPlaceFromLibrdkafka() async throws {
        let topic = uniqueTopic("hdrjson")
        let b = try await broker(.v2_2, [DevKafkaTopic(name: topic, partitions: 1)])
        defer { Task { try? await b.shutdown() } }
        let headerSets: [[KafkaHeader]] = [
            [KafkaHeader(name: "a", value: bytes("1")), KafkaHeader(name: "bin", value: [0xFF, 0x00]),
             KafkaHeader(name: "a", value: bytes("2")), KafkaHeader(name: "n", value: nil),
             KafkaHeader(name: "q\"", value: bytes("line\nbreak")), KafkaHeader(name: "a", value: nil)],
            [],
            [KafkaHeader(name: "", value: bytes(""))],
        ]
        try b.produce(topic: topic, partition: 0,
                      records: headerSets.enumerated().map { OwnedRecord(timestamp: Int64($0.offset), headers: $0.element) })
        let program = try FieldProgram(mapping: [("__headers__", ColumnSpec(name: "h", type: .string))])
        let source = try KafkaSource(bootstrapServers: [b.bootstrapServers], topic: topic)
        let plan = try await source.plan(begin: .timestampMillis(0), end: .latest)
        let rendered = Collected()
        let owned = Collected()
        _ = try await source.read(plan) { batch in
            var rows = RowBatch(columns: program.columns)
            var dirty = DirtyCollector(limit: ErrorLimit(records: 0))
            try program.run(batch, into: &rows, dirty: &dirty)   // over librdkafka's own buffers
            for r in 0..<rows.rowCount { rendered.texts.append(rows[r, 0]) }
            owned.records += batch.owned().records
        }
        #expect(rendered.texts == [
            .string(#"{"a":["1","2",null],"bin":"/wA=","n":null,"q\"":"line\nbreak"}"#), .string("{}"), .string(#"{"":""}"#),
        ])
        #expect(owned.records.map(\.headers) == headerSets)
    }

    @Test(arguments: KafkaVersion.allCases)
    func logAppendTimeTopics(version: KafkaVersion) async throws {
        let topic = uniqueTopic("lat")
        let b = try await DevKafkaBroker.start(version: version, topics: [DevKafkaTopic(name: topic, partitions: 1, logAppendTime: true)],
                                               clock: { 1_800_000_000_000 })
        defer { Task { try? await b.shutdown() } }
        try b.produce(topic: topic, partition: 0, records: [OwnedRecord(timestamp: 5, value: bytes("x"))])
        let source = try KafkaSource(bootstrapServers: [b.bootstrapServers], topic: topic)
        let plan = try await source.plan(begin: .timestampMillis(1_800_000_000_000), end: .timestampMillis(1_800_000_000_001))
        let (got, _) = try await readAll(source, plan)
        #expect(got.map(\.timestamp) == [1_800_000_000_000])
        #expect(got.first?.timestampType == .logAppendTime)
    }

    @Test func recordsWithoutTimestampsFailATimeWindow() async throws {
        let topic = uniqueTopic("nots")
        let b = try await broker(.v0_10_2, [DevKafkaTopic(name: topic, partitions: 1)])
        defer { Task { try? await b.shutdown() } }
        try b.produce(topic: topic, partition: 0, records: [OwnedRecord(timestamp: 1000), OwnedRecord(timestamp: -1)])
        let source = try KafkaSource(bootstrapServers: [b.bootstrapServers], topic: topic)
        let plan = try await source.plan(begin: .timestampMillis(500), end: .timestampMillis(5000))
        #expect(plan.partitions[0].fromOffset == 0 && plan.partitions[0].toOffset == 2)
        do {
            _ = try await readAll(source, plan)
            Issue.record("expected an error")
        } catch let e as SluiceError {
            #expect(e.message.contains("partition 0 offset 1 has no timestamp"))
            #expect(e.hint?.contains("0.10") == true)
        }
        // By offsets the same records read fine.
        let byOffset = try await source.plan(begin: .earliest, end: .latest)
        #expect(try await readAll(source, byOffset).0.count == 2)
    }

    @Test(arguments: KafkaVersion.allCases)
    func droppedConnectionsAndNotLeaderErrorsAreRetried(version: KafkaVersion) async throws {
        let topic = uniqueTopic("faults")
        let b = try await broker(version, [DevKafkaTopic(name: topic, partitions: 2)])
        defer { Task { try? await b.shutdown() } }
        for p: Int32 in 0...1 {
            for chunk in 0..<40 {
                try b.produce(topic: topic, partition: p, records: (0..<50).map {
                    OwnedRecord(timestamp: Self.base + Int64(chunk * 50 + $0), value: Array(repeating: 1, count: 300))
                })
            }
        }
        let config = [("max.partition.fetch.bytes", "20000"), ("fetch.max.bytes", "40000"), ("message.max.bytes", "40000"),
                      ("queued.max.messages.kbytes", "64")].map { KafkaSetting($0.0, $0.1) }
        let source = try KafkaSource(bootstrapServers: [b.bootstrapServers], topic: topic, settings: config)
        b.failNextRequests(apiKey: 2, count: 1, errorCode: 6)  // one ListOffsets: NOT_LEADER_FOR_PARTITION
        let plan = try await source.plan(begin: .timestampMillis(Self.base), end: .latest)
        #expect(plan.partitions.map(\.toOffset) == [2000, 2000])
        b.failNextRequests(apiKey: 1, count: 3, errorCode: 6)  // three Fetches: NOT_LEADER_FOR_PARTITION
        let got = Collected()
        var drops = 0
        let summary = try await source.read(plan, options: ReadOptions(maxBatchSize: 200)) { batch in
            got.records += batch.owned().records
            if got.records.count / 1000 > drops {
                drops += 1
                b.dropAllConnections()
            }
        }
        #expect(drops >= 3)
        #expect(summary.delivered == 4000)
        #expect(Set(got.records.map { "\($0.partition) \($0.offset)" }).count == 4000)
    }

    @Test(arguments: KafkaVersion.allCases)
    func retentionDeletingTheWindowIsAnError(version: KafkaVersion) async throws {
        let topic = uniqueTopic("ret")
        let b = try await broker(version, [DevKafkaTopic(name: topic, partitions: 2)])
        defer { Task { try? await b.shutdown() } }
        for p: Int32 in 0...1 {
            try b.produce(topic: topic, partition: p, records: (0..<100).map { OwnedRecord(timestamp: Self.base + Int64($0)) })
        }
        let source = try KafkaSource(bootstrapServers: [b.bootstrapServers], topic: topic)
        let plan = try await source.plan(begin: .offset(20), end: .offset(80))
        try b.deleteRecords(topic: topic, partition: 1, before: 50)
        do {
            _ = try await readAll(source, plan)
            Issue.record("expected an error")
        } catch let e as SluiceError {
            #expect(e.message.contains("partition 1"))
            #expect(e.message.contains("20..<50"))
            #expect(e.message.contains("retention"))
        }
        let (kept, summary) = try await readAll(source, plan, options: ReadOptions(autoOffsetReset: .earliest))
        #expect(kept.filter { $0.partition == 1 }.map(\.offset) == Array(50..<80))
        #expect(summary.delivered == 60 + 30)
        // Planning a window that starts in the deleted range fails the same way.
        do {
            _ = try await source.plan(begin: .offset(10), end: .offset(80), partitions: [1])
            Issue.record("expected an error")
        } catch let e as SluiceError {
            #expect(e.message.contains("10..<50"))
        }
    }

    @Test func retentionDeletingOffsetsMidReadIsAnError() async throws {
        let topic = uniqueTopic("ret-mid")
        let b = try await broker(.v2_2, [DevKafkaTopic(name: topic, partitions: 1)])
        defer { Task { try? await b.shutdown() } }
        for chunk in 0..<40 {
            try b.produce(topic: topic, partition: 0, records: (0..<50).map {
                OwnedRecord(timestamp: Self.base + Int64(chunk * 50 + $0), value: Array(repeating: 1, count: 300))
            })
        }
        let config = [("max.partition.fetch.bytes", "16000"), ("fetch.max.bytes", "16000"), ("message.max.bytes", "16000"),
                      ("queued.max.messages.kbytes", "16")].map { KafkaSetting($0.0, $0.1) }
        let source = try KafkaSource(bootstrapServers: [b.bootstrapServers], topic: topic, settings: config)
        let plan = try await source.plan(begin: .earliest, end: .latest)
        var delivered = 0
        var deleted = false
        do {
            _ = try await source.read(plan, options: ReadOptions(maxBatchSize: 50)) { batch in
                delivered += batch.count
                if !deleted {
                    deleted = true
                    try b.deleteRecords(topic: topic, partition: 0, before: 1900)
                }
            }
            Issue.record("expected an error")
        } catch let e as SluiceError {
            #expect(e.message.contains("partition 0"))
            #expect(e.message.contains("offset \(delivered) is no longer in the log"))
            #expect(e.message.contains("\(delivered)..<1900 were deleted by retention"))
        }
        #expect(delivered < 1900)
    }

    @Test(arguments: KafkaVersion.allCases)
    func groupOffsetsCommitAfterTheRead(version: KafkaVersion) async throws {
        let topic = uniqueTopic("grp")
        let b = try await broker(version, [DevKafkaTopic(name: topic, partitions: 2)])
        defer { Task { try? await b.shutdown() } }
        try b.produce(topic: topic, partition: 0, records: (0..<7).map { OwnedRecord(timestamp: Self.base + Int64($0)) })
        let source = try KafkaSource(bootstrapServers: [b.bootstrapServers], topic: topic, groupId: "lag-monitor")
        let plan = try await source.plan(begin: .earliest, end: .latest)
        _ = try await readAll(source, plan)
        #expect(b.committedOffset(group: "lag-monitor", topic: topic, partition: 0) == nil)  // reading commits nothing
        try await source.commitGroupOffsets(plan)
        #expect(b.committedOffset(group: "lag-monitor", topic: topic, partition: 0) == 7)
        #expect(b.committedOffset(group: "lag-monitor", topic: topic, partition: 1) == 0)
        try b.produce(topic: topic, partition: 0, records: [OwnedRecord(timestamp: Self.base + 100)])
        let next = try await source.plan(begin: .groupOffset, end: .latest)
        #expect(next.partitions.map(\.fromOffset) == [7, 0] && next.partitions.map(\.toOffset) == [8, 0])
    }

    @Test func missingTopicAndIdleReadAgainstDevKafka() async throws {
        let topic = uniqueTopic("idle")
        let b = try await broker(.v2_2, [DevKafkaTopic(name: topic, partitions: 2)])
        defer { Task { try? await b.shutdown() } }
        let missing = try KafkaSource(bootstrapServers: [b.bootstrapServers], topic: "absent-topic")
        await #expect(throws: SluiceError.self) { try await missing.plan(begin: .earliest, end: .latest) }

        try b.produce(topic: topic, partition: 0, records: (0..<5).map { OwnedRecord(timestamp: Self.base + Int64($0)) })
        let source = try KafkaSource(bootstrapServers: [b.bootstrapServers], topic: topic)
        let plan = try await source.plan(begin: .timestampMillis(Self.base), end: .timestampMillis(Self.base + 10))
        let clock = ManualClock()
        let got = Collected()
        var late = false
        let summary = try await source.read(plan, options: ReadOptions(completion: .idle(seconds: 60, alsoStopAtLatest: false),
                                                                       skipExceedRecord: true),
                                            clock: clock) { batch in
            got.records += batch.owned().records
            if got.records.count == 5 && !late {
                late = true
                // After planning: one record beyond the window's end, then a late one inside it.
                try b.produce(topic: topic, partition: 0, records: [OwnedRecord(timestamp: Self.base + 50),
                                                                    OwnedRecord(timestamp: Self.base + 3)])
            }
            if got.records.count == 6 { clock.advance(by: .seconds(60)) }
        }
        #expect(got.records.map(\.timestamp) == (0..<5).map { Self.base + Int64($0) } + [Self.base + 3])
        #expect(got.records.map(\.offset) == [0, 1, 2, 3, 4, 6])
        #expect(summary.skipped == 1 && summary.exceeding == 1)
        #expect(summary.plan.partitions.map(\.toOffset) == [7, 0])
    }
}

/// librdkafka 2.0 stops fetching while its queue is at the prefetch limit and looks again only at
/// its broker thread's next wake-up (up to a second later); the reader wakes it once it has drained
/// the queue.
@Suite struct PrefetchWakeUpTests {
    @Test func prefetchLimitsComeFromKafkaConfigOrSluicesDefaults() {
        #expect(Prefetch(properties: []) == Prefetch(properties: [KafkaSetting("queued.min.messages", String(Prefetch.defaultMessages)),
                                                                KafkaSetting("queued.max.messages.kbytes", String(Prefetch.defaultKiB))]))
        let p = Prefetch(properties: [KafkaSetting("queued.min.messages", "300"), KafkaSetting("queued.max.messages.kbytes", "64")])
        #expect(p.messages == 300)
        #expect(p.valueBytes == 64 * 1024)
    }

    @Test(arguments: KafkaVersion.allCases)
    func aReaderThatFillsThePrefetchWakesTheFetchers(version: KafkaVersion) async throws {
        let topic = uniqueTopic("wake")
        let b = try await DevKafkaBroker.start(version: version, topics: [DevKafkaTopic(name: topic, partitions: 2)])
        defer { Task { try? await b.shutdown() } }
        let base: Int64 = 1_700_000_000_000
        for p: Int32 in 0...1 {
            for chunk in 0..<10 {
                try b.produce(topic: topic, partition: p, records: (0..<200).map {
                    OwnedRecord(timestamp: base + Int64(chunk * 200 + $0), value: Array(repeating: 7, count: 300))
                })
            }
        }
        // One fetch (64 KiB per partition) brings more than the 300 records the queue may hold.
        let config = [("queued.min.messages", "300"), ("max.partition.fetch.bytes", "65536")]
            .map { KafkaSetting($0.0, $0.1) }
        let source = try KafkaSource(bootstrapServers: [b.bootstrapServers], topic: topic, settings: config)
        let plan = try await source.plan(begin: .earliest, end: .latest)
        var offsets = Set<String>()
        let summary = try await source.read(plan, options: ReadOptions(maxBatchSize: 50)) { batch in
            for i in 0..<batch.count { offsets.insert("\(batch.partition(at: i)) \(batch.offset(at: i))") }
        }
        #expect(summary.delivered == 4000)
        #expect(offsets.count == 4000)
        #expect(source.client.wakeUps.load(ordering: .relaxed) > 0)
    }
}
