import Foundation
import NIOCore
import SluiceCore
import Testing
@testable import SluicePostgres

/// The binary representations the destination writes, checked without a server (the server checks
/// them again in `PostgresSinkTests`).
@Suite struct PostgresBinaryTests {
    static func numeric(_ text: String) -> [Int16]? {
        var out = ByteBuffer()
        let ok = Array(text.utf8).withUnsafeBytes { PostgresBinary.writeNumeric($0, to: &out) }
        guard ok, let length = out.readInteger(as: Int32.self), Int(length) == out.readableBytes else { return nil }
        var words: [Int16] = []
        while let w = out.readInteger(as: Int16.self) { words.append(w) }
        return words
    }

    /// ndigits, weight, sign, dscale, then base-10000 digits.
    @Test func numericsAreBaseTenThousandDigitsWithWeightAndScale() {
        #expect(Self.numeric("12345.678") == [3, 1, 0, 3, 1, 2345, 6780])
        #expect(Self.numeric("-12.50") == [2, 0, 0x4000, 2, 12, 5000])
        #expect(Self.numeric("0.0001") == [1, -1, 0, 4, 1])
        #expect(Self.numeric("100000000") == [1, 2, 0, 0, 1])
        #expect(Self.numeric("0") == [0, 0, 0, 0])
        #expect(Self.numeric("-0.00") == [0, 0, 0, 2])
        #expect(Self.numeric("7") == [1, 0, 0, 0, 7])
        #expect(Self.numeric(".5") == [1, -1, 0, 1, 5000])
        #expect(Self.numeric("00012") == [1, 0, 0, 0, 12])
        #expect(Self.numeric("99999999999999999999999999999999999999") == [10, 9, 0, 0, 99, 9999, 9999, 9999, 9999, 9999, 9999, 9999, 9999, 9999])
        for bad in ["", "-", ".", "1e5", "1.2.3", "12a", " 1", "NaN"] { #expect(Self.numeric(bad) == nil, "\(bad)") }
    }

    @Test func numericsReadBackAsTheirText() throws {
        let values = ["12345.678", "-12.50", "0.0001", "100000000", "0", "0.00", "7", "-0.000000010",
                      "99999999999999999999999999999999999999", "-1234567890123456789.012345678901234567", "10000.0001"]
        for v in values {
            var out = ByteBuffer()
            _ = Array(v.utf8).withUnsafeBytes { PostgresBinary.writeNumeric($0, to: &out) }
            _ = out.readInteger(as: Int32.self)
            let back = try #require(PostgresBinary.numericText(out))
            let expected = v == "-0.000000010" ? "-0.000000010" : v
            #expect(back == expected, "\(v)")
        }
        var random = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let scale = Int.random(in: 0...18, using: &random)
            let whole = Int64.random(in: -999_999_999_999...999_999_999_999, using: &random)
            let fraction = (0..<scale).map { _ in String(Int.random(in: 0...9, using: &random)) }.joined()
            let text = scale == 0 ? "\(whole)" : "\(whole).\(fraction)"
            var out = ByteBuffer()
            _ = Array(text.utf8).withUnsafeBytes { PostgresBinary.writeNumeric($0, to: &out) }
            _ = out.readInteger(as: Int32.self)
            let back = PostgresBinary.numericText(out)
            let zero = whole == 0 && fraction.allSatisfy { $0 == "0" }
            #expect(back == (zero ? text.replacingOccurrences(of: "-", with: "") : text), "\(text)")
        }
    }

    @Test func datesAndTimesCountFromTwoThousand() {
        #expect(PostgresBinary.microseconds(millis: 946_684_800_000) == 0)
        #expect(PostgresBinary.microseconds(millis: 946_684_800_123) == 123_000)
        #expect(PostgresBinary.microseconds(millis: 0) == -946_684_800_000_000)
        #expect(PostgresBinary.microseconds(seconds: 946_684_800, nanos: 1_499) == 1)
        #expect(PostgresBinary.microseconds(seconds: 946_684_800, nanos: 1_500) == 2)
        #expect(PostgresBinary.microseconds(seconds: 946_684_799, nanos: 999_999_999) == 0)
        #expect(PostgresBinary.timestampText(microseconds: 0) == "2000-01-01 00:00:00")
        #expect(PostgresBinary.timestampText(microseconds: 1_500_000) == "2000-01-01 00:00:01.5")
        #expect(PostgresBinary.timestampText(microseconds: -1) == "1999-12-31 23:59:59.999999")
        #expect(PostgresBinary.timestampText(microseconds: .max) == "infinity")
        #expect(PostgresBinary.dateText(days: 0) == "2000-01-01")
        #expect(PostgresBinary.dateText(days: -10_957) == "1970-01-01")
    }

    /// PostgresNIO writes `COPY "<table>" FROM STDIN WITH (FORMAT text)`: the target fills in the
    /// schema, the columns and the binary format, and comments out the rest; quotes are doubled.
    @Test func theCopyTargetNamesTheColumnsAndTheBinaryFormat() {
        let table = PostgresTable(schema: "an\"alytics", name: "ods", columns: [])
        let target = PostgresWriter.copyTarget(table, columns: ["k", "we\"ird", "ds"])
        #expect("COPY \"\(target)\" FROM STDIN WITH (FORMAT text)"
                == #"COPY "an""alytics"."ods" ("k", "we""ird", "ds") FROM STDIN WITH (FORMAT binary) --" FROM STDIN WITH (FORMAT text)"#)
    }

    /// The mapping of PostgreSQL column types onto Sluice types, and back through the DDL.
    @Test func everySluiceTypeMapsToAPostgresTypeAndBack() {
        let all: [ColumnType] = [.bigint, .int, .smallint, .tinyint, .double, .float, .decimal(precision: 18, scale: 2),
                                 .decimal(precision: 38, scale: 0), .string, .varchar(64), .char(5), .boolean, .datetime,
                                 .date, .timestamp, .binary, .json]
        let catalog: [String: (String, Int32)] = [
            "bigint": ("int8", -1), "integer": ("int4", -1), "smallint": ("int2", -1), "double precision": ("float8", -1),
            "real": ("float4", -1), "numeric(18,2)": ("numeric", (18 << 16 | 2) + 4), "numeric(38,0)": ("numeric", (38 << 16) + 4),
            "text": ("text", -1), "varchar(64)": ("varchar", 68), "char(5)": ("bpchar", 9), "boolean": ("bool", -1),
            "timestamp(3) with time zone": ("timestamptz", 3), "date": ("date", -1),
            "timestamp with time zone": ("timestamptz", -1), "bytea": ("bytea", -1), "jsonb": ("jsonb", -1)]
        for t in all {
            let declared = TableDDL.postgresType(t)
            let (name, mod) = catalog[declared] ?? ("?", 0)
            let back = PostgresColumn(name: "c", typeName: name, typeModifier: mod).columnType
            #expect(back == (t == .tinyint ? .smallint : t), "\(t) → \(declared) → \(String(describing: back))")
        }
        #expect(PostgresColumn(name: "c", typeName: "numeric").columnType == .decimal(precision: 38, scale: 18))
        #expect(PostgresColumn(name: "c", typeName: "timestamp", typeModifier: 0).columnType == .datetime)
        #expect(PostgresColumn(name: "c", typeName: "timestamp", typeModifier: 6).columnType == .timestamp)
        #expect(PostgresColumn(name: "c", typeName: "json").columnType == .json)
        #expect(PostgresColumn(name: "c", typeName: "varchar").columnType == .string)
        #expect(PostgresColumn(name: "c", typeName: "uuid").columnType == nil)
    }

    @Test func theDDLIsOneTableWithItsPartitionColumnsAndAnIndex() {
        let ddl = TableDDL.createTable(name: "analytics.ods_events", columns: [
            ColumnSpec(name: "k", type: .string), ColumnSpec(name: "amount", type: .decimal(precision: 18, scale: 2), nullable: false),
            ColumnSpec(name: "payload", type: .json)], partitionKeys: ["ds", "hh"], dialect: .postgresql)
        #expect(ddl == """
            CREATE TABLE IF NOT EXISTS "analytics"."ods_events" (
              "k" text,
              "amount" numeric(18,2) NOT NULL,
              "payload" jsonb,
              "ds" text NOT NULL,
              "hh" text NOT NULL
            );
            CREATE INDEX IF NOT EXISTS "sluice_partition__ods_events" ON "analytics"."ods_events" ("ds", "hh");
            """)
    }

    @Test func schemaDifferencesAreListedAsClauses() {
        let table = [PostgresColumn(name: "k", typeName: "text"), PostgresColumn(name: "n", typeName: "int4", formatted: "integer"),
                     PostgresColumn(name: "id", typeName: "uuid", formatted: "uuid"),
                     PostgresColumn(name: "must", typeName: "text", notNull: true),
                     PostgresColumn(name: "loaded", typeName: "timestamptz", notNull: true, hasDefault: true),
                     PostgresColumn(name: "ds", typeName: "int4", formatted: "integer")]
        let problems = PostgresSchema.differences(tableColumns: table, columns: [
            ColumnSpec(name: "k", type: .string), ColumnSpec(name: "n", type: .string), ColumnSpec(name: "id", type: .string),
            ColumnSpec(name: "K2", type: .bigint)], partitionKeys: ["ds"])
        #expect(problems == [
            "partition column 'ds' is integer; it must be text, varchar or char",
            "column 'n': the table has integer, the job writes STRING",
            "column 'id' is uuid, a type Sluice does not write",
            "column 'K2' (BIGINT) is missing from the table",
            "column 'must' is NOT NULL without a default, and the job does not write it"])
        #expect(PostgresSchema.differences(tableColumns: table.filter { $0.name != "must" && $0.name != "ds" } + [PostgresColumn(name: "ds", typeName: "text")],
                                           columns: [ColumnSpec(name: "n", type: .bigint)], partitionKeys: ["ds"]).isEmpty)
    }
}
