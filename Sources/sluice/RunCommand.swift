import ArgumentParser
import Foundation
import SluiceCore
import SluiceRuntime
import SluiceScheduling

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run one instance of a job: read its Kafka window, write its partition.",
        discussion: """
        Resolves the scheduling parameters for the scheduled time (--at, read in the job's zone; default now), plans the window per partition and stores the plan in the ledger (--state-dir, default .sluice/ next to the job file) before reading, then reads, maps, writes and commits the destination partition atomically. Running the same instance again replays its stored plan, so the partition comes out identical while the data is retained; after a change of the job's window (begin, end, destination partition, topic, windowMode, Kafka partitions) it is refused, naming the change, unless --replan plans anew.

        An SQL node (a job with type: sql) runs its statements, parameters substituted, on its target in one transaction where the database has them, and prints each with the rows it changed; --dry-run prints them without running.

        Exit codes: 0 succeeded, 1 the instance failed (Kafka, destination, dirty-record limit, a failing statement), 2 invalid input.

        Examples:
          sluice run jobs/events_hourly.yaml --at "2022-11-22 10:05:00"
          sluice run jobs/events_hourly.yaml --at "2022-11-22 10:05:00" --dry-run
          sluice run jobs/events_daily_summary.yaml --at "2022-11-23 00:30:00"
          sluice run legacy.json --datasources ds.yaml --param startTime=20221122090000 \\
              --param endTime=20221122100000 --param partition=2022112209 --json
          sluice run jobs/events_daily.yaml --at "2022-11-23 00:30:00" --ledger postgresql://sluice@db/sluice --shards 4
        """)

    @Argument(help: "The job file.")
    var job: String

    @Option(help: ArgumentHelp("The scheduled time, e.g. \"2022-11-22 10:05:00\", in the job's scheduling zone.", valueName: "TIME"))
    var at: String?

    @Option(help: .hidden)
    var atEpoch: Int64?

    @Option(help: ArgumentHelp("Business date override (backfill semantics: ${…} sees it, $[…] the next day at --at's time).", valueName: "YYYYMMDD"))
    var bizdate: String?

    @OptionGroup var options: JobOptions

    @Flag(help: "Print the plan (window, per-partition offsets and record counts) and write nothing.")
    var dryRun = false

    @Flag(help: "Plan the window again instead of replaying the instance's stored plan.")
    var replan = false

    @Flag(help: "Create the destination table when it does not exist.")
    var createTable = false

    @Flag(help: "Wait for a running instance of the same job and partition instead of failing.")
    var wait = false

    @Flag(help: "Contiguous mode: let this instance take the records of earlier instances that have not run.")
    var allowGap = false

    /// Fault injection for the scheduler's crash tests: a run slow to start (milliseconds before anything else).
    @Option(help: .hidden)
    var startDelay: Int?

    @Option(help: ArgumentHelp("Run only as attempt N of the instance; refused (exit 1, nothing changed) when that attempt was made already. The scheduler passes it.", valueName: "N"))
    var attempt: Int?

    @OptionGroup var location: LedgerOptions

    @Option(help: ArgumentHelp("Seconds to wait for a destination another writer holds (SQLite warehouse; default 600).", valueName: "SECONDS"))
    var lockTimeout: Double?

    @Flag(help: "Run an append instance again although a destination that cannot replace its rows (MaxCompute) holds them already: they are added a second time.")
    var allowDuplicateAppend = false

    @Option(help: ArgumentHelp("Split the instance into N shards (default: the job's `shards:`, else 1), run by `sluice worker` processes on a PostgreSQL ledger.", valueName: "N"))
    var shards: Int?

    @Option(help: ArgumentHelp("0: run every shard in this process. Otherwise (the default) shards are left to `sluice worker` processes, and this process runs those no worker claimed within --worker-wait.", valueName: "N"))
    var workers: Int?

    @Option(help: ArgumentHelp("Seconds to wait for workers to claim shards before running them here.", valueName: "SECONDS"))
    var workerWait: Double = 30

    @Flag(help: "Print the outcome as JSON on standard output.")
    var json = false

    func validate() throws {
        if let shards, shards < 1 { throw ValidationError("--shards must be at least 1") }
        if let workers, workers < 0 { throw ValidationError("--workers must be 0 or more") }
    }

    func run() async throws {
        try await runReportingErrors {
            if let startDelay, startDelay > 0 { try await Task.sleep(for: .milliseconds(startDelay)) }
            let loaded = try options.load(job)
            for w in loaded.warnings { printError(w.description) }
            var runOptions = RunOptions()
            let zone = try SchedulingZone.forJob(loaded.spec, fallback: .machine)
            if let at {
                // Placed as the scheduler places the instance of that wall time (DST days).
                runOptions.scheduledTime = zone.scheduledInstant(for: try WallTime.parseDisplay(at, subject: "--at")).instant
            }
            if let bizdate {
                let date = try WallTime.parseDate(bizdate, subject: "--bizdate")
                runOptions.businessDate = date
                if at == nil {
                    runOptions.scheduledTime = zone.scheduledInstant(for: CivilDateTime(date: date.adding(days: 1), secondOfDay: 0)).instant
                }
            }
            // The scheduler passes the exact instant: a wall time in the hour repeated at a DST change is ambiguous.
            if let atEpoch { runOptions.scheduledTime = atEpoch }
            runOptions.dryRun = dryRun
            runOptions.replan = replan
            runOptions.createTable = createTable
            runOptions.waitForLock = wait
            runOptions.allowGap = allowGap
            runOptions.attempt = attempt
            runOptions.allowDuplicateAppend = allowDuplicateAppend
            runOptions.stateDirectory = location.stateDir
            runOptions.ledger = try location.location(jobFile: job)
            runOptions.launchedBy = ProcessInfo.processInfo.environment["SLUICE_SCHEDULER_ID"] ?? "manual"
            runOptions.destinationLockTimeout = lockTimeout
            runOptions.showProgress = !json
            runOptions.shards = shards
            runOptions.workers = workers
            runOptions.workerWait = workerWait
            runOptions.parameterOverrides = try JobFiles.parameters(options.params).reduce(into: [:]) { $0[$1.name] = $1.expression }
            runOptions.datasourcesPath = options.datasources
            let runner = InstanceRunner(job: loaded, options: runOptions)
            do {
                let report = try await runner.run()
                if json { print(try ReportText.json(report)) } else { print(ReportText.summary(report)) }
            } catch let failure as RunFailure {
                if json { print(try ReportText.json(failure.report)) } else { print(ReportText.summary(failure.report)) }
                throw failure.error
            }
        }
    }
}

/// Human and JSON renderings of a run report.
enum ReportText {
    static func json(_ report: RunReport) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try encoder.encode(report), as: UTF8.self)
    }

    static func summary(_ r: RunReport) -> String {
        var lines: [String] = []
        let id = r.instanceId.map { " #\($0)" } ?? ""
        lines.append("instance\(id) of \(r.job) scheduled \(r.scheduledTime) (bizdate \(r.businessDate)): \(r.status)")
        if let statements = r.statements {
            lines.append("  on \(r.destination)")
            for (i, st) in statements.enumerated() {
                let rows = st.rowsChanged.map { "  (\($0) row\($0 == 1 ? "" : "s") changed)" } ?? ""
                lines.append("  \(i + 1). \(st.sql.replacingOccurrences(of: "\n", with: " "))\(rows)")
            }
            if r.status != "planned" { lines.append("  in \(String(format: "%.2f", r.seconds))s") }
            if let e = r.error { lines.append("  error: \(e)") }
            return lines.joined(separator: "\n")
        }
        if let s = r.windowStart, let e = r.windowEnd { lines.append("  window  [\(s), \(e))") }
        lines.append("  topic \(r.topic) → \(r.destination) partition \(r.partition.isEmpty ? "(none)" : r.partition)"
                     + (r.replayedPlan ? "  (stored plan replayed)" : ""))
        for p in r.plan {
            var line = "  p\(p.partition)  offsets [\(p.fromOffset), \(p.toOffset))  \(max(0, p.toOffset - p.fromOffset)) planned"
            if let read = p.read { line += ", \(read) read" }
            if let late = p.late, late > 0 { line += ", \(late) late" }
            if let early = p.early, early > 0 { line += ", \(early) at/after end" }
            if let end = p.readEnd, end > p.toOffset { line += ", read on to \(end)" }
            line += "  (log \(p.lowWatermark)…\(p.highWatermark))"
            lines.append(line)
        }
        if r.status != "planned" {
            let c = r.records
            lines.append("  records: \(c.read) read, \(c.written) written, \(c.dirty) dirty, \(c.late) late, \(c.early) early, \(c.skipped) skipped  in \(String(format: "%.2f", r.seconds))s")
        }
        if let s = r.settled { lines.append("  settled: \(s)") }
        if let e = r.error { lines.append("  error: \(e)") }
        return lines.joined(separator: "\n")
    }
}
