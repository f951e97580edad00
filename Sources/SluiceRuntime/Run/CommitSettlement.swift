import Foundation
import SluiceCore
import SluiceLedger

/// Settles an attempt that ended without recording its outcome (its process was killed, or the
/// ledger failed after the destination's commit): the destination is asked whether the attempt's
/// write committed, and a committed attempt is recorded as succeeded from the ledger's commit record
/// (counts, offsets read) without writing anything again.
///
/// Called under the instance's run lock, so no process runs the instance meanwhile: by a run before
/// it starts a new attempt, and by the scheduler before it decides on a retry.
public enum CommitSettlement {
    public enum Outcome: Sendable, Equatable {
        /// Nothing to settle: the instance's last attempt recorded its outcome, or never reached its
        /// commit.
        case nothingToSettle
        /// The destination has the attempt's rows; the instance is now recorded as succeeded.
        case settled(InstanceRecord, note: String)
        /// The attempt's write did not commit: running the instance again adds nothing twice.
        case notCommitted
        /// The destination cannot tell whether the attempt's write committed.
        case unknown(String)
    }

    /// Settles the last attempt of `instance` (as read under its run lock) against `sink`.
    public static func settle(_ instance: InstanceRecord, ledger: Ledger, sink: any Sink) async throws -> Outcome {
        guard instance.attempts > 0, instance.status != .succeeded, instance.status != .dryRun,
              let record = try await ledger.commitRecord(id: instance.id, attempt: instance.attempts),
              record.committedAt == nil else { return .nothingToSettle }
        let write = WriteReference(ledgerId: ledger.id, job: instance.job, instanceId: String(instance.id),
                                   attempt: record.attempt, partition: try PartitionSpec(parsing: record.partition),
                                   token: record.token)
        switch try await sink.commitState(of: write) {
        case .committed(let rows):
            var counts = record.counts
            if let rows { counts.written = rows }
            let note = "attempt \(record.attempt) had committed \(counts.written) row(s) to \(record.destination) "
                + "\(record.partition) before its process ended: settled as succeeded from the destination's record; nothing written again"
            let settled = try await ledger.finishCommitted(id: instance.id, attempt: record.attempt, counts: counts,
                                                           readEnds: record.readEnds, note: note)
            return .settled(settled, note: note)
        case .notCommitted:
            return .notCommitted
        case .unknown(let why):
            return .unknown(why)
        }
    }

    /// Whether a committed append of the instance is in the destination already (the ledger recorded
    /// its commit, or the instance succeeded with rows before commits were recorded).
    public static func hasCommittedAppend(_ instance: InstanceRecord, ledger: Ledger) async throws -> Bool {
        let commits = try await ledger.commitRecords(id: instance.id)
        if commits.contains(where: { $0.committedAt != nil && $0.mode == .append }) { return true }
        return commits.isEmpty && instance.status == .succeeded && instance.counts.written > 0
    }
}

/// Named moments of a run at which a test kills the process (`SLUICE_TEST_KILL_AT=POINT`), to
/// check what each leaves behind. With `SLUICE_TEST_KILL_ONCE=FILE` only the first process to reach
/// the point dies: it creates FILE, and a process that finds FILE goes on.
enum FaultInjection {
    static func reach(_ point: String) {
        let env = ProcessInfo.processInfo.environment
        guard let at = env["SLUICE_TEST_KILL_AT"], at == point else { return }
        if let once = env["SLUICE_TEST_KILL_ONCE"] {
            guard open(once, O_CREAT | O_EXCL | O_WRONLY, 0o644) >= 0 else { return }
        }
        FileHandle.standardError.write(Data("sluice: test fault point \(point) reached: SIGKILL\n".utf8))
        kill(getpid(), SIGKILL)
    }
}
