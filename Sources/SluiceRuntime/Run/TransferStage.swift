import Foundation
import SluiceCore
import SluiceJob
import SluiceMapping
import SluiceLedger

/// Stage 3 of a run, the pipeline: source batches → field program → destination writer. The
/// partition is opened while the first records are read, and one row batch is written while the
/// next is read and mapped. Dirty records go to the ledger as they are found. On failure the writer
/// is aborted, so the destination is as it was.
struct TransferStage<Source: WindowSource> {
    let source: Source
    /// Opens what the rows are written to: the partition, or one shard's staging place.
    let open: @Sendable ([ColumnSpec]) async throws -> any PartitionWriter
    let program: FieldProgram
    let ledger: Ledger
    let instanceId: Int64
    let errorLimit: ErrorLimit
    let batchRows: Int
    let progress: RunProgress

    /// What the pipeline did: the open writer (not committed yet), the read's summary, the rows
    /// handed to the writer, the dirty-record counts, and the seconds the partition took to open.
    struct Transferred {
        var writer: any PartitionWriter
        var summary: ReadSummary
        var rowsHanded: Int64
        var dirty: Int64
        var overLength: Int64
        var openSeconds: Double
        /// Key and value bytes of the records read.
        var bytesRead: Int64
    }

    func run(_ window: WindowPlan, options: ReadOptions) async throws -> Transferred {
        let open = self.open, columns = program.columns
        // Opening an overwrite deletes the partition's old rows in the write transaction, which takes
        // a while for a large partition: it runs while the first records are read and mapped.
        let opening = Task { () -> (writer: any PartitionWriter, seconds: Double) in
            let started = ContinuousClock.now
            let w = try await open(columns)
            return (w, started.duration(to: .now).seconds)
        }
        var pendingWrite: Task<Void, any Error>?
        do {
            var dirty = DirtyCollector(limit: errorLimit)
            var rows = RowBatch(columns: columns, reservingRows: batchRows)
            var handed: Int64 = 0
            var bytesRead: Int64 = 0
            // At most two row batches are in memory: the one being written and the one being filled.
            let summary = try await source.read(window, options: options) { batch in
                progress.advance(by: batch)
                bytesRead += Self.bytes(of: batch)
                try await map(batch, into: &rows, dirty: &dirty)
                if rows.rowCount >= batchRows {
                    if let previous = pendingWrite {
                        pendingWrite = nil
                        try await previous.value
                    }
                    let full = rows
                    // The next batch's arena starts at the size this one reached.
                    rows = RowBatch(columns: columns, reservingRows: batchRows, bytes: full.arenaBytes)
                    handed += Int64(full.rowCount)
                    pendingWrite = Task { try await opening.value.writer.write(full) }
                }
            }
            if let previous = pendingWrite {
                pendingWrite = nil
                try await previous.value
            }
            let (writer, openSeconds) = try await opening.value
            FaultInjection.reach("after-open")
            if rows.rowCount > 0 {
                handed += Int64(rows.rowCount)
                try await writer.write(rows)
            }
            try dirty.finish()
            return Transferred(writer: writer, summary: summary, rowsHanded: handed, dirty: Int64(dirty.dirtyCount),
                               overLength: Int64(dirty.overLengthCount), openSeconds: openSeconds, bytesRead: bytesRead)
        } catch {
            if let pendingWrite { _ = try? await pendingWrite.value }
            if let writer = try? await opening.value.writer { await writer.abort() }
            throw error
        }
    }

    /// The key and value bytes of the batch's records.
    static func bytes(of batch: Source.Batch) -> Int64 {
        var total = 0
        for i in 0..<batch.count {
            total += batch.withKey(at: i) { $0?.count ?? 0 } + batch.withValue(at: i) { $0?.count ?? 0 }
        }
        return Int64(total)
    }

    /// Maps one batch, storing the dirty records it found (those before the limit, when it fails).
    private func map(_ batch: Source.Batch, into rows: inout RowBatch, dirty: inout DirtyCollector) async throws {
        do {
            try await program.runSplit(batch, into: &rows, dirty: &dirty)
        } catch {
            _ = try await ledger.addDirtyRecords(id: instanceId, dirty.takeRecords().map(Self.ledgerRecord))
            throw error
        }
        let kept = dirty.takeRecords()
        if !kept.isEmpty { _ = try await ledger.addDirtyRecords(id: instanceId, kept.map(Self.ledgerRecord)) }
    }

    static func ledgerRecord(_ d: DirtyRecord) -> LedgerDirtyRecord {
        LedgerDirtyRecord(partition: d.partition, offset: d.offset, timestampMillis: d.timestamp, column: d.column,
                          reason: d.reason.description, key: d.key, value: d.value)
    }
}
