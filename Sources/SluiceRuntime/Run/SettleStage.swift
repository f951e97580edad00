import Foundation
import Logging
import SluiceCore
import SluiceLedger

/// A failure after the destination committed: the rows are there, the ledger does not say so. The
/// attempt is then left for settlement rather than recorded as failed.
struct CommittedButUnrecorded: Error {
    var error: any Error
}

/// Stage 4 of a run: the commit and its record. The ledger records the attempt's commit first, then
/// the destination commits, then the ledger records the success, then the group offsets follow (for
/// lag monitors only). A run killed between the first two is settled from the destination by the
/// next run or the scheduler (see `CommitSettlement`).
struct SettleStage<Source: WindowSource> {
    let source: Source
    let ledger: Ledger
    let instance: InstanceRecord
    let mode: WriteMode
    let groupId: String?
    let logger: Logger

    /// Commits `transferred` and records it; fills in the report's counts, status and phases.
    func commit(_ transferred: TransferStage<Source>.Transferred, report: inout RunReport, lap: inout Stopwatch) async throws {
        let summary = transferred.summary
        let readEnds = summary.partitions.reduce(into: [Int32: Int64]()) { $0[$1.partition] = $1.position }
        var counts = report.records.ledgerCounts
        counts.written = transferred.rowsHanded
        let writer = transferred.writer
        do {
            try await ledger.prepareCommit(CommitRecord(
                instanceId: instance.id, attempt: instance.attempts, mode: mode, destination: report.destination,
                partition: report.partition, token: writer.commitToken, counts: counts, readEnds: readEnds))
        } catch {
            await writer.abort()
            throw error
        }
        FaultInjection.reach("before-commit")
        let committed: CommitResult
        do {
            committed = try await writer.commit(WriteOutcome(
                read: counts.read, dirty: counts.dirty, late: counts.late, early: counts.early, skipped: counts.skipped,
                readEnds: summary.plan.partitions.map {
                    PartitionOffsets(partition: $0.partition, from: $0.fromOffset, to: readEnds[$0.partition] ?? $0.toOffset)
                }))
        } catch {
            await writer.abort()
            throw error
        }
        FaultInjection.reach("after-commit")
        report.phases?.commit = lap.next()
        report.records.written = committed.rowsWritten
        do {
            try await ledger.finishCommitted(id: instance.id, attempt: instance.attempts, counts: report.records.ledgerCounts,
                                             readEnds: readEnds)
        } catch {
            throw CommittedButUnrecorded(error: error)
        }
        FaultInjection.reach("after-finish")
        report.status = "succeeded"
        do {
            try await source.commitGroupOffsets(summary.plan)
        } catch {
            logger.warning("group offsets not committed to \(groupId ?? ""): \(error)")
        }
    }
}
