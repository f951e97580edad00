import Foundation
import SluiceCore
import SluiceScheduling
import SluiceJob
import SluiceLedger

/// The outcome of one business date of a backfill.
public struct BackfillDayResult: Sendable, Hashable, Codable {
    public var businessDate: String
    public var instances: Int
    public var succeeded: Int
    public var failed: Int
    public var dryRun: Int
    /// Instances not run because an earlier one of the day failed (self-dependent jobs).
    public var notRun: Int
    public var instanceIds: [Int64]
    public var seconds: Double

    public var ok: Bool { failed == 0 && notRun == 0 }
}

/// A backfill with DataWorks' business-date semantics: for each business date D from `from` through
/// `to`, the cycle's instances on D + 1 run with `${…}` seeing D. Within a day they run one after
/// another when the job is self-dependent, concurrently (up to `maxParallelPerDay`) otherwise; days
/// run `parallelDays` at a time; after a failed day no new day starts unless `continueOnFailure`.
public struct Backfill: Sendable {
    public var job: LoadedJob
    public var from: CivilDate
    public var to: CivilDate
    public var parallelDays: Int
    public var maxParallelPerDay: Int
    public var continueOnFailure: Bool
    public var ledger: Ledger
    public var stateDirectory: String
    public var executor: any InstanceExecutor

    public init(job: LoadedJob, from: CivilDate, to: CivilDate, parallelDays: Int = 1, maxParallelPerDay: Int = 4,
                continueOnFailure: Bool = false, ledger: Ledger, stateDirectory: String, executor: any InstanceExecutor) {
        self.job = job
        self.from = from
        self.to = to
        self.parallelDays = max(1, parallelDays)
        self.maxParallelPerDay = max(1, maxParallelPerDay)
        self.continueOnFailure = continueOnFailure
        self.ledger = ledger
        self.stateDirectory = stateDirectory
        self.executor = executor
    }

    /// Whether instances of a day run one after another.
    public var selfDependent: Bool {
        job.spec.schedule?.dependsOnPrevious ?? (job.spec.source.windowMode == .contiguous)
    }

    /// Runs the backfill; `progress` is called as each day ends. Returns the days that ran, in date
    /// order (days never started after a failure are absent).
    public func run(progress: @escaping @Sendable (BackfillDayResult) -> Void = { _ in }) async throws -> [BackfillDayResult] {
        guard let calendar = try InstanceCalendar.forJob(job.spec, fallback: .machine) else {
            throw SluiceError.invalid("job \(job.spec.name) has no schedule block", hint: "a backfill runs the instances of its schedule")
        }
        guard from <= to else { throw SluiceError.invalid("--from \(from.compact) is after --to \(to.compact)") }
        let compiled = try CompiledJobParameters(job: job.spec, zone: calendar.zone)
        var days: [CivilDate] = []
        var d = from.dayNumber
        while d <= to.dayNumber { days.append(CivilDate(dayNumber: d)); d += 1 }
        var results: [BackfillDayResult] = []
        var failed = false
        var next = 0
        try await withThrowingTaskGroup(of: BackfillDayResult.self) { group in
            func startNext() {
                guard next < days.count, !failed || continueOnFailure else { return }
                let day = days[next]
                next += 1
                group.addTask { try await self.runDay(day, calendar: calendar, compiled: compiled) }
            }
            for _ in 0..<parallelDays { startNext() }
            while let r = try await group.next() {
                results.append(r)
                progress(r)
                if !r.ok { failed = true }
                startNext()
            }
        }
        return results.sorted { $0.businessDate < $1.businessDate }
    }

    func runDay(_ day: CivilDate, calendar: InstanceCalendar, compiled: CompiledJobParameters) async throws -> BackfillDayResult {
        let started = ContinuousClock.now
        let instances = calendar.backfill(businessDate: day)
        var result = BackfillDayResult(businessDate: day.compact, instances: instances.count, succeeded: 0, failed: 0,
                                       dryRun: 0, notRun: 0, instanceIds: [], seconds: 0)
        var records: [(ScheduledInstance, InstanceRecord)] = []
        for s in instances {
            var new = NewInstance(job: job.spec.name, scheduledAt: Date(timeIntervalSince1970: Double(s.scheduledTime)),
                                  businessDate: day.compact)
            if let resolved = try? compiled.resolve(s.context(zone: calendar.zone, jobId: job.spec.name, nodeId: job.spec.name)) {
                new.parameters = Dictionary(resolved.parameters.pairs.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a })
                new.windowStart = resolved.begin.date
                new.windowEnd = resolved.end.date
                new.partition = (try? PartitionSpec(parsing: resolved.partition))?.description ?? resolved.partition
            }
            let r = try await ledger.ensureInstance(new)
            result.instanceIds.append(r.id)
            if s.isDryRun {
                if r.status != .running { try await ledger.setStatus(id: r.id, .dryRun) }
                result.dryRun += 1
            } else {
                records.append((s, r))
            }
        }
        if selfDependent {
            for (i, (_, r)) in records.enumerated() {
                if try await runOne(r, day: day) {
                    result.succeeded += 1
                } else {
                    result.failed += 1
                    result.notRun = records.count - i - 1
                    break
                }
            }
        } else {
            try await withThrowingTaskGroup(of: Bool.self) { group in
                var it = records.makeIterator()
                for _ in 0..<maxParallelPerDay {
                    if let (_, r) = it.next() { group.addTask { try await self.runOne(r, day: day) } }
                }
                while let ok = try await group.next() {
                    if ok { result.succeeded += 1 } else { result.failed += 1 }
                    if let (_, r) = it.next() { group.addTask { try await self.runOne(r, day: day) } }
                }
            }
        }
        result.seconds = started.duration(to: .now).seconds
        return result
    }

    /// Runs one instance; true when the ledger records it succeeded.
    func runOne(_ r: InstanceRecord, day: CivilDate) async throws -> Bool {
        try await ledger.appendLog(id: r.id, "backfill of business date \(day.compact)")
        let outcome = await executor.execute(ExecutionRequest(instance: r, job: job, stateDirectory: stateDirectory,
                                                              businessDate: day))
        guard let after = try await ledger.instance(id: r.id) else { return false }
        if !after.status.isFinal {
            // Another process (a manual run) may be running the instance: leave it to record its outcome.
            if await ledger.runLocks.currentHolder(job: after.job, partition: after.partition ?? "") != nil {
                return false
            }
            let why: String = if case .failed(let m) = outcome { m } else { "the run ended without recording an outcome" }
            try await ledger.setStatus(id: r.id, .failed, error: why)
            return false
        }
        return after.status == .succeeded
    }
}
