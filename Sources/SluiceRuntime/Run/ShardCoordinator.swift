import Crypto
import Foundation
import Logging
import SluiceCore
import SluiceJob
import SluiceLedger
import SluiceMapping
import Synchronization

/// The transfer of a sharded instance, in the process that owns the instance (`sluice run`, or a
/// scheduler's child): splits the plan into shards, stores them in the ledger for `sluice worker`
/// processes, runs here those no worker claimed in time (all of them with `--workers 0`), waits
/// for every shard, and hands the settle stage one writer whose commit makes all the shards' rows
/// visible at once. Counts, late records, dirty-record limits and read ends are decided here over
/// all shards, as for one process.
struct ShardCoordinator<Source: WindowSource> {
    let runner: InstanceRunner
    let source: Source
    /// A source for each further shard run here at the same time; nil runs them one at a time.
    let moreSources: (@Sendable () throws -> Source)?
    let sink: any Sink
    let program: FieldProgram
    let ledger: any Ledger
    let instance: InstanceRecord
    let partition: PartitionSpec
    let scheduledTime: Int64
    let provenance: WriteProvenance
    let logger: Logger
    let progress: RunProgress

    /// How long a claim lasts without renewal.
    static var lease: Double { 15 }

    /// Why the job cannot be sharded as asked, before anything runs; nil when it can.
    static func refusal(_ runner: InstanceRunner, sink: any Sink) -> SluiceError? {
        let n = runner.shardCount, spec = runner.job.spec
        guard n > 1 else { return nil }
        guard let sharded = sink as? any ShardedSink else {
            return SluiceError.invalid("\(runner.job.path): shards: \(n) — a \(spec.destination.kind.typeName) destination is written by one process",
                                       hint: "remove `shards` (or pass --shards 1); PostgreSQL, MaxCompute and discard destinations take shards")
        }
        guard n <= sharded.maxShards else {
            return SluiceError.invalid("\(runner.job.path): shards: \(n) — a \(spec.destination.kind.typeName) write takes at most \(sharded.maxShards) shards",
                                       hint: "use at most \(sharded.maxShards) shards")
        }
        if case .stateDirectory = runner.ledgerLocation, runner.options.workers != 0 {
            return SluiceError.invalid("\(runner.job.path): shards: \(n) needs a PostgreSQL ledger, where `sluice worker` processes claim the shards",
                                       hint: "pass --ledger postgresql://… (or set SLUICE_LEDGER), or --workers 0 to run every shard in this process")
        }
        if case .idle = ReadOptions(spec: spec.source).completion {
            return SluiceError.invalid("\(runner.job.path): shards: \(n) with idle completion: a shard reads exactly its planned offsets",
                                       hint: "remove source.completion (read to the planned end), or remove `shards`")
        }
        return nil
    }

    func run(_ window: WindowPlan, options: ReadOptions) async throws -> TransferStage<Source>.Transferred {
        guard let sharded = sink as? any ShardedSink else { throw Self.refusal(runner, sink: sink) ?? SluiceError.invalid("no shards") }
        let plans = ShardSplitter.split(window, into: runner.shardCount)
        let mode = runner.job.spec.destination.writeMode, columns = program.columns
        let token = try await sharded.beginShards(partition: partition, mode: mode, columns: columns, provenance: provenance)
        do {
            try await ledger.createShards(id: instance.id, attempt: instance.attempts, job: runner.job.spec.name,
                                          spec: try setSpec(token: token, count: plans.count), plans: plans)
            logger.info("split into \(plans.count) shard(s)\(runner.options.workers == 0 ? ", all run here" : " for sluice worker processes")")
            let done = try await collect(sharded, options: options)
            let results = done.compactMap(\.result)
            let summary = ReadSummary.merging(results.map(\.summary), plan: window)
            let dirty = results.reduce(0) { $0 + $1.dirty }
            try DirtyCollector.check(limit: runner.job.spec.settings.errorLimit, dirty: Int(dirty), read: Int(summary.delivered))
            let writer = ShardCommit(sink: sharded, ledger: ledger, instance: instance, token: token, partition: partition,
                                     mode: mode, columns: columns, provenance: provenance, shards: results.map(\.written))
            return TransferStage<Source>.Transferred(
                writer: writer, summary: summary, rowsHanded: results.reduce(0) { $0 + $1.rows }, dirty: dirty,
                overLength: results.reduce(0) { $0 + $1.overLength }, openSeconds: 0,
                bytesRead: results.reduce(0) { $0 + $1.bytesRead })
        } catch {
            try? await ledger.closeShards(id: instance.id, attempt: instance.attempts)
            await sharded.discardShards(token: token)
            throw error
        }
    }

    /// What workers need to run the shards.
    private func setSpec(token: String, count: Int) throws -> ShardSetSpec {
        let path = URL(fileURLWithPath: runner.job.path).standardizedFileURL.path
        return ShardSetSpec(jobPath: path, jobDigest: try ShardSetSpec.digest(ofFile: path), parameters: runner.options.parameterOverrides,
                            datasourcesPath: runner.options.datasourcesPath.map { URL(fileURLWithPath: $0).standardizedFileURL.path },
                            scheduledTime: scheduledTime, businessDate: runner.options.businessDate?.compact,
                            partition: partition.description, token: token, count: count)
    }


    /// Waits until every shard is done, running here the shards this process may take: all of them
    /// with `--workers 0`, else those no worker claimed (or whose worker died) after the wait.
    /// Throws the first shard failure.
    private func collect(_ sharded: any ShardedSink, options: ReadOptions) async throws -> [ShardRecord] {
        let local = LocalShards()
        let deadline = ContinuousClock.now.advanced(by: .milliseconds(Int64(runner.options.workers == 0 ? 0 : runner.options.workerWait * 1000)))
        let parallel = moreSources == nil ? 1 : max(1, min(runner.shardCount, ProcessInfo.processInfo.activeProcessorCount))
        let me = "\(runner.options.launchedBy == "manual" ? "run" : runner.options.launchedBy):\(ProcessInfo.processInfo.hostName):\(getpid())"
        defer { local.cancelAll() }
        while true {
            if let failure = local.failure { throw failure }
            let shards = try await ledger.shards(id: instance.id, attempt: instance.attempts)
            if let failed = shards.first(where: { $0.status == .failed }) {
                throw SluiceError(.failed, "shard \(failed.shard) failed on \(failed.worker ?? "a worker"): \(failed.error ?? "no reason recorded")",
                                  hint: "`sluice instance show \(instance.id)` lists the shards")
            }
            if local.running == 0 {
                progress.shards(done: shards.count { $0.status == .done }, running: shards.count { $0.status == .running },
                                total: shards.count, rows: shards.reduce(0) { $0 + ($1.result?.rows ?? 0) })
            }
            if shards.allSatisfy({ $0.status == .done }) {
                await local.wait()
                return shards
            }
            if ContinuousClock.now >= deadline, local.running < parallel,
               let claimed = try await ledger.claimShard(worker: me, leaseUntil: Date().addingTimeInterval(Self.lease),
                                                         only: (instance.id, instance.attempts)) {
                logger.info("running \(claimed.label) here")
                let source = local.started == 0 ? self.source : try moreSources?() ?? self.source
                local.start(shardRun(claimed, source: source, sharded: sharded, options: options))
                continue
            }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    private func shardRun(_ claimed: ClaimedShard, source: Source, sharded: any ShardedSink, options: ReadOptions) -> ShardRun<Source> {
        ShardRun(source: source, sink: sharded, program: program, ledger: ledger, claimed: claimed, lease: Self.lease,
                 errorLimit: runner.job.spec.settings.errorLimit, batchRows: runner.options.batchRows, readOptions: options,
                 progress: progress)
    }
}

/// The shards a coordinator runs itself: how many run, the first failure.
final class LocalShards: Sendable {
    private struct State {
        var tasks: [Task<Void, Never>] = []
        var running = 0
        var failure: (any Error)?
    }
    private let state = Mutex(State())

    var running: Int { state.withLock { $0.running } }
    var started: Int { state.withLock { $0.tasks.count } }
    var failure: (any Error)? { state.withLock { $0.failure } }

    func start<Source: WindowSource>(_ run: ShardRun<Source>) {
        state.withLock { s in
            s.running += 1
            s.tasks.append(Task {
                do {
                    _ = try await run.run()
                } catch is CancellationError {
                    // Abandoned: its lease runs out and it is claimed again.
                } catch {
                    self.state.withLock { if $0.failure == nil { $0.failure = error } }
                }
                self.state.withLock { $0.running -= 1 }
            })
        }
    }

    func wait() async {
        for t in state.withLock({ $0.tasks }) { await t.value }
    }

    func cancelAll() {
        for t in state.withLock({ $0.tasks }) { t.cancel() }
    }
}

/// The settle stage's writer for a sharded instance: its commit is the destination's one commit of
/// every shard's rows; its abort removes what the shards left.
final class ShardCommit: PartitionWriter {
    let sink: any ShardedSink
    let ledger: any Ledger
    let instance: InstanceRecord
    let token: String
    let partition: PartitionSpec
    let mode: WriteMode
    let columns: [ColumnSpec]
    let provenance: WriteProvenance
    let shards: [ShardWrite]

    init(sink: any ShardedSink, ledger: any Ledger, instance: InstanceRecord, token: String, partition: PartitionSpec,
         mode: WriteMode, columns: [ColumnSpec], provenance: WriteProvenance, shards: [ShardWrite]) {
        self.sink = sink
        self.ledger = ledger
        self.instance = instance
        self.token = token
        self.partition = partition
        self.mode = mode
        self.columns = columns
        self.provenance = provenance
        self.shards = shards
    }

    var commitToken: String? { token }

    func write(_ batch: RowBatch) async throws {
        throw SluiceError(.failed, "a sharded write takes its rows from its shards")
    }

    func commit(_ outcome: WriteOutcome) async throws -> CommitResult {
        let result = try await sink.commitShards(token: token, partition: partition, mode: mode, columns: columns,
                                                 provenance: provenance, shards: shards, outcome: outcome)
        try? await ledger.closeShards(id: instance.id, attempt: instance.attempts)
        return result
    }

    func abort() async {
        try? await ledger.closeShards(id: instance.id, attempt: instance.attempts)
        await sink.discardShards(token: token)
    }
}

extension ShardSetSpec {
    /// SHA-256 of a job file's bytes, hex: a worker runs a shard only with the file the coordinator had.
    static func digest(ofFile path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SluiceError(.invalidInput, "cannot read the job file \(path)")
        }
        return SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }
}
