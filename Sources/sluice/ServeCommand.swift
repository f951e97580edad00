import ArgumentParser
import Foundation
import Logging
import SluiceConsole
import SluiceCore
import SluiceLedger
import SluiceRuntime
import SluiceScheduling

/// The console's flags, shared by `sluice serve` and `sluice scheduler --listen`.
struct ConsoleOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Serve the operations console on HOST:PORT (loopback unless a host is given; port 0 picks a free one).", valueName: "ADDR"))
    var listen: String?

    @Option(help: ArgumentHelp("A file of console tokens, one per line: TOKEN or NAME:TOKEN (default: $SLUICE_CONSOLE_TOKEN). Without a token the console is read-only.", valueName: "FILE"))
    var tokenFile: String?

    @Option(help: ArgumentHelp("Show times in this IANA zone (default: the machine's).", valueName: "ZONE"))
    var tz: String?

    @Option(help: ArgumentHelp("Seconds an instance list or /metrics answer is reused (0: computed for every request).", valueName: "SECONDS"))
    var cacheSeconds: Double = 1

    /// The console's configuration over `ledger` and `stateDirectory`, listening on `listen` or `defaultListen`.
    func configuration(ledger: LedgerLocation, ledgerURL: String?, stateDirectory: String, jobs: [String], datasources: String?,
                       defaultListen: String) throws -> ConsoleConfiguration {
        var config = ConsoleConfiguration(ledger: ledger, stateDirectory: stateDirectory, sluiceBinary: ProcessExecutor.currentBinary)
        try config.listen(listen ?? defaultListen)
        config.ledgerURL = ledgerURL ?? ProcessInfo.processInfo.environment["SLUICE_LEDGER"]
        config.jobRoots = jobs
        config.datasources = datasources
        config.tokens = try ConsoleTokens.load(file: tokenFile)
        if let tz { config.zone = try SchedulingZone.named(tz) }
        guard cacheSeconds >= 0, cacheSeconds <= 3600 else { throw SluiceError.invalid("--cache-seconds must be from 0 to 3600") }
        config.cacheSeconds = cacheSeconds
        return config
    }

    /// What the console says once it listens, on standard error.
    static func listening(_ config: ConsoleConfiguration) -> @Sendable (String, Int) async -> Void {
        let mode = config.tokens.isEmpty ? "read-only: no token" : "actions need a token"
        return { host, port in
            let shown = host.contains(":") ? "[\(host)]" : host
            printError("sluice console listening on http://\(shown):\(port)/ (\(mode))")
        }
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the operations console and /metrics.",
        discussion: """
        A web console over the ledger: instances (filter by job, status and date; failed ones stand out; the page refreshes itself), one instance (parameters, plan, attempts with their phases, the log with follow, dirty records), jobs (the resolved spec with secrets redacted, the next instances, recent business dates, consumer lag per partition), the destination's partitions, and the actions people took. With a token, rerun (optionally planning again), kill, set-success and backfill from the browser or the JSON API under /api/; each action is recorded in the ledger with who did it. /metrics is in Prometheus text format, computed from the ledger; /healthz and /readyz are probes. See docs/console.md.

        JOB_OR_DIR are the job files (or directories of them) the console shows and acts on; the files a scheduler registered in the ledger are found without them. Tokens come from --token-file (one per line, TOKEN or NAME:TOKEN) or SLUICE_CONSOLE_TOKEN; they are never printed.

        Examples:
          sluice serve jobs/ --state-dir /var/lib/sluice --token-file /etc/sluice/console-tokens
          sluice serve --listen 0.0.0.0:8080 --ledger postgresql://sluice@db:5432/sluice jobs/
        """)

    @Argument(help: "Job files or directories of job files.")
    var jobs: [String] = []

    @OptionGroup var location: LedgerOptions

    @OptionGroup var console: ConsoleOptions

    @Option(name: .customLong("datasources"), help: ArgumentHelp("A YAML file of named connections, for the job files and the runs the console starts.", valueName: "FILE"))
    var datasources: String?

    @Option(help: "Log lines as text or json (one JSON object per line) on standard error.")
    var logFormat: LogFormat = .text

    func run() async throws {
        try await runReportingErrors {
            SluiceLogging.bootstrap(format: logFormat)
            var paths = SchedulerServiceOptions(jobs: jobs.isEmpty ? ["."] : jobs)
            paths.stateDirectory = location.stateDir
            let dir = paths.resolvedStateDirectory
            let ledger = try LedgerLocation.resolve(url: location.ledger, stateDirectory: dir)
            let config = try console.configuration(ledger: ledger, ledgerURL: location.ledger, stateDirectory: dir, jobs: jobs,
                                                   datasources: datasources, defaultListen: "127.0.0.1:8080")
            if case .stateDirectory = ledger, !FileManager.default.fileExists(atPath: dir + "/" + SQLLedger.fileName) {
                throw SluiceError.invalid("there is no ledger in \(dir)",
                                          hint: "pass --state-dir DIR or --ledger URL, or the job files (their ledger is .sluice/ next to them)")
            }
            do {
                try await ConsoleApp.serveUntilSignalled(config, onListening: ConsoleOptions.listening(config))
            } catch let e as SluiceError {
                throw e
            } catch {
                throw SluiceError(.failed, "the console stopped: \(error)", hint: "is \(config.host):\(config.port) free? choose another with --listen")
            }
        }
    }
}
