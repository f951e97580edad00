import Foundation
import Logging
import SluiceCore
import SluiceScheduling
import SluiceJob
import SluiceLedger

/// What an executor is asked to run: one instance of a job.
public struct ExecutionRequest: Sendable {
    /// The instance as the ledger had it when the scheduler launched it.
    public var instance: InstanceRecord
    public var job: LoadedJob
    public var stateDirectory: String
    /// Contiguous jobs: the previous instances were skipped (catch-up), so this one takes their records.
    public var allowGap: Bool
    /// A backfill's business date, when it is not the scheduled date − 1.
    public var businessDate: CivilDate?
    /// The attempt the scheduler claimed: the run is refused when another process made it already.
    public var attempt: Int?

    public init(instance: InstanceRecord, job: LoadedJob, stateDirectory: String, allowGap: Bool = false,
                businessDate: CivilDate? = nil, attempt: Int? = nil) {
        self.instance = instance
        self.job = job
        self.stateDirectory = stateDirectory
        self.allowGap = allowGap
        self.businessDate = businessDate
        self.attempt = attempt
    }

    /// The scheduled time in epoch seconds.
    public var scheduledTime: Int64 { Int64(instance.scheduledAt.timeIntervalSince1970.rounded()) }
}

/// How an execution ended, as the executor saw it. The ledger has the authoritative status: an
/// executor records the attempt (start and outcome) there, as `sluice run` does.
public enum ExecutionOutcome: Sendable, Equatable {
    case succeeded
    case failed(String)
    /// The calling task was cancelled (timeout, kill, shutdown) and the run was stopped.
    case cancelled
}

/// Runs instances for the scheduler. Implementations record the attempt in the ledger (`startAttempt`
/// then `finish`), and stop the run promptly when the calling task is cancelled.
public protocol InstanceExecutor: Sendable {
    func execute(_ request: ExecutionRequest) async -> ExecutionOutcome
    /// Called when an instance whose run another process made (e.g. the orphaned child of a
    /// scheduler that crashed) has ended: keep what that run left behind, such as its output.
    func collect(instance: InstanceRecord, stateDirectory: String) async
}

extension InstanceExecutor {
    public func collect(instance: InstanceRecord, stateDirectory: String) async {}
}

/// Scheduler settings.
public struct SchedulerOptions: Sendable {
    /// Instances running at once, over all jobs.
    public var maxParallel = 4
    /// `catchUp: none` still runs an instance created at most this late after its scheduled time.
    public var lateTolerance: TimeInterval = 60
    /// Seconds before an automatic retry, instead of the job's `retryInterval` (for tests).
    public var retryDelay: TimeInterval?
    /// This scheduler's id, recorded on every attempt it launches and on its claims.
    public var id: String
    /// How long a claim stays this scheduler's without renewal: another scheduler sharing the
    /// ledger takes an instance over once its lease has run out (the scheduler died).
    public var lease: TimeInterval
    /// This is the only scheduler of its ledger (it holds the state directory's scheduler lock), so
    /// claims of other ids are stale: taken over at once, without waiting for their leases.
    public var exclusive: Bool

    public init(maxParallel: Int = 4, lateTolerance: TimeInterval = 60, retryDelay: TimeInterval? = nil,
                id: String = SchedulerOptions.defaultId, lease: TimeInterval = 30, exclusive: Bool = true) {
        self.maxParallel = max(1, maxParallel)
        self.lateTolerance = lateTolerance
        self.retryDelay = retryDelay
        self.id = id
        self.lease = lease
        self.exclusive = exclusive
    }

    /// The host name and process id.
    public static var defaultId: String { "\(ProcessInfo.processInfo.hostName):\(getpid())" }
}

/// The scheduler: creates a ledger instance for every scheduled time of every job, runs each when
/// its time has come and its conditions hold, retries, times out and catches up, all recorded in the
/// ledger. Time comes from `clock` and runs go through `executor`, so tests drive it deterministically
/// with `tick()`; `run()` is the service loop.
public actor Scheduler {
    struct JobEntry {
        var job: LoadedJob
        var calendar: InstanceCalendar
        var compiled: CompiledJobParameters?
        var firstSeen: Date
        var selfDependent: Bool
        /// `schedule.dependsOn`: the jobs whose instances this job's instances wait for.
        var upstream: [String]
    }

    struct Execution {
        var task: Task<Void, Never>
        var job: String
        var startedAt: Date
        var deadline: Date?
        var timedOut = false
    }

    /// A run of another process (an orphaned child of a scheduler that crashed, a manual run) that
    /// this scheduler waits for, to settle its outcome.
    struct Watched {
        var job: String
        var partition: String
        var pid: Int32
        var deadline: Date?
        var timedOut = false
    }

    public let ledger: any Ledger
    public let stateDirectory: String
    public let clock: any SchedulerClock
    public let executor: any InstanceExecutor
    public let options: SchedulerOptions
    private let logger: Logger
    /// Instance-tagged log records also go into the instances' logs in the ledger (one channel).
    private let ledgerLog: LedgerLog
    /// The destination of a job, asked whether an interrupted attempt committed.
    private let destination: @Sendable (LoadedJob) throws -> any Sink
    private var jobs: [String: JobEntry] = [:]
    private var executions: [Int64: Execution] = [:]
    private var watched: [Int64: Watched] = [:]
    private var stopping = false
    private var aborting = false
    /// The claims of earlier schedulers were taken over (an exclusive scheduler does it once).
    private var tookOverClaims = false
    /// The wait reason last recorded per instance (so that it is written once).
    private var waitReasons: [Int64: String] = [:]

    public init(ledger: any Ledger, stateDirectory: String, clock: any SchedulerClock, executor: any InstanceExecutor,
                options: SchedulerOptions = SchedulerOptions(), logger: Logger = Logger(label: "sluice.scheduler"),
                destination: @escaping @Sendable (LoadedJob) throws -> any Sink = { try Destinations.sink(job: $0, createTable: false) }) {
        self.destination = destination
        self.ledger = ledger
        self.stateDirectory = stateDirectory
        self.clock = clock
        self.executor = executor
        self.options = options
        let ledgerLog = LedgerLog(ledger: ledger)
        self.ledgerLog = ledgerLog
        self.logger = ledgerLog.attach(to: logger)
    }

    /// Adds or replaces a job. Throws when it has no valid `schedule` (the previous version, if any,
    /// stays).
    public func setJob(_ job: LoadedJob) async throws {
        let name = job.spec.name
        guard let calendar = try InstanceCalendar.forJob(job.spec, fallback: .machine) else {
            throw SluiceError.invalid("job \(name) (\(job.path)) has no schedule block", hint: "add `schedule:` to run it with the scheduler")
        }
        let registered = try await ledger.registerJob(name, path: (job.path as NSString).standardizingPath)
        let selfDependent = job.spec.schedule?.dependsOnPrevious ?? (job.spec.source.windowMode == .contiguous)
        jobs[name] = JobEntry(job: job, calendar: calendar, compiled: try? CompiledJobParameters(job: job.spec, zone: calendar.zone),
                              firstSeen: registered.firstSeen, selfDependent: selfDependent,
                              upstream: job.spec.schedule?.dependsOn ?? [])
    }

    public func removeJob(named name: String) { jobs[name] = nil }

    public var jobNames: [String] { jobs.keys.sorted() }

    /// Unknown upstream jobs and dependency cycles among the loaded jobs, one line each.
    public var dependencyProblems: [String] {
        JobDependencyGraph(jobs.mapValues(\.upstream)).problems()
    }

    /// Instances being run now (by this scheduler, or watched runs of other processes).
    public var runningCount: Int { executions.count + watched.count }

    /// One pass at the clock's current time: create due instances, time out overdue runs, settle
    /// runs that ended (ours, and those of other processes, e.g. orphans of a crashed scheduler), start
    /// what may start. Returns how many runs it started.
    @discardableResult
    public func tick() async throws -> Int {
        let now = clock.now()
        if options.exclusive && !tookOverClaims {
            try await ledger.takeOverClaims(by: options.id, leaseUntil: leaseEnd(now))
            tookOverClaims = true
        }
        try await ledger.renewClaims(Array(executions.keys) + Array(watched.keys), by: options.id, leaseUntil: leaseEnd(now))
        for (id, e) in executions where !e.timedOut {
            if let deadline = e.deadline, deadline <= now {
                executions[id]?.timedOut = true
                log(instance: id, job: e.job, "instance \(id) of \(e.job) timed out; stopping it")
                e.task.cancel()
            }
        }
        try await watchOthers(now: now)
        var started = 0
        do {
            for name in jobs.keys.sorted() where !stopping {
                guard let entry = jobs[name] else { continue }
                try await createInstances(entry, now: now)
                started += try await launchReady(entry, now: now)
            }
        } catch {
            await ledgerLog.flush()
            throw error
        }
        await ledgerLog.flush()
        return started
    }

    private func leaseEnd(_ now: Date) -> Date { now.addingTimeInterval(options.lease) }

    /// Makes this scheduler the one that looks after the instance; false when another live
    /// scheduler does.
    private func adopt(_ id: Int64, now: Date) async throws -> Bool {
        try await ledger.adoptClaim(id: id, by: options.id, leaseUntil: leaseEnd(now), force: options.exclusive)
    }

    /// Waits until every run started so far has ended and been recorded.
    public func drain() async {
        while let (_, e) = executions.first {
            await e.task.value
        }
    }

    /// Stops starting runs. With `abort`, running ones are stopped (their destinations unchanged)
    /// and put back to `pending`, to run when a scheduler starts again; without, they finish. Watched
    /// runs of other processes are left alone: the next scheduler settles them.
    public func stop(abort: Bool) {
        stopping = true
        if abort {
            aborting = true
            for e in executions.values { e.task.cancel() }
        }
    }

    /// The service loop: ticks every `interval` until `stop`, then waits for the runs to end.
    public func run(interval: TimeInterval = 1) async {
        while !stopping && !Task.isCancelled {
            do {
                try await tick()
            } catch {
                log(level: .warning, "scheduler pass failed: \(error); trying again")
            }
            await clock.sleep(until: clock.now().addingTimeInterval(interval))
        }
        await drain()
    }

    // MARK: creating instances

    private func createInstances(_ entry: JobEntry, now: Date) async throws {
        let name = entry.job.spec.name
        let latest = try await ledger.latestInstance(job: name)
        let fromSeconds: Int64 = if let latest {
            Int64(latest.scheduledAt.timeIntervalSince1970.rounded()) + 1
        } else {
            Int64(entry.firstSeen.timeIntervalSince1970.rounded(.up))
        }
        let toSeconds = Int64(now.timeIntervalSince1970.rounded(.down)) + 1
        guard fromSeconds < toSeconds else { return }
        let due = entry.calendar.instances(from: fromSeconds, to: toSeconds)
        guard !due.isEmpty else { return }
        let schedule = entry.job.spec.schedule ?? ScheduleSpec()
        let nowSeconds = Int64(now.timeIntervalSince1970.rounded(.down))
        for (i, s) in due.enumerated() {
            let record = try await ledger.ensureInstance(describe(entry, s))
            guard record.status == .pending, record.attempts == 0 else { continue }
            if s.isDryRun {
                try await ledger.setStatus(id: record.id, .dryRun)
                log(instance: record.id, job: name, "dry run: " + (s.dryRunNote(cycle: schedule.cycle) ?? ""))
                continue
            }
            switch schedule.type {
            case .paused:
                try await ledger.setStatus(id: record.id, .failed, error: "the job is paused (schedule.type: paused); the instance was not run")
                continue
            case .dryRun:
                try await ledger.setStatus(id: record.id, .dryRun)
                log(instance: record.id, job: name, "dry run: schedule.type is dryRun; marked successful without running")
                continue
            case .normal:
                break
            }
            let late = nowSeconds - s.scheduledTime
            let isLast = i == due.count - 1
            let missed = Double(late) > options.lateTolerance
            var skip: String?
            switch schedule.catchUp {
            case .all: break
            case .latest:
                if !isLast { skip = "catchUp: latest: the scheduler was not running at the scheduled time; a later instance ran instead" }
            case .none:
                if missed { skip = "catchUp: none: the scheduler was not running at the scheduled time (\(late) s late)" }
            }
            if let skip {
                try await ledger.markSkipped(id: record.id, reason: skip)
                log(job: name, "\(name): skipped the instance scheduled \(entry.calendar.zone.iso8601(s.scheduledTime)): \(skip)")
            } else if missed {
                log(instance: record.id, job: name, "created \(late) s after its scheduled time (catch-up after the scheduler was down)")
            }
        }
    }

    private func describe(_ entry: JobEntry, _ s: ScheduledInstance) -> NewInstance {
        let date = Date(timeIntervalSince1970: Double(s.scheduledTime))
        var new = NewInstance(job: entry.job.spec.name, scheduledAt: date, businessDate: s.businessDate.compact)
        if let compiled = entry.compiled,
           let resolved = try? compiled.resolve(s.context(zone: entry.calendar.zone, jobId: entry.job.spec.name, nodeId: entry.job.spec.name)) {
            new.parameters = Dictionary(resolved.parameters.pairs.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a })
            new.windowStart = resolved.begin.date
            new.windowEnd = resolved.end.date
            new.partition = (try? PartitionSpec(parsing: resolved.partition))?.description ?? resolved.partition
        }
        return new
    }

    // MARK: starting runs

    private func launchReady(_ entry: JobEntry, now: Date) async throws -> Int {
        let name = entry.job.spec.name
        var candidates: [InstanceRecord] = []
        for r in try await ledger.openInstances(job: name) where isIdle(r.id) && r.scheduledAt <= now {
            if r.status == .running {
                // Not ours: an orphaned run of a scheduler that crashed, a manual run, or a dead run;
                // left alone while another live scheduler looks after it.
                if try await adopt(r.id, now: now) { try await settle(r.id, outcome: nil, timedOut: false) }
            } else {
                candidates.append(r)
            }
        }
        // Attempts a scheduler launched that ended while no scheduler watched them.
        for r in try await ledger.claimedInstances(job: name) where isIdle(r.id) && r.status.isFinal {
            if try await adopt(r.id, now: now) { try await settle(r.id, outcome: nil, timedOut: false) }
        }
        candidates += try await ledger.dueRetries(job: name, now: now).filter { isIdle($0.id) }
        candidates.sort { ($0.scheduledAt, $0.id) < ($1.scheduledAt, $1.id) }
        var started = 0
        var blockedBy: InstanceRecord?
        for r in candidates {
            if let blocker = blockedBy {
                // Self-dependent: everything after a blocked instance waits too.
                try await wait(r, "an earlier instance (\(blocker.id)) has not succeeded (self-dependency)")
                continue
            }
            if let reason = try await upstreamBlock(entry, r) {
                try await wait(r, reason)
                if entry.selfDependent { blockedBy = r }
                continue
            }
            // A stop that came while this pass awaited the ledger starts nothing more.
            guard !stopping, executions.count + watched.count < options.maxParallel else { break }
            // Another process (an orphaned run of a crashed scheduler, a manual run) has the partition.
            if await ledger.runLocks.currentHolder(job: r.job, partition: r.partition ?? "") != nil {
                if entry.selfDependent { blockedBy = r }
                continue
            }
            var allowGap = false
            if entry.selfDependent, let previous = try await ledger.previousInstance(job: name, before: r.scheduledAt) {
                let ok = previous.status == .succeeded || previous.status == .dryRun
                if !ok || !isIdle(previous.id) {
                    try await wait(r, "the previous instance \(previous.id) (\(previous.status.rawValue)) has not succeeded (self-dependency)")
                    blockedBy = previous
                    continue
                }
                if previous.status == .dryRun, try await ledger.schedulingState(id: previous.id).skipReason != nil {
                    allowGap = true
                }
            }
            if r.status == .failed { log(instance: r.id, job: r.job, "automatic retry after failure") }
            // Recorded before the child starts: the child runs only as this attempt, so a run of the
            // same instance by an orphan of a crashed scheduler and this one cannot both happen.
            guard let attempt = try await ledger.claimAttempt(id: r.id, by: options.id, leaseUntil: leaseEnd(now)) else {
                continue  // another scheduler launched it
            }
            launch(entry, r, attempt: attempt, allowGap: allowGap, now: now)
            started += 1
        }
        return started
    }

    /// Marks a pending instance waiting and records why (logged once per reason), so that
    /// `sluice instance list` shows what it waits for.
    private func wait(_ r: InstanceRecord, _ reason: String) async throws {
        guard r.status == .pending || r.status == .waiting, waitReasons[r.id] != reason else { return }
        if r.status == .pending { try await ledger.setStatus(id: r.id, .waiting) }
        try await ledger.setWaitReason(id: r.id, reason)
        log(instance: r.id, job: r.job, "waiting: \(reason)")
        waitReasons[r.id] = reason
    }

    /// Why the instance cannot run yet because of its upstream jobs (`schedule.dependsOn`): the
    /// first upstream instance it waits for that has not succeeded (or dry-run). Nil when none.
    /// Upstream instances scheduled before the upstream job was first seen were never created
    /// and do not block.
    private func upstreamBlock(_ entry: JobEntry, _ r: InstanceRecord) async throws -> String? {
        let time = Int64(r.scheduledAt.timeIntervalSince1970.rounded())
        for name in entry.upstream {
            guard let up = jobs[name] else { return "upstream job \(name) is not loaded by this scheduler" }
            let times = UpstreamDependencies.upstreamTimes(of: time, downstream: entry.calendar, upstream: up.calendar)
            for t in times where Double(t) >= up.firstSeen.timeIntervalSince1970.rounded(.down) {
                let when = up.calendar.zone.iso8601(t)
                guard let u = try await ledger.instance(job: name, scheduledAt: Date(timeIntervalSince1970: Double(t))) else {
                    return "upstream \(name) scheduled \(when) has no instance yet"
                }
                if u.status != .succeeded && u.status != .dryRun {
                    return "upstream \(name) instance \(u.id) scheduled \(when) is \(u.status.rawValue)"
                }
            }
        }
        return nil
    }

    /// Asks the destination about an attempt that ended without recording its outcome, before any
    /// retry is decided: a committed attempt is recorded as succeeded (nothing runs again); one the
    /// destination cannot tell about, appending to a destination that cannot replace rows, fails
    /// without an automatic retry. Returns whether that settled the attempt.
    private func settledFromDestination(_ r: InstanceRecord) async throws -> Bool {
        // An SQL node commits nothing a destination could be asked about: it runs again.
        guard r.status != .succeeded, let job = jobs[r.job]?.job, job.spec.task == .sync else { return false }
        let sink: any Sink
        do {
            sink = try destination(job)
        } catch {
            log(instance: r.id, job: r.job, level: .warning, "instance \(r.id) of \(r.job): cannot ask the destination whether attempt \(r.attempts) committed: \(error)")
            return false
        }
        switch try await CommitSettlement.settle(r, ledger: ledger, sink: sink) {
        case .settled(_, let note):
            log(instance: r.id, job: r.job, "instance \(r.id) of \(r.job): succeeded: \(note)")
            return true
        case .unknown(let why) where job.spec.destination.writeMode == .append && !sink.replacesEarlierAppends:
            let message = "cannot tell whether attempt \(r.attempts) committed its append (\(why)); not retried automatically, so that its rows are not added twice"
            try await ledger.setStatus(id: r.id, .failed, error: message)
            log(instance: r.id, job: r.job, level: .error, "instance \(r.id) of \(r.job): failed: \(message)")
            return true
        case .unknown, .notCommitted, .nothingToSettle:
            return false
        }
    }

    /// Logs `message` with the instance and job as metadata.
    private func log(instance: Int64? = nil, job: String? = nil, level: Logger.Level = .info, _ message: String) {
        var metadata: Logger.Metadata = [:]
        if let instance { metadata["instance"] = "\(instance)" }
        if let job { metadata["job"] = "\(job)" }
        logger.log(level: level, "\(message)", metadata: metadata)
    }

    /// Neither run by this scheduler nor watched by it.
    private func isIdle(_ id: Int64) -> Bool { executions[id] == nil && watched[id] == nil }

    private func launch(_ entry: JobEntry, _ r: InstanceRecord, attempt: Int, allowGap: Bool, now: Date) {
        waitReasons[r.id] = nil
        let request = ExecutionRequest(instance: r, job: entry.job, stateDirectory: stateDirectory, allowGap: allowGap,
                                       attempt: attempt)
        let executor = self.executor
        let deadline = entry.job.spec.schedule?.timeout.map { now.addingTimeInterval(TimeInterval($0)) }
        log(instance: r.id, job: r.job, "starting instance \(r.id) of \(r.job) scheduled \(entry.calendar.zone.iso8601(request.scheduledTime)) (attempt \(attempt))")
        let task = Task {
            let outcome = await executor.execute(request)
            await self.finished(r.id, outcome: outcome)
        }
        executions[r.id] = Execution(task: task, job: r.job, startedAt: now, deadline: deadline)
    }

    private func finished(_ id: Int64, outcome: ExecutionOutcome) async {
        guard let e = executions[id] else { return }
        // The entry stays until the outcome is recorded, so that no pass takes the instance meanwhile.
        defer { executions[id] = nil }
        do {
            try await settle(id, outcome: outcome, timedOut: e.timedOut)
        } catch {
            log(instance: id, level: .error, "recording the end of instance \(id) failed: \(error)")
        }
        await ledgerLog.flush()
    }

    // MARK: runs of other processes

    /// Watched runs: settled when their process lets go of the run lock, timed out like ours.
    private func watchOthers(now: Date) async throws {
        for (id, w) in watched {
            guard let holder = await ledger.runLocks.currentHolder(job: w.job, partition: w.partition) else {
                watched[id] = nil
                try await settle(id, outcome: nil, timedOut: w.timedOut)
                continue
            }
            if holder.pid > 0 { watched[id]?.pid = holder.pid }
            if let deadline = w.deadline, deadline <= now, !w.timedOut {
                watched[id]?.timedOut = true
                try await stopWatched(id, w, holder: holder)
            }
        }
    }

    /// Stops a watched run at its timeout: a process on this machine is signalled; one on another
    /// host is failed in the ledger, which fences it (its commit is refused).
    private func stopWatched(_ id: Int64, _ w: Watched, holder: RunLockHolder) async throws {
        guard holder.isLocal, holder.pid > 0 else {
            let message = "timed out after \(jobs[w.job]?.job.spec.schedule?.timeout ?? 0) s (schedule.timeout) while run by \(holder.description); its commit will be refused"
            try await ledger.setStatus(id: id, .failed, error: message)
            log(instance: id, job: w.job, "instance \(id) of \(w.job): \(message)")
            return
        }
        let pid = holder.pid, locks = ledger.runLocks, job = w.job, partition = w.partition
        log(instance: id, job: w.job, "instance \(id) of \(w.job) (pid \(pid), not started by this scheduler) timed out; stopping it")
        Task {
            try? await InstanceKiller.terminate(pid: pid, grace: .seconds(10)) {
                await locks.currentHolder(job: job, partition: partition)?.pid == pid
            }
        }
    }

    /// Records how an attempt ended and what follows from it (retry policy, timeout, abort), deciding
    /// under the instance's run lock, which no run holds while it starts or ends an attempt. `outcome`
    /// is what our own child did; nil for a run of another process. An instance another process still
    /// runs becomes watched instead.
    private func settle(_ id: Int64, outcome: ExecutionOutcome?, timedOut: Bool) async throws {
        guard let r = try await ledger.instance(id: id) else { return }
        guard r.status == .running else {
            try await settle(r, outcome: outcome, timedOut: timedOut)
            return
        }
        let partition = r.partition ?? ""
        guard let probe = await ledger.runLocks.hold(job: r.job, partition: partition) else {
            let holder = await ledger.runLocks.currentHolder(job: r.job, partition: partition)
            let timeout = jobs[r.job]?.job.spec.schedule?.timeout
            watched[id] = Watched(job: r.job, partition: partition, pid: holder?.pid ?? 0,
                                  deadline: timeout.map { (r.startedAt ?? clock.now()).addingTimeInterval(TimeInterval($0)) },
                                  timedOut: timedOut)
            log(instance: id, job: r.job, "instance \(id) of \(r.job) is being run by another process (\(holder?.description ?? "pid unknown")); waiting for its outcome")
            return
        }
        let result: Result<Void, any Error>
        do {
            if let current = try await ledger.instance(id: id) { try await settle(current, outcome: outcome, timedOut: timedOut) }
            result = .success(())
        } catch {
            result = .failure(error)
        }
        await probe.release()
        try result.get()
    }

    /// Settles `r`, whose run no process holds.
    private func settle(_ r: InstanceRecord, outcome: ExecutionOutcome?, timedOut: Bool) async throws {
        if outcome == nil { await executor.collect(instance: r, stateDirectory: stateDirectory) }
        try await record(r, outcome: outcome, timedOut: timedOut, interrupted: r.status == .running)
        try await ledger.releaseClaim(id: r.id)
    }

    /// What an ended attempt leaves in the ledger: the timeout, the abort, the failure of a run that
    /// recorded no outcome, and the automatic retry the policy gives a failure.
    private func record(_ r: InstanceRecord, outcome: ExecutionOutcome?, timedOut: Bool, interrupted: Bool) async throws {
        let id = r.id
        let schedule = jobs[r.job]?.job.spec.schedule
        if try await settledFromDestination(r) { return }
        if timedOut, r.status != .succeeded {
            let message = "timed out after \(schedule?.timeout ?? 0) s (schedule.timeout): the run was stopped; no automatic rerun"
            try await ledger.setStatus(id: id, .failed, error: message)
            log(instance: id, job: r.job, level: .error, "instance \(id) of \(r.job): \(message)")
            return
        }
        if r.status == .killed {
            log(instance: id, job: r.job, "instance \(id) of \(r.job) was killed")
            return
        }
        if aborting, outcome != nil, outcome == .cancelled || !r.status.isFinal {
            try await ledger.setStatus(id: id, .pending, error: "aborted when the scheduler stopped; it runs again when a scheduler starts")
            log(instance: id, job: r.job, level: .warning, "aborted when the scheduler stopped")
            return
        }
        var r = r
        if !r.status.isFinal {
            let why: String = if interrupted {
                "interrupted: the run's process ended without recording an outcome (killed, or the machine stopped)"
            } else {
                switch outcome {
                case .failed(let m)?: m
                case .cancelled?: "the run was stopped"
                case .succeeded?, nil: "the run ended without recording an outcome"
                }
            }
            r = try await ledger.setStatus(id: id, .failed, error: why)
            if interrupted { log(instance: id, job: r.job, level: .warning, why) }
        }
        log(instance: id, job: r.job, "instance \(id) of \(r.job): \(r.status.rawValue)\(r.error.map { ": \($0)" } ?? "")\(outcome == nil ? " (run by another process)" : "")")
        guard r.status == .failed, let schedule, schedule.rerun.allowsRerun(of: .failed) else { return }
        if let failure = try await ledger.schedulingState(id: id).failure, !failure.retriable {
            let why = "not retried automatically: the failure (\(failure.code)) would happen again; fix its cause and rerun it"
            log(instance: id, job: r.job, level: .warning, "instance \(id) of \(r.job): \(why)")
            return
        }
        // An interrupted attempt is retried at least once (it did not fail on its own).
        let retries = interrupted ? max(1, schedule.retries) : schedule.retries
        if r.attempts <= retries, try await ledger.schedulingState(id: id).retryAt == nil {
            let delay = options.retryDelay ?? TimeInterval(schedule.retryInterval)
            try await ledger.setRetry(id: id, at: clock.now().addingTimeInterval(delay))
            log(instance: id, job: r.job, "automatic retry \(r.attempts) of \(retries) due in \(String(format: "%g", delay)) s")
        }
    }
}
