import ArgumentParser
import Foundation
import SluiceRuntime

struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run shards of sharded instances until stopped.",
        discussion: """
        A job with `shards: N` (or `sluice run … --shards N`) has each instance's plan split into N shards by Kafka partition and offset range; the process that owns the instance (a `sluice run`, or a scheduler's child) stores them in the PostgreSQL ledger and commits the destination once, when every shard is done. Workers on any host claim shards from that ledger (FOR UPDATE SKIP LOCKED, with a lease they renew and a fence), read and write them, and record what they did. A worker that dies loses its lease and another worker (or the owner) redoes its shard; a worker whose claim was taken over cannot finish the shard.

        The worker loads the job file from the path the owner recorded (the same files on every host) and refuses a file whose contents differ. Secrets are resolved from this worker's environment and files. SIGTERM/SIGINT: claim nothing more, let running shards finish for --stop-timeout seconds.

        Examples:
          PGPASSWORD=… sluice worker --ledger postgresql://sluice@db.internal:5432/sluice --id etl-host-2 --max-shards 2
          SLUICE_LEDGER=postgresql://sluice@db.internal/sluice sluice worker
        """)

    @Option(help: ArgumentHelp("The PostgreSQL ledger, postgresql://USER@HOST:PORT/DB (default: $SLUICE_LEDGER). Give the password in PGPASSWORD or ?passwordFile=PATH.", valueName: "URL"))
    var ledger: String?

    @Option(help: ArgumentHelp("This worker's id, recorded on every shard it runs (default: host name:pid).", valueName: "NAME"))
    var id: String?

    @Option(help: "Shards run at once.")
    var maxShards = 1

    @Option(help: "Seconds a claim lasts without renewal; a worker that dies loses its shards after this.")
    var lease: Double = 15

    @Option(help: "Seconds running shards may take to finish after SIGTERM.")
    var stopTimeout = 30

    @Option(help: .hidden)
    var pollInterval: Double = 1

    @Option(help: "Log lines as text or json (one JSON object per line) on standard error.")
    var logFormat: LogFormat = .text

    func validate() throws {
        guard maxShards >= 1 else { throw ValidationError("--max-shards must be at least 1") }
        guard lease >= 1 else { throw ValidationError("--lease must be at least 1 second") }
    }

    func run() async throws {
        try await runReportingErrors {
            SluiceLogging.bootstrap(format: logFormat)
            var options = WorkerServiceOptions()
            options.ledgerURL = ledger
            if let id { options.id = id }
            options.maxShards = maxShards
            options.lease = lease
            options.stopTimeout = .seconds(stopTimeout)
            options.pollInterval = pollInterval
            try await WorkerService.make(options).serve()
        }
    }
}
