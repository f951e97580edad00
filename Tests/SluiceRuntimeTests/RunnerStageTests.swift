import Foundation
import SluiceTestSupport
import SluiceCore
import Synchronization
import Testing
@testable import SluiceRuntime
import SluiceJob
@testable import SluiceLedger

/// A topic in memory: plans every record it holds, reads them as owned batches.
struct MemorySource: WindowSource {
    var topic = "events"
    var records: [OwnedRecord]

    func plan(begin: PlanBegin, end: PlanEnd, partitions: [Int32]?, autoOffsetReset: AutoOffsetReset,
              plannedAtMillis: Int64) async throws -> WindowPlan {
        let ids = Set(records.map(\.partition)).sorted()
        let parts = ids.map { p in
            let n = Int64(records.filter { $0.partition == p }.count)
            return PartitionPlan(partition: p, fromOffset: 0, toOffset: n, lowWatermark: 0, highWatermark: n)
        }
        return WindowPlan(topic: topic, startMillis: nil, endMillis: nil, plannedAtMillis: plannedAtMillis,
                          topicPartitionCount: Int32(ids.count), partitions: parts)
    }

    func read(_ plan: WindowPlan, options: ReadOptions, deliver: (OwnedRecordBatch) async throws -> Void) async throws -> ReadSummary {
        let inPlan = records.filter { r in plan.partition(r.partition).map { r.offset >= $0.fromOffset && r.offset < $0.toOffset } ?? false }
        try await deliver(OwnedRecordBatch(inPlan))
        return ReadSummary(plan: plan, partitions: plan.partitions.map { p in
            PartitionReadStats(partition: p.partition, delivered: Int64(inPlan.filter { $0.partition == p.partition }.count),
                               position: p.toOffset)
        })
    }

    func commitGroupOffsets(_ plan: WindowPlan) async throws {}
}

/// A destination in memory: committed rows per partition, and what `commitState` answers.
final class MemorySink: Sink, Sendable {
    let committed = Mutex<[String: Int64]>([:])
    let writes = Mutex<[WriteProvenance]>([])

    func prepare(columns: [ColumnSpec], partitionKeys: [String]) async throws {}
    func tableColumns() async throws -> [ColumnSpec]? { nil }
    func open(partition: PartitionSpec, mode: WriteMode, columns: [ColumnSpec],
              provenance: WriteProvenance) async throws -> any PartitionWriter {
        MemoryWriter(sink: self, partition: partition.description, provenance: provenance)
    }
    func commitState(of write: WriteReference) async throws -> CommitState {
        writes.withLock { w in w.contains { $0.instanceId == write.instanceId && $0.attempt == write.attempt } }
            ? .committed(rows: nil) : .notCommitted
    }
    var replacesEarlierAppends: Bool { true }
}

final class MemoryWriter: PartitionWriter {
    let sink: MemorySink
    let partition: String
    let provenance: WriteProvenance
    let rows = Mutex<Int64>(0)

    init(sink: MemorySink, partition: String, provenance: WriteProvenance) {
        self.sink = sink
        self.partition = partition
        self.provenance = provenance
    }
    func write(_ batch: RowBatch) async throws { rows.withLock { $0 += Int64(batch.rowCount) } }
    func commit(_ outcome: WriteOutcome) async throws -> CommitResult {
        let n = rows.withLock { $0 }
        sink.committed.withLock { $0[partition] = n }
        sink.writes.withLock { $0.append(provenance) }
        return CommitResult(rowsWritten: n)
    }
    func abort() async {}
}

/// The runner's stages with both edges faked: no broker, no warehouse.
@Suite struct RunnerStageTests {
    static func job(_ dir: String) throws -> LoadedJob {
        let yaml = """
        name: mem
        source: { bootstrapServers: "127.0.0.1:9", topic: events, timeZone: UTC, begin: { offset: 0 }, end: { latest: true } }
        columns: [__partition__, __offset__, id]
        destination: { path: w.db, table: t, partition: "ds=1", columns: [p, o, id], columnTypes: { p: BIGINT, o: BIGINT, id: BIGINT } }
        """
        return try JobLoader.parse(data: Data(yaml.utf8), fileName: dir + "/job.yaml", directory: dir)
    }

    @Test func aRunPlansStoresReadsMapsWritesAndRecords() async throws {
        let dir = try TemporaryDirectory()
        let records = (0..<30).map { i in
            OwnedRecord(partition: Int32(i % 3), offset: Int64(i / 3), timestamp: 1_669_111_200_000, value: Array(#"{"id":\#(i)}"#.utf8))
        }
        var options = RunOptions()
        options.scheduledTime = 1_669_115_100
        options.stateDirectory = dir.path
        options.showProgress = false
        let runner = InstanceRunner(job: try Self.job(dir.path), options: options)
        let sink = MemorySink()
        let report = try await runner.run(source: MemorySource(records: records), sink: sink)
        #expect(report.status == "succeeded" && report.records.read == 30 && report.records.written == 30)
        #expect(sink.committed.withLock { $0 } == ["ds=1": 30])
        let ledger = try await Ledgers.openSQLite(stateDirectory: dir.path)
        let id = try #require(report.instanceId)
        let plan = try #require(try await ledger.plan(id: id))
        #expect(plan.window.partitions.map(\.toOffset) == [10, 10, 10] && plan.job == "mem" && plan.partition == "ds=1")
        #expect(try await ledger.instance(id: id)?.counts.written == 30)
        #expect(try await ledger.commitRecord(id: id, attempt: 1)?.committedAt != nil)

        // A second run replays the stored plan, whatever the topic holds now.
        let more = records + (30..<60).map { OwnedRecord(partition: 0, offset: Int64(10 + $0 - 30), value: Array(#"{"id":\#($0)}"#.utf8)) }
        let again = try await runner.run(source: MemorySource(records: more), sink: sink)
        #expect(again.replayedPlan && again.records.written == 30)
        #expect(sink.writes.withLock { $0.map(\.attempt) } == [1, 2])
    }
}
