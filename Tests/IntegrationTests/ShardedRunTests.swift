import Foundation
import SluiceCore
import SluicePostgres
import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import SluiceLedger

/// Sharded instances end to end: `sluice run` as coordinator, `sluice worker` processes on a
/// PostgreSQL ledger, the dev broker, and a PostgreSQL destination.
@Suite struct ShardedRunTests {
    typealias Worker = SchedulerCrashTests.SchedulerProcess
    static let first = AppendExactlyOnceTests.first
    static let hour10Millis = AppendExactlyOnceTests.hour10Millis

    /// A ledger database and a destination database on the test server, and an hourly job into
    /// table `t` of the destination with `shards`.
    struct Setup {
        let h: Harness
        let destination: PostgresTarget
        let ledgerURL: String
        let job: String

        static func make(shards: Int, records: Int) async throws -> Setup {
            let h = try await Harness.start()
            let destination = try await PostgresTarget.fresh()
            let ledgerDatabase = try await destination.server.createDatabase(prefix: "ledger")
            let job = try h.writeHourlyJob(postgres: destination.url)
            try ("shards: \(shards)\n" + String(contentsOfFile: job, encoding: .utf8)).write(toFile: job, atomically: true, encoding: .utf8)
            try await h.produce(AppendExactlyOnceTests.hour(0..<records, startMillis: hour10Millis))
            let ddl = try await destination.run(["ddl", job, "--apply"])
            #expect(ddl.status == 0, "\(ddl.stderr)")
            return Setup(h: h, destination: destination, ledgerURL: destination.server.urlWithoutPassword(database: ledgerDatabase), job: job)
        }

        func worker(_ id: String, lease: Int = 15) throws -> Worker {
            try Worker(["worker", "--ledger", ledgerURL, "--id", id, "--poll-interval", "0.1", "--lease", String(lease)],
                       logPath: h.path("worker-\(id).log"), environment: destination.environment)
        }

        func run(_ extra: [String] = [], environment: [String: String] = [:]) async throws -> ProcessResult {
            try await destination.run(["run", job, "--at-epoch", String(ShardedRunTests.first), "--ledger", ledgerURL] + extra,
                                      environment: environment)
        }

        func ledger() async throws -> any Ledger {
            try await Ledgers.open(.postgres(try PostgresURL(parsing: destination.server.url(database: String(ledgerURL.split(separator: "/").last ?? "")))))
        }

        /// The shards of the instance's latest attempt.
        func shards() async throws -> [ShardRecord] {
            let ledger = try await ledger()
            defer { Task { await ledger.close() } }
            let r = try #require(try await ledger.instance(job: "hourly", scheduledAt: Date(timeIntervalSince1970: Double(ShardedRunTests.first))))
            return try await ledger.shards(id: r.id, attempt: r.attempts)
        }

        /// Rows, distinct Kafka coordinates, and staging tables left.
        func landed() async throws -> (rows: Int, distinct: Int, staging: Int) {
            let counts = try await destination.psql("SELECT count(*) || ' ' || count(DISTINCT (p, o)) FROM t WHERE ds = '2022112210'")
                .split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            let staging = try await destination.psql("SELECT count(*) FROM pg_tables WHERE tablename LIKE '\\_sluice\\_shard\\_%'")
            return (counts.first ?? -1, counts.last ?? -1, Int(staging.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1)
        }
    }

    static func waitStarted(_ w: Worker) async throws {
        #expect(try await SchedulerCrashTests.poll(seconds: 60) { w.log.contains("started") }, "worker log:\n\(w.log)")
    }

    /// Three workers share the shards of one instance: every record lands once, each shard is done
    /// by a worker, and `sluice instance show` lists them.
    @Test func threeWorkersLandEveryRecordOnce() async throws {
        let s = try await Setup.make(shards: 6, records: 12_000)
        defer { Task { await s.h.stop() } }
        let workers = try (1...3).map { try s.worker("w\($0)") }
        for w in workers { try await Self.waitStarted(w) }
        let run = try await s.run()
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        let landed = try await s.landed()
        #expect(landed.rows == 12_000 && landed.distinct == 12_000 && landed.staging == 0, "\(landed)")
        let shards = try await s.shards()
        #expect(shards.count == 6 && shards.allSatisfy { $0.status == .done })
        #expect(Set(shards.compactMap(\.worker)).isSubset(of: ["w1", "w2", "w3"]), "\(shards.map(\.worker))")
        #expect(shards.reduce(0) { $0 + ($1.result?.rows ?? 0) } == 12_000)
        let show = try await s.destination.run(["instance", "show", String(shards[0].instanceId), "--ledger", s.ledgerURL])
        #expect(show.status == 0 && show.stdout.contains("shard 5") && show.stdout.contains("w"), "\(show.stdout)\(show.stderr)")
        for w in workers { w.signal(SIGTERM) }
        for w in workers { #expect(await w.wait() == 0, "worker log:\n\(w.log)") }
        #expect(!(run.stdout + run.stderr + workers.map(\.log).joined()).contains(PostgresServer.password))
    }

    /// A worker SIGKILLed five times in the middle of its shards loses them to the others (after its
    /// lease), restarted each time; the rows are still exactly the window's records, each once.
    @Test func aWorkerKilledFiveTimesLosesNothing() async throws {
        let s = try await Setup.make(shards: 12, records: 60_000)
        defer { Task { await s.h.stop() } }
        let steady = try s.worker("steady", lease: 2)
        try await Self.waitStarted(steady)
        let coordinator = Task { try await s.run(["--worker-wait", "120"]) }
        var kills = 0
        var victim = try s.worker("victim", lease: 2)
        while kills < 5 {
            try await Self.waitStarted(victim)
            // Killed once it holds a shard (or after a moment, when the others took them all).
            _ = try await SchedulerCrashTests.poll(seconds: 5) { victim.log.contains("running shard") }
            try await Task.sleep(for: .milliseconds(Int.random(in: 10...200)))
            victim.signal(SIGKILL)
            await victim.wait()
            kills += 1
            victim = try s.worker("victim", lease: 2)
        }
        let run = try await coordinator.value
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        let landed = try await s.landed()
        #expect(landed.rows == 60_000 && landed.distinct == 60_000 && landed.staging == 0, "\(landed)")
        let shards = try await s.shards()
        #expect(shards.allSatisfy { $0.status == .done })
        print("sharded kill test: \(kills) kills; claims per shard \(shards.map(\.fence)); done by \(shards.compactMap(\.worker))")
        for w in [steady, victim] { w.signal(SIGTERM); await w.wait() }
    }

    /// The coordinator killed before its commit leaves the partition unchanged; the rerun lands the
    /// window once and removes the staging tables of the killed attempt.
    @Test(arguments: [false, true]) func aCoordinatorKilledBeforeItsCommitChangesNothing(workers: Bool) async throws {
        let s = try await Setup.make(shards: 3, records: 3000)
        defer { Task { await s.h.stop() } }
        let w = workers ? try s.worker("w") : nil
        if let w { try await Self.waitStarted(w) }
        let local = workers ? [] : ["--workers", "0"]
        let killed = try await s.run(local, environment: ["SLUICE_TEST_KILL_AT": "before-commit"])
        #expect(killed.status != 0 && killed.stderr.contains("before-commit"), "\(killed.stderr)")
        let before = try await s.landed()
        #expect(before.rows == 0 && before.staging == 3, "\(before)")
        let rerun = try await s.run(local)
        #expect(rerun.status == 0, "\(rerun.stdout)\(rerun.stderr)")
        let after = try await s.landed()
        let left = try await s.destination.psql("SELECT string_agg(tablename, ' ') FROM pg_tables WHERE tablename LIKE '\\_sluice\\_shard\\_%'")
        #expect(after.rows == 3000 && after.distinct == 3000 && after.staging == 0, "\(after): \(left)")
        if let w { w.signal(SIGTERM); await w.wait() }
    }

    /// Shards on the SQLite ledger (without --workers 0), into the SQLite warehouse, and a worker
    /// without a PostgreSQL ledger: one-line errors, nothing written.
    @Test func badShardInputIsRefused() async throws {
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        let warehouseJob = try h.writeHourlyJob()
        let pg = try await PostgresTarget.fresh()
        let pgJob = try h.writeHourlyJob(name: "pg.yaml", postgres: pg.url)
        let cases: [([String], String)] = [
            (["run", pgJob, "--at-epoch", String(Self.first), "--shards", "2", "--state-dir", h.path(".sluice")], "needs a PostgreSQL ledger"),
            (["run", warehouseJob, "--at-epoch", String(Self.first), "--shards", "2", "--workers", "0", "--state-dir", h.path(".sluice")],
             "a sqlite destination is written by one process"),
            (["worker"], "sluice worker needs a PostgreSQL ledger"),
        ]
        for (arguments, message) in cases {
            let r = try await pg.run(arguments, environment: ["SLUICE_LEDGER": ""])
            #expect(r.status == 2, "\(arguments): \(r.stderr)")
            #expect(r.stderr.contains(message), "\(arguments): \(r.stderr)")
            #expect(r.stderr.split(separator: "\n").count <= 2, "\(r.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: h.path("warehouse.db")), "nothing was written")
    }
}
