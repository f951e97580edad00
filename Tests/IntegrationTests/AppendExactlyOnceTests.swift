import Foundation
import SluiceCore
import SluiceRuntime
import SluiceWarehouse
import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import SluiceLedger

/// `writeMode: append` keeps every record of an instance's window in the destination exactly once,
/// however often the instance runs: SIGKILLed at any moment of `sluice run` (the commit included)
/// and run again, rerun on purpose, or retried by the scheduler.
@Suite struct AppendExactlyOnceTests {
    /// 2022-11-22 11:05 and 12:05 UTC: the hourly instances of the windows [10:00, 11:00) and
    /// [11:00, 12:00), which both append to the day's partition ds=20221122.
    static let first: Int64 = 1_669_115_100
    static let second: Int64 = first + 3600
    static let hour10Millis: Int64 = 1_669_111_200_000

    /// The rows of the day's partition whose timestamps fall in [from, to): how many, and how many
    /// distinct (Kafka partition, offset) pairs.
    static func counts(_ h: Harness, fromMillis: Int64, toMillis: Int64) async throws -> (rows: Int, distinct: Int) {
        let out = TextCollector()
        try await Warehouse(path: h.path("warehouse.db")).query("""
            SELECT COUNT(*), COUNT(DISTINCT p || '@' || o) FROM t
            WHERE ds = '20221122' AND ts >= \(fromMillis) AND ts < \(toMillis)
            """, format: .csv) { out.append($0) }
        let cells = out.text.split(whereSeparator: \.isNewline).last?.split(separator: ",").compactMap { Int($0) } ?? []
        return (cells.first ?? -1, cells.last ?? -1)
    }

    /// Records of one hour starting at `startMillis`, spread over the 3 partitions.
    static func hour(_ ids: Range<Int>, startMillis: Int64) -> [Harness.Produced] {
        ids.map { i in
            Harness.Produced(partition: Int32(i % 3), key: "k\(i)", value: #"{"id":\#(i)}"#,
                             timestamp: startMillis + Int64(i - ids.lowerBound) * 3_600_000 / Int64(ids.count))
        }
    }

    static func runArguments(_ job: String, at: Int64) -> [String] {
        ["run", job, "--at-epoch", String(at), "--state-dir", (job as NSString).deletingLastPathComponent + "/.sluice"]
    }

    /// The acceptance test: 20 SIGKILLs of `sluice run`, at each named moment of a run (after the
    /// plan, after the partition opened, with the commit recorded in the ledger but not made, after
    /// the destination's commit, after the ledger's record) and at random moments over the whole run.
    /// After each kill the instance is run again; every record of the window is in the partition
    /// exactly once after every run, killed or not, and the other instance's rows are untouched.
    @Test func sigkilledAtTwentyMomentsEveryRecordLandsOnce() async throws {
        let seed = ProcessInfo.processInfo.environment["SLUICE_CRASH_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 1...UInt64(UInt32.max))
        print("append kill test: seed \(seed) (repeat with SLUICE_CRASH_SEED=\(seed))")
        var random = SchedulerCrashTests.SeededGenerator(state: seed)
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        let job = try h.writeHourlyJob(writeMode: .append, dailyPartition: true)
        let n = 150_000
        try await h.produce(Self.hour(0..<n, startMillis: Self.hour10Millis)
                            + Self.hour(n..<(n + 900), startMillis: Self.hour10Millis + 3_600_000))
        #expect(try await SluiceBinary.run(["ddl", job, "--apply"]).status == 0)
        let other = try await SluiceBinary.run(Self.runArguments(job, at: Self.second))
        #expect(other.status == 0, "\(other.stderr)")

        let run = Self.runArguments(job, at: Self.first)
        let clock = ContinuousClock()
        let started = clock.now
        let firstRun = try await SluiceBinary.run(run)
        let elapsed = started.duration(to: clock.now).components
        let seconds = Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
        #expect(firstRun.status == 0, "\(firstRun.stderr)")
        let window = (from: Self.hour10Millis, to: Self.hour10Millis + 3_600_000)
        let next = (from: window.to, to: window.to + 3_600_000)

        let points = ["after-plan", "after-open", "before-commit", "after-commit", "after-finish"]
        var outcomes: [String] = []
        for kill in 0..<20 {
            let killed: ProcessResult
            let moment: String
            if kill < points.count {
                moment = points[kill]
                killed = try await SluiceBinary.run(run, environment: ["SLUICE_TEST_KILL_AT": moment])
            } else {
                let delay = Int.random(in: 0...Int(seconds * 1200), using: &random)
                moment = "\(delay) ms"
                killed = try await SluiceBinary.run(run) { pid in
                    DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(delay)) { _ = Glibc.kill(pid, SIGKILL) }
                }
            }
            let afterKill = try await Self.counts(h, fromMillis: window.from, toMillis: window.to)
            #expect(afterKill.rows == n && afterKill.distinct == n, "after the kill at \(moment): \(afterKill)")
            let rerun = try await SluiceBinary.run(run)
            #expect(rerun.status == 0, "rerun after the kill at \(moment): \(rerun.stderr)")
            let after = try await Self.counts(h, fromMillis: window.from, toMillis: window.to)
            #expect(after.rows == n && after.distinct == n, "rerun after the kill at \(moment): \(after)")
            #expect(try await Self.counts(h, fromMillis: next.from, toMillis: next.to) == (900, 900))
            outcomes.append("\(moment): \(killed.signalled ? "killed" : "exit \(killed.status)")\(rerun.stdout.contains("settled:") ? ", settled" : "")")
        }
        print("append kill test (a run takes \(String(format: "%.2f", seconds)) s): \(outcomes.joined(separator: "; "))")
        #expect(outcomes[3].contains("settled"), "the rerun after a kill past the destination's commit settles it")

        // `sluice partitions` shows each instance's contribution once; the replaced writes are history.
        let listed = try await SluiceBinary.run(["partitions", h.path("warehouse.db"), "t", "--json"])
        let partitions = try JSONDecoder().decode([PartitionInfo].self, from: Data(listed.stdout.utf8))
        let day = try #require(partitions.first { $0.partition == "ds=20221122" })
        #expect(day.rows == Int64(n + 900))
        #expect(day.writes.count == 2 && Set(day.writes.map(\.instanceId)).count == 2)
        #expect(day.writes.map(\.rows).sorted() == [900, Int64(n)])
        #expect(!day.replaced.isEmpty && day.replaced.allSatisfy { $0.replacedBy != nil })
    }

    /// A deliberate rerun of a succeeded append instance replaces its own rows in the same commit:
    /// the same row count as after the first run, and the other instance's rows untouched.
    @Test func aRerunReplacesTheInstancesOwnRowsOnly() async throws {
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        let job = try h.writeHourlyJob(writeMode: .append, dailyPartition: true)
        try await h.produce(Self.hour(0..<300, startMillis: Self.hour10Millis)
                            + Self.hour(300..<420, startMillis: Self.hour10Millis + 3_600_000))
        for at in [Self.first, Self.second] {
            let r = try await SluiceBinary.run(Self.runArguments(job, at: at) + ["--create-table"])
            #expect(r.status == 0, "\(r.stderr)")
        }
        let before = try await h.rows()
        #expect(before.count == 420)
        let ledger = try await Ledgers.openSQLite(stateDirectory: h.path(".sluice"))
        let instance = try #require(try await ledger.instance(job: "hourly", scheduledAt: Date(timeIntervalSince1970: Double(Self.first))))
        for _ in 0..<2 {
            let rerun = try await SluiceBinary.run(["rerun", String(instance.id), "--job", job, "--state-dir", h.path(".sluice")])
            #expect(rerun.status == 0, "\(rerun.stderr)")
        }
        #expect(try await h.rows() == before)
        let r = try #require(try await ledger.instance(id: instance.id))
        #expect(r.status == .succeeded && r.attempts == 3 && r.counts.written == 300)
        let listed = try await SluiceBinary.run(["partitions", job, "--history", "--param", "partition=20221122"])
        #expect(listed.status == 0, "\(listed.stderr)")
        #expect(listed.stdout.components(separatedBy: "replaced by write").count - 1 == 2, "\(listed.stdout)")
    }

    /// Under the scheduler, with the child SIGKILLed once at a moment of its run: the scheduler asks
    /// the destination before it decides on a retry. Killed past the destination's commit, the
    /// attempt is settled as succeeded (one attempt, nothing written again); killed before it, the
    /// automatic retry writes the window. Either way every record lands once.
    @Test(arguments: ["before-commit", "after-commit"])
    func theSchedulerSettlesAKilledAttemptBeforeRetrying(_ point: String) async throws {
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        let job = try h.writeMinuteJob(writeMode: .append, retries: 0)
        #expect(try await SluiceBinary.run(["ddl", job, "--apply"]).status == 0)
        let stateDir = h.path(".sluice"), t0 = try await SchedulerCrashTests.currentMinute()
        let records = SchedulerCrashTests.records(ids: 0..<30, from: t0 - 60, to: t0 - 1)
        try await h.produce(records)
        let ledger = try await Ledgers.openSQLite(stateDirectory: stateDir, now: { Date(timeIntervalSince1970: Double(t0)) })
        try await ledger.registerJob("minutely", path: job)
        let marker = h.path("killed-once")
        let scheduler = try SchedulerCrashTests.SchedulerProcess(
            ["scheduler", job, "--state-dir", stateDir, "--poll-interval", "0.1", "--retry-delay", "0.2"],
            logPath: h.path("scheduler.log"), environment: ["SLUICE_TEST_KILL_AT": point, "SLUICE_TEST_KILL_ONCE": marker])
        let at = Date(timeIntervalSince1970: Double(t0))
        let done = try await SchedulerCrashTests.poll(seconds: 60) {
            try await ledger.instance(job: "minutely", scheduledAt: at)?.status == .succeeded
        }
        #expect(done, "scheduler log:\n\(scheduler.log)")
        #expect(try await SchedulerCrashTests.poll(seconds: 30) { scheduler.log.contains("scheduler started") })
        scheduler.signal(SIGTERM)
        #expect(await scheduler.wait() == 0)
        #expect(FileManager.default.fileExists(atPath: marker), "the child was killed at \(point)")
        let r = try #require(try await ledger.instance(job: "minutely", scheduledAt: at))
        let rows = try await h.rows()
        #expect(rows.count == records.count && Set(rows.map { "\($0[1])@\($0[2])" }).count == records.count)
        #expect(r.counts.written == Int64(records.count))
        if point == "after-commit" {
            #expect(r.attempts == 1)
            #expect(scheduler.log.contains("settled as succeeded"), "\(scheduler.log)")
        } else {
            #expect(r.attempts == 2, "scheduler log:\n\(scheduler.log)")
        }
    }
}
