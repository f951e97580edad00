import Foundation
import Logging
import SluiceCore
import SluiceLedger

/// The run of an SQL node (`type: sql`): the instance is resolved, its run lock taken and its
/// attempt started as a sync's are; then its statements, parameters substituted, run on the target,
/// and the ledger records the outcome. There is no commit to settle: an attempt whose process ended
/// before the ledger recorded its outcome runs its statements again, so a node's statements should
/// be safe to run again (DELETE then INSERT, INSERT OVERWRITE), as DataWorks asks of rerunnable nodes.
struct SQLNodeRun {
    let runner: InstanceRunner
    let target: any SQLTarget

    func run() async throws -> RunReport {
        let started = ContinuousClock.now
        let prepare = PrepareStage(runner: runner)
        var run = try prepare.resolve()
        let statements = run.resolved.statements ?? []
        run.report.destination = target.description
        run.report.statements = statements.map { RunReport.Statement(sql: $0, rowsChanged: nil) }
        if runner.options.dryRun {
            run.report.seconds = started.duration(to: .now).seconds
            return run.report
        }
        let (ledger, lock, instance) = try await prepare.startAlone(run, wait: runner.options.waitForLock)
        let log = LedgerLog(ledger: ledger)
        let logger = runner.instanceLogger(log, instance: instance)
        var report = run.report
        report.instanceId = instance.id
        let outcome: Result<RunReport, any Error>
        do {
            let changed = try await target.execute(SQLScript(statements: statements))
            for (i, rows) in changed.enumerated() { report.statements?[i].rowsChanged = rows }
            report.records.written = changed.reduce(0) { $0 + ($1 ?? 0) }
            report.seconds = started.duration(to: .now).seconds
            _ = try await ledger.finish(id: instance.id, status: .succeeded, counts: report.records.ledgerCounts)
            report.status = "succeeded"
            logger.info("ran \(statements.count) statement(s) on \(target.description): \(report.records.written) row(s) changed")
            outcome = .success(report)
        } catch {
            report.seconds = started.duration(to: .now).seconds
            outcome = .failure(await runner.recordFailure(error, report: report, ledger: ledger, instance: instance, logger: logger))
        }
        await InstanceRunner.endAttempt(log: log, lock: lock, ledger: ledger)
        return try outcome.get()
    }
}
