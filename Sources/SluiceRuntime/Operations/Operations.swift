import Foundation
import SluiceCore
import SluiceScheduling
import SluiceJob
import SluiceLedger

/// What people do to instances by hand: rerun, kill and set-success (backfill is `Backfill`). The
/// CLI and the console are two faces on these calls: they parse, call, and render the result.
public struct Operations: Sendable {
    public let ledger: any Ledger
    /// Where the ledger is, for the runs these operations start.
    public let location: LedgerLocation
    /// The state directory reruns use (the embedded ledger's, and the SQLite run locks').
    public let stateDirectory: String

    /// Who does what these operations do, recorded in the ledger's actions: the console's user, or
    /// `SLUICE_ACTOR` (set by the console for the runs it starts), else `cli:USER@HOST`.
    public let actor: String

    public init(ledger: any Ledger, location: LedgerLocation, stateDirectory: String, actor: String? = nil) {
        self.ledger = ledger
        self.location = location
        self.stateDirectory = stateDirectory
        self.actor = actor ?? Self.defaultActor
    }

    /// `SLUICE_ACTOR`, else `cli:USER@HOST`.
    public static var defaultActor: String {
        let env = ProcessInfo.processInfo.environment
        if let actor = env["SLUICE_ACTOR"], !actor.isEmpty { return actor }
        return "cli:\(env["USER"] ?? env["LOGNAME"] ?? "unknown")@\(ProcessInfo.processInfo.hostName)"
    }

    /// Records `action` with its outcome, then returns (or rethrows) what `body` did. A failure to
    /// record is not the action's failure: the action stands.
    func recorded<T>(_ action: String, instance id: Int64?, job: String?, detail: String?,
                     _ body: () async throws -> T) async throws -> T {
        do {
            let result = try await body()
            _ = try? await ledger.recordAction(NewLedgerAction(actor: actor, action: action, instanceId: id, job: job,
                                                               detail: detail, outcome: "done"))
            return result
        } catch {
            let message = (error as? RunFailure)?.error.description ?? (error as? SluiceError)?.description ?? "\(error)"
            _ = try? await ledger.recordAction(NewLedgerAction(actor: actor, action: action, instanceId: id, job: job,
                                                               detail: detail, outcome: "failed: \(message)"))
            throw error
        }
    }

    /// The instance, or a clear error naming the id.
    public func instance(_ id: Int64) async throws -> InstanceRecord {
        guard let r = try await ledger.instance(id: id) else {
            throw SluiceError.invalid("there is no instance \(id) in this ledger", hint: "list instances with `sluice instance list`")
        }
        return r
    }

    // MARK: rerun

    /// The job file of the instance: `given`, else the file the scheduler registered for its job.
    public func jobPath(of r: InstanceRecord, given: String?) async throws -> String {
        if let given { return given }
        guard let path = try await ledger.registeredJob(r.job)?.path else {
            throw SluiceError.invalid("the ledger does not know the job file of \(r.job)", hint: "pass --job FILE")
        }
        return path
    }

    /// Runs the instance again in this process with its scheduled time and business date, under the
    /// job's rerun policy; its stored plan is replayed while the job gives the instance the same
    /// window, and the rerun is refused otherwise unless `options.replan` plans it anew. Throws
    /// `RunFailure` when the run fails.
    public func rerun(_ id: Int64, job: LoadedJob, options base: RunOptions = RunOptions()) async throws -> RunReport {
        try await recorded("rerun", instance: id, job: job.spec.name, detail: base.replan ? "replan" : nil) {
            let r = try await checkRerun(id, job: job)
            return try await runAgain(r, job: job, options: base)
        }
    }

    /// The instance, when `job` is its job and the job's rerun policy lets it run again by hand.
    public func checkRerun(_ id: Int64, job: LoadedJob) async throws -> InstanceRecord {
        let r = try await instance(id)
        guard job.spec.name == r.job else {
            throw SluiceError.invalid("instance \(id) belongs to job \(r.job), but \(job.path) is job \(job.spec.name)")
        }
        try Self.checkManualRerun(r, policy: job.spec.schedule?.rerun ?? .always)
        return r
    }

    private func runAgain(_ r: InstanceRecord, job: LoadedJob, options base: RunOptions) async throws -> RunReport {
        var options = base
        options.scheduledTime = Int64(r.scheduledAt.timeIntervalSince1970.rounded())
        if let b = r.businessDate { options.businessDate = try WallTime.parseDate(b, subject: "business date") }
        options.stateDirectory = stateDirectory
        options.ledger = location
        return try await InstanceRunner(job: job, options: options).run()
    }

    /// The job's rerun policy applied to a rerun by hand: `never` refuses, `onFailure` refuses a
    /// succeeded (or dry-run) instance, and a running instance is never rerun.
    public static func checkManualRerun(_ r: InstanceRecord, policy: ScheduleSpec.Rerun) throws {
        if r.status == .running {
            throw SluiceError.invalid("instance \(r.id) of \(r.job) is running", hint: "wait for it, or `sluice instance kill \(r.id)` first")
        }
        guard !policy.allowsRerun(of: r.status) else { return }
        switch policy {
        case .never:
            throw SluiceError.invalid("job \(r.job) has `rerun: never`: its instances cannot be rerun",
                                      hint: "change the job's schedule.rerun to allow it")
        case .onFailure, .always:
            throw SluiceError.invalid("job \(r.job) has `rerun: onFailure` and instance \(r.id) is \(r.status.rawValue)",
                                      hint: "only failed or killed instances may be rerun")
        }
    }

    // MARK: kill

    /// How a kill went.
    public struct KillOutcome: Sendable {
        /// The instance after the kill, as the ledger has it.
        public var instance: InstanceRecord

        init(instance: InstanceRecord) { self.instance = instance }
        /// The process that held the instance's run lock and was signalled, if one did.
        public var signalledPid: Int32?
        /// The holder of the run lock on another host, which cannot be signalled from here: its
        /// commit is refused (the instance is killed in the ledger), so it ends without writing.
        public var remoteHolder: String?
    }

    /// Marks a running, pending or waiting instance killed (no automatic retry follows) and stops
    /// the process that runs it: SIGTERM, then SIGKILL after `grace`.
    public func kill(_ id: Int64, grace: Duration = .seconds(10)) async throws -> KillOutcome {
        try await recorded("kill", instance: id, job: try? await ledger.instance(id: id)?.job, detail: nil) {
            try await killNow(id, grace: grace)
        }
    }

    private func killNow(_ id: Int64, grace: Duration) async throws -> KillOutcome {
        let r = try await instance(id)
        guard r.status == .running || r.status == .pending || r.status == .waiting else {
            throw SluiceError.invalid("instance \(id) of \(r.job) is not running (it is \(r.status.rawValue))")
        }
        _ = try await ledger.setStatus(id: id, .killed, error: "killed by \(actor)")
        try? await ledger.setRetry(id: id, at: nil)
        try? await ledger.appendLog(id: id, level: .warning, "killed by \(actor) (pid \(getpid()))")
        let locks = ledger.runLocks, job = r.job, partition = r.partition ?? ""
        var outcome = KillOutcome(instance: r)
        if let holder = await locks.currentHolder(job: job, partition: partition), holder.pid > 0 {
            if holder.isLocal {
                try await InstanceKiller.terminate(pid: holder.pid, grace: grace) {
                    await locks.currentHolder(job: job, partition: partition)?.pid == holder.pid
                }
                outcome.signalledPid = holder.pid
            } else {
                outcome.remoteHolder = holder.description
            }
        }
        outcome.instance = try await instance(id)
        return outcome
    }

    // MARK: set-success

    /// Marks an instance successful by hand, recording why; it unblocks the next instance of a
    /// self-dependent job. Refused while it runs, or without a reason.
    public func setSuccess(_ id: Int64, reason: String) async throws -> InstanceRecord {
        try await recorded("setSuccess", instance: id, job: try? await ledger.instance(id: id)?.job, detail: reason) {
            try await setSuccessNow(id, reason: reason)
        }
    }

    private func setSuccessNow(_ id: Int64, reason: String) async throws -> InstanceRecord {
        guard !reason.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw SluiceError.invalid("--reason is empty", hint: "say why the instance counts as successful")
        }
        let r = try await ledger.setSuccess(id: id, reason: reason)
        try? await ledger.setRetry(id: id, at: nil)
        try? await ledger.appendLog(id: id, level: .warning, "set to success by hand: \(reason)")
        return r
    }
}

extension ScheduleSpec.Rerun {
    /// Whether an instance that ended with `status` may run again: by hand, or (for `failed`) by the
    /// scheduler's automatic retry.
    public func allowsRerun(of status: InstanceStatus) -> Bool {
        switch self {
        case .always: true
        case .never: false
        case .onFailure: status != .succeeded && status != .dryRun
        }
    }
}

// MARK: downstream

extension Operations {
    /// One instance of a rerun with its dependants, as it went.
    public struct DownstreamRun: Sendable, Codable {
        public var instanceId: Int64
        public var job: String
        public var scheduledAt: Date
        public var status: String
        public var error: String?
    }

    /// The instances that wait for instance `id` (through `schedule.dependsOn`, directly or through
    /// other jobs), in the order they must run: jobs upstream first, then by scheduled time. The job
    /// files are those the scheduler registered in the ledger; dependants never created are absent.
    public func dependants(of id: Int64, job: LoadedJob) async throws -> [(job: LoadedJob, instance: InstanceRecord)] {
        let r = try await instance(id)
        let loaded = try await JobFiles.registered(in: ledger, including: job)
        let graph = JobDependencyGraph(loaded.mapValues { $0.spec.schedule?.dependsOn ?? [] })
        var affected: [String: Set<Int64>] = [r.job: [Int64(r.scheduledAt.timeIntervalSince1970.rounded())]]
        var result: [(job: LoadedJob, instance: InstanceRecord)] = []
        for name in graph.downstream(of: r.job) {
            guard let down = loaded[name], let downCalendar = try InstanceCalendar.forJob(down.spec, fallback: .machine) else { continue }
            var times = Set<Int64>()
            for up in down.spec.schedule?.dependsOn ?? [] {
                guard let upJob = loaded[up], let upCalendar = try InstanceCalendar.forJob(upJob.spec, fallback: .machine) else { continue }
                for t in affected[up] ?? [] {
                    times.formUnion(UpstreamDependencies.downstreamTimes(of: t, upstream: upCalendar, downstream: downCalendar))
                }
            }
            affected[name] = times
            for t in times.sorted() {
                if let d = try await ledger.instance(job: name, scheduledAt: Date(timeIntervalSince1970: Double(t))) {
                    result.append((down, d))
                }
            }
        }
        return result
    }

    /// Reruns instance `id`, then every instance that waits for it (`dependants(of:)`), in order;
    /// stops at the first that fails or is refused, and reports each one.
    public func rerunWithDependants(_ id: Int64, job: LoadedJob, options: RunOptions = RunOptions()) async throws -> [DownstreamRun] {
        let chain = try await dependants(of: id, job: job)
        var runs: [DownstreamRun] = []
        for (j, r) in [(job, try await instance(id))] + chain {
            do {
                let report = try await rerun(r.id, job: j, options: options)
                runs.append(DownstreamRun(instanceId: r.id, job: r.job, scheduledAt: r.scheduledAt, status: report.status))
            } catch let failure as RunFailure {
                runs.append(DownstreamRun(instanceId: r.id, job: r.job, scheduledAt: r.scheduledAt, status: "failed",
                                          error: failure.error.description))
                break
            } catch let e as SluiceError {
                runs.append(DownstreamRun(instanceId: r.id, job: r.job, scheduledAt: r.scheduledAt, status: "refused",
                                          error: e.description))
                break
            }
        }
        return runs
    }
}
