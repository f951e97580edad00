import Foundation
import Logging
import PostgresNIO
import SluiceCore
import SluicePostgres
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import SluiceLedger

/// A database of the test server for one test, reached by the `sluice` binary with the password in
/// `PGPASSWORD` (never in the job file).
struct PostgresTarget {
    let server: PostgresServer
    let database: String

    static func fresh() async throws -> PostgresTarget {
        let server = try await PostgresServer.shared()
        return PostgresTarget(server: server, database: try await server.createDatabase(prefix: "run"))
    }

    var url: String { server.urlWithoutPassword(database: database) }
    var environment: [String: String] { ["PGPASSWORD": PostgresServer.password] }

    @discardableResult
    func psql(_ sql: String) async throws -> String { try await server.psql(database, sql) }

    /// `count:md5` of partition `ds` of table `t`: its rows and a checksum over their Kafka
    /// coordinates and keys.
    func content(_ ds: String) async throws -> String {
        try await psql("""
            SELECT count(*) || ':' || coalesce(md5(string_agg(p || '@' || o || '@' || k, ',' ORDER BY p, o)), '')
            FROM t WHERE ds = '\(ds)'
            """)
    }

    func run(_ arguments: [String], environment extra: [String: String] = [:],
             onStart: @Sendable (Int32) -> Void = { _ in }) async throws -> ProcessResult {
        try await SluiceBinary.run(arguments, environment: environment.merging(extra) { _, new in new }, onStart: onStart)
    }
}

/// `sluice run` into PostgreSQL end to end, against the dev broker and the test server: reruns,
/// SIGKILLs at any moment of an overwrite, readers during an overwrite, appends that land once, the
/// scheduler, and input that fails.
@Suite struct PostgresRunTests {
    static let first = AppendExactlyOnceTests.first
    static let second = AppendExactlyOnceTests.second
    static let hour10Millis = AppendExactlyOnceTests.hour10Millis

    static func runArguments(_ job: String, at: Int64) -> [String] { AppendExactlyOnceTests.runArguments(job, at: at) }

    /// A rerun gives the same rows; `sluice sql` and `sluice partitions` read the table.
    @Test func aRerunGivesTheSameRows() async throws {
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        let pg = try await PostgresTarget.fresh()
        let job = try h.writeHourlyJob(postgres: pg.url)
        try await h.produce(AppendExactlyOnceTests.hour(0..<3000, startMillis: Self.hour10Millis))
        let ddl = try await pg.run(["ddl", job, "--apply"])
        #expect(ddl.status == 0 && ddl.stderr.contains("created table t in PostgreSQL"), "\(ddl.stderr)")
        let run = try await pg.run(Self.runArguments(job, at: Self.first))
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        let once = try await pg.content("2022112210")
        #expect(once.hasPrefix("3000:"))
        let ledger = try await Ledgers.openSQLite(stateDirectory: h.path(".sluice"))
        let instance = try #require(try await ledger.instance(job: "hourly", scheduledAt: Date(timeIntervalSince1970: Double(Self.first))))
        let rerun = try await pg.run(["instance", "rerun", String(instance.id), "--job", job, "--state-dir", h.path(".sluice")])
        #expect(rerun.status == 0, "\(rerun.stdout)\(rerun.stderr)")
        #expect(try await pg.content("2022112210") == once)
        let sql = try await pg.run(["sql", job, "SELECT ds, count(*) AS n, count(DISTINCT (p, o)) AS d FROM t GROUP BY ds", "--format", "csv"])
        #expect(sql.stdout == "ds,n,d\r\n2022112210,3000,3000\r\n", "\(sql.stderr)")
        let listed = try await pg.run(["partitions", job, "--json"])
        let partitions = try JSONDecoder().decode([PartitionInfo].self, from: Data(listed.stdout.utf8))
        #expect(partitions.count == 1 && partitions[0].rows == 3000 && partitions[0].writes.count == 1)
        #expect(partitions[0].writes[0].attempt == 2 && partitions[0].replaced.count == 1)
        for output in [ddl, run, rerun, sql, listed] {
            #expect(!(output.stdout + output.stderr).contains(PostgresServer.password))
        }
    }

    /// The acceptance test of overwrite: two instances overwrite one daily partition in turn, and a
    /// run is SIGKILLed at 20 moments (five named points, fifteen random); after every kill the
    /// partition is exactly the old content or exactly the new one (psql counts and checksums), and
    /// after every completed run exactly the new one.
    @Test func sigkilledAtTwentyMomentsThePartitionIsOldOrNew() async throws {
        let seed = ProcessInfo.processInfo.environment["SLUICE_CRASH_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 1...UInt64(UInt32.max))
        print("postgresql kill test: seed \(seed) (repeat with SLUICE_CRASH_SEED=\(seed))")
        var random = SchedulerCrashTests.SeededGenerator(state: seed)
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        let pg = try await PostgresTarget.fresh()
        let job = try h.writeHourlyJob(dailyPartition: true, postgres: pg.url)
        try await h.produce(AppendExactlyOnceTests.hour(0..<60_000, startMillis: Self.hour10Millis)
                            + AppendExactlyOnceTests.hour(60_000..<150_000, startMillis: Self.hour10Millis + 3_600_000))
        #expect(try await pg.run(["ddl", job, "--apply"]).status == 0)
        let runs = [Self.runArguments(job, at: Self.first), Self.runArguments(job, at: Self.second)]
        func timed(_ run: [String], environment: [String: String] = [:],
                   onStart: @Sendable (Int32) -> Void = { _ in }) async throws -> (ProcessResult, Double) {
            let started = ContinuousClock.now
            let r = try await pg.run(run, environment: environment, onStart: onStart)
            let d = started.duration(to: .now).components
            return (r, Double(d.seconds) + Double(d.attoseconds) / 1e18)
        }
        var contents: [String] = [], seconds: [Double] = []
        for run in runs {
            let (r, s) = try await timed(run)
            #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
            contents.append(try await pg.content("20221122"))
            seconds.append(s)
        }
        #expect(contents[0].hasPrefix("60000:") && contents[1].hasPrefix("90000:"))
        var current = 1, kills = 0, tries = 0
        var outcomes: [String] = []
        let points = ["after-plan", "after-open", "before-commit", "after-commit", "after-finish"]
        // Twenty kills of a running process: a random moment after which the run had already ended
        // does not count, and another is drawn.
        while kills < 20 && tries < 45 {
            tries += 1
            let target = 1 - current
            let killed: ProcessResult, moment: String
            if tries <= points.count {
                moment = points[tries - 1]
                (killed, _) = try await timed(runs[target], environment: ["SLUICE_TEST_KILL_AT": moment])
            } else {
                let delay = Int.random(in: 0...Int(seconds[target] * 1000), using: &random)
                moment = "\(delay) ms"
                (killed, _) = try await timed(runs[target]) { pid in
                    DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(delay)) { _ = Glibc.kill(pid, SIGKILL) }
                }
            }
            if killed.signalled { kills += 1 }
            let after = try await pg.content("20221122")
            #expect(after == contents[current] || after == contents[target], "after the kill at \(moment): \(after)")
            let state = after == contents[target] ? "new" : "old"
            let (rerun, s) = try await timed(runs[target])
            #expect(rerun.status == 0, "rerun after the kill at \(moment): \(rerun.stdout)\(rerun.stderr)")
            #expect(try await pg.content("20221122") == contents[target], "rerun after the kill at \(moment)")
            let settled = rerun.stdout.contains("settled:")
            if !settled { seconds[target] = s }
            outcomes.append("\(moment): \(killed.signalled ? "killed" : "exit \(killed.status)"), \(state)\(settled ? ", settled" : "")")
            current = target
        }
        print("postgresql kill test (runs take \(seconds.map { String(format: "%.2f", $0) }.joined(separator: " and ")) s): \(outcomes.joined(separator: "; "))")
        #expect(kills == 20, "\(outcomes)")
        #expect(outcomes[2].contains("old") && outcomes[3].contains("new, settled"), "\(outcomes)")
    }

    /// While an overwrite replaces a partition of 60,000 rows by 90,000, a reader counting it over
    /// and over sees 60,000 rows (with their offsets) or 90,000, never anything between.
    @Test func aConcurrentCountDuringAnOverwriteNeverSeesAMix() async throws {
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        let pg = try await PostgresTarget.fresh()
        let job = try h.writeHourlyJob(dailyPartition: true, postgres: pg.url)
        try await h.produce(AppendExactlyOnceTests.hour(0..<60_000, startMillis: Self.hour10Millis)
                            + AppendExactlyOnceTests.hour(60_000..<150_000, startMillis: Self.hour10Millis + 3_600_000))
        #expect(try await pg.run(["ddl", job, "--apply"]).status == 0)
        #expect(try await pg.run(Self.runArguments(job, at: Self.first)).status == 0)
        let count = "SELECT count(*) || ':' || coalesce(sum(o), 0) FROM t WHERE ds = '20221122'"
        let old = try await pg.psql(count)
        let connection = try await PostgresConnector.connect(try PostgresURL(parsing: pg.server.url(database: pg.database)))
        let seen = Mutex<[String: Int]>([:])
        let done = Atomic<Bool>(false)
        let reader = Task {
            while !done.load(ordering: .relaxed) {
                for try await (value) in try await connection.query(PostgresQuery(unsafeSQL: count), logger: Logger(label: "reader")).decode(String.self) {
                    seen.withLock { $0[value, default: 0] += 1 }
                }
            }
        }
        let run = try await pg.run(Self.runArguments(job, at: Self.second))
        done.store(true, ordering: .relaxed)
        try await reader.value
        try await connection.close()
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        let new = try await pg.psql(count)
        let observed = seen.withLock { $0 }
        print("concurrent reader during the overwrite: \(observed)")
        #expect(Set(observed.keys).isSubset(of: [old, new]), "\(observed)")
        #expect(observed[old, default: 0] > 10, "the reader counted while the write was open: \(observed)")
        #expect(old.hasPrefix("60000:") && new.hasPrefix("90000:"))
    }

    /// Append, as for the SQLite warehouse: killed after its commit and run again, the attempt is
    /// settled from the write record and writes nothing; killed before its commit, the run writes
    /// the window; a deliberate rerun replaces the instance's own rows and leaves the other
    /// instance's alone. Every record lands once.
    @Test func anAppendLandsEachInstancesRowsOnce() async throws {
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        let pg = try await PostgresTarget.fresh()
        let job = try h.writeHourlyJob(writeMode: .append, dailyPartition: true, postgres: pg.url)
        try await h.produce(AppendExactlyOnceTests.hour(0..<20_000, startMillis: Self.hour10Millis)
                            + AppendExactlyOnceTests.hour(20_000..<20_900, startMillis: Self.hour10Millis + 3_600_000))
        #expect(try await pg.run(["ddl", job, "--apply"]).status == 0)
        #expect(try await pg.run(Self.runArguments(job, at: Self.second)).status == 0)
        let onceEach = "SELECT count(*) || ':' || count(DISTINCT (p, o)) FROM t WHERE ds = '20221122'"
        for point in ["after-commit", "before-commit"] {
            let killed = try await pg.run(Self.runArguments(job, at: Self.first), environment: ["SLUICE_TEST_KILL_AT": point])
            #expect(killed.signalled, "killed at \(point)")
            let rerun = try await pg.run(Self.runArguments(job, at: Self.first))
            #expect(rerun.status == 0, "\(rerun.stdout)\(rerun.stderr)")
            #expect(rerun.stdout.contains("settled:") == (point == "after-commit"), "\(point): \(rerun.stdout)")
            #expect(try await pg.psql(onceEach) == "20900:20900", "after the kill at \(point)")
        }
        let ledger = try await Ledgers.openSQLite(stateDirectory: h.path(".sluice"))
        let instance = try #require(try await ledger.instance(job: "hourly", scheduledAt: Date(timeIntervalSince1970: Double(Self.first))))
        let before = try await pg.content("20221122")
        let rerun = try await pg.run(["instance", "rerun", String(instance.id), "--job", job, "--state-dir", h.path(".sluice")])
        #expect(rerun.status == 0, "\(rerun.stdout)\(rerun.stderr)")
        #expect(try await pg.content("20221122") == before)
        #expect(try await pg.psql("SELECT count(*) FROM t WHERE ts >= \(Self.hour10Millis + 3_600_000)") == "900")
        let writes = try await pg.psql("SELECT instance_id || ':' || rows FROM _sluice_partitions WHERE replaced_by IS NULL ORDER BY rows")
        let lines = writes.split(separator: "\n").map(String.init)
        #expect(lines.count == 2 && lines[0].hasSuffix(":900") && lines[1] == "\(instance.id):20000", "one live write per instance: \(writes)")
    }

    /// Under the scheduler, a child SIGKILLed after the destination's commit is settled from the
    /// write record before any retry: one attempt, the rows once.
    @Test func theSchedulerSettlesAnAttemptKilledAfterItsCommit() async throws {
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        let pg = try await PostgresTarget.fresh()
        let job = try h.writeMinuteJob(writeMode: .append, retries: 0, postgres: pg.url)
        #expect(try await pg.run(["ddl", job, "--apply"]).status == 0)
        let stateDir = h.path(".sluice"), t0 = try await SchedulerCrashTests.currentMinute()
        let records = SchedulerCrashTests.records(ids: 0..<30, from: t0 - 60, to: t0 - 1)
        try await h.produce(records)
        let ledger = try await Ledgers.openSQLite(stateDirectory: stateDir, now: { Date(timeIntervalSince1970: Double(t0)) })
        try await ledger.registerJob("minutely", path: job)
        let scheduler = try SchedulerCrashTests.SchedulerProcess(
            ["scheduler", job, "--state-dir", stateDir, "--poll-interval", "0.1", "--retry-delay", "0.2"],
            logPath: h.path("scheduler.log"),
            environment: pg.environment.merging(["SLUICE_TEST_KILL_AT": "after-commit", "SLUICE_TEST_KILL_ONCE": h.path("killed-once")]) { _, n in n })
        let at = Date(timeIntervalSince1970: Double(t0))
        let done = try await SchedulerCrashTests.poll(seconds: 60) {
            try await ledger.instance(job: "minutely", scheduledAt: at)?.status == .succeeded
        }
        #expect(done, "scheduler log:\n\(scheduler.log)")
        scheduler.signal(SIGTERM)
        #expect(await scheduler.wait() == 0)
        let r = try #require(try await ledger.instance(job: "minutely", scheduledAt: at))
        #expect(r.attempts == 1 && r.counts.written == Int64(records.count))
        #expect(scheduler.log.contains("settled as succeeded"), "\(scheduler.log)")
        #expect(try await pg.psql("SELECT count(*) || ':' || count(DISTINCT (p, o)) FROM t") == "30:30")
    }

    /// Input that fails: a server that cannot be reached, a wrong password, a URL that is not one, a
    /// table whose columns do not match. Each is one clear line and an exit code, the password never
    /// shows, and nothing is written.
    @Test func badInputIsOneClearLineAndWritesNothing() async throws {
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        let pg = try await PostgresTarget.fresh()
        try await h.produce(AppendExactlyOnceTests.hour(0..<100, startMillis: Self.hour10Millis))
        func firstErrorLine(_ r: ProcessResult) -> String {
            r.stderr.split(separator: "\n").first { $0.hasPrefix("error: ") }.map(String.init) ?? r.stderr
        }
        let unreachable = try h.writeHourlyJob(name: "unreachable.yaml", postgres: "postgresql://\(PostgresServer.user)@127.0.0.1:1/\(pg.database)")
        let down = try await pg.run(Self.runArguments(unreachable, at: Self.first))
        #expect(down.status == 1 && firstErrorLine(down).contains("127.0.0.1:1/\(pg.database), table t: reading the table's columns failed: cannot reach the server"),
                "\(down.stderr)")

        let job = try h.writeHourlyJob(postgres: pg.url)
        let wrong = try await pg.run(Self.runArguments(job, at: Self.first), environment: ["PGPASSWORD": "not-it-31337"])
        #expect(wrong.status == 1 && firstErrorLine(wrong).contains("password authentication failed"), "\(wrong.stderr)")
        #expect(!(wrong.stdout + wrong.stderr).contains("not-it-31337"))

        let notAURL = try h.writeHourlyJob(name: "bad-url.yaml", postgres: "\"postgresql://\(PostgresServer.user):hunter2@/\(pg.database)\"")
        let invalid = try await pg.run(Self.runArguments(notAURL, at: Self.first))
        #expect(invalid.status == 2 && invalid.stderr.contains("destination.url: 'postgresql://\(PostgresServer.user):******@/\(pg.database)' is not a PostgreSQL URL"),
                "\(invalid.stderr)")
        #expect(!(invalid.stdout + invalid.stderr).contains("hunter2"))

        try await pg.psql("CREATE TABLE t (k text, p integer, o bigint, ts bigint, ds text NOT NULL, must text NOT NULL)")
        let mismatch = try await pg.run(Self.runArguments(job, at: Self.first))
        #expect(mismatch.status == 1, "\(mismatch.stderr)")
        #expect(firstErrorLine(mismatch) == "error: PostgreSQL \(pg.url), table t does not match the job: column 'id' (BIGINT) is missing from the table; column 'must' is NOT NULL without a default, and the job does not write it",
                "\(mismatch.stderr)")
        #expect(try await pg.psql("SELECT count(*) FROM t") == "0")
        #expect(try await pg.psql("SELECT to_regclass('_sluice_partitions') IS NULL") == "t")
        for r in [down, wrong, invalid, mismatch] { #expect(!(r.stdout + r.stderr).contains(PostgresServer.password)) }
    }
}
