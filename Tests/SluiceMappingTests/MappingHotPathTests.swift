import Foundation
import Testing
@testable import SluiceCore
@testable import SluiceJob
@testable import SluiceMapping

/// The row arena, per-column date-time options, and over-long values in the field program.
@Suite struct MappingHotPathTests {
    static let columns = [ColumnSpec(name: "s", type: .string), ColumnSpec(name: "b", type: .binary),
                          ColumnSpec(name: "d", type: .decimal(precision: 10, scale: 2)),
                          ColumnSpec(name: "n", type: .bigint), ColumnSpec(name: "t", type: .timestamp)]

    // MARK: - RowBatch arena

    @Test func valuesRoundTripThroughTheArena() {
        let rows: [[Value]] = [
            [.string("héllo 世界"), .binary([0, 255, 7]), .decimal("-12.50"), .int(.min), .timestamp(seconds: -1, nanos: 999)],
            [.string(""), .binary([]), .null, .null, .null],
            [.null, .null, .decimal("0.00"), .int(42), .timestamp(seconds: 1_700_000_000, nanos: 0)],
        ]
        var batch = RowBatch(columns: Self.columns)
        for r in rows { batch.append(row: r) }
        #expect(batch.rowCount == 3)
        #expect(batch.values == rows.flatMap { $0 })
        for (i, r) in rows.enumerated() { #expect(Array(batch.row(i)) == r) }
        #expect(batch.arenaBytes == "héllo 世界".utf8.count + 3 + 6 + 4)
    }

    @Test func cellViewsPointIntoTheArena() {
        var batch = RowBatch(columns: Self.columns)
        batch.append(row: [.string("abc"), .binary([1, 2]), .decimal("1.25"), .int(7), .null])
        batch.withCells { cells in
            #expect(cells.rowCount == 1 && cells.columnCount == 5)
            guard case .string(let s) = cells[0, 0], case .binary(let b) = cells[0, 1],
                  case .decimal(let d) = cells[0, 2], case .int(7) = cells[0, 3], case .null = cells[0, 4] else {
                Issue.record("unexpected cell kinds")
                return
            }
            #expect(Array(s) == Array("abc".utf8) && Array(b) == [1, 2] && Array(d) == Array("1.25".utf8))
        }
    }

    @Test func droppedRowsLeaveNothingAndRemoveAllKeepsCapacity() {
        var batch = RowBatch(columns: Self.columns)
        batch.append(row: [.string("keep"), .null, .null, .null, .null])
        let kept = batch.appendRow(filling: { w in
            w.setBytes(0, UnsafeRawBufferPointer(start: nil, count: 0), .string)
            Array("dropped".utf8).withUnsafeBytes { w.setBytes(0, $0, .string) }
            return false
        })
        #expect(!kept && batch.rowCount == 1 && batch.arenaBytes == 4)
        #expect(batch[0, 0] == .string("keep"))
        batch.removeAll()
        #expect(batch.rowCount == 0 && batch.arenaBytes == 0 && batch.values.isEmpty)
        batch.append(row: [.string("again"), .null, .null, .null, .null])
        #expect(batch[0, 0] == .string("again"))
    }

    @Test func aCopiedBatchIsIndependent() {
        var a = RowBatch(columns: Self.columns)
        a.append(row: [.string("one"), .null, .null, .null, .null])
        let b = a
        a.removeAll()
        a.append(row: [.string("two"), .null, .null, .null, .null])
        #expect(b[0, 0] == .string("one") && a[0, 0] == .string("two"))
    }

    @Test func fieldProgramRowsMatchEvaluate() throws {
        let program = try FieldProgram(mapping: [
            ("__key__", ColumnSpec(name: "k", type: .string)), ("__value__", ColumnSpec(name: "v", type: .string)),
            ("__headers__", ColumnSpec(name: "h", type: .string)), ("a", ColumnSpec(name: "a", type: .bigint)),
            ("s", ColumnSpec(name: "s", type: .varchar(10))), ("__offset__", ColumnSpec(name: "o", type: .string)),
        ])
        let records = (0..<50).map { i in
            OwnedRecord(offset: Int64(i), key: i % 7 == 0 ? nil : Array("k\(i)".utf8),
                        value: Array(#"{"a":\#(i),"s":"x\u00e9\#(i)"}"#.utf8),
                        headers: [KafkaHeader(name: "h", value: Array("v\(i)".utf8))])
        }
        var rows = RowBatch(columns: program.columns)
        var dirty = DirtyCollector()
        try program.run(OwnedRecordBatch(records), into: &rows, dirty: &dirty)
        #expect(rows.rowCount == 50 && dirty.dirtyCount == 0)
        for (i, r) in records.enumerated() {
            #expect(Array(rows.row(i)) == (try program.evaluate(r).get()))
        }
        #expect(rows[3, 4] == .string("xé3"))
    }

    // MARK: - Per-column date-time options

    @Test func unitAndFormatPerColumn() throws {
        let program = try FieldProgram(bindings: [
            .init(definition: "ms", column: ColumnSpec(name: "a", type: .datetime)),
            .init(definition: "sec", column: ColumnSpec(name: "b", type: .datetime), unit: .seconds),
            .init(definition: "text", column: ColumnSpec(name: "c", type: .datetime), format: "dd/MM/yyyy HH.mm"),
            .init(definition: "iso", column: ColumnSpec(name: "d", type: .datetime)),
            .init(definition: "__timestamp__", column: ColumnSpec(name: "e", type: .datetime)),
        ])
        let row = try program.evaluate(OwnedRecord(timestamp: 1_700_000_000_123, value: Array(
            #"{"ms":1700000000000,"sec":1700000000,"text":"02/01/2024 03.04","iso":"2024-01-02 03:04:00"}"#.utf8))).get()
        #expect(row == [.datetime(1_700_000_000_000), .datetime(1_700_000_000_000), .datetime(1_704_164_640_000),
                        .datetime(1_704_164_640_000), .datetime(1_700_000_000_123)])
        // The column's format replaces the default readings for that column only.
        let other = program.evaluate(OwnedRecord(value: Array(#"{"text":"2024-01-02 03:04:00"}"#.utf8)))
        guard case .failure(let d) = other else { Issue.record("expected a dirty record"); return }
        #expect(d.column == "c" && d.reason.kind == .invalidDate && d.reason.message.contains("dd/MM/yyyy HH.mm"))
    }

    @Test func dateTimeOptionsAreCheckedWhenCompiled() {
        #expect { try FieldProgram(bindings: [.init(definition: "x", column: ColumnSpec(name: "c", type: .date), format: "yyyy-QQ")]) }
            throws: { ($0 as? SluiceError)?.message.contains("column 'c': datetime format 'yyyy-QQ'") == true }
        #expect { try FieldProgram(bindings: [.init(definition: "x", column: ColumnSpec(name: "n", type: .bigint), unit: .seconds)]) }
            throws: { ($0 as? SluiceError)?.message.contains("column 'n' is BIGINT") == true }
    }

    @Test func jobMappingCarriesTheOptions() throws {
        let table = [ColumnSpec(name: "k", type: .string), ColumnSpec(name: "when", type: .timestamp)]
        let program = try FieldProgram(table: table, mapping: [FieldMapping(from: "t", to: "WHEN", unit: .seconds)])
        #expect(try program.evaluate(OwnedRecord(value: Array(#"{"t":1.5}"#.utf8))).get()
                == [.null, .timestamp(seconds: 1, nanos: 500_000_000)])
    }

    @Test func yamlKeysRoundTrip() throws {
        let yaml = """
        source: { bootstrapServers: "h:9092", topic: t, begin: { earliest: true }, end: { latest: true } }
        mapping:
          - { from: __key__, to: k }
          - { from: ts, to: event_time, unit: s }
          - { from: day, to: d, unit: ms, format: "yyyy-MM-dd HH:mm:ss" }
        destination: { type: discard, table: x }
        """
        let job = try JobLoader.parse(data: Data(yaml.utf8), fileName: "j.yaml").spec
        #expect(job.mapping == [FieldMapping(from: "__key__", to: "k"),
                                FieldMapping(from: "ts", to: "event_time", unit: .seconds),
                                FieldMapping(from: "day", to: "d", unit: .milliseconds, format: "yyyy-MM-dd HH:mm:ss")])
        let text = JobEmitter.yaml(job, secrets: .redact).text
        #expect(text.contains("unit: s") && text.contains("format:"))
        #expect(try JobLoader.parse(data: Data(text.utf8), fileName: "again.yaml").spec == job)
    }

    // MARK: - Over-long values

    func run(_ texts: [String], _ type: ColumnType, nullable: Bool = true, rule: OverLengthRule?, max: Int?) throws
        -> (rows: [Value], dirty: [DirtyReason], counted: Int) {
        let program = try FieldProgram(mapping: [("v", ColumnSpec(name: "c", type: type, nullable: nullable))],
                                       options: FieldProgramOptions(maxFieldLength: max, overLengthRule: rule))
        let batch = OwnedRecordBatch(texts.map { OwnedRecord(value: Array("{\"v\":\"\($0)\"}".utf8)) })
        var rows = RowBatch(columns: program.columns)
        var dirty = DirtyCollector()
        try program.run(batch, into: &rows, dirty: &dirty)
        return (rows.values, dirty.records.map(\.reason), dirty.overLengthCount)
    }

    @Test(arguments: [ColumnType.string, .binary])
    func overLengthRules(type: ColumnType) throws {
        let texts = ["abc", "abcdef", "日本語"]   // 3, 6 and 9 bytes; the limit is 4 bytes
        func v(_ s: String) -> Value { type == .binary ? .binary(Array(s.utf8)) : .string(s) }
        let none = try run(texts, type, rule: nil, max: 4)
        #expect(none.rows == [v("abc")] && none.counted == 0)
        #expect(none.dirty.map(\.kind) == [.tooLong, .tooLong])
        #expect(none.dirty[0].message.contains("maxFieldLength (4 bytes)"))
        let truncate = try run(texts, type, rule: .truncate, max: 4)
        let cut: Value = type == .binary ? .binary(Array("日本語".utf8.prefix(4))) : .string("日")
        #expect(truncate.rows == [v("abc"), v("abcd"), cut] && truncate.counted == 2 && truncate.dirty.isEmpty)
        let setNull = try run(texts, type, rule: .setNull, max: 4)
        #expect(setNull.rows == [v("abc"), .null, .null] && setNull.counted == 2)
        let keepOn = try run(texts, type, rule: .keepOn, max: 4)
        #expect(keepOn.rows == texts.map(v) && keepOn.counted == 2)
        let notNull = try run(texts, type, nullable: false, rule: .setNull, max: 4)
        #expect(notNull.rows == [v("abc")] && notNull.dirty.map(\.kind) == [.nullNotAllowed, .nullNotAllowed])
    }

    @Test func varcharCharactersFollowTheRule() throws {
        let texts = ["ab", "abcd", "日本語x"]
        #expect(try run(texts, .varchar(3), rule: nil, max: nil).dirty.map(\.kind) == [.tooLong, .tooLong])
        let t = try run(texts, .varchar(3), rule: .truncate, max: nil)
        #expect(t.rows == [.string("ab"), .string("abc"), .string("日本語")] && t.counted == 2)
        // Both limits: 3 characters and 5 bytes.
        #expect(try run(["日本語x"], .char(3), rule: .truncate, max: 5).rows == [.string("日")])
    }

    @Test func stringLimitDefaultsToEightMiB() throws {
        let big = String(repeating: "x", count: (8 << 20) + 1)
        let r = try run([big], .string, rule: nil, max: nil)
        #expect(r.rows.isEmpty && r.dirty.first?.message == "text of \((8 << 20) + 1) bytes is longer than STRING's 8 MiB limit")
        #expect(try run([big], .string, rule: .truncate, max: nil).rows == [.string(String(big.dropLast()))])
    }

    @Test func optionsFromAJobIncludeTheRule() {
        let job = JobSpec(name: "j", source: KafkaSourceSpec(bootstrapServers: ["h:9092"], topic: "t"), mapping: [],
                          destination: DestinationSpec(kind: .discard, table: "x", overLengthRule: .setNull, maxFieldLength: 10))
        let o = FieldProgramOptions(job: job, fallbackZone: TimeZone(identifier: "UTC")!)
        #expect(o.overLengthRule == .setNull && o.maxFieldLength == 10)
    }
}
