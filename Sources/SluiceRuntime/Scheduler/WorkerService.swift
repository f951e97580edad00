import Foundation
import Logging
import SluiceCore
import SluiceJob
import SluiceKafka
import SluiceLedger
import SluiceScheduling
import ServiceLifecycle
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// How `sluice worker` is set up.
public struct WorkerServiceOptions: Sendable {
    /// `--ledger` (else `SLUICE_LEDGER`): the PostgreSQL ledger the coordinators store shards in.
    public var ledgerURL: String?
    /// This worker's id, recorded on every shard it claims (default: host name and pid).
    public var id: String = SchedulerOptions.defaultId
    /// Shards run at once.
    public var maxShards = 1
    /// How long a claim lasts without renewal: a worker that dies loses its shards after this.
    public var lease: Double = 15
    /// Seconds between looks for a shard when there was none.
    public var pollInterval: Double = 1
    /// How long running shards may take to finish after SIGTERM before they are abandoned (their
    /// leases then run out and another worker redoes them).
    public var stopTimeout: Duration = .seconds(30)

    public init() {}
}

/// `sluice worker`: claims shards of sharded instances from the PostgreSQL ledger (`FOR UPDATE SKIP
/// LOCKED`, with a lease it renews and a fence), runs each (`ShardRun`) and records its result for
/// the instance's coordinator. SIGTERM stops claiming and lets running shards finish.
public final class WorkerService: Service, Sendable {
    let ledger: any Ledger
    let options: WorkerServiceOptions
    let logger: Logger
    private let running = Mutex<[Int: Task<Void, Never>]>([:])
    private let stopping = Atomic<Bool>(false)
    private let next = Atomic<Int>(0)

    init(ledger: any Ledger, options: WorkerServiceOptions, logger: Logger) {
        self.ledger = ledger
        self.options = options
        self.logger = logger
    }

    public static func make(_ options: WorkerServiceOptions, logger: Logger = Logger(label: "sluice.worker")) async throws -> WorkerService {
        let location = try LedgerLocation.resolve(url: options.ledgerURL, stateDirectory: ".sluice")
        guard location.isShared else {
            throw SluiceError.invalid("sluice worker needs a PostgreSQL ledger: shards are claimed from it",
                                      hint: "pass --ledger postgresql://USER@HOST:PORT/DB, or set SLUICE_LEDGER")
        }
        let ledger = try await Ledgers.open(location, origin: .thisProcess(launchedBy: options.id))
        return WorkerService(ledger: ledger, options: options, logger: logger)
    }

    /// Serves until SIGTERM or SIGINT.
    public func serve() async throws {
        var config = ServiceGroupConfiguration(services: [.init(service: self)], gracefulShutdownSignals: [.sigterm, .sigint],
                                               logger: logger)
        config.maximumGracefulShutdownDuration = options.stopTimeout
        try await ServiceGroup(configuration: config).run()
    }

    public func run() async throws {
        logger.info("worker \(options.id) started (pid \(getpid())) on \(ledger.description): up to \(options.maxShards) shard(s) at once")
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await claimUntilStopped()
            } onGracefulShutdown: {
                self.stopping.store(true, ordering: .relaxed)
                self.logger.info("stopping: no new shards; waiting for \(self.running.withLock { $0.count }) running")
            }
        } onCancel: {
            for t in running.withLock({ Array($0.values) }) { t.cancel() }
        }
        for t in running.withLock({ Array($0.values) }) { await t.value }
        await ledger.close()
        logger.info("worker stopped")
    }

    private func claimUntilStopped() async {
        while !stopping.load(ordering: .relaxed) && !Task.isCancelled {
            if running.withLock({ $0.count }) < options.maxShards {
                do {
                    if let claimed = try await ledger.claimShard(worker: options.id, leaseUntil: Date().addingTimeInterval(options.lease),
                                                                 only: nil) {
                        start(claimed)
                        continue
                    }
                } catch {
                    logger.warning("claiming a shard failed: \(error); trying again")
                }
            }
            try? await Task.sleep(for: .milliseconds(Int(options.pollInterval * 1000)))
        }
    }

    private func start(_ claimed: ClaimedShard) {
        let key = next.add(1, ordering: .relaxed).newValue
        running.withLock { r in
            r[key] = Task {
                await self.runShard(claimed)
                _ = self.running.withLock { $0.removeValue(forKey: key) }
            }
        }
    }

    private func runShard(_ claimed: ClaimedShard) async {
        var logger = self.logger
        logger[metadataKey: "instance"] = "\(claimed.shard.instanceId)"
        logger[metadataKey: "job"] = "\(claimed.job)"
        logger.info("running \(claimed.label) (claim \(claimed.shard.fence))")
        do {
            let recorded = try await ShardWork(claimed: claimed, ledger: ledger, lease: options.lease).run()
            logger.info(recorded ? "\(claimed.label): done" : "\(claimed.label): another worker took it over; its rows here were removed")
        } catch is CancellationError {
            logger.warning("\(claimed.label): abandoned when the worker stopped; another worker redoes it once its lease runs out")
        } catch {
            logger.error("\(claimed.label) failed: \(error)")
        }
    }
}

/// A claimed shard as a worker runs it: its job file loaded the way the coordinator loaded it
/// (refused when the file here differs), its source, destination and field program built here.
struct ShardWork {
    let claimed: ClaimedShard
    let ledger: any Ledger
    let lease: Double

    func run() async throws -> Bool {
        let s = claimed.shard
        let prepared: (runner: InstanceRunner, source: KafkaSource, sink: any ShardedSink)
        do {
            prepared = try load()
        } catch {
            let message = (error as? SluiceError)?.description ?? "\(error)"
            _ = try? await ledger.finishShard(id: s.instanceId, attempt: s.attempt, shard: s.shard, fence: s.fence, result: nil, error: message)
            throw error
        }
        let partition = try PartitionSpec(parsing: claimed.set.partition)
        let program = try await PrepareStage(runner: prepared.runner).checkDestination(sink: prepared.sink, partition: partition)
        var readOptions = ReadOptions(spec: prepared.runner.job.spec.source)
        readOptions.completion = .endOffset
        return try await ShardRun(source: prepared.source, sink: prepared.sink, program: program, ledger: ledger, claimed: claimed,
                                  lease: lease, errorLimit: prepared.runner.job.spec.settings.errorLimit,
                                  batchRows: RunOptions().batchRows, readOptions: readOptions,
                                  progress: RunProgress(enabled: false)).run()
    }

    /// The job, as the coordinator resolved it, with its source and destination.
    private func load() throws -> (InstanceRunner, KafkaSource, any ShardedSink) {
        let set = claimed.set
        let digest = try ShardSetSpec.digest(ofFile: set.jobPath)
        guard digest == set.jobDigest else {
            throw SluiceError.invalid("\(set.jobPath) on this host differs from the job file the instance was started with",
                                      hint: "deploy the same job files to every worker's host")
        }
        let job = try JobFiles.load(path: set.jobPath, datasourcesPath: set.datasourcesPath, parameterOverrides: set.parameters)
        var options = RunOptions()
        options.scheduledTime = set.scheduledTime
        options.businessDate = try set.businessDate.map { try WallTime.parseDate($0, subject: "the business date") }
        options.showProgress = false
        let runner = InstanceRunner(job: job, options: options)
        let settings = try KafkaConnectionSettings.resolve(job, secrets: SecretResolver(relativeTo: job.directory))
        let source = try KafkaSource(spec: job.spec.source, settings: settings)
        guard let sink = try Destinations.sink(job: job, createTable: false) as? any ShardedSink else {
            throw SluiceError.invalid("\(set.jobPath): its \(job.spec.destination.kind.typeName) destination does not take shards")
        }
        return (runner, source, sink)
    }
}
