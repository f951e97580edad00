import Synchronization
import SluiceCore

/// Destination `type: discard`: counts rows and drops them. A real sink for dry measurements of
/// reading and mapping; commits always succeed and nothing is stored.
public struct DiscardSink: Sink {
    public init() {}

    public func prepare(columns: [ColumnSpec], partitionKeys: [String]) async throws {}

    public func tableColumns() async throws -> [ColumnSpec]? { nil }

    public func open(partition: PartitionSpec, mode: WriteMode, columns: [ColumnSpec],
                     provenance: WriteProvenance) async throws -> any PartitionWriter {
        DiscardWriter()
    }

    /// Nothing is kept, so nothing was committed: running the attempt again changes nothing.
    public func commitState(of write: WriteReference) async throws -> CommitState { .notCommitted }

    public var replacesEarlierAppends: Bool { true }
}

/// Shards of a discarded write keep nothing: each counts its rows, and the commit adds them up.
extension DiscardSink: ShardedSink {
    public func beginShards(partition: PartitionSpec, mode: WriteMode, columns: [ColumnSpec],
                            provenance: WriteProvenance) async throws -> String { "discard" }

    public func openShard(token: String, shard: Int, fence: Int, partition: PartitionSpec,
                          columns: [ColumnSpec]) async throws -> any ShardWriter {
        DiscardWriter(shard: shard)
    }

    public func commitShards(token: String, partition: PartitionSpec, mode: WriteMode, columns: [ColumnSpec],
                             provenance: WriteProvenance, shards: [ShardWrite], outcome: WriteOutcome) async throws -> CommitResult {
        CommitResult(rowsWritten: shards.reduce(0) { $0 + $1.rows })
    }

    public func discardShards(token: String) async {}
}

final class DiscardWriter: ShardWriter {
    private let rows = Atomic<Int64>(0)
    private let shard: Int

    init(shard: Int = 0) { self.shard = shard }

    var written: ShardWrite { ShardWrite(shard: shard, rows: rows.load(ordering: .relaxed)) }

    func discard() async {}

    func write(_ batch: RowBatch) async throws {
        rows.add(Int64(batch.rowCount), ordering: .relaxed)
    }

    func commit(_ outcome: WriteOutcome) async throws -> CommitResult {
        CommitResult(rowsWritten: rows.load(ordering: .relaxed))
    }

    func abort() async {}
}
