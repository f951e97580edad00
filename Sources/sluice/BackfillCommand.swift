import ArgumentParser
import Foundation
import SluiceCore
import SluiceRuntime
import SluiceScheduling
import SluiceLedger
import SluiceJob

struct BackfillCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backfill",
        abstract: "Run a job's instances for a range of business dates.",
        discussion: """
        DataWorks semantics: for each business date D in [--from, --to], the cycle's instances of day D + 1 run with ${…} seeing D and $[…] the instance's time on D + 1. Each runs as a child `sluice run` (its stored plan replayed when it already ran). Within a day instances run one after another when the job is self-dependent (dependsOnPrevious, default for contiguous jobs), else up to --max-parallel at once; --parallel-days days run at a time. A line per finished day. After a failed day no new day starts unless --continue.

        With --downstream, the jobs that depend on this one (schedule.dependsOn, directly or through other jobs, among the job files the scheduler registered in the ledger) are backfilled after it over the same dates, upstream first; a downstream job does not start when an upstream one did not complete.

        Exit codes: 0 every instance succeeded, 1 some failed or were not run, 2 invalid input.

        Examples:
          sluice backfill jobs/events_hourly.yaml --from 20221101 --to 20221107 --parallel-days 3
          sluice backfill jobs/events_hourly.yaml --from 20221101 --to 20221101 --downstream
        """)

    @Argument(help: "The job file.")
    var job: String

    @Option(help: ArgumentHelp("First business date.", valueName: "YYYYMMDD"))
    var from: String

    @Option(help: ArgumentHelp("Last business date (inclusive).", valueName: "YYYYMMDD"))
    var to: String

    @Option(help: "Business dates run at a time.")
    var parallelDays = 1

    @Option(help: "Instances of one day run at a time when the job is not self-dependent.")
    var maxParallel = 4

    @Flag(name: .customLong("continue"), help: "Keep starting days after a day failed.")
    var continueAfterFailure = false

    @OptionGroup var location: LedgerOptions

    @Option(name: .customLong("datasources"), help: ArgumentHelp("A YAML file of named connections.", valueName: "FILE"))
    var datasources: String?

    @Flag(help: "Rerun append instances whose rows a destination that cannot replace them (MaxCompute) holds already, adding them again.")
    var allowDuplicateAppend = false

    @Flag(help: "Then backfill the jobs that depend on this one, over the same dates, upstream first.")
    var downstream = false

    @Flag(help: "Print the per-day results as JSON at the end.")
    var json = false

    func run() async throws {
        try await runReportingErrors {
            let loaded = try JobFiles.load(path: job, datasourcesPath: datasources)
            for w in loaded.warnings { printError(w.description) }
            let fromDate = try WallTime.parseDate(from, subject: "--from")
            let toDate = try WallTime.parseDate(to, subject: "--to")
            guard parallelDays >= 1, maxParallel >= 1 else {
                throw SluiceError.invalid("--parallel-days and --max-parallel must be at least 1")
            }
            let ledger = try await Ledgers.open(try location.location(jobFile: job))
            try await ledger.registerJob(loaded.spec.name, path: (job as NSString).standardizingPath)
            let jobs = [loaded] + (downstream ? try await JobFiles.downstream(of: loaded, in: ledger) : [])
            for j in jobs {
                guard try await backfill(j, from: fromDate, to: toDate, ledger: ledger) else {
                    let rest = jobs.drop { $0.spec.name != j.spec.name }.dropFirst().map(\.spec.name)
                    throw SluiceError(.failed, "the backfill of \(j.spec.name) did not complete"
                                      + (rest.isEmpty ? "" : "; not started: \(rest.joined(separator: ", "))"),
                                      hint: "see `sluice instance list \(j.path) --status failed`, fix, and run the backfill again (succeeded instances replay their plans)")
                }
            }
        }
    }

    /// Backfills one job; returns whether every day completed.
    private func backfill(_ loaded: LoadedJob, from fromDate: CivilDate, to toDate: CivilDate, ledger: any Ledger) async throws -> Bool {
        let executor = ProcessExecutor(binary: ProcessExecutor.currentBinary, ledger: ledger,
                                       extraArguments: (datasources.map { ["--datasources", $0] } ?? [])
                                           + (allowDuplicateAppend ? ["--allow-duplicate-append"] : []),
                                       environment: location.ledger.map { ["SLUICE_LEDGER": $0] } ?? [:])
        let backfill = Backfill(job: loaded, from: fromDate, to: toDate, parallelDays: parallelDays,
                                maxParallelPerDay: maxParallel, continueOnFailure: continueAfterFailure,
                                ledger: ledger, stateDirectory: location.directory(jobFile: job), executor: executor)
        let json = self.json, name = loaded.spec.name, several = downstream
        let results = try await backfill.run { r in
            guard !json else { return }
            var line = (several ? "\(name) " : "") + "\(r.businessDate): \(r.succeeded)/\(r.instances) succeeded"
            if r.dryRun > 0 { line += ", \(r.dryRun) dry run" }
            if r.failed > 0 { line += ", \(r.failed) FAILED" }
            if r.notRun > 0 { line += ", \(r.notRun) not run" }
            line += String(format: " in %.1fs (instances %@)", r.seconds, r.instanceIds.map(String.init).joined(separator: ","))
            print(line)
        }
        let days = toDate.dayNumber - fromDate.dayNumber + 1
        if json {
            print(try InstanceText.jsonString(results))
        } else {
            let failedDays = results.filter { !$0.ok }.count
            print("backfill of \(name): \(results.count - failedDays) of \(days) day(s) succeeded"
                  + (results.count < days ? ", \(days - Int64(results.count)) not started after a failure" : ""))
        }
        return !results.contains(where: { !$0.ok }) && Int64(results.count) == days
    }
}
