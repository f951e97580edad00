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

final class DiscardWriter: PartitionWriter {
    private let rows = Atomic<Int64>(0)

    func write(_ batch: RowBatch) async throws {
        rows.add(Int64(batch.rowCount), ordering: .relaxed)
    }

    func commit(_ outcome: WriteOutcome) async throws -> CommitResult {
        CommitResult(rowsWritten: rows.load(ordering: .relaxed))
    }

    func abort() async {}
}
