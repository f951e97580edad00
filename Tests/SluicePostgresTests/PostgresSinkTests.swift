import Foundation
import SluiceCore
import SluiceTestSupport
import Synchronization
import Testing
@testable import SluicePostgres

/// A fresh database of the test server, and the sinks and reads of the tests.
struct PostgresFixture {
    let server: PostgresServer
    let database: String
    let url: PostgresURL

    static func fresh() async throws -> PostgresFixture {
        let server = try await PostgresServer.shared()
        let db = try await server.createDatabase(prefix: "dest")
        return PostgresFixture(server: server, database: db, url: try PostgresURL(parsing: server.url(database: db)))
    }

    func sink(_ table: String = "t", keys: [String] = ["ds"], mode: WriteMode = .overwrite, create: Bool = true,
              written: [String]? = nil) -> PostgresSink {
        PostgresSink(url: url, table: table, partitionKeys: keys, writeMode: mode, writtenColumns: written, createTable: create)
    }

    @discardableResult
    func psql(_ sql: String) async throws -> String { try await server.psql(database, sql) }

    /// Writes `rows` into `partition` in one write and commits it.
    @discardableResult
    func write(_ sink: PostgresSink, _ columns: [ColumnSpec], _ rows: [[Value]], partition: String = "ds=20221122",
               mode: WriteMode = .overwrite, instance: String = "1", attempt: Int = 1) async throws -> CommitResult {
        let writer = try await open(sink, columns, partition: partition, mode: mode, instance: instance, attempt: attempt)
        var batch = RowBatch(columns: columns)
        for r in rows { batch.append(row: r) }
        do {
            try await writer.write(batch)
        } catch {
            await writer.abort()  // as the runner does: a writer is committed or aborted
            throw error
        }
        return try await writer.commit(WriteOutcome(read: Int64(rows.count)))
    }

    func open(_ sink: PostgresSink, _ columns: [ColumnSpec], partition: String = "ds=20221122", mode: WriteMode = .overwrite,
              instance: String = "1", attempt: Int = 1) async throws -> any PartitionWriter {
        let spec = try PartitionSpec(parsing: partition)
        try await sink.prepare(columns: columns, partitionKeys: spec.keys)
        return try await sink.open(partition: spec, mode: mode, columns: columns, provenance: WriteProvenance(
            job: "job", instanceId: instance, attempt: attempt, ledgerId: "ledger-1", windowStartMillis: 1_669_111_200_000,
            windowEndMillis: 1_669_114_800_000, topic: "events", offsets: [PartitionOffsets(partition: 0, from: 0, to: 10)]))
    }
}

@Suite struct PostgresSinkTests {
    static let allTypes: [ColumnSpec] = [
        ColumnSpec(name: "c_bigint", type: .bigint), ColumnSpec(name: "c_int", type: .int),
        ColumnSpec(name: "c_smallint", type: .smallint), ColumnSpec(name: "c_tinyint", type: .tinyint),
        ColumnSpec(name: "c_double", type: .double), ColumnSpec(name: "c_float", type: .float),
        ColumnSpec(name: "c_decimal", type: .decimal(precision: 38, scale: 18)),
        ColumnSpec(name: "c_decimal2", type: .decimal(precision: 10, scale: 2)),
        ColumnSpec(name: "c_string", type: .string), ColumnSpec(name: "c_varchar", type: .varchar(10)),
        ColumnSpec(name: "c_char", type: .char(5)), ColumnSpec(name: "c_boolean", type: .boolean),
        ColumnSpec(name: "c_datetime", type: .datetime), ColumnSpec(name: "c_date", type: .date),
        ColumnSpec(name: "c_timestamp", type: .timestamp), ColumnSpec(name: "c_binary", type: .binary),
        ColumnSpec(name: "c_json", type: .json),
    ]

    /// Every Sluice type through binary COPY, with extremes, NULLs and unicode, read back by psql as
    /// PostgreSQL's own text (the types of the table made by the sink's DDL).
    @Test func everyTypeRoundTripsThroughBinaryCopy() async throws {
        let pg = try await PostgresFixture.fresh()
        let rows: [[Value]] = [
            [.int(.max), .int(Int64(Int32.max)), .int(Int64(Int16.max)), .int(127), .double(.greatestFiniteMagnitude),
             .float(.greatestFiniteMagnitude), .decimal("99999999999999999999.999999999999999999"), .decimal("-12345678.90"),
             .string("héllo, 世界 🚀 \"q\" \\ \t|"), .string("varchar!!!"), .string("ab"), .bool(true),
             .datetime(253_402_300_799_999), .date(2_932_896), .timestamp(seconds: 253_402_300_799, nanos: 999_999_499),
             .binary([0, 1, 0xFE, 0xFF]), .string(#"{"a": [1, 2.5, "x\u00e9"], "b": null}"#)],
            [.int(.min), .int(Int64(Int32.min)), .int(Int64(Int16.min)), .int(-128), .double(-0.1), .float(0.1),
             .decimal("-0.000000000000000001"), .decimal("0.00"), .string(""), .string(""), .string(""), .bool(false),
             .datetime(-62_135_596_800_000), .date(-719_162), .timestamp(seconds: -1, nanos: 500),
             .binary([]), .string("\"just a string\"")],
            Array(repeating: .null, count: Self.allTypes.count),
        ]
        let result = try await pg.write(pg.sink(), Self.allTypes, rows)
        #expect(result.rowsWritten == 3)
        #expect(try await pg.psql("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 't'::regclass AND attnum > 0 ORDER BY attnum")
                .split(separator: "\n") == ["bigint", "integer", "smallint", "smallint", "double precision", "real", "numeric(38,18)",
                                            "numeric(10,2)", "text", "character varying(10)", "character(5)", "boolean",
                                            "timestamp(3) with time zone", "date", "timestamp with time zone", "bytea", "jsonb", "text"])
        let text = try await pg.psql("SELECT * FROM t ORDER BY c_bigint DESC NULLS LAST")
        #expect(text.split(separator: "\n", omittingEmptySubsequences: false) == [
            "9223372036854775807|2147483647|32767|127|1.7976931348623157e+308|3.4028235e+38|99999999999999999999.999999999999999999|-12345678.90|héllo, 世界 🚀 \"q\" \\ \t||varchar!!!|ab   |t|9999-12-31 23:59:59.999+00|9999-12-31|9999-12-31 23:59:59.999999+00|\\x0001feff|{\"a\": [1, 2.5, \"xé\"], \"b\": null}|20221122",
            #"-9223372036854775808|-2147483648|-32768|-128|-0.1|0.1|-0.000000000000000001|0.00|||     |f|0001-01-01 00:00:00+00|0001-01-01|1969-12-31 23:59:59.000001+00|\x|"just a string"|20221122"#,
            #"|||||||||||||||||20221122"#,
        ])
    }

    /// `sluice sql` prints PostgreSQL's values: numerics exactly, timestamps in UTC, booleans by name.
    @Test func queriesPrintEveryType() async throws {
        let pg = try await PostgresFixture.fresh()
        try await pg.write(pg.sink(), Self.allTypes, [[
            .int(1), .int(2), .int(3), .int(4), .double(2.5), .float(0.1), .decimal("1.500000000000000000"), .decimal("-3.25"),
            .string("a,b"), .string("v"), .string("c"), .bool(true), .datetime(1_669_111_200_123), .date(19_318),
            .timestamp(seconds: 1_669_111_200, nanos: 123_456_000), .binary([1, 2, 3]), .string(#"{"k":1}"#)]])
        let out = Mutex("")
        try await PostgresDestination(pg.sink()).query("SELECT * FROM t", format: .csv) { s in out.withLock { $0 += s } }
        #expect(out.withLock { $0 } == "c_bigint,c_int,c_smallint,c_tinyint,c_double,c_float,c_decimal,c_decimal2,c_string,c_varchar,c_char,c_boolean,c_datetime,c_date,c_timestamp,c_binary,c_json,ds\r\n"
                + "1,2,3,4,2.5,0.1,1.500000000000000000,-3.25,\"a,b\",v,c    ,true,2022-11-22 10:00:00.123+00,2022-11-22,2022-11-22 10:00:00.123456+00,AQID,\"{\"\"k\"\": 1}\",20221122\r\n")
        let e = await #expect(throws: SluiceError.self) {
            try await PostgresDestination(pg.sink()).query("DELETE FROM t", format: .csv) { _ in }
        }
        #expect(e?.kind == .invalidInput && e?.message.contains("read-only") == true, "\(String(describing: e))")
        #expect(try await pg.psql("SELECT count(*) FROM t") == "1")
        let syntax = await #expect(throws: SluiceError.self) {
            try await PostgresDestination(pg.sink()).query("SELEC 1", format: .csv) { _ in }
        }
        #expect(syntax?.kind == .invalidInput && syntax?.message.contains("syntax error") == true)
        let odd = await #expect(throws: SluiceError.self) {
            try await PostgresDestination(pg.sink()).query("SELECT interval '1 day' AS span", format: .csv) { _ in }
        }
        #expect(odd?.message.contains("column 'span'") == true && odd?.hint?.contains("span::text") == true)
    }

    /// An overwrite replaces the partition in one transaction: until the commit every reader sees the
    /// old rows, after it the new ones; other partitions are untouched; an abort leaves the old rows.
    @Test func anOverwriteIsOldRowsOrNewRowsNeverAMix() async throws {
        let pg = try await PostgresFixture.fresh()
        let columns = [ColumnSpec(name: "n", type: .bigint)]
        try await pg.write(pg.sink(), columns, (0..<100).map { [.int(Int64($0))] })
        try await pg.write(pg.sink(), columns, (0..<7).map { [.int(Int64($0))] }, partition: "ds=20221123")
        let writer = try await pg.open(pg.sink(), columns)
        var batch = RowBatch(columns: columns)
        for i in 0..<250 { batch.append(row: [.int(Int64(1000 + i))]) }
        try await writer.write(batch)
        try await writer.write(batch)
        #expect(try await pg.psql("SELECT count(*), sum(n) FROM t WHERE ds = '20221122'") == "100|4950")
        _ = try await writer.commit(WriteOutcome())
        #expect(try await pg.psql("SELECT count(*), min(n) FROM t WHERE ds = '20221122'") == "500|1000")
        #expect(try await pg.psql("SELECT count(*) FROM t WHERE ds = '20221123'") == "7")

        let aborted = try await pg.open(pg.sink(), columns)
        try await aborted.write(batch)
        await aborted.abort()
        #expect(try await pg.psql("SELECT count(*), min(n) FROM t WHERE ds = '20221122'") == "500|1000")
        let records = try await pg.psql("SELECT count(*) FILTER (WHERE replaced_by IS NULL), count(*) FROM _sluice_partitions")
        #expect(records == "2|3", "the first write is replaced; the aborted one left no record")
    }

    /// A batch larger than a COPY message (1 MiB) goes in several messages of one COPY, rows cut
    /// between messages intact.
    @Test func aLargeBatchIsSentInSeveralMessages() async throws {
        let pg = try await PostgresFixture.fresh()
        let columns = [ColumnSpec(name: "n", type: .bigint), ColumnSpec(name: "s", type: .string)]
        let rows: [[Value]] = (0..<5000).map { i in [.int(Int64(i)), .string(String(repeating: "abcdefghij", count: 50 + i % 7) + "\(i)")] }
        #expect(try await pg.write(pg.sink(), columns, rows).rowsWritten == 5000)
        let expected = rows.map { r -> String in if case .string(let s) = r[1] { s } else { "" } }.joined(separator: "|")
        #expect(try await pg.psql("SELECT count(*), sum(length(s)) FROM t") == "5000|\(rows.reduce(0) { t, r in if case .string(let s) = r[1] { t + s.count } else { t } })")
        #expect(try await pg.psql("SELECT md5(string_agg(s, '|' ORDER BY n)) FROM t") == (try await Self.md5(expected)))
    }

    /// The MD5 of `text` as md5sum computes it, to compare with PostgreSQL's `md5()`.
    static func md5(_ text: String) async throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("md5-\(UUID().uuidString)").path
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        return String(try await Subprocess.run("/usr/bin/md5sum", [path]).stdout.prefix(32))
    }

    /// An append deletes its own instance's earlier rows (by `_sluice_write`) and no one else's, and
    /// `commitState` finds the attempt that committed.
    @Test func anAppendReplacesItsInstancesRowsOnly() async throws {
        let pg = try await PostgresFixture.fresh()
        let columns = [ColumnSpec(name: "n", type: .bigint)]
        let sink = pg.sink(mode: .append)
        try await pg.write(sink, columns, (0..<10).map { [.int(Int64($0))] }, mode: .append, instance: "1")
        try await pg.write(sink, columns, (100..<105).map { [.int(Int64($0))] }, mode: .append, instance: "2")
        try await pg.write(sink, columns, (0..<10).map { [.int(Int64($0))] }, mode: .append, instance: "1", attempt: 2)
        #expect(try await pg.psql("SELECT count(*), count(DISTINCT n) FROM t") == "15|15")
        #expect(try await pg.psql("SELECT count(DISTINCT _sluice_write) FROM t") == "2")
        let spec = try PartitionSpec(parsing: "ds=20221122")
        func state(_ instance: String, _ attempt: Int) async throws -> CommitState {
            try await sink.commitState(of: WriteReference(ledgerId: "ledger-1", job: "job", instanceId: instance, attempt: attempt, partition: spec))
        }
        #expect(try await state("1", 2) == .committed(rows: 10))
        #expect(try await state("1", 1) == .committed(rows: 10), "replaced, but it did commit")
        #expect(try await state("1", 3) == .notCommitted)
        #expect(try await state("3", 1) == .notCommitted)
        let writer = try await pg.open(sink, columns, mode: .append, instance: "1", attempt: 3)
        #expect(try await pg.psql("SELECT count(*) FROM t") == "15")
        await writer.abort()
        #expect(try await state("1", 3) == .notCommitted)
        let listed = try await PostgresDestination(sink).partitions()
        #expect(listed.count == 1 && listed[0].rows == 15 && listed[0].writes.map(\.instanceId).sorted() == ["1", "2"])
        #expect(listed[0].replaced.map(\.attempt) == [1])
        #expect(listed[0].writes.first { $0.instanceId == "1" }?.outcome?.read == 10)
    }

    /// A table the job does not fit is one line naming every difference, and nothing is written; a
    /// missing table says how to create it.
    @Test func aTableThatDoesNotMatchIsOneClearError() async throws {
        let pg = try await PostgresFixture.fresh()
        try await pg.psql("CREATE TABLE t (n integer, id uuid, must text NOT NULL, ds text NOT NULL)")
        let e = await #expect(throws: SluiceError.self) {
            try await pg.sink(create: false).prepare(columns: [ColumnSpec(name: "n", type: .string), ColumnSpec(name: "id", type: .string),
                                                                ColumnSpec(name: "extra", type: .bigint)], partitionKeys: ["ds"])
        }
        #expect(e?.message == "PostgreSQL \(pg.url), table t does not match the job: column 'n': the table has integer, the job writes STRING; column 'id' is uuid, a type Sluice does not write; column 'extra' (BIGINT) is missing from the table; column 'must' is NOT NULL without a default, and the job does not write it")
        #expect(e?.code == "destination.schema" && e?.isRetriable == false && e?.exitCode == 1)
        #expect(try await pg.psql("SELECT to_regclass('_sluice_partitions') IS NULL") == "t")
        let missing = await #expect(throws: SluiceError.self) {
            try await pg.sink("absent", create: false).prepare(columns: [ColumnSpec(name: "n", type: .bigint)], partitionKeys: ["ds"])
        }
        #expect(missing?.message == "PostgreSQL \(pg.url), table absent does not exist" && missing?.hint?.contains("sluice ddl JOB --apply") == true)
    }

    /// A server that cannot be reached and a wrong password are one line each, without the password.
    @Test func aServerThatFailsIsOneClearErrorWithoutThePassword() async throws {
        let pg = try await PostgresFixture.fresh()
        let unreachable = PostgresSink(url: try PostgresURL(parsing: "postgresql://u:secret-77@127.0.0.1:1/db"), table: "t", partitionKeys: ["ds"])
        let e = await #expect(throws: SluiceError.self) { _ = try await unreachable.tableColumns() }
        #expect(e?.message.contains("cannot reach the server") == true && e?.kind == .destination, "\(String(describing: e))")
        #expect(e?.description.contains("secret-77") == false && e?.isRetriable == true)
        let wrong = PostgresSink(url: try PostgresURL(parsing: "postgresql://\(PostgresServer.user):wrong-pw-55@127.0.0.1:\(pg.server.port)/\(pg.database)"),
                                 table: "t", partitionKeys: ["ds"])
        let w = await #expect(throws: SluiceError.self) { _ = try await wrong.tableColumns() }
        #expect(w?.message.contains("password authentication failed") == true && w?.description.contains("wrong-pw-55") == false,
                "\(String(describing: w))")
        #expect(w?.isRetriable == false && w?.hint?.contains("PGPASSWORD") == true)
        let noDatabase = PostgresSink(url: try PostgresURL(parsing: pg.server.url(database: "no_such_db")), table: "t", partitionKeys: ["ds"])
        let d = await #expect(throws: SluiceError.self) { _ = try await noDatabase.tableColumns() }
        #expect(d?.message.contains("database \"no_such_db\" does not exist (SQLSTATE 3D000)") == true, "\(String(describing: d))")
    }

    /// A value the server refuses fails the write naming the row and the column; nothing lands.
    @Test func aRowTheServerRefusesNamesItsRowAndColumn() async throws {
        let pg = try await PostgresFixture.fresh()
        try await pg.psql("CREATE TABLE t (n bigint, v varchar(3), ds text NOT NULL)")
        let columns = [ColumnSpec(name: "n", type: .bigint), ColumnSpec(name: "v", type: .string)]
        let writer = try await pg.open(pg.sink(create: false), columns)
        var good = RowBatch(columns: columns), bad = RowBatch(columns: columns)
        for i in 0..<5 {
            good.append(row: [.int(Int64(i)), .string("ok")])
            bad.append(row: [.int(Int64(i)), .string(i == 3 ? "long" : "ok")])
        }
        try await writer.write(good)
        let e = await #expect(throws: SluiceError.self) { try await writer.write(bad) }
        #expect(e?.message.contains("value too long for type character varying(3)") == true, "\(String(describing: e))")
        #expect(e?.message.contains("(row 9 of the write, column v)") == true, "\(String(describing: e))")
        #expect(e?.isRetriable == false)
        await writer.abort()
        #expect(try await pg.psql("SELECT count(*) FROM t") == "0")
    }

    /// Columns with a default that the job does not write keep their default (the COPY leaves them
    /// out); generated columns are never written.
    @Test func columnsWithDefaultsTheJobDoesNotWriteKeepThem() async throws {
        let pg = try await PostgresFixture.fresh()
        try await pg.psql("""
            CREATE TABLE t (id bigint GENERATED ALWAYS AS IDENTITY, k text, loaded_at timestamptz NOT NULL DEFAULT now(),
                            twice bigint GENERATED ALWAYS AS (length(k) * 2) STORED, ds text NOT NULL)
            """)
        let sink = pg.sink(create: false, written: ["k"])
        let columns = try #require(try await sink.tableColumns())
        #expect(columns == [ColumnSpec(name: "k", type: .string)])
        try await pg.write(sink, columns, [[.string("abc")], [.string("de")]])
        #expect(try await pg.psql("SELECT id, k, loaded_at > now() - interval '1 hour', twice FROM t ORDER BY id") == "1|abc|t|6\n2|de|t|4")
    }

    /// A table partitioned by LIST on `ds` by hand takes the writes too, when its partitions exist.
    @Test func aTablePartitionedByHandWorksWhenItsPartitionsExist() async throws {
        let pg = try await PostgresFixture.fresh()
        try await pg.psql("""
            CREATE TABLE t (n bigint, ds text NOT NULL) PARTITION BY LIST (ds);
            CREATE TABLE t_20221122 PARTITION OF t FOR VALUES IN ('20221122')
            """)
        let columns = [ColumnSpec(name: "n", type: .bigint)]
        try await pg.write(pg.sink(create: false), columns, (0..<5).map { [.int(Int64($0))] })
        try await pg.write(pg.sink(create: false), columns, (0..<3).map { [.int(Int64($0))] })
        #expect(try await pg.psql("SELECT count(*) FROM t_20221122") == "3")
        let e = await #expect(throws: SluiceError.self) {
            try await pg.write(pg.sink(create: false), columns, [[.int(1)]], partition: "ds=20221123")
        }
        #expect(e?.message.contains("no partition of relation \"t\" found for row") == true, "\(String(describing: e))")
    }

    /// Two first writes of a new table at once: the setup lock lets one create the write records.
    @Test func concurrentFirstWritesPrepareOnce() async throws {
        let pg = try await PostgresFixture.fresh()
        let columns = [ColumnSpec(name: "n", type: .bigint)]
        try await withThrowingTaskGroup(of: Void.self) { group in
            for day in 0..<4 {
                group.addTask { try await pg.write(pg.sink(), columns, [[.int(Int64(day))]], partition: "ds=2022112\(day)") }
            }
            try await group.waitForAll()
        }
        #expect(try await pg.psql("SELECT count(*) FROM t") == "4")
        #expect(try await pg.psql("SELECT count(*) FROM _sluice_partitions") == "4")
    }
}
