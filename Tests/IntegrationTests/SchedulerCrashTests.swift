import Foundation
import SluiceCore
import SluiceRuntime
import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import SluiceLedger

/// `sluice scheduler` as a real process against the dev broker: SIGKILLed repeatedly while it catches
/// up a minute-cycle job, `sluice kill` of a running child, SIGTERM while a child runs.
@Suite struct SchedulerCrashTests {
    /// A scheduler process with its standard output and error appended to a file.
    final class SchedulerProcess: Sendable {
        let pid: Int32
        let logPath: String
        private let exit: ProcessExit

        init(_ arguments: [String], logPath: String, environment: [String: String] = [:]) throws {
            self.logPath = logPath
            if !FileManager.default.fileExists(atPath: logPath) {
                _ = FileManager.default.createFile(atPath: logPath, contents: nil)
            }
            let log = try ChildProcess.open(logPath, writing: true)
            let input = try ChildProcess.open("/dev/null", writing: false)
            defer { close(log); close(input) }
            pid = try ChildProcess.spawn(SluiceBinary.path, arguments, environment: ChildProcess.environment(adding: environment),
                                  stdin: input, stdout: log, stderr: log)
            exit = ProcessExit(pid: pid)
        }

        var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

        func signal(_ sig: Int32) { kill(pid, sig) }

        /// Waits for the exit, killing the scheduler (SIGKILL) after `timeout`; returns the status.
        @discardableResult
        func wait(timeout: Duration = .seconds(120)) async -> Int32 { await exit.wait(killingAfter: timeout).0 }

        deinit { if exit.ended == nil { kill(pid, SIGKILL) } }
    }

    /// A reproducible pseudo-random sequence (a 64-bit LCG with an xor-shift output), so a failing run
    /// can be repeated by its seed.
    struct SeededGenerator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state ^ (state >> 33)
        }
    }

    /// The harness's minute-cycle job (with its table created), its ledger directory, and the
    /// current minute.
    /// `t0` is the start of the current minute, with at least `room` seconds of it left (see
    /// `currentMinute(withRoom:)`); a test that catches up many minutes passes 0.
    static func setUpMinuteJob(_ h: Harness, completion: String? = nil, room: Int = 30) async throws -> (job: String, stateDir: String, t0: Int64) {
        let job = try h.writeMinuteJob(windowMode: .contiguous, completion: completion)
        let ddl = try await SluiceBinary.run(["ddl", job, "--apply"])
        #expect(ddl.status == 0, "\(ddl.stderr)")
        return (job, h.path(".sluice"), try await currentMinute(withRoom: room))
    }

    /// The start of the current minute once at least `room` seconds of it remain, waiting for the next
    /// minute otherwise: a test whose scheduler must find exactly one due instance of a minute job
    /// does not race the next minute's instance when the machine is slow.
    static func currentMinute(withRoom room: Int = 30) async throws -> Int64 {
        let left = 60 - Date().timeIntervalSince1970.truncatingRemainder(dividingBy: 60)
        if left < Double(room) { try await Task.sleep(for: .milliseconds(Int(left * 1000) + 50)) }
        return Int64(Date().timeIntervalSince1970) / 60 * 60
    }

    static func records(ids: Range<Int>, from start: Int64, to end: Int64) -> [Harness.Produced] {
        let span = max(1, end - start)
        return ids.map { i in
            Harness.Produced(partition: Int32(i % 3), key: "k\(i)", value: #"{"id":\#(i)}"#,
                             timestamp: (start * 1000) + Int64(i - ids.lowerBound) * span * 1000 / Int64(ids.count))
        }
    }

    /// Polls `condition` every 100 ms until it holds or `seconds` pass; returns whether it held.
    static func poll(seconds: Double, _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now.advanced(by: .milliseconds(Int64(seconds * 1000)))
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return try await condition()
    }

    /// Gone, or a zombie its parent has not reaped yet.
    static func processEnded(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return true }
        guard let close = stat.lastIndex(of: ")") else { return true }
        return stat[stat.index(close, offsetBy: 2)...].hasPrefix("Z")
    }

    /// The acceptance crash test: a minute-cycle `contiguous` job catches up 61 instances while the
    /// scheduler is SIGKILLed 10 times at random moments (late records arrive meanwhile). Afterwards
    /// every scheduled time has exactly one instance, succeeded in exactly one attempt (an orphaned
    /// child of a killed scheduler and the next scheduler never both run an instance), and the
    /// warehouse holds every produced record exactly once.
    @Test func sigkillTenTimesDuringAMinuteCycleCatchUp() async throws {
        let seed = ProcessInfo.processInfo.environment["SLUICE_CRASH_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 1...UInt64(UInt32.max))
        print("scheduler crash test: seed \(seed) (repeat with SLUICE_CRASH_SEED=\(seed))")
        var random = SeededGenerator(state: seed)
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        let (job, stateDir, t0) = try await Self.setUpMinuteJob(h, room: 0)
        // 61 instances to catch up: the ledger says a scheduler first saw the job an hour ago.
        let first = t0 - 60 * 60
        let ledger = try await Ledgers.openSQLite(stateDirectory: stateDir, now: { Date(timeIntervalSince1970: Double(first)) })
        try await ledger.registerJob("minutely", path: job)
        // On time: records across the windows of the first 55 instances.
        let onTime = Self.records(ids: 0..<300, from: first - 60, to: t0 - 6 * 60)
        try await h.produce(onTime)
        // Late (for windows already landed) and recent ones, produced once some instances succeeded.
        let late = Self.records(ids: 300..<330, from: first - 60, to: first + 4 * 60)
        let recent = Self.records(ids: 330..<360, from: t0 - 5 * 60, to: t0 - 60)
        var lateProducedAt: Int?

        // Children slow to start (200 ms before they take their run lock) widen the moment in which a
        // killed scheduler's orphan and the next scheduler could both run an instance.
        let args = ["scheduler", job, "--state-dir", stateDir, "--max-parallel", "2", "--poll-interval", "0.1",
                    "--run-start-delay", "200"]
        let logPath = h.path("scheduler.log")
        func succeeded() async throws -> Int {
            try await ledger.instances(job: "minutely", status: .succeeded).count
        }
        for kill in 1...10 {
            let p = try SchedulerProcess(args, logPath: logPath)
            // Half of the kills at a random moment, half a few ms after the scheduler recorded that it
            // launches a child (the moment an orphan and the next scheduler could both run an instance).
            let atLaunch = Bool.random(using: &random)
            let delay = atLaunch ? Int.random(in: 0...40, using: &random) : Int.random(in: 100...900, using: &random)
            if atLaunch {
                let started = ContinuousClock.now
                var launched = false
                while !launched && started.duration(to: .now) < .seconds(3) {
                    launched = try await ledger.claimedInstances(job: "minutely").contains { $0.status == .pending || $0.status == .waiting }
                    if !launched { try await Task.sleep(for: .milliseconds(5)) }
                }
            }
            try await Task.sleep(for: .milliseconds(delay))
            p.signal(SIGKILL)
            await p.wait()
            let done = try await succeeded()
            print("scheduler crash test: SIGKILL \(kill) \(atLaunch ? "at a launch + " : "after ")\(delay) ms; \(done) instance(s) succeeded")
            if lateProducedAt == nil, done >= 3 {
                try await h.produce(late + recent)
                lateProducedAt = done
            }
        }
        if lateProducedAt == nil {
            try await h.produce(late + recent)
            lateProducedAt = try await succeeded()
        }
        let final = try SchedulerProcess(args, logPath: h.path("scheduler-final.log"))
        let expectedTimes = Set(stride(from: first, through: t0, by: 60).map { Date(timeIntervalSince1970: Double($0)) })
        let finished = try await Self.poll(seconds: 100) {
            let done = try await ledger.instances(job: "minutely", status: .succeeded)
            return expectedTimes.isSubset(of: Set(done.map(\.scheduledAt)))
        }
        // SIGTERM once it handles signals (it logs its start after installing the handlers).
        let up = try await Self.poll(seconds: 30) { final.log.contains("scheduler started") }
        #expect(up)
        final.signal(SIGTERM)
        #expect(await final.wait() == 0)
        let logs = ((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "") + final.log
        let adopted = logs.components(separatedBy: "is being run by another process").count - 1
        let settledOthers = logs.components(separatedBy: "(run by another process)").count - 1
        var refused = 0
        for r in try await ledger.instances(job: "minutely") {
            refused += try await ledger.log(id: r.id).filter { $0.message.contains("is not started") }.count
        }
        print("scheduler crash test: \(adopted) run(s) of killed schedulers watched, \(settledOthers) settled by a later scheduler, \(refused) second run(s) of an attempt refused")

        let all = try await ledger.instances(job: "minutely").filter { $0.scheduledAt.timeIntervalSince1970 <= Double(t0) }
        #expect(finished, "not all instances succeeded; scheduler log:\n\(final.log.suffix(4000))")
        #expect(try #require(lateProducedAt) < expectedTimes.count - 5, "the late records arrived before the last windows were planned")
        // Exactly one instance per scheduled time, none missing, each succeeded in exactly one attempt.
        #expect(all.count == expectedTimes.count)
        #expect(Set(all.map(\.scheduledAt)) == expectedTimes)
        let problems = all.filter { $0.status != .succeeded || $0.attempts != 1 }
        #expect(problems.isEmpty, "\(problems.map { "\($0.id) \($0.status.rawValue) attempts \($0.attempts) \($0.error ?? "")" })")
        for r in all where r.attempts != 1 {
            let lines = try await ledger.log(id: r.id).map { "#\($0.attempt) \($0.message)" }
            Issue.record("instance \(r.id) log:\n\(lines.joined(separator: "\n"))")
        }
        #expect(all.reduce(0) { $0 + $1.counts.late } >= Int64(late.count), "the late records were counted late")

        // Every produced record exactly once: (partition, offset) pairs and ids.
        let produced = onTime + late + recent
        let rows = try await h.rows()
        var expectedPositions = Set<String>()
        for p in 0..<3 {
            for o in 0..<produced.filter({ $0.partition == Int32(p) }).count { expectedPositions.insert("\(p)@\(o)") }
        }
        let positions = rows.map { "\($0[1])@\($0[2])" }
        #expect(positions.count == produced.count, "rows: \(positions.count), produced: \(produced.count)")
        #expect(Set(positions) == expectedPositions)
        #expect(rows.map { $0[3] }.sorted() == produced.indices.map(String.init).sorted())
    }

    /// The double run a crash could cause, made deterministic: a scheduler claimed attempt 1 and
    /// launched a child, then died; its orphaned child runs the instance, and the child the next
    /// scheduler launches for the same attempt is refused without changing anything. The next
    /// scheduler then settles the attempt it finds ended and does not run it again.
    @Test func secondRunOfAClaimedAttemptIsRefusedAndTheNextSchedulerSettlesIt() async throws {
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        let (job, stateDir, t0) = try await Self.setUpMinuteJob(h)
        try await h.produce(Self.records(ids: 0..<9, from: t0 - 60, to: t0 - 1))
        let ledger = try await Ledgers.openSQLite(stateDirectory: stateDir, now: { Date(timeIntervalSince1970: Double(t0)) })
        try await ledger.registerJob("minutely", path: job)
        let instance = try await ledger.ensureInstance(NewInstance(job: "minutely", scheduledAt: Date(timeIntervalSince1970: Double(t0))))
        #expect(try await ledger.claimAttempt(id: instance.id, by: "crashed", leaseUntil: .distantFuture) == 1)

        let run = ["run", job, "--at-epoch", String(t0), "--state-dir", stateDir, "--attempt", "1"]
        let orphan = try await SluiceBinary.run(run)
        #expect(orphan.status == 0, "\(orphan.stderr)")
        let rows = try await h.rows()
        #expect(rows.count == 9)
        let second = try await SluiceBinary.run(run)
        #expect(second.status == 1)
        #expect(second.stderr.contains("attempt 1 is not started"), "\(second.stderr)")
        var r = try #require(try await ledger.instance(id: instance.id))
        #expect(r.status == .succeeded && r.attempts == 1)
        #expect(try await h.rows() == rows)

        let scheduler = try SchedulerProcess(["scheduler", job, "--state-dir", stateDir, "--poll-interval", "0.1"],
                                             logPath: h.path("scheduler.log"))
        let settled = try await Self.poll(seconds: 30) {
            try await ledger.schedulingState(id: instance.id).claimedAttempt == nil
        }
        #expect(settled, "scheduler log:\n\(scheduler.log)")
        #expect(try await Self.poll(seconds: 30) { scheduler.log.contains("scheduler started") })
        scheduler.signal(SIGTERM)
        #expect(await scheduler.wait() == 0)
        #expect(scheduler.log.contains("instance \(instance.id) of minutely: succeeded (run by another process)"), "\(scheduler.log)")
        r = try #require(try await ledger.instance(id: instance.id))
        #expect(r.status == .succeeded && r.attempts == 1)
    }

    /// Starts a scheduler on a minute-cycle job whose runs never end by themselves (`completion: idle`
    /// over a silent topic) and waits until its child holds the first instance.
    static func startHangingRun(_ h: Harness, extraArguments: [String] = []) async throws
        -> (job: String, ledger: Ledger, scheduler: SchedulerProcess, instance: InstanceRecord, childPid: Int32) {
        let (job, stateDir, t0) = try await Self.setUpMinuteJob(h, completion: "{ idle: 600s }")
        let ledger = try await Ledgers.openSQLite(stateDirectory: stateDir, now: { Date(timeIntervalSince1970: Double(t0 - 60)) })
        try await ledger.registerJob("minutely", path: job)
        try await h.produce(Self.records(ids: 0..<6, from: t0 - 120, to: t0 - 60))
        let scheduler = try SchedulerProcess(["scheduler", job, "--state-dir", stateDir, "--poll-interval", "0.1"] + extraArguments,
                                             logPath: h.path("scheduler.log"))
        var running: InstanceRecord?
        var holder: RunLockHolder?
        let started = try await Self.poll(seconds: 60) {
            running = try await ledger.instances(job: "minutely", status: .running).first
            guard let r = running else { return false }
            holder = RunLock.currentHolder(stateDirectory: stateDir, job: "minutely", partition: r.partition ?? "")
            return (holder?.pid ?? 0) > 0
        }
        try #require(started, "no run started; scheduler log:\n\(scheduler.log)")
        let instance = try #require(running), pid = try #require(holder?.pid)
        #expect(pid != scheduler.pid)
        return (job, ledger, scheduler, instance, pid)
    }

    /// `sluice kill` of an instance a scheduler's child is running: the child is gone, the instance is
    /// `killed` (one attempt, no retry due), the destination is unchanged, and the scheduler does not
    /// run it again.
    @Test func killOfARunningChildMarksItKilledAndItIsNotRerun() async throws {
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        let run = try await Self.startHangingRun(h)
        let killed = try await SluiceBinary.run(["kill", String(run.instance.id), "--state-dir", h.path(".sluice"), "--grace", "5"])
        #expect(killed.status == 0, "\(killed.stderr)")
        #expect(killed.stdout.contains("killed (pid \(run.childPid) signalled)"))
        #expect(try await Self.poll(seconds: 5) { Self.processEnded(run.childPid) })
        // The scheduler settles it: no retry, no new attempt.
        let settled = try await Self.poll(seconds: 30) { run.scheduler.log.contains("instance \(run.instance.id) of minutely was killed") }
        #expect(settled, "scheduler log:\n\(run.scheduler.log)")
        run.scheduler.signal(SIGTERM)
        #expect(await run.scheduler.wait() == 0)
        let r = try #require(try await run.ledger.instance(id: run.instance.id))
        #expect(r.status == .killed && r.attempts == 1)
        let state = try await run.ledger.schedulingState(id: r.id)
        #expect(state.retryAt == nil && state.claimedAttempt == nil)
        // Self-dependent: what follows waits, and nothing ran again.
        let all = try await run.ledger.instances(job: "minutely")
        #expect(all.filter { $0.id != r.id }.allSatisfy { $0.attempts == 0 && ($0.status == .waiting || $0.status == .pending) })
        #expect(try await h.rows().isEmpty, "the destination is unchanged")
    }

    /// SIGTERM while a child runs that ends within --stop-timeout: the scheduler starts nothing more,
    /// lets the run finish (its partition committed, the instance succeeded) and exits 0.
    @Test func sigtermLetsARunningChildFinish() async throws {
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        let (job, stateDir, t0) = try await Self.setUpMinuteJob(h)
        let records = Self.records(ids: 0..<9, from: t0 - 60, to: t0 - 1)
        try await h.produce(records)
        let ledger = try await Ledgers.openSQLite(stateDirectory: stateDir, now: { Date(timeIntervalSince1970: Double(t0)) })
        try await ledger.registerJob("minutely", path: job)
        // The child waits 4 s before it starts: SIGTERM reaches the scheduler while it runs. The test
        // watches the scheduler's log (a file), not the ledger, so a busy test process cannot miss the
        // moment.
        let scheduler = try SchedulerProcess(["scheduler", job, "--state-dir", stateDir, "--poll-interval", "0.1",
                                              "--run-start-delay", "4000"], logPath: h.path("scheduler.log"))
        let launched = try await Self.poll(seconds: 60) { scheduler.log.contains("starting instance") }
        try #require(launched, "scheduler log:\n\(scheduler.log)")
        scheduler.signal(SIGTERM)
        #expect(await scheduler.wait() == 0, "scheduler log:\n\(scheduler.log)")
        let log = scheduler.log
        // The signal came while the child ran: the scheduler stopped starting instances, then the run
        // it had started succeeded, and nothing started after the signal.
        let stopping = try #require(log.range(of: "stopping: no new instances"), "scheduler log:\n\(log)")
        #expect(log[stopping.upperBound...].contains("of minutely: succeeded"), "scheduler log:\n\(log)")
        #expect(!log[stopping.upperBound...].contains("starting instance"), "scheduler log:\n\(log)")
        let r = try #require(try await ledger.instance(job: "minutely", scheduledAt: Date(timeIntervalSince1970: Double(t0))))
        #expect(r.status == .succeeded && r.attempts == 1)
        let all = try await ledger.instances(job: "minutely")
        #expect(all.count(where: { $0.attempts > 0 }) == 1,
                "nothing else started; instances: \(all.map { "\($0.id) \($0.scheduledAt) \($0.status.rawValue) \($0.attempts)" }); scheduler log:\n\(log)")
        #expect(try await h.rows().count == records.count)
        #expect(!scheduler.log.contains("aborting running instances"))
    }

    /// SIGTERM while a child runs: after --stop-timeout the run is aborted (child gone, destination
    /// unchanged), the instance goes back to `pending` and the scheduler exits 0.
    @Test func sigtermAbortsARunningChildCleanly() async throws {
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        let run = try await Self.startHangingRun(h, extraArguments: ["--stop-timeout", "1"])
        run.scheduler.signal(SIGTERM)
        #expect(await run.scheduler.wait() == 0, "scheduler log:\n\(run.scheduler.log)")
        #expect(try await Self.poll(seconds: 5) { Self.processEnded(run.childPid) })
        let r = try #require(try await run.ledger.instance(id: run.instance.id))
        #expect(r.status == .pending && r.attempts == 1)
        #expect(r.error?.contains("aborted when the scheduler stopped") == true)
        #expect(try await run.ledger.schedulingState(id: r.id).claimedAttempt == nil)
        #expect(try await h.rows().isEmpty, "the destination is unchanged")
        #expect(run.scheduler.log.contains("aborting running instances"))
    }
}
