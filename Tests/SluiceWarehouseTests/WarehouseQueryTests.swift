import Foundation
import SluiceCore
import Testing
@testable import SluiceWarehouse
import SluiceJob
import SluiceSQLite

@Suite struct WarehouseQueryTests {
    func fixture(_ dir: TempDir) throws -> String {
        let path = dir.file("q.db")
        let c = try SQLiteConnection(path: path, options: SQLiteOpenOptions(mode: .readWrite(create: true)))
        try c.execute("CREATE TABLE t (id BIGINT, s TEXT, r DOUBLE, b BINARY, ds TEXT NOT NULL)")
        try c.run("INSERT INTO t VALUES (1, 'plain', 1.5, NULL, 'x')")
        try c.run("INSERT INTO t VALUES (2, ?1, NULL, ?2, 'x')", [.text("a,b \"q\"\nline2"), .blob([0xde, 0xad])])
        try c.run("INSERT INTO t VALUES (30, '', 2.0, NULL, 'x')")
        return path
    }

    @Test func csvFollowsRFC4180() async throws {
        let dir = try TempDir()
        let path = try fixture(dir)
        let csv = try await queryText(path, "SELECT id, s, r, b FROM t ORDER BY id", .csv)
        #expect(csv == "id,s,r,b\r\n1,plain,1.5,\r\n2,\"a,b \"\"q\"\"\nline2\",,3q0=\r\n30,,2.0,\r\n")
    }

    @Test func jsonIsAnArrayOfObjects() async throws {
        let dir = try TempDir()
        let path = try fixture(dir)
        let json = try await queryText(path, "SELECT id, s, r FROM t ORDER BY id", .json)
        let parsed = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]]
        #expect(parsed?.count == 3)
        #expect(parsed?[1]["s"] as? String == "a,b \"q\"\nline2")
        #expect(parsed?[1]["r"] is NSNull)
        #expect((parsed?[2]["id"] as? NSNumber)?.intValue == 30)
        #expect(try await queryText(path, "SELECT * FROM t WHERE 0", .json) == "[]\n")
    }

    @Test func tableAlignsColumns() async throws {
        let dir = try TempDir()
        let path = try fixture(dir)
        let table = try await queryText(path, "SELECT id, s FROM t WHERE id != 2 ORDER BY id", .table)
        #expect(table == """
        id | s
        ---+------
         1 | plain
        30 |
        (2 rows)

        """)
        let nulls = try await queryText(path, "SELECT NULL AS n, 'a\tb' AS t", .table)
        #expect(nulls.contains("NULL | a\\tb"))
    }

    @Test func queriesAreReadOnly() async throws {
        let dir = try TempDir()
        let path = try fixture(dir)
        for sql in ["DELETE FROM t", "DROP TABLE t", "INSERT INTO t (id, ds) VALUES (9, 'y')",
                    "CREATE TABLE u (x)", "ATTACH DATABASE '\(dir.file("other.db"))' AS o",
                    "PRAGMA journal_mode = DELETE"] {
            await #expect(throws: SluiceError.self, "\(sql)") { try await queryText(path, sql, .csv) }
        }
        #expect(try count(path, "SELECT COUNT(*) FROM t") == 3)
        #expect(!FileManager.default.fileExists(atPath: dir.file("other.db")))
        let e = await #expect(throws: SluiceError.self) { try await queryText(path, "DELETE FROM t", .csv) }
        #expect(e?.kind == .invalidInput)
        let missing = await #expect(throws: SluiceError.self) { try await queryText(dir.file("nope.db"), "SELECT 1", .csv) }
        #expect(missing?.kind == .invalidInput)
        let bad = await #expect(throws: SluiceError.self) { try await queryText(path, "SELECT * FROM nope", .csv) }
        #expect(bad?.message.contains("no such table") == true)
    }

    @Test func partitionsOfATableWrittenByOthersAreCounted() async throws {
        let dir = try TempDir()
        let path = try fixture(dir)
        let c = try SQLiteConnection(path: path, options: SQLiteOpenOptions(mode: .readWrite(create: false)))
        try c.execute("CREATE TABLE plain (x INTEGER)")
        try c.run("INSERT INTO plain VALUES (1), (2)")
        let parts = try await Warehouse(path: path).partitions(table: "plain")
        #expect(parts.map(\.rows) == [2])
        #expect(parts.map(\.partition) == [""])
        await #expect(throws: SluiceError.self) { try await Warehouse(path: path).partitions(table: "nope") }
    }
}

@Suite struct DDLTests {
    @Test func partitionKeysOfTemplates() {
        #expect(TableDDL.partitionKeys(template: "ds=${partition}") == ["ds"])
        #expect(TableDDL.partitionKeys(template: "ds=$[yyyymmdd],hh=$[hh24]") == ["ds", "hh"])
        #expect(TableDDL.partitionKeys(template: "ds=$[add_months(yyyymmdd,-1)]/hh=1") == ["ds", "hh"])
        #expect(TableDDL.partitionKeys(template: "") == [])
    }

    @Test func bothDialects() {
        let cols = [ColumnSpec(name: "key", type: .string), ColumnSpec(name: "amount", type: .decimal(precision: 18, scale: 2)),
                    ColumnSpec(name: "offset", type: .bigint)]
        #expect(TableDDL.createTable(name: "events", columns: cols, partitionKeys: ["ds"], dialect: .maxcompute) == """
        CREATE TABLE IF NOT EXISTS `events` (
          `key` STRING,
          `amount` DECIMAL(18,2),
          `offset` BIGINT
        )
        PARTITIONED BY (`ds` STRING);
        """)
        #expect(TableDDL.createTable(name: "events", columns: cols, partitionKeys: ["ds"], dialect: .sqlite) == """
        CREATE TABLE IF NOT EXISTS "events" (
          "key" TEXT,
          "amount" DECIMAL(18,2),
          "offset" BIGINT,
          "ds" TEXT NOT NULL
        );
        CREATE INDEX IF NOT EXISTS "sluice_partition__events" ON "events" ("ds");
        """)
    }

    @Test func sinkOfADestination() throws {
        let dest = DestinationSpec(kind: .sqlite(path: "data/w.db"), table: "t", partition: "ds=${day},hh=${hour}")
        let sink = try WarehouseSink(destination: dest, baseDirectory: "/jobs", createTable: true)
        #expect(sink.path == "/jobs/data/w.db")
        #expect(sink.partitionKeys == ["ds", "hh"])
        #expect(sink.createTable)
        var absolute = dest
        absolute.kind = .sqlite(path: "/var/w.db")
        #expect(try WarehouseSink(destination: absolute, baseDirectory: "/jobs").path == "/var/w.db")
        absolute.kind = .discard
        #expect(throws: SluiceError.self) { try WarehouseSink(destination: absolute, baseDirectory: "/jobs") }
    }

    @Test func columnsOfAJob() throws {
        let job = JobSpec(
            name: "j", source: KafkaSourceSpec(bootstrapServers: ["b:9092"], topic: "t"),
            mapping: [FieldMapping(from: "__key__", to: "k"), FieldMapping(from: "__offset__", to: "off"),
                      FieldMapping(from: "__timestamp__", to: "ts"), FieldMapping(from: "a.a1", to: "amount")],
            destination: DestinationSpec(kind: .sqlite(path: "w.db"), table: "t", partition: "ds=${partition}",
                                         columnTypes: ["amount": .decimal(precision: 10, scale: 2)]))
        let cols = try TableDDL.destinationColumns(of: job)
        #expect(cols.map(\.name) == ["k", "off", "ts", "amount"])
        #expect(cols.map(\.type) == [.string, .bigint, .bigint, .decimal(precision: 10, scale: 2)])
        var star = job
        star.mapping = star.mapping.map { FieldMapping(from: $0.from, to: nil) }
        star.destination.columns = ["*"]
        #expect(throws: SluiceError.self) { try TableDDL.destinationColumns(of: star) }
    }
}
