import Foundation
import PropertyBased
import Testing
@testable import SluiceCore
@testable import SluiceJob
@testable import SluiceMapping

/// Conversions of each source kind into each column type, successes and dirty reasons.
@Suite struct MappingConversionTests {
    /// Converts the JSON text `json` (member `v` of a document) into a column of `type`.
    func json(_ json: String, _ type: ColumnType, _ options: FieldProgramOptions = FieldProgramOptions()) throws -> Result<Value, DirtyReason> {
        let program = try FieldProgram(mapping: [("v", ColumnSpec(name: "c", type: type))], options: options)
        return program.evaluate(OwnedRecord(value: Array("{\"v\":\(json)}".utf8))).map { $0[0] }.mapError(\.reason)
    }

    func ok(_ j: String, _ type: ColumnType, _ options: FieldProgramOptions = FieldProgramOptions()) throws -> Value {
        try json(j, type, options).get()
    }

    func dirty(_ j: String, _ type: ColumnType, _ options: FieldProgramOptions = FieldProgramOptions()) throws -> DirtyReason.Kind? {
        if case .failure(let r) = try json(j, type, options) { return r.kind }
        return nil
    }

    @Test func integers() throws {
        #expect(try ok("42", .bigint) == .int(42))
        #expect(try ok("-9223372036854775808", .bigint) == .int(.min))
        #expect(try ok("\"17\"", .bigint) == .int(17))
        #expect(try ok("\" 17 \"", .int) == .int(17))
        #expect(try ok("1e3", .bigint) == .int(1000))
        #expect(try ok("2.0", .bigint) == .int(2))
        #expect(try ok("true", .tinyint) == .int(1))
        #expect(try ok("127", .tinyint) == .int(127))
        #expect(try ok("-32768", .smallint) == .int(-32768))
        #expect(try ok("2147483647", .int) == .int(2147483647))
        #expect(try dirty("9223372036854775808", .bigint) == .overflow)
        #expect(try dirty("1e30", .bigint) == .overflow)
        #expect(try dirty("128", .tinyint) == .overflow)
        #expect(try dirty("-32769", .smallint) == .overflow)
        #expect(try dirty("2147483648", .int) == .overflow)
        #expect(try dirty("\"abc\"", .bigint) == .notNumeric)
        #expect(try dirty("\"0x10\"", .bigint) == .notNumeric)
        #expect(try dirty("\"\"", .bigint) == .notNumeric)
        #expect(try dirty("1.5", .bigint) == .notInteger)
        #expect(try dirty("{}", .bigint) == .incompatible)
        #expect(try dirty("[1]", .int) == .incompatible)
    }

    @Test func floatingPoint() throws {
        #expect(try ok("1.5", .double) == .double(1.5))
        #expect(try ok("\"-2.5e2\"", .double) == .double(-250))
        #expect(try ok("7", .double) == .double(7))
        #expect(try ok("\"NaN\"", .double).isNaN)
        #expect(try ok("\"-Infinity\"", .double) == .double(-.infinity))
        #expect(try ok("0.25", .float) == .float(0.25))
        #expect(try dirty("1e39", .float) == .overflow)
        #expect(try dirty("1e400", .double) == .overflow)
        #expect(try dirty("\"1,5\"", .double) == .notNumeric)
        #expect(try dirty("\"0x1p3\"", .double) == .notNumeric)
        #expect(try dirty("{\"a\":1}", .double) == .incompatible)
    }

    @Test func decimals() throws {
        let d = ColumnType.decimal(precision: 5, scale: 2)
        #expect(try ok("12.5", d) == .decimal("12.50"))
        #expect(try ok("-12.345", d) == .decimal("-12.35"))
        #expect(try ok("12.344", d) == .decimal("12.34"))
        #expect(try ok("\"999.994\"", d) == .decimal("999.99"))
        #expect(try ok("0.001", d) == .decimal("0.00"))
        #expect(try ok("-0.001", d) == .decimal("0.00"))
        #expect(try ok("1e2", d) == .decimal("100.00"))
        #expect(try ok("7", .decimal(precision: 3, scale: 0)) == .decimal("7"))
        #expect(try ok("0.5", .decimal(precision: 3, scale: 0)) == .decimal("1"))
        #expect(try ok("12345678901234567890123456789012345678", .decimal(precision: 38, scale: 0))
                == .decimal("12345678901234567890123456789012345678"))
        #expect(try dirty("999.995", d) == .overflow)
        #expect(try dirty("1000", d) == .overflow)
        #expect(try dirty("\"12a\"", d) == .notNumeric)
        #expect(try dirty("true", d) == .incompatible)
    }

    @Test func decimalsFromKafkaNumbers() throws {
        let program = try FieldProgram(mapping: [("__value__", ColumnSpec(name: "c", type: .decimal(precision: 10, scale: 3)))],
                                       options: FieldProgramOptions(valueType: .double))
        let bits = (0.000125).bitPattern.bigEndian
        let bytes = withUnsafeBytes(of: bits) { Array($0) }
        #expect(try program.evaluate(OwnedRecord(value: bytes)).get() == [.decimal("0.000")])
        let ints = try FieldProgram(mapping: [("__offset__", ColumnSpec(name: "c", type: .decimal(precision: 10, scale: 1)))])
        #expect(try ints.evaluate(OwnedRecord(offset: 42)).get() == [.decimal("42.0")])
    }

    @Test func strings() throws {
        #expect(try ok("\"héllo\"", .string) == .string("héllo"))
        #expect(try ok("\"a\\nb\\u00e9\"", .string) == .string("a\nbé"))
        #expect(try ok("12.50", .string) == .string("12.50"))
        #expect(try ok("true", .string) == .string("true"))
        #expect(try ok("null", .string) == .null)
        #expect(try ok("{ \"a\" : [1, 2] }", .string) == .string(#"{"a":[1,2]}"#))
        #expect(try ok("\"abcd\"", .varchar(4)) == .string("abcd"))
        #expect(try ok("\"éééé\"", .varchar(4)) == .string("éééé"))
        #expect(try dirty("\"abcde\"", .varchar(4)) == .tooLong)
        #expect(try ok("\"ab\"", .char(2)) == .string("ab"))
        #expect(try dirty("\"abc\"", .char(2)) == .tooLong)
        // Not UTF-8 inside a JSON string.
        let program = try FieldProgram(mapping: [("v", ColumnSpec(name: "c", type: .string))])
        let bad: [UInt8] = Array("{\"v\":\"".utf8) + [0xFF, 0xFE] + Array("\"}".utf8)
        guard case .failure(let d) = program.evaluate(OwnedRecord(value: bad)) else {
            Issue.record("expected dirty")
            return
        }
        #expect(d.reason.kind == .invalidText)
    }

    @Test func bytesIntoStringMustBeUTF8() throws {
        let program = try FieldProgram(mapping: [("__value__", ColumnSpec(name: "c", type: .string)),
                                                 ("__key__", ColumnSpec(name: "k", type: .binary))],
                                       options: FieldProgramOptions(keyType: .bytearray, valueType: .bytearray))
        #expect(try program.evaluate(OwnedRecord(key: [0, 255], value: Array("ok".utf8))).get() == [.string("ok"), .binary([0, 255])])
        guard case .failure(let d) = program.evaluate(OwnedRecord(key: nil, value: [0xC3, 0x28])) else {
            Issue.record("expected dirty")
            return
        }
        #expect(d.reason.kind == .invalidText)
        #expect(d.column == "c")
    }

    @Test func booleans() throws {
        #expect(try ok("true", .boolean) == .bool(true))
        #expect(try ok("false", .boolean) == .bool(false))
        #expect(try ok("\"TRUE\"", .boolean) == .bool(true))
        #expect(try ok("0", .boolean) == .bool(false))
        #expect(try ok("\"1\"", .boolean) == .bool(true))
        #expect(try dirty("2", .boolean) == .notBoolean)
        #expect(try dirty("\"yes\"", .boolean) == .notBoolean)
    }

    @Test func datetimes() throws {
        let shanghai = FieldProgramOptions(timeZone: TimeZone(identifier: "Asia/Shanghai")!)
        #expect(try ok("1700000000123", .datetime) == .datetime(1_700_000_000_123))
        #expect(try ok("\"1700000000123\"", .datetime) == .datetime(1_700_000_000_123))
        #expect(try ok("1700000000", .datetime, FieldProgramOptions(datetimeUnit: .seconds)) == .datetime(1_700_000_000_000))
        #expect(try ok("1700000000.5", .datetime, FieldProgramOptions(datetimeUnit: .seconds)) == .datetime(1_700_000_000_500))
        #expect(try ok("\"2023-11-14 22:13:20\"", .datetime) == .datetime(1_700_000_000_000))
        #expect(try ok("\"2023-11-14 22:13:20\"", .datetime, shanghai) == .datetime(1_700_000_000_000 - 8 * 3_600_000))
        #expect(try ok("\"2023-11-14T22:13:20.250Z\"", .datetime, shanghai) == .datetime(1_700_000_000_250))
        #expect(try ok("\"2023-11-14T23:13:20+01:00\"", .datetime) == .datetime(1_700_000_000_000))
        #expect(try ok("\"2023-11-14\"", .datetime) == .datetime(1_699_920_000_000))
        #expect(try ok("\"20231114221320\"", .datetime, FieldProgramOptions(datetimeFormat: "yyyyMMddHHmmss")) == .datetime(1_700_000_000_000))
        #expect(try dirty("\"2023-02-30 00:00:00\"", .datetime) == .invalidDate)
        #expect(try dirty("\"2023-11-14 25:00:00\"", .datetime) == .invalidDate)
        #expect(try dirty("\"yesterday\"", .datetime) == .invalidDate)
        #expect(try dirty("\"2023-11-14 22:13:20\"", .datetime, FieldProgramOptions(datetimeFormat: "yyyyMMddHHmmss")) == .invalidDate)
        #expect(try dirty("300000000000000", .datetime) == .invalidDate)
        #expect(try dirty("true", .datetime) == .incompatible)
    }

    @Test func datetimeInAZoneWithDaylightSaving() throws {
        let berlin = FieldProgramOptions(timeZone: TimeZone(identifier: "Europe/Berlin")!)
        // Summer (UTC+2) and winter (UTC+1).
        #expect(try ok("\"2024-07-01 12:00:00\"", .datetime, berlin) == .datetime(1_719_828_000_000))
        #expect(try ok("\"2024-01-01 12:00:00\"", .datetime, berlin) == .datetime(1_704_106_800_000))
    }

    @Test func timestampsKeepNanoseconds() throws {
        #expect(try ok("\"2023-11-14T22:13:20.123456789Z\"", .timestamp) == .timestamp(seconds: 1_700_000_000, nanos: 123_456_789))
        #expect(try ok("1700000000123", .timestamp) == .timestamp(seconds: 1_700_000_000, nanos: 123_000_000))
        #expect(try ok("-1", .timestamp) == .timestamp(seconds: -1, nanos: 999_000_000))
        #expect(try dirty("\"14/11/2023\"", .timestamp) == .invalidDate)
    }

    @Test func dates() throws {
        let shanghai = FieldProgramOptions(timeZone: TimeZone(identifier: "Asia/Shanghai")!)
        #expect(try ok("\"2023-11-14\"", .date) == .date(19675))
        #expect(try ok("\"1970-01-01\"", .date) == .date(0))
        #expect(try ok("\"1969-12-31\"", .date) == .date(-1))
        #expect(try ok("\"2023-11-14 23:59:59\"", .date) == .date(19675))
        // 2023-11-14T20:00Z is the 15th in Shanghai.
        #expect(try ok("1699992000000", .date, shanghai) == .date(19676))
        #expect(try ok("1699992000000", .date) == .date(19675))
        #expect(try ok("\"2023-11-14T20:00:00Z\"", .date, shanghai) == .date(19676))
        #expect(try dirty("\"2023-13-01\"", .date) == .invalidDate)
        #expect(try dirty("\"0000-01-01\"", .date) == .invalidDate)
    }

    @Test func binary() throws {
        #expect(try ok("\"ab\"", .binary) == .binary(Array("ab".utf8)))
        #expect(try ok("12", .binary) == .binary(Array("12".utf8)))
    }

    @Test func emptyAsNullAndNulls() throws {
        let e = FieldProgramOptions(emptyAsNull: true)
        #expect(try ok("\"\"", .string, e) == .null)
        #expect(try ok("\"\"", .bigint, e) == .null)
        #expect(try ok("\"\"", .string) == .string(""))
        #expect(try ok("null", .bigint) == .null)
        let notNull = try FieldProgram(mapping: [("v", ColumnSpec(name: "c", type: .bigint, nullable: false))])
        guard case .failure(let d) = notNull.evaluate(OwnedRecord(value: Array(#"{"v":null}"#.utf8))) else {
            Issue.record("expected dirty")
            return
        }
        #expect(d.reason.kind == .nullNotAllowed)
    }

    @Test func missingFieldPolicy() throws {
        #expect(try ok("1", .bigint) == .int(1))
        let program = try FieldProgram(mapping: [("w", ColumnSpec(name: "c", type: .bigint))])
        #expect(try program.evaluate(OwnedRecord(value: Array(#"{"v":1}"#.utf8))).get() == [.null])
        let strict = try FieldProgram(mapping: [("w", ColumnSpec(name: "c", type: .bigint))],
                                      options: FieldProgramOptions(missingField: .dirty))
        guard case .failure(let d) = strict.evaluate(OwnedRecord(value: Array(#"{"v":1}"#.utf8))) else {
            Issue.record("expected dirty")
            return
        }
        #expect(d.reason.kind == .missingField)
        #expect(d.reason.message.contains("'w'"))
    }

    @Test func constantsAreConvertedOnce() throws {
        let program = try FieldProgram(mapping: [("'12'", ColumnSpec(name: "a", type: .int)),
                                                 ("'2024-01-02'", ColumnSpec(name: "b", type: .date)),
                                                 ("'x'", ColumnSpec(name: "c", type: .string))])
        #expect(try program.evaluate(OwnedRecord()).get() == [.int(12), .date(19724), .string("x")])
        #expect(throws: SluiceError.self) {
            try FieldProgram(mapping: [("'abc'", ColumnSpec(name: "a", type: .int))])
        }
    }

    /// A JSON column takes the JSON value at a path as written (objects and arrays compacted,
    /// strings with their quotes), and a whole key or value when it is one JSON text.
    @Test func jsonColumns() throws {
        #expect(try ok(#"{"a": [1, 2], "b": null}"#, .json) == .string(#"{"a":[1,2],"b":null}"#))
        #expect(try ok(#""x\u00e9""#, .json) == .string(#""x\u00e9""#))
        #expect(try ok("12.50", .json) == .string("12.50"))
        #expect(try ok("true", .json) == .string("true"))
        #expect(try ok("null", .json) == .null)
        let whole = try FieldProgram(mapping: [("__value__", ColumnSpec(name: "c", type: .json))])
        #expect(try whole.evaluate(OwnedRecord(value: Array(#" {"id": 7} "#.utf8))).get() == [.string(#" {"id": 7} "#)])
        let bad = whole.evaluate(OwnedRecord(value: Array("not json".utf8)))
        guard case .failure(let failure) = bad else { Issue.record("not JSON must be dirty"); return }
        #expect(failure.reason.kind == .notJSON && failure.reason.message.contains("at byte 1"), "\(failure.reason)")
        // For PostgreSQL, what jsonb refuses is dirty too, and so is text holding NUL.
        let postgres = FieldProgramOptions(postgresText: true)
        #expect(try ok(#""\u0000""#, .json) == .string(#""\u0000""#))
        #expect(try dirty(#""\u0000""#, .json, postgres) == .notJSON)
        #expect(try dirty(#""a\u0000b""#, .string, postgres) == .invalidText)
        #expect(try ok(#""a\u0000b""#, .string) == .string("a\u{0}b"))
        #expect(try ok(#""a\u0001b""#, .string, postgres) == .string("a\u{1}b"))
    }
}

extension Value {
    var isNaN: Bool { if case .double(let d) = self { d.isNaN } else { false } }
}

@Suite struct MappingExtremesTests {
    /// Any Kafka long, in either unit and zone, converts or is dirty: never a crash.
    @Test func anyLongIntoEveryColumnType() async throws {
        let types: [ColumnType] = [.bigint, .int, .smallint, .tinyint, .double, .float, .decimal(precision: 10, scale: 2),
                                   .string, .varchar(3), .char(2), .boolean, .datetime, .date, .timestamp, .binary]
        let programs = try [EpochUnit.milliseconds, .seconds].flatMap { unit in
            try types.map { type in
                try FieldProgram(mapping: [("__value__", ColumnSpec(name: "c", type: type))],
                                 options: FieldProgramOptions(valueType: .long, timeZone: TimeZone(identifier: "America/New_York")!,
                                                              datetimeUnit: unit))
            }
        }
        let edges: [Int64] = [.min, .max, .min + 1, .max - 1, 0, -1, 1, -62_135_596_800_001, 253_402_300_800_000]
        for v in edges {
            for p in programs { _ = p.evaluate(OwnedRecord(value: withUnsafeBytes(of: v.bigEndian) { Array($0) })) }
        }
        await propertyCheck(count: 300, input: Gen.int64()) { v in
            for p in programs { _ = p.evaluate(OwnedRecord(value: withUnsafeBytes(of: v.bigEndian) { Array($0) })) }
        }
    }

    /// Numbers as JSON text at the edges of every type.
    @Test func extremeJSONNumbersNeverCrash() throws {
        let types: [ColumnType] = [.bigint, .tinyint, .double, .float, .decimal(precision: 38, scale: 10), .decimal(precision: 1, scale: 0),
                                   .boolean, .datetime, .date, .timestamp]
        let numbers = ["-9223372036854775809", "9223372036854775808", "1e308", "-1e308", "1e-400", "1e99999999999",
                       "-0.0", "123456789012345678901234567890", "0.000000000000000000001", "\"-9223372036854775808\"",
                       "\"99999999999999999999\"", "\"1e99999\"", "\"-\"", "\"+\"", "\".\""]
        for type in types {
            let program = try FieldProgram(mapping: [("v", ColumnSpec(name: "c", type: type))])
            for n in numbers { _ = program.evaluate(OwnedRecord(value: Array("{\"v\":\(n)}".utf8))) }
        }
    }

    /// Random documents, random paths, every column type: rows or dirty records, never a crash; and a
    /// clean STRING cell equals what Foundation finds for a string member.
    @Test func randomDocumentsIntoEveryColumnType() async throws {
        let types: [ColumnType] = [.bigint, .smallint, .double, .float, .decimal(precision: 12, scale: 3), .string, .varchar(5),
                                   .boolean, .datetime, .date, .timestamp, .binary]
        await propertyCheck(count: 150, input: Gen.uint64()) { seed in
            var rng = SplitMix(state: seed)
            let tree = RandomJSON.generate(&rng, depth: 3)
            let doc = Array(tree.serialize(&rng).utf8)
            let path = tree.randomPath(&rng)
            let definition = SourceField.valuePath(path).description
            for type in types {
                let program = try FieldProgram(mapping: [(definition, ColumnSpec(name: "c", type: type))],
                                               options: FieldProgramOptions(missingField: .dirty))
                switch program.evaluate(OwnedRecord(value: doc)) {
                case .success(let row):
                    if type == .string, case .string(let s) = row[0],
                       let root = try? JSONSerialization.jsonObject(with: Data(doc), options: [.fragmentsAllowed]),
                       let expected = foundationValue(root, path) as? String {
                        #expect(s == expected, "\(definition)")
                    }
                case .failure(let dirty):
                    #expect(!dirty.reason.message.isEmpty)
                }
            }
        }
    }
}
