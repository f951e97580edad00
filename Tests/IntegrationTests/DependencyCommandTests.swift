import Foundation
import SluiceCore
import SluiceRuntime
import Testing
@testable import SluiceLedger

/// `schedule.dependsOn` through the commands: validation of a set of jobs, the scheduler refusing a
/// broken graph, and reruns and backfills that carry on downstream.
@Suite struct DependencyCommandTests {
    /// A daily summary job downstream of the hourly sync, both into the harness's warehouse.
    static func writeDailyJob(_ h: Harness, dependsOn: String = "hourly", name: String = "daily") throws -> String {
        let path = h.path("\(name).yaml")
        try """
        name: \(name)
        source:
          bootstrapServers: \(h.servers)
          topic: events
          timeZone: UTC
        columns: [__partition__, __offset__]
        destination:
          path: warehouse.db
          table: \(name)_t
          partition: "ds=${partition}"
          columns: [p, o]
          columnTypes: { p: BIGINT, o: BIGINT }
        schedule:
          cycle: day
          start: "00:30"
          timeZone: UTC
          dependsOn: [\(dependsOn)]
          parameters:
            startTime: "$[yyyymmdd-1]000000"
            endTime: "$[yyyymmdd]000000"
            partition: "$[yyyymmdd-1]"

        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func validateChecksJobsAsASetAndTheSchedulerRefusesABrokenGraph() async throws {
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        let hourly = try h.writeHourlyJob()
        let daily = try Self.writeDailyJob(h)
        let ok = try await SluiceBinary.run(["validate", hourly, daily])
        #expect(ok.status == 0, "\(ok.stderr)")
        let orphan = try Self.writeDailyJob(h, dependsOn: "nightly", name: "orphan")
        let unknown = try await SluiceBinary.run(["validate", hourly, orphan])
        #expect(unknown.status == 2 && unknown.stderr.contains("job orphan depends on nightly, which is not among the jobs loaded"), "\(unknown.stderr)")
        let a = try Self.writeDailyJob(h, dependsOn: "b", name: "a"), b = try Self.writeDailyJob(h, dependsOn: "a", name: "b")
        let cycle = try await SluiceBinary.run(["validate", a, b])
        #expect(cycle.status == 2 && cycle.stderr.contains("dependency cycle: a → b → a"), "\(cycle.stderr)")
        let scheduler = try await SluiceBinary.run(["scheduler", a, b, "--state-dir", h.path("s")])
        #expect(scheduler.status == 2 && scheduler.stderr.contains("dependency cycle: a → b → a"), "\(scheduler.stderr)")
        #expect(try await Ledgers.openSQLite(stateDirectory: h.path("s")).instances().isEmpty, "nothing was scheduled")
    }

    /// `rerun --downstream`: the hourly instance, then the daily instance that waits for it.
    @Test func rerunDownstreamRerunsTheDependantsAfterTheInstance() async throws {
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        let day: Int64 = 1_669_075_200   // 2022-11-22 00:00 UTC
        try await h.produce((0..<30).map { Harness.Produced(partition: Int32($0 % 3), key: "k\($0)", value: #"{"id":\#($0)}"#,
                                                             timestamp: (day + 3600 + Int64($0) * 60) * 1000) })
        let hourly = try h.writeHourlyJob(), daily = try Self.writeDailyJob(h)
        let state = h.path(".sluice")
        for (job, at) in [(hourly, "2022-11-22 02:05:00"), (daily, "2022-11-22 00:30:00")] {
            let r = try await SluiceBinary.run(["run", job, "--at", at, "--create-table", "--state-dir", state])
            #expect(r.status == 0, "\(r.stderr)")
        }
        let ledger = try await Ledgers.openSQLite(stateDirectory: state)
        try await ledger.registerJob("hourly", path: hourly)
        try await ledger.registerJob("daily", path: daily)
        let hourlyInstance = try #require(try await ledger.instances(job: "hourly").first)
        let dailyBefore = try #require(try await ledger.instances(job: "daily").first)
        let rerun = try await SluiceBinary.run(["instance", "rerun", String(hourlyInstance.id), "--downstream", "--state-dir", state, "--json"])
        #expect(rerun.status == 0, "\(rerun.stderr)")
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let runs = try decoder.decode([Operations.DownstreamRun].self, from: Data(rerun.stdout.utf8))
        #expect(runs.map(\.job) == ["hourly", "daily"] && runs.allSatisfy { $0.status == "succeeded" }, "\(rerun.stdout)")
        let hourlyAfter = try #require(try await ledger.instance(id: hourlyInstance.id))
        let dailyAfter = try #require(try await ledger.instance(id: dailyBefore.id))
        #expect(hourlyAfter.attempts == 2 && dailyAfter.attempts == 2)
        #expect(try #require(dailyAfter.startedAt) >= (try #require(hourlyAfter.finishedAt)))
    }

    /// `backfill --downstream`: the hourly job's day, then the daily job's.
    @Test func backfillDownstreamRunsTheDependantJobsAfterwards() async throws {
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        let hourly = try h.writeHourlyJob(), daily = try Self.writeDailyJob(h)
        let state = h.path(".sluice")
        for job in [hourly, daily] { #expect(try await SluiceBinary.run(["ddl", job, "--apply"]).status == 0) }
        let ledger = try await Ledgers.openSQLite(stateDirectory: state)
        try await ledger.registerJob("daily", path: daily)
        let r = try await SluiceBinary.run(["backfill", hourly, "--from", "20221121", "--to", "20221121", "--downstream",
                                            "--parallel-days", "1", "--max-parallel", "4"])
        #expect(r.status == 0, "\(r.stderr)\(r.stdout)")
        #expect(r.stdout.contains("backfill of hourly: 1 of 1 day(s) succeeded"), "\(r.stdout)")
        #expect(r.stdout.contains("backfill of daily: 1 of 1 day(s) succeeded"), "\(r.stdout)")
        let dailyRuns = try await ledger.instances(job: "daily")
        let lastHour = try await ledger.instances(job: "hourly").compactMap(\.finishedAt).max()
        #expect(dailyRuns.count == 1 && dailyRuns[0].status == .succeeded)
        #expect(try #require(dailyRuns[0].startedAt) >= (try #require(lastHour)))
    }

    /// An SQL node downstream of the hourly sync: `sluice run` runs its statements on the warehouse
    /// with the instance's parameters and prints them, and `rerun --downstream` runs it again after
    /// the sync it depends on.
    @Test func anSQLNodeSummarisesTheSyncedDayAndFollowsItsUpstream() async throws {
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        let day: Int64 = 1_669_075_200   // 2022-11-22 00:00 UTC
        try await h.produce((0..<30).map { Harness.Produced(partition: Int32($0 % 3), key: "k\($0)", value: #"{"id":\#($0)}"#,
                                                             timestamp: (day + 3600 + Int64($0) * 60) * 1000) })
        let hourly = try h.writeHourlyJob(), summary = h.path("summary.yaml")
        try """
        name: summary
        type: sql
        target: { type: sqlite, path: warehouse.db }
        sql: |
          CREATE TABLE IF NOT EXISTS daily_counts (ds TEXT, n INTEGER);
          DELETE FROM daily_counts WHERE ds = '${day}';
          INSERT INTO daily_counts SELECT '${day}', COUNT(*) FROM t WHERE ds LIKE '${day}%'
        schedule:
          cycle: day
          start: "00:30"
          timeZone: UTC
          dependsOn: [hourly]
          parameters: { day: "$[yyyymmdd]" }

        """.write(toFile: summary, atomically: true, encoding: .utf8)
        let state = h.path(".sluice")
        let sync = try await SluiceBinary.run(["run", hourly, "--at", "2022-11-22 02:05:00", "--create-table", "--state-dir", state])
        #expect(sync.status == 0, "\(sync.stderr)")
        let node = try await SluiceBinary.run(["run", summary, "--at", "2022-11-22 00:30:00", "--state-dir", state])
        #expect(node.status == 0, "\(node.stderr)")
        #expect(node.stdout.contains("3. INSERT INTO daily_counts SELECT '20221122', COUNT(*) FROM t WHERE ds LIKE '20221122%'  (1 row changed)"),
                "\(node.stdout)")
        let counts = try await SluiceBinary.run(["sql", h.path("warehouse.db"), "SELECT ds, n FROM daily_counts", "--format", "csv"])
        #expect(counts.stdout.contains("20221122,30"), "\(counts.stdout)")

        let ledger = try await Ledgers.openSQLite(stateDirectory: state)
        try await ledger.registerJob("hourly", path: hourly)
        try await ledger.registerJob("summary", path: summary)
        let hourlyInstance = try #require(try await ledger.instances(job: "hourly").first)
        let rerun = try await SluiceBinary.run(["instance", "rerun", String(hourlyInstance.id), "--downstream", "--state-dir", state, "--json"])
        #expect(rerun.status == 0, "\(rerun.stderr)")
        #expect(rerun.stdout.contains("\"summary\""), "\(rerun.stdout)")
        let node2 = try #require(try await ledger.instances(job: "summary").first)
        #expect(node2.status == .succeeded && node2.attempts == 2)
        let again = try await SluiceBinary.run(["sql", h.path("warehouse.db"), "SELECT COUNT(*), MAX(n) FROM daily_counts", "--format", "csv"])
        #expect(again.stdout.contains("1,30"), "\(again.stdout)")

        // The commands that need a sync say so for an SQL node.
        let ddl = try await SluiceBinary.run(["ddl", summary])
        #expect(ddl.status == 2 && ddl.stderr.contains("is an SQL node (type: sql)"), "\(ddl.stderr)")
    }
}
