import Foundation
import SluiceCore
import Synchronization
import SluiceTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import SluiceRuntime
import SluiceScheduling
import SluiceJob
import Logging
@testable import SluiceLedger

/// What the fake executor does with one attempt.
enum FakeBehavior: Sendable {
    case succeed
    case fail(String)
    /// Fails with an error that would happen again (`isRetriable` false).
    case failForGood(String)
    /// Runs until cancelled (and then records nothing, like a killed process).
    case hang
}

/// An executor that records the attempt in the ledger as `sluice run` would, without Kafka.
final class FakeExecutor: InstanceExecutor {
    struct Call: Sendable, Hashable {
        var job: String
        var scheduledAt: Date
        var at: Date
        var businessDate: String?
        var allowGap: Bool
    }
    let ledger: Ledger
    let clock: ManualClock
    let behavior: @Sendable (InstanceRecord) -> FakeBehavior
    private let calls = Mutex<[Call]>([])

    init(ledger: Ledger, clock: ManualClock, behavior: @escaping @Sendable (InstanceRecord) -> FakeBehavior = { _ in .succeed }) {
        self.ledger = ledger
        self.clock = clock
        self.behavior = behavior
    }

    var executed: [Call] { calls.withLock { $0 } }

    func execute(_ request: ExecutionRequest) async -> ExecutionOutcome {
        calls.withLock {
            $0.append(Call(job: request.instance.job, scheduledAt: request.instance.scheduledAt, at: clock.now(),
                           businessDate: request.businessDate?.compact, allowGap: request.allowGap))
        }
        do {
            let r = try await ledger.startAttempt(id: request.instance.id)
            switch behavior(r) {
            case .succeed:
                try await ledger.finish(id: r.id, status: .succeeded, counts: InstanceCounts(read: 1, written: 1))
                return .succeeded
            case .fail(let m):
                try await ledger.finish(id: r.id, status: .failed, counts: InstanceCounts(), error: m, failure: InstanceFailure(code: "kafka", retriable: true))
                return .failed(m)
            case .failForGood(let m):
                try await ledger.finish(id: r.id, status: .failed, counts: InstanceCounts(), error: m, failure: InstanceFailure(code: "dirtyLimit", retriable: false))
                return .failed(m)
            case .hang:
                let gate = Gate()
                await withTaskCancellationHandler {
                    await gate.wait()
                } onCancel: {
                    gate.open()
                }
                return .cancelled
            }
        } catch {
            return .failed("\(error)")
        }
    }
}

/// Opened once; waiters before and after the opening go on.
final class Gate: Sendable {
    private let state = Mutex<(opened: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func open() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.opened = true
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume() }
    }

    func wait() async {
        await withCheckedContinuation { c in
            let go = state.withLock { s -> Bool in
                if s.opened { return true }
                s.waiters.append(c)
                return false
            }
            if go { c.resume() }
        }
    }
}

/// A scheduler on a temporary ledger driven by a manual clock.
struct SchedulerFixture {
    let dir: TemporaryDirectory
    let clock: ManualClock
    let ledger: Ledger
    let executor: FakeExecutor

    init(start: Date, behavior: @escaping @Sendable (InstanceRecord) -> FakeBehavior = { _ in .succeed }) async throws {
        dir = try TemporaryDirectory()
        let clock = ManualClock(start)
        self.clock = clock
        ledger = try await Ledgers.openSQLite(stateDirectory: dir.path + "/.sluice", now: { clock.now() })
        executor = FakeExecutor(ledger: ledger, clock: clock, behavior: behavior)
    }

    func scheduler(_ jobs: [LoadedJob], maxParallel: Int = 4) async throws -> Scheduler {
        let s = Scheduler(ledger: ledger, stateDirectory: dir.path + "/.sluice", clock: clock, executor: executor,
                          options: SchedulerOptions(maxParallel: maxParallel),
                          // Silent: the tests read the ledger, and the suite's output stays readable.
                          logger: Logger(label: "sluice.scheduler") { _ in SilentLogHandler() })
        for j in jobs { try await s.setJob(j) }
        return s
    }

    /// Ticks until nothing more starts at the current time, waiting for each run.
    func settle(_ s: Scheduler) async throws {
        while true {
            let started = try await s.tick()
            await s.drain()
            if started == 0 { return }
        }
    }

    /// Moves the clock from `from` through `to` in steps, settling at each.
    func drive(_ s: Scheduler, from: Date, through to: Date, step: TimeInterval) async throws {
        var t = from
        while t <= to {
            clock.set(t)
            try await settle(s)
            t = t.addingTimeInterval(step)
        }
    }

    func instances(_ job: String) async throws -> [InstanceRecord] {
        try await ledger.instances(job: job)
    }

    /// A daily 10:00 job (`schedule` adds to its block) and its 2026-05-04 instance (partition `ds=1`),
    /// with the clock at that time.
    func dailyInstanceAtTen(_ name: String, _ schedule: String) async throws -> (LoadedJob, InstanceRecord) {
        let job = try testJob(name, schedule: "cycle: day\nstart: \"10:00\"\n" + schedule)
        clock.set(try at("2026-05-04 10:00:00"))
        return (job, try await ledger.ensureInstance(NewInstance(job: name, scheduledAt: try at("2026-05-04 10:00:00"), partition: "ds=1")))
    }
}

func testJob(_ name: String, schedule: String, windowMode: String = "offsets", zone: String = "Europe/Berlin") throws -> LoadedJob {
    let yaml = """
        name: \(name)
        source:
          type: kafka
          bootstrapServers: 127.0.0.1:9
          topic: t
          begin: { time: "${startTime}" }
          end: { time: "${endTime}" }
          timeZone: \(zone)
          windowMode: \(windowMode)
        columns: [__value__]
        destination:
          type: sqlite
          path: w.db
          table: t
          partition: "ds=${partition}"
          columns: [v]
        schedule:
        \(schedule.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
          parameters:
            startTime: "$[yyyymmddhh24mi-1/24]00"
            endTime: "$[yyyymmddhh24mi]00"
            partition: "$[yyyymmddhh24mi]"
        """
    return try JobLoader.parse(data: Data(yaml.utf8), fileName: "/tmp/\(name).yaml", directory: "/tmp")
}

/// An instant from a wall time in a zone.
func at(_ text: String, _ zone: String = "Europe/Berlin") throws -> Date {
    let z = try SchedulingZone.named(zone)
    return Date(timeIntervalSince1970: Double(z.instant(for: try WallTime.parseDisplay(text))))
}

@Suite struct SchedulerTests {
    /// A week with the spring-forward change (Sunday 2026-03-29 02:00 → 03:00 in Berlin) and a month end.
    @Test func everyCycleTypeOverAWeekWithDSTAndMonthEnd() async throws {
        let f = try await SchedulerFixture(start: try at("2026-03-27 23:59:00"))
        let jobs = [
            try testJob("every30min", schedule: "cycle: minute\nstart: \"00:00\"\ninterval: 30\nend: \"23:59\""),
            try testJob("hourly", schedule: "cycle: hour\nstart: \"00:00\"\ninterval: 1\nend: \"23:59\""),
            try testJob("every2h", schedule: "cycle: hour\nstart: \"00:00\"\ninterval: 2\nend: \"23:59\""),
            try testJob("points", schedule: "cycle: hour\ntimePoints: [\"00:00\", \"03:00\"]"),
            try testJob("daily", schedule: "cycle: day\nstart: \"02:30\""),
            try testJob("mondays", schedule: "cycle: week\nweekdays: [1]\nstart: \"03:00\""),
            try testJob("monthEnd", schedule: "cycle: month\nmonthDays: [last]\nstart: \"01:00\""),
        ]
        let s = try await f.scheduler(jobs, maxParallel: 8)
        try await f.drive(s, from: try at("2026-03-28 00:00:00"), through: try at("2026-04-03 23:30:00"), step: 1800)

        // Expected from the wall clock: 7 days; on 2026-03-29 the wall times 02:00–02:59 do not exist.
        let expected: [String: (real: Int, dry: Int)] = [
            "every30min": (7 * 48 - 2, 0), "hourly": (7 * 24 - 1, 0), "every2h": (7 * 12 - 1, 0),
            "points": (14, 0), "daily": (6, 1), "mondays": (1, 6), "monthEnd": (1, 6),
        ]
        for (name, counts) in expected {
            let all = try await f.instances(name)
            #expect(all.filter { $0.status == .succeeded }.count == counts.real, "\(name)")
            #expect(all.filter { $0.status == .dryRun }.count == counts.dry, "\(name)")
            #expect(all.count == counts.real + counts.dry, "\(name)")
            let runs = f.executor.executed.filter { $0.job == name }
            #expect(runs.count == counts.real, "\(name)")
            // Each ran at its scheduled time, in order, once.
            #expect(runs.allSatisfy { $0.at == $0.scheduledAt }, "\(name)")
            #expect(runs.map(\.scheduledAt) == runs.map(\.scheduledAt).sorted(), "\(name)")
            #expect(Set(runs.map(\.scheduledAt)).count == runs.count, "\(name)")
        }
        // The daily 02:30 instance of the DST day is delayed by the gap (03:30 CEST) and runs dry, as
        // in DataWorks; its log says why.
        let daily = try await f.instances("daily")
        let dst = try #require(daily.first { $0.businessDate == "20260328" })
        #expect(dst.scheduledAt == (try? at("2026-03-29 03:30:00")) && dst.status == .dryRun)
        #expect(dst.parameters["partition"] == "202603290330")
        let log = try await f.ledger.log(id: dst.id).map(\.message)
        #expect(log.contains { $0.contains("2026-03-29 02:30:00 does not exist") && $0.contains("runs dry") }, "\(log)")
        #expect(daily.first { $0.businessDate == "20260330" }?.parameters["partition"] == "202603310230")
        // Mondays: the real run on 2026-03-30, dry runs on the other days.
        let mondays = try await f.instances("mondays")
        #expect(mondays.first { $0.status == .succeeded }?.scheduledAt == (try? at("2026-03-30 03:00:00")))
        // Month end: 2026-03-31 01:00 (business date 20260330).
        let monthEnd = try await f.instances("monthEnd")
        let real = monthEnd.first { $0.status == .succeeded }
        #expect(real?.scheduledAt == (try? at("2026-03-31 01:00:00")))
        #expect(real?.businessDate == "20260330")
        // Hourly parameters across the gap: an hour (-1/24) before 03:00 CEST is 01:00 CET.
        let hourly = try await f.instances("hourly")
        let three = hourly.first { $0.scheduledAt == (try? at("2026-03-29 03:00:00")) }
        #expect(three?.parameters["startTime"] == "20260329010000")
        #expect(three?.parameters["endTime"] == "20260329030000")
        #expect(!hourly.contains { $0.parameters["partition"] == "202603290200" })
    }

    @Test func fallBackDayHasOneInstancePerWallTime() async throws {
        let f = try await SchedulerFixture(start: try at("2026-10-24 23:59:00"))
        let s = try await f.scheduler([try testJob("hourly", schedule: "cycle: hour\nstart: \"00:00\"\ninterval: 1\nend: \"23:59\"")])
        try await f.drive(s, from: try at("2026-10-25 00:00:00"), through: try at("2026-10-26 00:00:00"), step: 1800)
        let all = try await f.instances("hourly")
        // 24 wall times on 2026-10-25 plus 2026-10-26 00:00; 02:00 (repeated) runs once, at its first occurrence.
        #expect(all.count == 25)
        #expect(all.allSatisfy { $0.status == .succeeded })
        #expect(all.filter { $0.parameters["partition"] == "202610250200" }.count == 1)
        // At its second occurrence (02:00 CET = 01:00Z), as DataWorks keeps the second instance.
        #expect(all.first { $0.parameters["partition"] == "202610250200" }?.scheduledAt
            == Date(timeIntervalSince1970: 1_792_890_000))
    }

    @Test func catchUpAllRunsTheMissedHoursInOrderAfterARestart() async throws {
        let f = try await SchedulerFixture(start: try at("2026-05-04 09:59:30"))
        let job = try testJob("hourly", schedule: "cycle: hour\nstart: \"00:00\"\ninterval: 1\nend: \"23:59\"\ndependsOnPrevious: true")
        let first = try await f.scheduler([job])
        try await f.drive(first, from: try at("2026-05-04 10:00:00"), through: try at("2026-05-04 10:30:00"), step: 1800)
        #expect(f.executor.executed.count == 1)
        // Down from 10:30 to 15:30: a new scheduler on the same ledger.
        let second = try await f.scheduler([job])
        f.clock.set(try at("2026-05-04 15:30:00"))
        try await f.settle(second)
        let runs = f.executor.executed.dropFirst().map(\.scheduledAt)
        #expect(runs == (11...15).map { try! at("2026-05-04 \($0):00:00") })
        let all = try await f.instances("hourly")
        #expect(all.count == 6 && all.allSatisfy { $0.status == .succeeded && $0.attempts == 1 })
    }

    @Test func catchUpLatestAndNoneSkipWithAReason() async throws {
        for (mode, ran) in [("latest", [15]), ("none", [Int]())] {
            let f = try await SchedulerFixture(start: try at("2026-05-04 09:59:30"))
            let job = try testJob("h", schedule: "cycle: hour\nstart: \"00:00\"\ninterval: 1\nend: \"23:59\"\ncatchUp: \(mode)")
            let s = try await f.scheduler([job])
            try await f.drive(s, from: try at("2026-05-04 10:00:00"), through: try at("2026-05-04 10:00:00"), step: 60)
            f.clock.set(try at("2026-05-04 15:30:00"))
            try await f.settle(s)
            #expect(f.executor.executed.dropFirst().map(\.scheduledAt) == ran.map { try! at("2026-05-04 \($0):00:00") }, "\(mode)")
            let all = try await f.instances("h")
            #expect(all.count == 6, "\(mode)")
            for r in all.dropFirst() where !ran.contains(Int(r.parameters["partition"]!.dropFirst(8).prefix(2))!) {
                #expect(r.status == .dryRun, "\(mode)")
                let reason = try await f.ledger.schedulingState(id: r.id).skipReason
                #expect(reason?.contains("catchUp: \(mode)") == true, "\(mode)")
            }
        }
    }

    @Test func retriesAfterFailureThenSucceeds() async throws {
        let f = try await SchedulerFixture(start: try at("2026-05-04 09:59:00")) { r in
            r.attempts < 3 ? .fail("broker down") : .succeed
        }
        let job = try testJob("r", schedule: "cycle: day\nstart: \"10:00\"\nretries: 2\nretryInterval: 5m")
        let s = try await f.scheduler([job])
        try await f.drive(s, from: try at("2026-05-04 10:00:00"), through: try at("2026-05-04 10:20:00"), step: 60)
        let calls = f.executor.executed.map(\.at)
        #expect(calls == [try at("2026-05-04 10:00:00"), try at("2026-05-04 10:05:00"), try at("2026-05-04 10:10:00")])
        let r = try await f.instances("r")
        #expect(r.count == 1 && r[0].status == .succeeded && r[0].attempts == 3)
    }

    @Test func retriesRunOutAndNeverPolicyDoesNotRetry() async throws {
        for (extra, attempts) in [("retries: 1", 2), ("retries: 3\nrerun: never", 1)] {
            let f = try await SchedulerFixture(start: try at("2026-05-04 09:59:00")) { _ in .fail("bad") }
            let s = try await f.scheduler([try testJob("r", schedule: "cycle: day\nstart: \"10:00\"\nretryInterval: 1m\n" + extra)])
            try await f.drive(s, from: try at("2026-05-04 10:00:00"), through: try at("2026-05-04 11:00:00"), step: 60)
            let r = try await f.instances("r")
            #expect(r.count == 1 && r[0].status == .failed && r[0].attempts == attempts, "\(extra)")
            #expect(try await f.ledger.schedulingState(id: r[0].id).retryAt == nil)
        }
    }

    /// A failure that would happen again (here the dirty-record limit) is not retried automatically,
    /// whatever `retries` says, and the log says why.
    @Test func aFailureThatIsNotRetriableIsNotRetried() async throws {
        let f = try await SchedulerFixture(start: try at("2026-05-04 09:59:00")) { _ in .failForGood("too many dirty records") }
        let s = try await f.scheduler([try testJob("r", schedule: "cycle: day\nstart: \"10:00\"\nretries: 3\nretryInterval: 1m")])
        try await f.drive(s, from: try at("2026-05-04 10:00:00"), through: try at("2026-05-04 10:30:00"), step: 60)
        let r = try await f.instances("r")
        #expect(r.count == 1 && r[0].status == .failed && r[0].attempts == 1)
        #expect(try await f.ledger.schedulingState(id: r[0].id).failure == InstanceFailure(code: "dirtyLimit", retriable: false))
        #expect(try await f.ledger.log(id: r[0].id).contains { $0.message.contains("not retried automatically: the failure (dirtyLimit)") })
    }

    @Test func timeoutStopsTheRunMarksItFailedAndDoesNotRetry() async throws {
        let f = try await SchedulerFixture(start: try at("2026-05-04 09:59:00")) { _ in .hang }
        let s = try await f.scheduler([try testJob("t", schedule: "cycle: day\nstart: \"10:00\"\ntimeout: 2m\nretries: 3\nretryInterval: 1m")])
        f.clock.set(try at("2026-05-04 10:00:00"))
        #expect(try await s.tick() == 1)
        f.clock.set(try at("2026-05-04 10:01:00"))
        #expect(try await s.tick() == 0)
        #expect(await s.runningCount == 1)
        f.clock.set(try at("2026-05-04 10:02:00"))
        try await s.tick()
        await s.drain()
        try await f.drive(s, from: try at("2026-05-04 10:03:00"), through: try at("2026-05-04 10:30:00"), step: 60)
        let r = try await f.instances("t")
        #expect(r.count == 1 && r[0].status == .failed && r[0].attempts == 1)
        #expect(r[0].error?.contains("timed out") == true)
        #expect(f.executor.executed.count == 1)
    }

    @Test func selfDependencyBlocksAfterAFailureUntilSetToSuccessOrRerun() async throws {
        let failing = try at("2026-05-04 11:00:00")
        let f = try await SchedulerFixture(start: try at("2026-05-04 09:59:00")) { r in
            r.scheduledAt == failing && r.attempts == 1 ? .fail("bad record") : .succeed
        }
        let job = try testJob("c", schedule: "cycle: hour\nstart: \"00:00\"\ninterval: 1\nend: \"23:59\"", windowMode: "contiguous")
        let s = try await f.scheduler([job])
        try await f.drive(s, from: try at("2026-05-04 10:00:00"), through: try at("2026-05-04 14:00:00"), step: 1800)
        var all = try await f.instances("c")
        #expect(all.map(\.status) == [.succeeded, .failed, .waiting, .waiting, .waiting])
        #expect(f.executor.executed.count == 2)

        // Set to success by hand: the waiting ones run, in order.
        try await f.ledger.setSuccess(id: all[1].id, reason: "loaded by hand")
        try await f.settle(s)
        all = try await f.instances("c")
        #expect(all.allSatisfy { $0.status == .succeeded })
        #expect(f.executor.executed.dropFirst(2).map(\.scheduledAt) == all.dropFirst(2).map(\.scheduledAt))

        // A rerun (what `sluice rerun` records) unblocks the same way.
        let g = try await SchedulerFixture(start: try at("2026-05-04 09:59:00")) { r in
            r.scheduledAt == failing && r.attempts == 1 ? .fail("bad record") : .succeed
        }
        let t = try await g.scheduler([job])
        try await g.drive(t, from: try at("2026-05-04 10:00:00"), through: try at("2026-05-04 12:00:00"), step: 1800)
        var second = try await g.instances("c")
        #expect(second.map(\.status) == [.succeeded, .failed, .waiting])
        _ = await g.executor.execute(ExecutionRequest(instance: second[1], job: job, stateDirectory: g.dir.path + "/.sluice"))
        try await g.settle(t)
        second = try await g.instances("c")
        #expect(second.map(\.status) == [.succeeded, .succeeded, .succeeded])
    }

    @Test func pausedAndDryRunSchedulingTypes() async throws {
        let f = try await SchedulerFixture(start: try at("2026-05-04 09:59:00"))
        let s = try await f.scheduler([
            try testJob("p", schedule: "cycle: hour\nstart: \"00:00\"\ninterval: 1\nend: \"23:59\"\ntype: paused\ndependsOnPrevious: true"),
            try testJob("d", schedule: "cycle: hour\nstart: \"00:00\"\ninterval: 1\nend: \"23:59\"\ntype: dryRun"),
        ])
        try await f.drive(s, from: try at("2026-05-04 10:00:00"), through: try at("2026-05-04 12:00:00"), step: 3600)
        let p = try await f.instances("p"), d = try await f.instances("d")
        #expect(p.count == 3 && p.allSatisfy { $0.status == .failed && $0.error?.contains("paused") == true })
        #expect(d.count == 3 && d.allSatisfy { $0.status == .dryRun })
        #expect(f.executor.executed.isEmpty)
    }

    @Test func interruptedRunIsRunAgainOnceAfterARestart() async throws {
        let f = try await SchedulerFixture(start: try at("2026-05-04 09:59:00"))
        let job = try testJob("i", schedule: "cycle: hour\nstart: \"00:00\"\ninterval: 1\nend: \"23:59\"")
        let s = try await f.scheduler([job])
        f.clock.set(try at("2026-05-04 10:00:00"))
        _ = try await s.tick()
        await s.drain()
        // A run that died mid-way (no process holds its lock): status running in the ledger.
        f.clock.set(try at("2026-05-04 11:00:00"))
        let stuck = try await f.ledger.ensureInstance(NewInstance(job: "i", scheduledAt: try at("2026-05-04 11:00:00")))
        _ = try await f.ledger.startAttempt(id: stuck.id)
        let restarted = try await f.scheduler([job])
        try await f.settle(restarted)
        // Recorded as an interrupted attempt; retried (once at least, retries: 0 notwithstanding) after retryInterval.
        var all = try await f.instances("i")
        #expect(all[1].status == .failed && all[1].error?.contains("interrupted") == true)
        #expect(try await f.ledger.schedulingState(id: stuck.id).retryAt == (try at("2026-05-04 11:01:00")))
        #expect(f.executor.executed.filter { $0.scheduledAt == stuck.scheduledAt }.isEmpty)
        f.clock.set(try at("2026-05-04 11:01:00"))
        try await f.settle(restarted)
        all = try await f.instances("i")
        #expect(all.count == 2 && all.allSatisfy { $0.status == .succeeded })
        #expect(all[1].attempts == 2)
        #expect(f.executor.executed.filter { $0.scheduledAt == stuck.scheduledAt }.count == 1)
    }

    /// A run another process holds (e.g. the orphaned child of a scheduler that was SIGKILLed) is
    /// watched, never started a second time; when it ends, its outcome is settled like our own runs'.
    @Test func orphanedRunIsWatchedNotStartedAgainAndItsFailureIsRetried() async throws {
        let f = try await SchedulerFixture(start: try at("2026-05-04 09:59:00"))
        let job = try testJob("o", schedule: "cycle: hour\nstart: \"00:00\"\ninterval: 1\nend: \"23:59\"\nretries: 1\nretryInterval: 2m",
                              windowMode: "contiguous")
        let crashed = try await f.scheduler([job])
        f.clock.set(try at("2026-05-04 10:00:00"))
        try await crashed.tick()
        await crashed.drain()
        // The crashed scheduler had claimed 11:00 and launched a child, which took the run lock and
        // started attempt 1; then that scheduler died.
        f.clock.set(try at("2026-05-04 11:00:00"))
        let r = try await f.ledger.ensureInstance(NewInstance(job: "o", scheduledAt: try at("2026-05-04 11:00:00"), partition: "ds=202605041100"))
        #expect(try await f.ledger.claimAttempt(id: r.id, by: "crashed", leaseUntil: .distantFuture) == 1)
        let stateDir = f.dir.path + "/.sluice"
        let orphanLock = try await RunLock.acquire(stateDirectory: stateDir, job: "o", partition: "ds=202605041100",
                                                   instanceId: String(r.id), wait: false)
        let described = NewInstance(job: "o", scheduledAt: r.scheduledAt, partition: "ds=202605041100")
        _ = try await f.ledger.startAttempt(described, number: 1)
        // A second child for the same attempt is refused and changes nothing.
        await #expect(throws: SluiceError.self) { try await f.ledger.startAttempt(described, number: 1) }

        let restarted = try await f.scheduler([job])
        f.clock.set(try at("2026-05-04 12:00:00"))
        try await f.settle(restarted)
        #expect(f.executor.executed.count == 1, "neither the orphaned instance nor its successor ran")
        #expect(await restarted.runningCount == 1)
        var all = try await f.instances("o")
        #expect(all.map(\.status) == [.succeeded, .running, .waiting])

        // The orphan fails and lets go of its lock: the failure is retried per policy (retries: 1).
        try await f.ledger.finish(id: r.id, status: .failed, counts: InstanceCounts(), error: "broker down")
        orphanLock.release()
        try await f.settle(restarted)
        #expect(await restarted.runningCount == 0)
        #expect(try await f.ledger.schedulingState(id: r.id).retryAt == (try at("2026-05-04 12:02:00")))
        #expect(try await f.ledger.schedulingState(id: r.id).claimedAttempt == nil)
        f.clock.set(try at("2026-05-04 12:02:00"))
        try await f.settle(restarted)
        all = try await f.instances("o")
        #expect(all.map(\.status) == [.succeeded, .succeeded, .succeeded])
        #expect(all.map(\.attempts) == [1, 2, 1])
    }

    /// A watched run of another process (here a python process holding the run lock, as an orphaned
    /// `sluice run` would) is stopped at its timeout like our own runs: signalled, marked failed
    /// "timed out", and not rerun.
    @Test func watchedRunIsStoppedAtItsTimeoutAndNotRerun() async throws {
        let f = try await SchedulerFixture(start: try at("2026-05-04 09:59:00"))
        let (job, r) = try await f.dailyInstanceAtTen("w", "timeout: 5m\nretries: 2\nretryInterval: 1m")
        _ = try await f.ledger.startAttempt(id: r.id)
        let stateDir = f.dir.path + "/.sluice"
        let lockPath = RunLock.lockPath(stateDirectory: stateDir, job: "w", partition: "ds=1")
        try FileManager.default.createDirectory(atPath: (lockPath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let holder = try RunningProcess(Subprocess.python, ["-c", """
            import fcntl, json, os, signal, sys, time
            signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM])  # a test runner's thread may block it
            f = open(sys.argv[1], "w")
            fcntl.flock(f, fcntl.LOCK_EX)
            f.write(json.dumps({"pid": os.getpid(), "job": "w", "partition": "ds=1", "acquiredAtMillis": 0}))
            f.flush()
            time.sleep(600)
            """, lockPath])
        defer { if holder.isRunning { holder.signal(SIGKILL) } }
        for _ in 0..<300 where RunLock.currentHolder(stateDirectory: stateDir, job: "w", partition: "ds=1")?.pid != holder.pid {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(RunLock.currentHolder(stateDirectory: stateDir, job: "w", partition: "ds=1")?.pid == holder.pid)

        let s = try await f.scheduler([job])
        try await f.settle(s)
        #expect(await s.runningCount == 1)
        f.clock.set(try at("2026-05-04 10:05:00"))
        try await s.tick()
        // The holder gets SIGTERM; once its lock is free the next pass records the timeout.
        for _ in 0..<300 where await s.runningCount > 0 {
            try await Task.sleep(for: .milliseconds(20))
            try await s.tick()
        }
        #expect(await s.runningCount == 0)
        #expect(await holder.wait() == SIGTERM && holder.wasSignalled)
        f.clock.set(try at("2026-05-04 10:30:00"))
        try await f.settle(s)
        let all = try await f.instances("w")
        #expect(all.count == 1 && all[0].status == .failed && all[0].attempts == 1)
        #expect(all[0].error?.contains("timed out") == true)
        #expect(try await f.ledger.schedulingState(id: r.id).retryAt == nil)
        #expect(f.executor.executed.isEmpty)
    }

    /// An attempt a crashed scheduler launched that ended (failed) before the next scheduler started
    /// is still settled by the next one: its retry is scheduled.
    @Test func attemptThatEndedWhileNoSchedulerRanIsSettled() async throws {
        let f = try await SchedulerFixture(start: try at("2026-05-04 09:59:00"))
        let (job, r) = try await f.dailyInstanceAtTen("e", "retries: 2\nretryInterval: 1m")
        _ = try await f.ledger.claimAttempt(id: r.id, by: "gone", leaseUntil: .distantFuture)
        _ = try await f.ledger.startAttempt(NewInstance(job: "e", scheduledAt: r.scheduledAt, partition: "ds=1"), number: 1)
        try await f.ledger.finish(id: r.id, status: .failed, counts: InstanceCounts(), error: "bad")
        let s = try await f.scheduler([job])
        try await f.settle(s)
        #expect(try await f.ledger.schedulingState(id: r.id).retryAt == (try at("2026-05-04 10:01:00")))
        f.clock.set(try at("2026-05-04 10:01:00"))
        try await f.settle(s)
        let all = try await f.instances("e")
        #expect(all.count == 1 && all[0].status == .succeeded && all[0].attempts == 2)
    }

    @Test func maxParallelBoundsConcurrentRuns() async throws {
        let f = try await SchedulerFixture(start: try at("2026-05-04 09:59:00")) { _ in .hang }
        let jobs = try (1...5).map { try testJob("j\($0)", schedule: "cycle: day\nstart: \"10:00\"") }
        let s = try await f.scheduler(jobs, maxParallel: 2)
        f.clock.set(try at("2026-05-04 10:00:00"))
        #expect(try await s.tick() == 2)
        #expect(try await s.tick() == 0)
        #expect(await s.runningCount == 2)
        await s.stop(abort: true)
        await s.drain()
        // Aborted runs go back to pending, to run when a scheduler starts again.
        let pending = try await f.ledger.instances(status: .pending)
        #expect(pending.count == 5)
    }

    @Test func backfillMatchesScheduledRuns() async throws {
        let job = try testJob("h", schedule: "cycle: hour\nstart: \"00:15\"\ninterval: 1\nend: \"23:59\"")
        // 7 days of scheduled runs …
        let f = try await SchedulerFixture(start: try at("2026-05-02 00:00:00"))
        let s = try await f.scheduler([job])
        try await f.drive(s, from: try at("2026-05-02 00:15:00"), through: try at("2026-05-08 23:15:00"), step: 3600)
        // … and a backfill of the business dates 20260501 … 20260507, three days at a time.
        let g = try await SchedulerFixture(start: try at("2026-06-01 00:00:00"))
        let days = Mutex<[String]>([])
        let results = try await Backfill(job: job, from: CivilDate(year: 2026, month: 5, day: 1), to: CivilDate(year: 2026, month: 5, day: 7),
                                         parallelDays: 3, ledger: g.ledger, stateDirectory: g.dir.path + "/.sluice",
                                         executor: g.executor).run { r in days.withLock { $0.append(r.businessDate) } }
        #expect(results.count == 7 && results.allSatisfy { $0.ok && $0.succeeded == 24 })
        #expect(Set(days.withLock { $0 }) == Set((1...7).map { "2026050\($0)" }))
        let scheduled = try await f.instances("h"), backfilled = try await g.instances("h")
        #expect(scheduled.count == 168)
        #expect(backfilled.map(\.scheduledAt) == scheduled.map(\.scheduledAt))
        #expect(backfilled.map(\.parameters) == scheduled.map(\.parameters))
        #expect(backfilled.map(\.businessDate) == scheduled.map(\.businessDate))
        #expect(backfilled.allSatisfy { $0.status == .succeeded })
        #expect(g.executor.executed.allSatisfy { $0.businessDate != nil })
    }

    @Test func backfillStopsStartingDaysAfterAFailureUnlessContinue() async throws {
        let job = try testJob("c", schedule: "cycle: hour\nstart: \"00:00\"\ninterval: 6\nend: \"23:59\"", windowMode: "contiguous")
        for cont in [false, true] {
            let g = try await SchedulerFixture(start: try at("2026-06-01 00:00:00")) { r in
                r.businessDate == "20260502" && r.parameters["partition"]?.hasSuffix("0600") == true ? .fail("bad") : .succeed
            }
            let results = try await Backfill(job: job, from: CivilDate(year: 2026, month: 5, day: 1), to: CivilDate(year: 2026, month: 5, day: 5),
                                             parallelDays: 1, continueOnFailure: cont, ledger: g.ledger,
                                             stateDirectory: g.dir.path + "/.sluice", executor: g.executor).run()
            #expect(results.count == (cont ? 5 : 2))
            let failedDay = results.first { $0.businessDate == "20260502" }
            // Self-dependent: the day stops at its failed instance.
            #expect(failedDay?.succeeded == 1 && failedDay?.failed == 1 && failedDay?.notRun == 2)
        }
    }
}

/// Drops what is logged, at info level (so that the scheduler's instance log in the ledger, which
/// sits on top of this handler, still sees info lines).
struct SilentLogHandler: LogHandler {
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {}
}
