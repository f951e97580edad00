import ArgumentParser
import Dispatch
import Foundation
import SluiceCore
import Synchronization
import SluiceRuntime
import SluiceConsole
import SluiceLedger
import ServiceLifecycle
#if canImport(Glibc)
import Glibc
#endif

struct SchedulerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scheduler",
        abstract: "Run jobs on their schedules until stopped.",
        discussion: """
        Creates an instance in the ledger for every scheduled time of every job (files, or directories of .yaml/.yml/.json job files with a schedule block), and runs each as a child process `sluice run JOB --state-dir DIR --attempt N` when its time has come and its conditions hold (self-dependency, --max-parallel), with retries, timeouts and catch-up after downtime as the job's schedule says. Job files are reloaded when they change; an invalid new version keeps the last valid one.

        The ledger is --state-dir (default: .sluice/ next to the first job file or in the directory), one scheduler per state directory; or a PostgreSQL database (--ledger URL, or SLUICE_LEDGER), which several schedulers on several hosts share: each scheduled instance runs once, claimed by one scheduler with a lease that it renews while it runs the instance; when a scheduler dies, another takes its instances over once the lease has run out. Each attempt records the --id of the scheduler that launched it. SIGTERM/SIGINT: stop starting instances, let running ones finish for --stop-timeout seconds, then abort them (destinations unchanged; they run again at the next start). After a crash (SIGKILL), runs the previous scheduler started go on and are watched until they end, never started a second time; a run whose process died without an outcome is settled from its destination first (an attempt that had committed is recorded as succeeded, nothing runs again), and otherwise recorded as interrupted and retried.

        Examples:
          sluice scheduler jobs/ --state-dir /var/lib/sluice --max-parallel 4
          sluice scheduler jobs/events_hourly.yaml
          PGPASSWORD=… sluice scheduler jobs/ --ledger postgresql://sluice@db.internal:5432/sluice --id etl-host-1
        """)

    @Argument(help: "Job files or directories of job files.")
    var jobs: [String]

    @OptionGroup var location: LedgerOptions

    @Option(help: ArgumentHelp("This scheduler's id, recorded on every attempt it launches (default: host name:pid).", valueName: "NAME"))
    var id: String?

    @Option(help: "Instances running at once, over all jobs.")
    var maxParallel = 4

    @Option(help: "Seconds running instances may take to finish after SIGTERM before they are aborted.")
    var stopTimeout = 30

    @Option(name: .customLong("datasources"), help: ArgumentHelp("A YAML file of named connections, passed to every run.", valueName: "FILE"))
    var datasources: String?

    @Option(help: .hidden)
    var pollInterval: Double = 1

    /// Fault injection for the crash tests: children wait this long before they take their run lock.
    @Option(help: .hidden)
    var runStartDelay: Int?

    /// For the fault tests: seconds before an automatic retry, instead of the job's `retryInterval`
    /// (at least a minute).
    @Option(help: .hidden)
    var retryDelay: Double?

    /// For the fault tests: how long claims last without renewal (default 30 s).
    @Option(help: .hidden)
    var lease: Double?

    @Option(help: "Log lines as text or json (one JSON object per line) on standard error.")
    var logFormat: LogFormat = .text

    /// The operations console inside the scheduler (`--listen ADDR`, `--token-file FILE`).
    @OptionGroup var console: ConsoleOptions

    func validate() throws {
        guard !jobs.isEmpty else { throw ValidationError("give at least one job file or directory") }
        guard maxParallel >= 1 else { throw ValidationError("--max-parallel must be at least 1") }
    }

    func run() async throws {
        try await runReportingErrors {
            SluiceLogging.bootstrap(format: logFormat)
            var options = SchedulerServiceOptions(jobs: jobs)
            options.stateDirectory = location.stateDir
            options.ledgerURL = location.ledger
            if let id { options.id = id }
            if let lease { options.lease = lease }
            options.maxParallel = maxParallel
            options.stopTimeout = .seconds(stopTimeout)
            options.datasources = datasources
            options.pollInterval = pollInterval
            options.runStartDelay = runStartDelay
            options.retryDelay = retryDelay
            let service = try await SchedulerService.make(options)
            try await service.serve(alongside: try await console(options))
        }
    }

    /// With --listen, the console over the scheduler's ledger, until the scheduler stops.
    func console(_ options: SchedulerServiceOptions) async throws -> [any Service] {
        guard console.listen != nil else { return [] }
        let dir = options.resolvedStateDirectory
        let config = try console.configuration(ledger: try LedgerLocation.resolve(url: options.ledgerURL, stateDirectory: dir),
                                               ledgerURL: options.ledgerURL, stateDirectory: dir, jobs: jobs,
                                               datasources: datasources, defaultListen: "127.0.0.1:8080")
        return [ConsoleService(app: try await ConsoleApp.make(config, onListening: ConsoleOptions.listening(config)),
                               address: "\(config.host):\(config.port)")]
    }
}

/// The console inside the scheduler: when it cannot serve, it says so and the scheduler goes on.
struct ConsoleService<App: Service>: Service {
    let app: App
    let address: String

    func run() async throws {
        do { try await app.run() } catch {
            printError("error: the console stopped: \(error) (is \(address) free? choose another with --listen)")
        }
    }
}
