import Foundation
import Testing
@testable import SluiceCore
@testable import SluiceJob
@testable import SluiceMapping

/// Built-in fields, key/value decoding, batches and the dirty-record limit.
@Suite struct MappingProgramTests {
    static let builtins: [(String, ColumnSpec)] = [
        ("__key__", ColumnSpec(name: "k", type: .string)),
        ("__value__", ColumnSpec(name: "v", type: .string)),
        ("__partition__", ColumnSpec(name: "p", type: .bigint)),
        ("__headers__", ColumnSpec(name: "h", type: .string)),
        ("__offset__", ColumnSpec(name: "o", type: .bigint)),
        ("__timestamp__", ColumnSpec(name: "t", type: .datetime)),
    ]

    @Test("headers in a headerEncoding other than UTF-8 are decoded; bytes that are not text in it are base64")
    func headerEncoding() throws {
        var options = FieldProgramOptions()
        options.headerEncoding = "GBK"
        let program = try FieldProgram(mapping: [("__headers__", ColumnSpec(name: "h", type: .string))], options: options)
        // 中文 in GBK, and a byte that starts no GBK character.
        let record = OwnedRecord(headers: [KafkaHeader(name: "name", value: [0xD6, 0xD0, 0xCE, 0xC4]),
                                           KafkaHeader(name: "raw", value: [0xFF])])
        #expect(try program.evaluate(record).get() == [.string(#"{"name":"中文","raw":"/w=="}"#)])
        // The same header under UTF-8 is not text: base64.
        let utf8 = try FieldProgram(mapping: [("__headers__", ColumnSpec(name: "h", type: .string))])
        #expect(try utf8.evaluate(OwnedRecord(headers: [KafkaHeader(name: "name", value: [0xD6, 0xD0])])).get() == [.string(#"{"name":"1tA="}"#)])
        options.headerEncoding = "NO-SUCH-CHARSET"
        #expect(throws: SluiceError.self) { try FieldProgram(mapping: [("__headers__", ColumnSpec(name: "h", type: .string))], options: options) }
    }

    @Test("a text value split at its delimiter, fields by index; missing fields null or dirty")
    func delimitedTextValues() throws {
        var options = FieldProgramOptions()
        options.valueFormat = .text(delimiter: "||")
        let mapping: [(definition: String, column: ColumnSpec)] = [
            ("[2]", ColumnSpec(name: "c", type: .bigint)), ("[0]", ColumnSpec(name: "a", type: .string)),
            ("__value__", ColumnSpec(name: "v", type: .string)), ("[3]", ColumnSpec(name: "d", type: .string)),
        ]
        let program = try FieldProgram(mapping: mapping, options: options)
        #expect(!program.parsesValueJSON)
        #expect(try program.evaluate(OwnedRecord(value: Array("x||||42".utf8))).get() == [.int(42), .string("x"), .string("x||||42"), .null])
        #expect(try program.evaluate(OwnedRecord(value: nil)).get() == [.null, .null, .null, .null])
        #expect(try program.evaluate(OwnedRecord(value: Array("only".utf8))).get() == [.null, .string("only"), .string("only"), .null])
        // A part that is not a number is a dirty record for a BIGINT column.
        if case .success = program.evaluate(OwnedRecord(value: Array("a||b||c".utf8))) { Issue.record("c is not a BIGINT") }
        options.missingField = .dirty
        let strict = try FieldProgram(mapping: [("[3]", ColumnSpec(name: "d", type: .string))], options: options)
        guard case .failure(let reason) = strict.evaluate(OwnedRecord(value: Array("a||b".utf8))) else {
            Issue.record("expected a dirty record")
            return
        }
        #expect(reason.reason.message.contains("field '[3]' is missing from the value: it has 2 fields"))
        // GBK text is decoded before it is split.
        var gbk = FieldProgramOptions()
        gbk.valueFormat = .text(delimiter: ",")
        gbk.encoding = "GBK"
        let decoded = try FieldProgram(mapping: [("[1]", ColumnSpec(name: "b", type: .string))], options: gbk)
        #expect(try decoded.evaluate(OwnedRecord(value: [0x61, 0x2C, 0xD6, 0xD0])).get() == [.string("中")])
        // JSON paths are not text fields.
        #expect(throws: SluiceError.self) { try FieldProgram(mapping: [("a.b", ColumnSpec(name: "a", type: .string))], options: options) }
    }

    @Test func builtinsOfOneRecord() throws {
        let program = try FieldProgram(mapping: Self.builtins)
        #expect(!program.parsesValueJSON)
        let record = OwnedRecord(partition: 3, offset: 42, timestamp: 1_700_000_000_123, key: Array("k1".utf8),
                                 value: Array("not json at all".utf8),
                                 headers: [KafkaHeader(name: "trace", value: Array("abc".utf8))])
        #expect(try program.evaluate(record).get() == [
            .string("k1"), .string("not json at all"), .int(3), .string(#"{"trace":"abc"}"#), .int(42),
            .datetime(1_700_000_000_123),
        ])
        // Null key and value, no timestamp.
        let empty = OwnedRecord(partition: 0, offset: 0, timestamp: -1)
        #expect(try program.evaluate(empty).get() == [.null, .null, .int(0), .string("{}"), .int(0), .null])
    }

    @Test func headersRendering() {
        let headers = [
            KafkaHeader(name: "a", value: Array("1".utf8)),
            KafkaHeader(name: "bin", value: [0xFF, 0x00]),
            KafkaHeader(name: "a", value: Array("2".utf8)),
            KafkaHeader(name: "n", value: nil),
            KafkaHeader(name: "q\"", value: Array("line\nbreak".utf8)),
        ]
        #expect(HeadersJSON.render(headers) == #"{"a":["1","2"],"bin":"/wA=","n":null,"q\"":"line\nbreak"}"#)
        #expect(HeadersJSON.render([]) == "{}")
    }

    func bigEndian<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.bigEndian) { Array($0) } }

    @Test func numericKafkaTypes() throws {
        for (type, bytes, expected) in [
            (KafkaDataType.long, bigEndian(Int64(-5)), Value.int(-5)),
            (.integer, bigEndian(Int32(70000)), .int(70000)),
            (.short, bigEndian(Int16(-2)), .int(-2)),
        ] {
            let program = try FieldProgram(mapping: [("__value__", ColumnSpec(name: "v", type: .bigint)),
                                                     ("__key__", ColumnSpec(name: "k", type: .string))],
                                           options: FieldProgramOptions(keyType: type, valueType: type))
            #expect(try program.evaluate(OwnedRecord(key: bytes, value: bytes)).get() == [expected, .string("\(expected.intValue!)")])
            // Wrong length: dirty, not a crash.
            guard case .failure(let d) = program.evaluate(OwnedRecord(value: bytes + [0])) else {
                Issue.record("expected dirty for \(type)")
                continue
            }
            #expect(d.reason.kind == .wrongLength)
        }
        let double = try FieldProgram(mapping: [("__value__", ColumnSpec(name: "v", type: .double))],
                                      options: FieldProgramOptions(valueType: .double))
        #expect(try double.evaluate(OwnedRecord(value: bigEndian((2.5).bitPattern))).get() == [.double(2.5)])
        let float = try FieldProgram(mapping: [("__value__", ColumnSpec(name: "v", type: .float))],
                                     options: FieldProgramOptions(valueType: .float))
        #expect(try float.evaluate(OwnedRecord(value: bigEndian(Float(-0.5).bitPattern))).get() == [.float(-0.5)])
        #expect(throws: SluiceError.self) {
            try FieldProgram(mapping: [("a.b", ColumnSpec(name: "v", type: .string))], options: FieldProgramOptions(valueType: .long))
        }
    }

    @Test(arguments: [("GBK", [0xC4, 0xE3, 0xBA, 0xC3] as [UInt8]), ("GB18030", [0xC4, 0xE3, 0xBA, 0xC3]),
                      ("ISO-8859-1", [0x6E, 0xE9]), ("UTF-16", [0xFE, 0xFF, 0x4F, 0x60, 0x59, 0x7D]),
                      ("UTF-16", [0x4F, 0x60, 0x59, 0x7D]), ("UTF-16", [0xFF, 0xFE, 0x60, 0x4F, 0x7D, 0x59]),
                      ("UTF-16LE", [0x60, 0x4F, 0x7D, 0x59])])
    func encodings(encoding: String, bytes: [UInt8]) throws {
        let expected = encoding == "ISO-8859-1" ? "né" : "你好"
        let program = try FieldProgram(mapping: [("__value__", ColumnSpec(name: "v", type: .string)),
                                                 ("__key__", ColumnSpec(name: "k", type: .binary))],
                                       options: FieldProgramOptions(encoding: encoding))
        #expect(try program.evaluate(OwnedRecord(key: bytes, value: bytes)).get() == [.string(expected), .binary(bytes)])
    }

    @Test func jsonInAnotherEncoding() throws {
        let program = try FieldProgram(mapping: [("name", ColumnSpec(name: "n", type: .string))],
                                       options: FieldProgramOptions(encoding: "GBK"))
        let value: [UInt8] = Array(#"{"name":""#.utf8) + [0xC4, 0xE3, 0xBA, 0xC3] + Array(#""}"#.utf8)
        #expect(try program.evaluate(OwnedRecord(value: value)).get() == [.string("你好")])
        // Invalid GBK: dirty.
        guard case .failure(let d) = program.evaluate(OwnedRecord(value: [0x7B, 0x81, 0x20])) else {
            Issue.record("expected dirty")
            return
        }
        #expect(d.reason.kind == .invalidText)
        #expect(throws: SluiceError.self) { try FieldProgram(mapping: [], options: FieldProgramOptions(encoding: "NOPE-42")) }
    }

    @Test func keyPaths() throws {
        let program = try FieldProgram(mapping: [("__key__.id", ColumnSpec(name: "id", type: .bigint)),
                                                 ("v", ColumnSpec(name: "v", type: .string))])
        #expect(program.parsesKeyJSON && program.parsesValueJSON)
        let r = OwnedRecord(key: Array(#"{"id": 7}"#.utf8), value: Array(#"{"v":"x"}"#.utf8))
        #expect(try program.evaluate(r).get() == [.int(7), .string("x")])
        // Null key: the key path is NULL.
        #expect(try program.evaluate(OwnedRecord(value: Array(#"{"v":"x"}"#.utf8))).get() == [.null, .string("x")])
        // A key that is not JSON: dirty for the whole record.
        guard case .failure(let d) = program.evaluate(OwnedRecord(key: Array("k".utf8), value: Array(#"{"v":"x"}"#.utf8))) else {
            Issue.record("expected dirty")
            return
        }
        #expect(d.reason.kind == .notJSON)
        #expect(d.column == nil)
    }

    @Test func valueThatIsNotJSONIsDirty() throws {
        let program = try FieldProgram(mapping: [("a", ColumnSpec(name: "a", type: .string))])
        for bad in ["", "plain text", "{\"a\":1", "[1,2]]"] {
            guard case .failure(let d) = program.evaluate(OwnedRecord(value: Array(bad.utf8))) else {
                Issue.record("expected dirty for \(bad)")
                continue
            }
            #expect(d.reason.kind == .notJSON)
            #expect(d.reason.message.contains("a"))
        }
        // A tombstone (null value) gives NULLs.
        #expect(try program.evaluate(OwnedRecord(value: nil)).get() == [.null])
    }

    @Test func tableMappingFillsUnmappedColumnsWithNull() throws {
        let table = [ColumnSpec(name: "id", type: .bigint), ColumnSpec(name: "note", type: .string),
                     ColumnSpec(name: "ts", type: .datetime)]
        let program = try FieldProgram(table: table, mapping: [FieldMapping(from: "__timestamp__", to: "TS"),
                                                               FieldMapping(from: "id", to: "id")])
        #expect(program.columns == table)
        #expect(try program.evaluate(OwnedRecord(timestamp: 5, value: Array(#"{"id":1}"#.utf8))).get() == [.int(1), .null, .datetime(5)])
        #expect(throws: SluiceError.self) {
            try FieldProgram(table: table, mapping: [FieldMapping(from: "id", to: "nope")])
        }
        #expect(throws: SluiceError.self) {
            try FieldProgram(table: table, mapping: [FieldMapping(from: "id", to: "id"), FieldMapping(from: "x", to: "ID")])
        }
        #expect(throws: SluiceError.self) {
            try FieldProgram(table: [ColumnSpec(name: "id", type: .bigint, nullable: false)], mapping: [])
        }
    }

    func batch(_ values: [String]) -> OwnedRecordBatch {
        OwnedRecordBatch(values.enumerated().map { i, v in
            OwnedRecord(partition: 1, offset: Int64(100 + i), timestamp: 1000, key: Array("key\(i)".utf8), value: Array(v.utf8))
        })
    }

    @Test func runSkipsDirtyRecordsAndKeepsThem() throws {
        let program = try FieldProgram(mapping: [("n", ColumnSpec(name: "n", type: .bigint)), ("__offset__", ColumnSpec(name: "o", type: .bigint))])
        var rows = RowBatch(columns: program.columns)
        var dirty = DirtyCollector()
        try program.run(batch([#"{"n":1}"#, #"{"n":"x"}"#, "nope", #"{"n":3}"#]), into: &rows, dirty: &dirty)
        #expect(rows.rowCount == 2)
        #expect(Array(rows.row(0)) == [.int(1), .int(100)])
        #expect(Array(rows.row(1)) == [.int(3), .int(103)])
        #expect(dirty.dirtyCount == 2)
        #expect(dirty.readCount == 4)
        let kept = dirty.takeRecords()
        #expect(kept.map(\.offset) == [101, 102])
        #expect(kept[0].column == "n" && kept[0].field == "n" && kept[0].reason.kind == .notNumeric)
        #expect(kept[0].key == Array("key1".utf8) && kept[0].value == Array(#"{"n":"x"}"#.utf8))
        #expect(kept[0].summary.contains("partition 1 offset 101"))
        #expect(kept[1].column == nil && kept[1].reason.kind == .notJSON)
        #expect(dirty.records.isEmpty)
        try dirty.finish()
    }

    @Test func recordLimitFailsAsSoonAsExceeded() throws {
        let program = try FieldProgram(mapping: [("n", ColumnSpec(name: "n", type: .bigint))])
        var rows = RowBatch(columns: program.columns)
        var dirty = DirtyCollector(limit: ErrorLimit(records: 1))
        do {
            try program.run(batch([#"{"n":"a"}"#, #"{"n":2}"#, #"{"n":"b"}"#, #"{"n":4}"#]), into: &rows, dirty: &dirty)
            Issue.record("expected the limit to fail")
        } catch {
            #expect(error.kind == .dirtyLimit)
            #expect(error.message.contains("partition 1 offset 102"))
            #expect(error.message.contains("not a number"))
        }
        #expect(rows.rowCount == 1)
        #expect(dirty.dirtyCount == 2)

        var none = DirtyCollector(limit: ErrorLimit(records: 0))
        var rows2 = RowBatch(columns: program.columns)
        #expect(throws: SluiceError.self) { try program.run(batch([#"{"n":"a"}"#]), into: &rows2, dirty: &none) }
    }

    /// A batch converted on two threads gives exactly the rows, dirty records and counts of `run`.
    @Test func aSplitRunEqualsARunOnOneThread() async throws {
        let program = try FieldProgram(mapping: [
            ("n", ColumnSpec(name: "n", type: .bigint)), ("s", ColumnSpec(name: "s", type: .varchar(4))),
            ("d", ColumnSpec(name: "d", type: .decimal(precision: 10, scale: 2))), ("__key__", ColumnSpec(name: "k", type: .binary)),
            ("__headers__", ColumnSpec(name: "h", type: .string)), ("__offset__", ColumnSpec(name: "o", type: .bigint)),
        ], options: FieldProgramOptions(overLengthRule: .truncate))
        let records = (0..<5_001).map { i in
            let value = switch i % 7 {
            case 0: #"{"n":"x\#(i)"}"#              // dirty: not a number
            case 1: "not json \(i)"                 // dirty: not JSON
            default: #"{"n":\#(i),"s":"text\#(i)","d":\#(i).25}"#  // "s" over VARCHAR(4): truncated
            }
            return OwnedRecord(partition: Int32(i % 3), offset: Int64(i), timestamp: 1_000 + Int64(i),
                               key: i % 5 == 0 ? nil : Array("key\(i)".utf8), value: Array(value.utf8),
                               headers: [KafkaHeader(name: "h", value: Array("\(i)".utf8))])
        }
        let batch = OwnedRecordBatch(records)
        var rows = RowBatch(columns: program.columns)
        var dirty = DirtyCollector()
        try program.run(batch, into: &rows, dirty: &dirty)
        for splitAt in [2, 4_096] {
            var splitRows = RowBatch(columns: program.columns)
            var splitDirty = DirtyCollector()
            try await program.runSplit(batch, into: &splitRows, dirty: &splitDirty, splitAt: splitAt)
            #expect(splitRows.rowCount == rows.rowCount)
            #expect(splitRows.values == rows.values)
            #expect(splitDirty.records == dirty.records)
            #expect(splitDirty.dirtyCount == dirty.dirtyCount && splitDirty.readCount == 5_001)
            #expect(splitDirty.overLengthCount == dirty.overLengthCount && dirty.overLengthCount > 0)
        }
        #expect(dirty.dirtyCount == 1_430)
    }

    /// The record limit holds for the two halves together, and fails at the same record as on one thread.
    @Test func aSplitRunAppliesTheRecordLimitToTheWholeBatch() async throws {
        let program = try FieldProgram(mapping: [("n", ColumnSpec(name: "n", type: .bigint))])
        // Dirty records at offsets 100 and 103 (first half) and 105 (second half).
        let values = [#"{"n":"a"}"#, #"{"n":1}"#, #"{"n":2}"#, #"{"n":"b"}"#, #"{"n":3}"#, #"{"n":"c"}"#, #"{"n":4}"#, #"{"n":5}"#]
        var rows = RowBatch(columns: program.columns)
        var withinLimit = DirtyCollector(limit: ErrorLimit(records: 3))
        try await program.runSplit(batch(values), into: &rows, dirty: &withinLimit, splitAt: 2)
        #expect(withinLimit.dirtyCount == 3 && withinLimit.records.map(\.offset) == [100, 103, 105])
        #expect(rows.values == [.int(1), .int(2), .int(3), .int(4), .int(5)])

        // Over the limit: with the second half's first dirty record; with its second one, 105, although
        // the half alone goes over only at 106; at the very first record.
        let moreInTheSecondHalf = [#"{"n":"a"}"#, #"{"n":1}"#, #"{"n":2}"#, #"{"n":3}"#, #"{"n":"b"}"#, #"{"n":"c"}"#, #"{"n":"d"}"#, #"{"n":5}"#]
        for (values, limit, offset) in [(values, 2, 105), (moreInTheSecondHalf, 2, 105), (values, 0, 100)] {
            var collector = DirtyCollector(limit: ErrorLimit(records: limit))
            var failing = RowBatch(columns: program.columns)
            do {
                try await program.runSplit(batch(values), into: &failing, dirty: &collector, splitAt: 2)
                Issue.record("expected the limit of \(limit) to fail")
            } catch {
                #expect(error.kind == .dirtyLimit)
                #expect(error.message.contains("offset \(offset)"), "\(error.message)")
            }
        }
    }

    @Test func percentageIsCheckedAtTheEnd() throws {
        let program = try FieldProgram(mapping: [("n", ColumnSpec(name: "n", type: .bigint))])
        var rows = RowBatch(columns: program.columns)
        var dirty = DirtyCollector(limit: ErrorLimit(percentage: 0.25))
        try program.run(batch([#"{"n":"a"}"#, #"{"n":2}"#, #"{"n":3}"#, #"{"n":4}"#]), into: &rows, dirty: &dirty)
        try dirty.finish()   // 25% is not more than 25%
        try program.run(batch([#"{"n":"b"}"#]), into: &rows, dirty: &dirty)
        #expect(throws: SluiceError.self) { try dirty.finish() }
    }

    @Test func rawBytesAreBoundedAndCollectorKeepsAtMost() throws {
        let program = try FieldProgram(mapping: [("n", ColumnSpec(name: "n", type: .bigint))])
        let big = "{\"n\":\"" + String(repeating: "x", count: 10_000) + "\"}"
        var rows = RowBatch(columns: program.columns)
        var dirty = DirtyCollector(maxKept: 2)
        try program.run(batch([big, big, big]), into: &rows, dirty: &dirty)
        #expect(dirty.dirtyCount == 3 && dirty.records.count == 2 && dirty.discardedCount == 1)
        #expect(dirty.records[0].value?.count == DirtyCollector.maxRawBytes && dirty.records[0].valueTruncated)
        #expect(dirty.records[0].keyTruncated == false)
    }
}

extension Value {
    var intValue: Int64? { if case .int(let v) = self { v } else { nil } }
}

@Suite struct MappingRowBatchTests {
    @Test func appendRowKeepsOrDropsInPlace() {
        var rows = RowBatch(columns: [ColumnSpec(name: "a", type: .bigint), ColumnSpec(name: "b", type: .string)])
        rows.appendRow { r in
            #expect(r.count == 2 && r[0] == .null && r[1] == .null)
            r[0] = .int(1)
            r[1] = .string("x")
            return true
        }
        rows.appendRow { r in
            r[0] = .int(2)
            return false
        }
        rows.appendRow { r in
            r[1] = .string("y")
            return true
        }
        #expect(rows.rowCount == 2)
        #expect(Array(rows.row(0)) == [.int(1), .string("x")])
        #expect(Array(rows.row(1)) == [.null, .string("y")])
    }

    @Test func optionsFromAJob() {
        let job = JobSpec(
            name: "j",
            source: KafkaSourceSpec(bootstrapServers: ["localhost:9092"], topic: "t", timeZone: "Asia/Shanghai",
                                    keyType: .long, valueType: .bytearray, encoding: "GBK"),
            mapping: [], destination: DestinationSpec(kind: .discard, table: "x", emptyAsNull: true),
            settings: JobSettings(missingField: .dirty))
        let o = FieldProgramOptions(job: job, fallbackZone: TimeZone(identifier: "Europe/Berlin")!)
        #expect(o.keyType == .long && o.valueType == .bytearray && o.encoding == "GBK")
        #expect(o.emptyAsNull && o.missingField == .dirty)
        #expect(o.timeZone.identifier == "Asia/Shanghai")
        // A source without a zone takes the one the caller gives (the application's: the machine's).
        var zoneless = job
        zoneless.source.timeZone = nil
        #expect(FieldProgramOptions(job: zoneless, fallbackZone: TimeZone(identifier: "Europe/Berlin")!).timeZone.identifier == "Europe/Berlin")
    }
}
