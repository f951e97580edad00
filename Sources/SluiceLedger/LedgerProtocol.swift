import Foundation
import SluiceCore

/// The ledger: every instance, its offset plan, the offsets it actually read, its attempts, its
/// commits, its dirty records and its log.
///
/// Two stores implement it with the same statements and pass the same tests: the embedded SQLite
/// file in the state directory (one machine) and a PostgreSQL database (schedulers and workers on
/// several machines). `Ledgers.open` chooses by the ledger's location. Every method is one short
/// transaction; times come from the clock given at open, so tests drive a ledger with a manual clock.
public protocol Ledger: Sendable {
    /// The ledger's own id, made when it was created: destinations tag writes with it, so that an
    /// instance is named uniquely even when several ledgers write one destination.
    var id: String { get }
    /// Where the ledger is, for messages: its file, or its URL without the password.
    var description: String { get }
    var limits: LedgerLimits { get }
    /// Who starts the attempts this process records (a scheduler's id, or a run by hand).
    var origin: AttemptOrigin { get }
    /// The locks that keep two runs of one job and partition from writing at once.
    var runLocks: any RunLocks { get }

    func close() async
    func schemaVersion() async throws -> Int

    // MARK: instances

    /// The instance for (`job`, `scheduledAt`), created with `status` when it does not exist yet.
    /// An existing instance is returned unchanged.
    func ensureInstance(_ new: NewInstance, status: InstanceStatus) async throws -> InstanceRecord
    /// Starts a run of the instance (`job`, `scheduledAt`), creating it if needed: status `running`,
    /// attempts + 1, counters, error and finish time cleared, parameters and window updated, and the
    /// dirty records of earlier attempts dropped. With `number`, only when it is that attempt: the
    /// instance has had `number - 1` attempts and is not succeeded, killed or dry-run (a run a
    /// scheduler launched, so that an attempt is made once). Returns the instance as started.
    func startAttempt(_ new: NewInstance, number: Int?) async throws -> InstanceRecord
    /// Starts another run of an existing instance (a rerun).
    func startAttempt(id: Int64) async throws -> InstanceRecord
    /// Records progress of a running instance.
    func updateCounts(id: Int64, _ counts: InstanceCounts) async throws
    /// Ends an attempt: `succeeded`, `failed` (with `error`), `killed` or `dryRun`, with its counts.
    @discardableResult
    func finish(id: Int64, status: InstanceStatus, counts: InstanceCounts, error: String?,
                failure: InstanceFailure?) async throws -> InstanceRecord
    /// Sets the status without a run: `pending`, `waiting`, `killed`, `failed` (with `error` saying
    /// why) or `dryRun`. Final statuses set the finish time.
    @discardableResult
    func setStatus(id: Int64, _ status: InstanceStatus, error: String?) async throws -> InstanceRecord
    /// Marks an instance successful by hand, recording why. Refused while it runs.
    @discardableResult
    func setSuccess(id: Int64, reason: String) async throws -> InstanceRecord
    func instance(id: Int64) async throws -> InstanceRecord?
    func instance(job: String, scheduledAt: Date) async throws -> InstanceRecord?
    /// The instance of `job` with the latest scheduled time, if any.
    func latestInstance(job: String) async throws -> InstanceRecord?
    /// Instances by scheduled time (oldest first), filtered.
    func instances(_ filter: InstanceFilter) async throws -> [InstanceRecord]
    /// The attempts of an instance, first first.
    func attempts(id: Int64) async throws -> [AttemptRecord]

    // MARK: plans

    /// Stores the instance's plan before anything is read, replacing an earlier plan (and the read
    /// ends recorded with it). The plan is kept as it is; its offsets also go into columns, for the
    /// queries of `contiguous` windows.
    func storePlan(id: Int64, plan: InstancePlan) async throws
    func plan(id: Int64) async throws -> InstancePlan?
    /// Records, per partition, the offset after the last record the instance read. Partitions must
    /// be in the stored plan.
    func recordReadEnds(id: Int64, _ ends: [Int32: Int64]) async throws
    /// Where the previous successful run of `job` ended, per partition (the read end, else the
    /// planned end): where a `contiguous` window starts. Nil when there is none.
    func previousSuccessfulEnd(job: String, before: Date) async throws -> (instance: InstanceRecord, ends: [Int32: Int64])?

    // MARK: dirty records and logs

    /// Stores dirty records of the instance's current attempt, up to the per-instance limit; returns
    /// how many were stored (the rest are only counted, by the caller).
    @discardableResult
    func addDirtyRecords(id: Int64, _ records: [LedgerDirtyRecord]) async throws -> Int
    func dirtyRecords(id: Int64, limit: Int?) async throws -> [LedgerDirtyRecord]
    /// Appends lines to the instance's log (tagged with its current attempt), keeping at most
    /// `limits.logLinesPerInstance` lines, each cut to `limits.logMessageBytes`.
    func appendLog(id: Int64, level: InstanceLogLine.Level, _ messages: [String]) async throws
    /// The instance's kept log, oldest line first.
    func log(id: Int64) async throws -> [InstanceLogLine]

    // MARK: commits

    /// Records the attempt's commit before the destination commits. Refused when the instance has
    /// moved on to another attempt (the attempt is the fencing token).
    func prepareCommit(_ r: CommitRecord) async throws
    func commitRecord(id: Int64, attempt: Int) async throws -> CommitRecord?
    func commitRecords(id: Int64) async throws -> [CommitRecord]
    /// Ends attempt `attempt` as succeeded after its destination committed, in one transaction.
    @discardableResult
    func finishCommitted(id: Int64, attempt: Int, counts: InstanceCounts, readEnds: [Int32: Int64],
                         note: String?) async throws -> InstanceRecord

    // MARK: scheduling

    @discardableResult
    func registerJob(_ job: String, path: String) async throws -> RegisteredJob
    func registeredJob(_ job: String) async throws -> RegisteredJob?
    /// Every job file a scheduler (or a backfill) has run, by job name.
    func registeredJobs() async throws -> [RegisteredJob]
    func schedulingState(id: Int64) async throws -> InstanceSchedulingState
    /// Sets (or clears) when the instance's automatic retry is due.
    func setRetry(id: Int64, at: Date?) async throws
    /// Failed instances of `job` whose automatic retry is due at `now`, oldest scheduled first.
    func dueRetries(job: String, now: Date) async throws -> [InstanceRecord]
    /// Marks an instance that was never run as skipped: status `dryRun`, with the reason kept.
    @discardableResult
    func markSkipped(id: Int64, reason: String) async throws -> InstanceRecord
    /// Instances of `job` that are not final, oldest scheduled first.
    func openInstances(job: String) async throws -> [InstanceRecord]
    /// The instance of `job` scheduled last before `before`, if any.
    func previousInstance(job: String, before: Date) async throws -> InstanceRecord?
    /// Records why the instance waits (nil: it no longer does); `sluice instance list` shows it.
    func setWaitReason(id: Int64, _ reason: String?) async throws
    /// Claims the instance's next attempt for scheduler `by`, with a lease until `leaseUntil`:
    /// returns the attempt number (`attempts + 1`), or nil when another scheduler holds an unexpired
    /// claim. Clears the retry due time. The claim stays until `releaseClaim`.
    func claimAttempt(id: Int64, by: String, leaseUntil: Date) async throws -> Int?
    /// Makes scheduler `by` the one that looks after the instance (watches its run, settles its
    /// attempt), keeping its claimed attempt: true when no other scheduler holds an unexpired lease
    /// on it, or when `force` (the only scheduler of a ledger knows other claims are stale).
    func adoptClaim(id: Int64, by: String, leaseUntil: Date, force: Bool) async throws -> Bool
    /// Makes every claim of another scheduler id scheduler `by`'s: for the only scheduler of a
    /// ledger, when it starts (the claims left are those of schedulers that died).
    func takeOverClaims(by: String, leaseUntil: Date) async throws
    /// Extends the leases of scheduler `by`'s claims on `ids`.
    func renewClaims(_ ids: [Int64], by: String, leaseUntil: Date) async throws
    /// Forgets the claim on the instance (its attempt ended and was settled).
    func releaseClaim(id: Int64) async throws
    /// Instances of `job` with a claimed attempt, oldest scheduled first.
    func claimedInstances(job: String) async throws -> [InstanceRecord]

    // MARK: the console and its metrics

    /// How many instances `filter` selects, ignoring its limit and offset (for pagination).
    func countInstances(_ filter: InstanceFilter) async throws -> Int
    /// The names of every job with instances or registered by a scheduler, sorted.
    func jobNames() async throws -> [String]
    /// Records an action a person took (rerun, kill, set-success, backfill), with who and when.
    @discardableResult
    func recordAction(_ action: NewLedgerAction) async throws -> LedgerAction
    /// Recorded actions, newest first: all, or those of one job or one instance.
    func actions(job: String?, instanceId: Int64?, limit: Int) async throws -> [LedgerAction]
    /// Stores what attempt `attempt` measured: phases and bytes read.
    func recordAttemptMetrics(id: Int64, attempt: Int, _ metrics: AttemptMetrics) async throws
    /// What each attempt of the instance measured, by attempt number.
    func attemptMetrics(id: Int64) async throws -> [Int: AttemptMetrics]
    /// The totals /metrics exposes; `now` decides which pending instances are due.
    func totals(now: Date) async throws -> LedgerTotals
    /// Every finished attempt with its duration and phases (for /metrics' histograms).
    func finishedAttempts() async throws -> [FinishedAttempt]

    // MARK: sharded instances

    /// Stores the shards of attempt `attempt` (one per plan, numbered from 0), pending, open to claims.
    func createShards(id: Int64, attempt: Int, job: String, spec: ShardSetSpec, plans: [WindowPlan]) async throws
    /// Claims a shard for `worker` until `leaseUntil`: a pending one, or a running one whose lease ran
    /// out (its worker died), of an open set (`only`: of that instance's attempt). Increments its fence.
    func claimShard(worker: String, leaseUntil: Date, only: (id: Int64, attempt: Int)?) async throws -> ClaimedShard?
    /// Extends the lease of a shard the worker still holds under `fence`; false when the claim was
    /// taken over or the set closed (the worker then stops the shard).
    func renewShard(id: Int64, attempt: Int, shard: Int, fence: Int, leaseUntil: Date) async throws -> Bool
    /// Records the end of a shard held under `fence`: done with its result, or failed with an
    /// error. False, changing nothing, when the claim was taken over or the set closed.
    func finishShard(id: Int64, attempt: Int, shard: Int, fence: Int, result: ShardResult?, error: String?) async throws -> Bool
    /// The shards of an attempt, by number.
    func shards(id: Int64, attempt: Int) async throws -> [ShardRecord]
    /// Closes an attempt's set: no shard of it can be claimed, renewed or finished any more.
    func closeShards(id: Int64, attempt: Int) async throws
}

extension Ledger {
    public func ensureInstance(_ new: NewInstance) async throws -> InstanceRecord {
        try await ensureInstance(new, status: .pending)
    }

    public func startAttempt(_ new: NewInstance) async throws -> InstanceRecord {
        try await startAttempt(new, number: nil)
    }

    @discardableResult
    public func finish(id: Int64, status: InstanceStatus, counts: InstanceCounts, error: String? = nil) async throws -> InstanceRecord {
        try await finish(id: id, status: status, counts: counts, error: error, failure: nil)
    }

    @discardableResult
    public func setStatus(id: Int64, _ status: InstanceStatus) async throws -> InstanceRecord {
        try await setStatus(id: id, status, error: nil)
    }

    public func instances(job: String? = nil, status: InstanceStatus? = nil, scheduledFrom: Date? = nil,
                          scheduledBefore: Date? = nil, limit: Int? = nil) async throws -> [InstanceRecord] {
        try await instances(InstanceFilter(job: job, status: status, scheduledFrom: scheduledFrom,
                                           scheduledBefore: scheduledBefore, limit: limit))
    }

    public func dirtyRecords(id: Int64) async throws -> [LedgerDirtyRecord] {
        try await dirtyRecords(id: id, limit: nil)
    }

    public func appendLog(id: Int64, level: InstanceLogLine.Level = .info, _ message: String) async throws {
        try await appendLog(id: id, level: level, [message])
    }

    public func appendLog(id: Int64, _ messages: [String]) async throws {
        try await appendLog(id: id, level: .info, messages)
    }

    @discardableResult
    public func finishCommitted(id: Int64, attempt: Int, counts: InstanceCounts, readEnds: [Int32: Int64]) async throws -> InstanceRecord {
        try await finishCommitted(id: id, attempt: attempt, counts: counts, readEnds: readEnds, note: nil)
    }
}

/// Which instances `Ledger.instances` lists.
public struct InstanceFilter: Sendable, Hashable {
    public var job: String?
    public var status: InstanceStatus?
    /// Scheduled at or after.
    public var scheduledFrom: Date?
    /// Scheduled before.
    public var scheduledBefore: Date?
    public var limit: Int?
    /// Newest first instead of oldest first.
    public var newestFirst: Bool
    /// Skip this many (pagination).
    public var offset: Int

    public init(job: String? = nil, status: InstanceStatus? = nil, scheduledFrom: Date? = nil,
                scheduledBefore: Date? = nil, limit: Int? = nil, newestFirst: Bool = false, offset: Int = 0) {
        self.job = job
        self.status = status
        self.scheduledFrom = scheduledFrom
        self.scheduledBefore = scheduledBefore
        self.limit = limit
        self.newestFirst = newestFirst
        self.offset = offset
    }
}

/// Who records the attempts a process starts: a scheduler (its `--id`) or a run by hand, with the
/// host and process.
public struct AttemptOrigin: Sendable, Hashable, Codable {
    public var launchedBy: String
    public var host: String
    public var pid: Int32

    public init(launchedBy: String, host: String, pid: Int32) {
        self.launchedBy = launchedBy
        self.host = host
        self.pid = pid
    }

    /// This process, launched by `launchedBy` (default: `manual`).
    public static func thisProcess(launchedBy: String = "manual") -> AttemptOrigin {
        AttemptOrigin(launchedBy: launchedBy, host: ProcessInfo.processInfo.hostName, pid: getpid())
    }
}

/// One attempt of an instance, as the ledger recorded it.
public struct AttemptRecord: Sendable, Hashable, Codable {
    public var attempt: Int
    /// The scheduler id that launched it, or `manual`.
    public var launchedBy: String
    public var host: String
    public var pid: Int32
    public var startedAt: Date
    public var finishedAt: Date?
    public var status: InstanceStatus
    public var error: String?
}
