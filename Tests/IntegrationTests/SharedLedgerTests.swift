import Foundation
import SluiceCore
import SluiceRuntime
import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import SluiceLedger
import SluicePostgres

/// Schedulers side by side on one PostgreSQL ledger, against the dev broker, as separate processes.
@Suite struct SharedLedgerTests {
    /// Three schedulers catch up a minute-cycle `contiguous` job of 61 instances on one PostgreSQL
    /// ledger while one of them is SIGKILLed 10 times at random moments (and started again, with a
    /// new id); with `restartServer`, the PostgreSQL server is also restarted once mid-run. Each
    /// scheduled time ends with one instance, succeeded in one attempt, and the warehouse holds
    /// every produced record exactly once.
    @Test(arguments: [false, true])
    func threeSchedulersOneKilledTenTimes(restartServer: Bool) async throws {
        let seed = ProcessInfo.processInfo.environment["SLUICE_CRASH_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 1...UInt64(UInt32.max))
        print("shared ledger test (restart \(restartServer)): seed \(seed) (repeat with SLUICE_CRASH_SEED=\(seed))")
        var random = SchedulerCrashTests.SeededGenerator(state: seed)
        let server = restartServer ? try await PostgresServer.startPrivate() : try await PostgresServer.shared()
        let url = server.url(database: try await server.createDatabase(prefix: "sched"))
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        let (job, stateDir, t0) = try await SchedulerCrashTests.setUpMinuteJob(h, room: 0)
        let first = t0 - 60 * 60
        let ledger = try await Ledgers.open(.postgres(try PostgresURL(parsing: url)),
                                            now: { Date(timeIntervalSince1970: Double(first)) })
        try await ledger.registerJob("minutely", path: job)
        let produced = SchedulerCrashTests.records(ids: 0..<360, from: first - 60, to: t0 - 60)
        try await h.produce(produced)

        func scheduler(_ n: Int) throws -> SchedulerCrashTests.SchedulerProcess {
            try SchedulerCrashTests.SchedulerProcess(
                ["scheduler", job, "--state-dir", stateDir + "-\(n)", "--max-parallel", "2", "--poll-interval", "0.1",
                 "--lease", "2", "--run-start-delay", "100"] + (n == 2 ? ["--ledger", url, "--id", "steady-2"] : []),
                logPath: h.path("scheduler-\(n).log"), environment: n == 2 ? [:] : ["SLUICE_LEDGER": url])
        }
        let steady = [try scheduler(1), try scheduler(2)]
        for kill in 1...10 {
            let victim = try scheduler(0)
            try await Task.sleep(for: .milliseconds(Int.random(in: 100...1500, using: &random)))
            victim.signal(SIGKILL)
            await victim.wait()
            if restartServer && kill == 5 {
                try await server.restart()
                print("shared ledger test: PostgreSQL restarted")
            }
            let done = try await ledger.instances(job: "minutely", status: .succeeded).count
            print("shared ledger test: SIGKILL \(kill); \(done) instance(s) succeeded")
        }
        let last = try scheduler(0)
        let expectedTimes = Set(stride(from: first, through: t0, by: 60).map { Date(timeIntervalSince1970: Double($0)) })
        let finished = try await SchedulerCrashTests.poll(seconds: 300) {
            let done = try await ledger.instances(job: "minutely", status: .succeeded)
            return expectedTimes.isSubset(of: Set(done.map(\.scheduledAt)))
        }
        for p in steady + [last] {
            #expect(try await SchedulerCrashTests.poll(seconds: 30) { p.log.contains("scheduler started") })
            p.signal(SIGTERM)
            #expect(await p.wait() == 0, "a scheduler did not stop on SIGTERM; its log:\n\(p.log.suffix(6000))")
        }
        #expect(finished, "not all instances succeeded; logs:\n\(steady.map { $0.log.suffix(3000) }.joined(separator: "\n---\n"))")

        let all = try await ledger.instances(job: "minutely").filter { $0.scheduledAt.timeIntervalSince1970 <= Double(t0) }
        #expect(all.count == expectedTimes.count)
        #expect(Set(all.map(\.scheduledAt)) == expectedTimes)
        let problems = all.filter { $0.status != .succeeded || $0.attempts != 1 }
        #expect(problems.isEmpty, "\(problems.map { "\($0.id) \($0.status.rawValue) attempts \($0.attempts) \($0.error ?? "")" })")
        var launchers: [String: Int] = [:]
        for r in all { for a in try await ledger.attempts(id: r.id) { launchers[a.launchedBy, default: 0] += 1 } }
        print("shared ledger test: attempts by scheduler \(launchers.sorted { $0.key < $1.key })")
        #expect(launchers.keys.contains("steady-2"), "every scheduler's id is recorded on the attempts it launched")
        #expect(!launchers.keys.contains("manual"))

        let rows = try await h.rows()
        var expectedPositions = Set<String>()
        for p in 0..<3 {
            for o in 0..<produced.filter({ $0.partition == Int32(p) }).count { expectedPositions.insert("\(p)@\(o)") }
        }
        let positions = rows.map { "\($0[1])@\($0[2])" }
        #expect(positions.count == produced.count, "rows: \(positions.count), produced: \(produced.count)")
        #expect(Set(positions) == expectedPositions)
    }

    /// Bad ledger input to the commands: one line, exit 1 or 2, nothing changed.
    @Test func badLedgerURLsAreOneLineErrors() async throws {
        let server = try await PostgresServer.shared()
        let db = try await server.createDatabase(prefix: "bad")
        let dir = try TemporaryDirectory()
        let cases: [(args: [String], env: [String: String], message: String, status: Int32)] = [
            (["instance", "list", "--ledger", "mysql://u@h/db"], [:], "is not a PostgreSQL URL", 2),
            (["instance", "list", "--ledger", "postgresql://u:topsecret@127.0.0.1:1/db"], [:], "cannot reach the server", 1),
            (["instance", "list", "--ledger", server.urlWithoutPassword(database: db)], ["PGPASSWORD": "topsecret"],
             "password authentication failed", 1),
            (["instance", "list"], ["SLUICE_LEDGER": "postgresql://\(PostgresServer.user):topsecret@127.0.0.1:\(server.port)/\(db)"],
             "password authentication failed", 1),
        ]
        for c in cases {
            let r = try await SluiceBinary.run(c.args + ["--state-dir", dir.path], environment: c.env)
            #expect(r.status == c.status, "\(c.args): \(r.stderr)")
            #expect(r.stderr.contains(c.message), "\(c.args): \(r.stderr)")
            #expect(!r.stderr.contains("topsecret") && !r.stdout.contains("topsecret"))
            #expect(r.stderr.split(separator: "\n").count <= 2, "one error line (and a hint): \(r.stderr)")
        }
        // A database whose schema is newer than this binary: refused, left as it was.
        _ = try await SluiceBinary.run(["instance", "list", "--ledger", server.url(database: db)])
        try await server.psql(db, "UPDATE ledger_meta SET value = '99' WHERE key = 'schema_version'")
        let newer = try await SluiceBinary.run(["instance", "list", "--ledger", server.url(database: db)])
        #expect(newer.status == 1 && newer.stderr.contains("newer than this sluice knows"), "\(newer.stderr)")
        #expect(try await server.psql(db, "SELECT value FROM ledger_meta WHERE key = 'schema_version'") == "99")
    }
}
