import Foundation
import Logging
import SluiceCore
import SluiceKafka
import SluiceScheduling
import SluiceJob
import SluiceLedger

/// How to run one instance of a job.
public struct RunOptions: Sendable {
    /// The scheduled time (epoch seconds); nil = now.
    public var scheduledTime: Int64?
    /// Overrides the business date (backfill: `${…}` sees it, `$[…]` the scheduled time).
    public var businessDate: CivilDate?
    /// Plan and print, write nothing (not even the ledger).
    public var dryRun = false
    /// Plan again instead of replaying the instance's stored plan.
    public var replan = false
    /// Create the destination table when it does not exist.
    public var createTable = false
    /// Wait for another run of the same job and partition instead of failing.
    public var waitForLock = false
    /// In contiguous mode, let this instance take the offsets of earlier instances that have not run.
    public var allowGap = false
    /// The ledger directory; nil = `.sluice/` next to the job file.
    public var stateDirectory: String?
    /// The ledger; nil = the SQLite ledger in the state directory.
    public var ledger: LedgerLocation?
    /// Who launched the run, recorded with its attempt: a scheduler's id, or `manual`.
    public var launchedBy = "manual"
    /// Where the run's log records go besides the instance's log in the ledger (default: nowhere
    /// else; the CLI renders the outcome itself).
    public var logger = Logger(label: "sluice.run") { _ in SwiftLogNoOpLogHandler() }
    public var showProgress = true
    /// How long a write waits for a locked destination (SQLite warehouse); nil = the sink's default (600 s).
    public var destinationLockTimeout: Double?
    /// Rows per batch handed to the destination.
    public var batchRows = 8192
    /// Run only as this attempt of the instance (the scheduler's claim): refused, changing nothing,
    /// when another process has made that attempt already.
    public var attempt: Int?
    /// Rerun an append instance whose rows are committed already into a destination that cannot
    /// replace them (MaxCompute): its rows are then added a second time.
    public var allowDuplicateAppend = false
    /// Splits the instance into this many shards (`--shards`); nil = the job's `shards:`.
    public var shards: Int?
    /// 0: every shard runs in this process (`--workers 0`); nil: shards are left to `sluice worker`
    /// processes, and this process runs those no worker claimed within `workerWait`.
    public var workers: Int?
    /// Seconds to wait for a worker to claim a shard before running it here.
    public var workerWait: Double = 30
    /// The `--param` definitions and `--datasources` file the job was loaded with (workers load the
    /// job file the same way).
    public var parameterOverrides: [String: String] = [:]
    public var datasourcesPath: String?

    public init() {}
}

/// Runs one instance, in four stages: prepare (resolve, ledger, run lock, attempt), plan (replay or
/// plan and store), transfer (read → map → write) and settle (commit and record). A failed run
/// leaves the destination as it was, and the ledger says why it failed.
public struct InstanceRunner: Sendable {
    public let job: LoadedJob
    public let options: RunOptions

    public init(job: LoadedJob, options: RunOptions = RunOptions()) {
        self.job = job
        self.options = options
    }

    var spec: JobSpec { job.spec }

    /// How many shards an instance is split into: `--shards`, else the job's `shards:`, else 1.
    var shardCount: Int { options.shards ?? spec.shards ?? 1 }

    /// The resolved instance: parameters, window bounds, destination partition.
    public func resolve() throws -> (context: EvaluationContext, instance: ResolvedJobInstance) {
        let compiled = try CompiledJobParameters(job: spec, zone: SchedulingZone.forJob(spec, fallback: .machine))
        let now = Int64(Date().timeIntervalSince1970)
        let context = EvaluationContext(scheduledTime: options.scheduledTime ?? now, zone: compiled.zone,
                                        businessDate: options.businessDate, jobId: spec.name, nodeId: spec.name)
        return (context, try compiled.resolve(context))
    }

    /// The ledger directory of this job: `--state-dir`, else `.sluice/` next to the job file.
    public var stateDirectory: String {
        options.stateDirectory ?? (job.directory as NSString).appendingPathComponent(".sluice")
    }

    /// The ledger of this run: `--ledger`, else the SQLite ledger in the state directory.
    public var ledgerLocation: LedgerLocation { options.ledger ?? .stateDirectory(stateDirectory) }

    /// Runs the instance: a sync from the job's Kafka topic into its destination, or an SQL node's
    /// statements on its target. Throws `RunFailure` (its error's kind decides the exit code) after
    /// recording the failure in the ledger; the report of a successful run is returned.
    public func run() async throws -> RunReport {
        if spec.task != .sync {
            let target: any SQLTarget
            do {
                target = try Destinations.sqlTarget(job: job, lockTimeoutSeconds: options.destinationLockTimeout)
            } catch {
                throw await recordFailureBeforeStart(error)
            }
            return try await SQLNodeRun(runner: self, target: target).run()
        }
        let source: KafkaSource, sink: any Sink, settings: [KafkaSetting]
        do {
            settings = try KafkaConnectionSettings.resolve(job, secrets: SecretResolver(relativeTo: job.directory))
            source = try KafkaSource(spec: spec.source, settings: settings)
            sink = try Destinations.sink(job: job, createTable: options.createTable,
                                        lockTimeoutSeconds: options.destinationLockTimeout)
        } catch {
            throw await recordFailureBeforeStart(error)
        }
        return try await run(source: source, sink: sink, moreSources: { [spec] in try KafkaSource(spec: spec.source, settings: settings) })
    }

    /// Records a failure that came before the attempt started (the Kafka client or the destination
    /// could not be set up, an earlier attempt could not be settled) as a failed attempt of the
    /// instance, so that the ledger, the console and alerts see it. Nothing is recorded for a dry
    /// run, an instance that cannot be resolved, or when the ledger cannot be opened or another run
    /// holds the instance's run lock (that run owns the instance). Returns the error to throw.
    func recordFailureBeforeStart(_ error: any Error) async -> any Error {
        guard !options.dryRun, let run = try? PrepareStage(runner: self).resolve(),
              let (ledger, lock, instance) = try? await PrepareStage(runner: self).startAlone(run, wait: false) else {
            return error
        }
        let log = LedgerLog(ledger: ledger)
        let failure = await recordFailure(error, report: run.report, ledger: ledger, instance: instance,
                                          logger: instanceLogger(log, instance: instance))
        await Self.endAttempt(log: log, lock: lock, ledger: ledger)
        return failure
    }

    /// Runs the instance with the given source and destination (tests pass fakes). `moreSources`
    /// makes a source for each further shard this process runs at the same time (without it, its
    /// shards run one after another).
    public func run<Source: WindowSource>(source: Source, sink: any Sink,
                                          moreSources: (@Sendable () throws -> Source)? = nil) async throws -> RunReport {
        let started = ContinuousClock.now
        let lap = Stopwatch(started)
        if let refused = ShardCoordinator<Source>.refusal(self, sink: sink) { throw refused }
        let prepare = PrepareStage(runner: self)
        var run = try prepare.resolve()
        let planning = PlanStage(runner: self, source: source)
        if options.dryRun {
            let window = try await planning.planWindow(run.resolved, previous: nil)
            run.report.plan = window.partitions.map(RunReport.Partition.init)
            run.report.seconds = started.duration(to: .now).seconds
            return run.report
        }
        let ledger: any Ledger, lock: any HeldRunLock, instance: InstanceRecord
        let prepared: PrepareStage.Outcome
        do {
            prepared = try await prepare.start(run, sink: sink)
        } catch let error as PrepareStage.SettlementFailed {
            throw await recordFailureBeforeStart(error.error)
        }
        switch prepared {
        case .settled(var report):
            report.seconds = started.duration(to: .now).seconds
            return report
        case .started(let l, let k, let i):
            (ledger, lock, instance) = (l, k, i)
        }
        let log = LedgerLog(ledger: ledger)
        let logger = instanceLogger(log, instance: instance)
        let outcome: Result<RunReport, any Error>
        do {
            outcome = .success(try await transfer(run, source: source, moreSources: moreSources, sink: sink, ledger: ledger,
                                                  instance: instance, logger: logger, started: started, lap: lap))
        } catch {
            outcome = .failure(error)
        }
        await Self.endAttempt(log: log, lock: lock, ledger: ledger)
        return try outcome.get()
    }

    /// The end of an attempt, whatever its outcome: its log lines written, its run lock released,
    /// the ledger closed.
    static func endAttempt(log: LedgerLog, lock: any HeldRunLock, ledger: any Ledger) async {
        await log.flush()
        await lock.release()
        await ledger.close()
    }

    /// The run's logger, writing to the instance log too, with the instance in its metadata.
    func instanceLogger(_ log: LedgerLog, instance: InstanceRecord) -> Logger {
        var logger = log.attach(to: options.logger)
        logger[metadataKey: "instance"] = "\(instance.id)"
        logger[metadataKey: "job"] = "\(spec.name)"
        logger[metadataKey: "attempt"] = "\(instance.attempts)"
        return logger
    }

    /// Checks the destination, plans, transfers and settles the started attempt.
    private func transfer<Source: WindowSource>(_ run: ResolvedRun, source: Source, moreSources: (@Sendable () throws -> Source)?,
                                                sink: any Sink,
                                                ledger: any Ledger, instance: InstanceRecord, logger: Logger,
                                                started: ContinuousClock.Instant,
                                                lap: Stopwatch) async throws -> RunReport {
        var lap = lap
        var report = run.report
        report.instanceId = instance.id
        report.phases = RunReport.Phases(setup: lap.next())
        let progress = RunProgress(enabled: options.showProgress && isatty(STDERR_FILENO) != 0)
        do {
            let prepare = PrepareStage(runner: self)
            let program = try await prepare.checkDestination(sink: sink, partition: run.partition)
            report.phases?.destination = lap.next()
            let planned = try await PlanStage(runner: self, source: source).plan(run, ledger: ledger, instance: instance)
            FaultInjection.reach("after-plan")
            report.replayedPlan = planned.replayed
            report.plan = planned.window.partitions.map(RunReport.Partition.init)
            progress.planned(planned.window.partitions.map { ($0.partition, $0.fromOffset, $0.toOffset) })
            report.phases?.plan = lap.next()

            let provenance = provenance(instance, ledger: ledger, window: planned.window)
            let transferred: TransferStage<Source>.Transferred
            if shardCount > 1 {
                transferred = try await ShardCoordinator(runner: self, source: source, moreSources: moreSources, sink: sink, program: program, ledger: ledger,
                                                         instance: instance, partition: run.partition, scheduledTime: run.context.scheduledTime,
                                                         provenance: provenance, logger: logger, progress: progress)
                    .run(planned.window, options: planned.readOptions)
            } else {
                let mode = spec.destination.writeMode, partition = run.partition
                let transfer = TransferStage(source: source, open: { try await sink.open(partition: partition, mode: mode, columns: $0, provenance: provenance) },
                                             program: program, ledger: ledger, instanceId: instance.id,
                                             errorLimit: spec.settings.errorLimit, batchRows: options.batchRows, progress: progress)
                transferred = try await transfer.run(planned.window, options: planned.readOptions)
            }
            report.phases?.open = transferred.openSeconds
            report.phases?.read = lap.next()
            progress.finish()
            report.record(transferred)

            let settle = SettleStage(source: source, ledger: ledger, instance: instance, mode: spec.destination.writeMode,
                                     groupId: spec.source.groupId, logger: logger)
            try await settle.commit(transferred, report: &report, lap: &lap)
            report.seconds = started.duration(to: .now).seconds
            report.phases?.finish = lap.next()
            try? await ledger.recordAttemptMetrics(id: instance.id, attempt: instance.attempts,
                                                   AttemptMetrics(phases: report.phases?.byName ?? [:], bytesRead: transferred.bytesRead))
            return report
        } catch {
            progress.finish()
            let failure = await recordFailure(error, report: report, ledger: ledger, instance: instance, logger: logger)
            try? await ledger.recordAttemptMetrics(id: instance.id, attempt: instance.attempts,
                                                   AttemptMetrics(phases: report.phases?.byName ?? [:]))
            throw failure
        }
    }

    /// Who writes, for the destination's write record.
    func provenance(_ instance: InstanceRecord, ledger: any Ledger, window: WindowPlan) -> WriteProvenance {
        WriteProvenance(job: spec.name, instanceId: String(instance.id), attempt: instance.attempts, ledgerId: ledger.id,
                        windowStartMillis: window.startMillis, windowEndMillis: window.endMillis, topic: window.topic,
                        offsets: window.partitions.map { PartitionOffsets(partition: $0.partition, from: $0.fromOffset, to: $0.toOffset) })
    }

    /// Records a failed attempt in the ledger and returns the failure to throw. After the
    /// destination committed, the attempt is left for settlement instead: its rows are there.
    func recordFailure(_ error: any Error, report: RunReport, ledger: any Ledger, instance: InstanceRecord,
                       logger: Logger) async -> RunFailure {
        var report = report
        let committed = error as? CommittedButUnrecorded
        var cause = committed?.error ?? error
        // Settings of the job file refused when the run sets up its clients stay invalid input (exit 2).
        if let e = cause as? JobFileError { cause = SluiceError.invalid(e.description) }
        let message = (cause as? SluiceError)?.description ?? "\(cause)"
        report.status = "failed"
        report.error = message
        if committed != nil {
            logger.error("the destination committed but the ledger could not record it: \(message)")
        } else {
            let typed = cause as? SluiceError
            _ = try? await ledger.finish(id: instance.id, status: .failed, counts: report.records.ledgerCounts, error: message,
                                         failure: InstanceFailure(code: typed?.code ?? "failed", retriable: typed?.isRetriable ?? true))
            logger.error("\(message)")
        }
        return RunFailure(report: report, error: cause as? SluiceError ?? SluiceError(.failed, message))
    }
}

/// A run that failed: the report (with the error) and the error that decides the exit code.
public struct RunFailure: Error, CustomStringConvertible, Sendable {
    public var report: RunReport
    public var error: SluiceError
    public var description: String { error.description }
}

extension ResolvedBound {
    var date: Date? {
        if case .instant(let ms) = self { return Date(timeIntervalSince1970: Double(ms) / 1000) }
        return nil
    }
}

/// Successive laps of a run, in seconds.
struct Stopwatch {
    private var last: ContinuousClock.Instant

    init(_ start: ContinuousClock.Instant) { last = start }

    /// The seconds since the previous lap (or the start).
    mutating func next() -> Double {
        let now = ContinuousClock.now
        defer { last = now }
        return last.duration(to: now).seconds
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
