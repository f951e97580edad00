import Foundation
import SluiceTestSupport
import Testing

/// `sluice ddl`, `sql` and `partitions`, run as a user would.
@Suite struct WarehouseCommandsTests {
    typealias Dir = TemporaryDirectory

    func job(_ dir: Dir, destination: String = "type: sqlite\n  path: data/warehouse.db") throws -> String {
        let path = dir.path + "/events.yaml"
        try """
        name: events_hourly
        source:
          bootstrapServers: 127.0.0.1:9092
          topic: events
          begin: { time: "${startTime}" }
          end: { time: "${endTime}" }
        columns: [__key__, __value__, __offset__, amount]
        destination:
          \(destination)
          table: ods_events
          partition: "ds=${partition}"
          columns: [k, v, off, amount]
          columnTypes: { amount: "DECIMAL(18,2)" }
        schedule:
          cycle: hour
          start: "00:15"
          parameters:
            startTime: "$[yyyymmddhh24-1/24]0000"
            endTime: "$[yyyymmddhh24]0000"
            partition: "$[yyyymmddhh24]"
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func sqlite(_ db: String, _ sql: String) async throws {
        let r = try await Subprocess.run(Subprocess.which("sqlite3") ?? "/usr/bin/sqlite3", [db, sql])
        #expect(r.status == 0, "\(r.stderr)")
    }

    @Test func ddlPrintsBothDialectsAndApplies() async throws {
        let dir = try Dir()
        let jobPath = try job(dir)
        let mc = try await SluiceBinary.run(["ddl", jobPath, "--dialect", "maxcompute"])
        #expect(mc.status == 0, "\(mc.stderr)")
        #expect(mc.stdout.contains("`off` BIGINT,"))
        #expect(mc.stdout.contains("`amount` DECIMAL(18,2)"))
        #expect(mc.stdout.contains("PARTITIONED BY (`ds` STRING);"))
        let lite = try await SluiceBinary.run(["ddl", jobPath])
        #expect(lite.stdout.contains("\"ds\" TEXT NOT NULL"))
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/data/warehouse.db"))

        let applied = try await SluiceBinary.run(["ddl", jobPath, "--apply"])
        #expect(applied.status == 0, "\(applied.stderr)")
        #expect(applied.stderr.contains("created table 'ods_events'"))
        #expect(FileManager.default.fileExists(atPath: dir.path + "/data/warehouse.db"))
        let again = try await SluiceBinary.run(["ddl", jobPath, "--apply"])
        #expect(again.stderr.contains("already exists"))
        #expect(try await SluiceBinary.run(["ddl", jobPath, "--apply", "--dialect", "maxcompute"]).status == 2)
    }

    @Test func sqlQueriesAJobsWarehouseReadOnly() async throws {
        let dir = try Dir()
        let jobPath = try job(dir)
        #expect(try await SluiceBinary.run(["ddl", jobPath, "--apply"]).status == 0)
        let db = dir.path + "/data/warehouse.db"
        try await sqlite(db, "INSERT INTO ods_events (k, v, off, amount, ds) VALUES ('a', 'say \"hi\", ok', 1, '1.25', '2022112210'), ('b', NULL, 2, NULL, '2022112210'), ('c', 'x', 3, NULL, '2022112211')")

        let csv = try await SluiceBinary.run(["sql", jobPath, "SELECT k, v FROM ods_events WHERE ds='2022112210' ORDER BY k", "--format", "csv"])
        #expect(csv.status == 0, "\(csv.stderr)")
        #expect(csv.stdout == "k,v\r\na,\"say \"\"hi\"\", ok\"\r\nb,\r\n")
        let json = try await SluiceBinary.run(["sql", db, "SELECT k, off FROM ods_events ORDER BY k LIMIT 1", "--format", "json"])
        #expect(json.stdout == "[\n  {\"k\": \"a\", \"off\": 1}\n]\n")
        let table = try await SluiceBinary.run(["sql", db, "SELECT COUNT(*) AS n FROM ods_events"])
        #expect(table.stdout.contains("(1 row)"))

        let write = try await SluiceBinary.run(["sql", jobPath, "DELETE FROM ods_events"])
        #expect(write.status == 2)
        #expect(write.stderr.contains("read-only"))
        let bad = try await SluiceBinary.run(["sql", db, "SELECT * FROM missing"])
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("no such table"))

        let parts = try await SluiceBinary.run(["partitions", jobPath])
        #expect(parts.status == 0, "\(parts.stderr)")
        #expect(parts.stdout.contains("ds=2022112210 |    2"))
        #expect(parts.stdout.contains("ds=2022112211 |    1"))
        let partsJSON = try await SluiceBinary.run(["partitions", db, "ods_events", "--json"])
        let decoded = try JSONSerialization.jsonObject(with: Data(partsJSON.stdout.utf8)) as? [[String: Any]]
        #expect(decoded?.map { $0["rows"] as? Int } == [2, 1])
    }

    @Test func jobsWithOtherDestinationsAreRefused() async throws {
        let dir = try Dir()
        let jobPath = try job(dir, destination: "type: discard")
        let r = try await SluiceBinary.run(["sql", jobPath, "SELECT 1"])
        #expect(r.status == 2)
        #expect(r.stderr.contains("not the SQLite warehouse"))
    }
}
