import Foundation
import SluiceTestSupport
import SluiceCore
import SluiceSQLite
import Testing
@testable import SluiceJob
@testable import SluiceRuntime
@testable import SluiceLedger

/// SQL nodes on the SQLite warehouse: statements with the instance's parameters in one transaction,
/// recorded in the ledger; a failing statement rolls back the ones before it.
@Suite struct SQLNodeRunTests {
    static func node(_ dir: String, sql: String) throws -> LoadedJob {
        let yaml = """
        name: daily
        type: sql
        target: { type: sqlite, path: w.db }
        sql: |
        \(sql.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
        schedule: { cycle: day, timeZone: UTC, parameters: { bizdate: "$[yyyymmdd-1]" } }
        """
        return try JobLoader.parse(data: Data(yaml.utf8), fileName: dir + "/daily.yaml", directory: dir)
    }

    static func warehouse(_ dir: String) throws -> SQLiteConnection {
        let c = try SQLiteConnection(path: dir + "/w.db", options: SQLiteOpenOptions(mode: .readWrite(create: true)))
        try c.execute("CREATE TABLE events (user TEXT, ds TEXT)")
        try c.execute("CREATE TABLE summary (user TEXT, n INTEGER, ds TEXT)")
        for (user, ds) in [("a", "2022112210"), ("a", "2022112211"), ("b", "2022112210"), ("c", "2022112310")] {
            _ = try c.run("INSERT INTO events VALUES (?, ?)", [.text(user), .text(ds)])
        }
        _ = try c.run("INSERT INTO summary VALUES ('stale', 9, '20221122')")
        return c
    }

    static func options(_ dir: String) -> RunOptions {
        var options = RunOptions()
        options.scheduledTime = 1_669_161_600  // 2022-11-23 00:00 UTC: bizdate 20221122
        options.stateDirectory = dir
        options.showProgress = false
        return options
    }

    @Test func statementsRunWithTheInstancesParametersAndAreRecorded() async throws {
        let dir = try TemporaryDirectory()
        let c = try Self.warehouse(dir.path)
        defer { c.close() }
        let job = try Self.node(dir.path, sql: """
            DELETE FROM summary WHERE ds = '${bizdate}';
            INSERT INTO summary SELECT user, COUNT(*), '${bizdate}' FROM events WHERE ds LIKE '${bizdate}%' GROUP BY user;
            SELECT COUNT(*) FROM summary
            """)
        let report = try await InstanceRunner(job: job, options: Self.options(dir.path)).run()
        #expect(report.status == "succeeded")
        #expect(report.statements?.map(\.rowsChanged) == [1, 2, nil])
        #expect(report.statements?[0].sql == "DELETE FROM summary WHERE ds = '20221122'")
        #expect(report.records.written == 3)
        let rows = try c.query("SELECT user, n FROM summary ORDER BY user")
        #expect(rows == [[.text("a"), .integer(2)], [.text("b"), .integer(1)]])

        // A rerun of the same instance gives the same table: the node deletes before it inserts.
        let again = try await InstanceRunner(job: job, options: Self.options(dir.path)).run()
        #expect(again.instanceId == report.instanceId)
        #expect(try c.query("SELECT user, n FROM summary ORDER BY user") == rows)

        let ledger = try await Ledgers.openSQLite(stateDirectory: dir.path)
        defer { Task { await ledger.close() } }
        let id = try #require(report.instanceId)
        let instance = try #require(try await ledger.instance(id: id))
        #expect(instance.status == .succeeded && instance.attempts == 2 && instance.job == "daily")
    }

    @Test func aFailingStatementRollsBackTheOthersAndFailsTheInstance() async throws {
        let dir = try TemporaryDirectory()
        let c = try Self.warehouse(dir.path)
        defer { c.close() }
        let job = try Self.node(dir.path, sql: """
            DELETE FROM summary;
            INSERT INTO no_such_table VALUES (1)
            """)
        let failure = try await #require(throws: RunFailure.self) {
            try await InstanceRunner(job: job, options: Self.options(dir.path)).run()
        }
        #expect(failure.error.message.contains("statement 2 of 2 failed on warehouse"))
        #expect(failure.error.message.contains("no such table: no_such_table"))
        #expect(try c.scalar("SELECT COUNT(*) FROM summary") == .integer(1))

        let ledger = try await Ledgers.openSQLite(stateDirectory: dir.path)
        defer { Task { await ledger.close() } }
        let instance = try #require(try await ledger.instances(job: "daily").first)
        #expect(instance.status == .failed)
        #expect(instance.error?.contains("statement 2 of 2") == true)
    }

    @Test func aDryRunShowsTheResolvedStatementsAndChangesNothing() async throws {
        let dir = try TemporaryDirectory()
        let c = try Self.warehouse(dir.path)
        defer { c.close() }
        var options = Self.options(dir.path)
        options.dryRun = true
        let report = try await InstanceRunner(job: try Self.node(dir.path, sql: "DELETE FROM summary WHERE ds = '${bizdate}'"),
                                              options: options).run()
        #expect(report.statements?.map(\.sql) == ["DELETE FROM summary WHERE ds = '20221122'"])
        #expect(report.instanceId == nil)
        #expect(try c.scalar("SELECT COUNT(*) FROM summary") == .integer(1))
    }
}
