import Foundation
import SluiceCore
import SluiceMaxComputeWire
import Testing
import SluiceJob

func hex(_ s: String) -> [UInt8] {
    let clean = s.filter { $0.isHexDigit }
    var out: [UInt8] = []
    var i = clean.startIndex
    while i < clean.endIndex {
        let j = clean.index(i, offsetBy: 2)
        out.append(UInt8(clean[i..<j], radix: 16)!)
        i = j
    }
    return out
}

let goldenColumns = [
    ColumnSpec(name: "id", type: .bigint), ColumnSpec(name: "name", type: .string),
    ColumnSpec(name: "score", type: .double), ColumnSpec(name: "ok", type: .boolean),
    ColumnSpec(name: "ts", type: .datetime), ColumnSpec(name: "amt", type: .decimal(precision: 18, scale: 2)),
]

func goldenBatch() -> RowBatch {
    var batch = RowBatch(columns: goldenColumns)
    batch.append(row: [.int(1), .string("hello"), .double(1.5), .bool(true), .datetime(1_704_164_645_000), .decimal("12.34")])
    batch.append(row: [.int(-2), .string("世界"), .null, .bool(false), .null, .decimal("-0.5")])
    return batch
}

@Suite struct WireTests {
    @Test func crc32cCheckValue() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8]()) == 0)
    }

    @Test func crc32cPathsAgree() {
        // Slicing-by-8, the 4/8-byte helpers and byte-at-a-time give the same result.
        let data = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 7919 &+ 13) }
        var bytewise = CRC32C()
        for b in data { bytewise.update(byte: b) }
        #expect(CRC32C.checksum(data) == bytewise.value)
        var words = CRC32C()
        words.update(uint32: 0x0403_0201)
        words.update(uint64: 0x0C0B_0A09_0807_0605)
        #expect(words.value == CRC32C.checksum(Array(1...12)))
    }

    @Test func goldenVector() throws {
        var encoder = try TunnelRecordEncoder(tableColumns: goldenColumns, writeColumns: goldenColumns)
        var out: [UInt8] = []
        try encoder.encode(goldenBatch(), into: &out)
        encoder.finish(into: &out)
        let expected = hex("""
            08 02 12 05 68656c6c6f 19 000000000000f83f 20 01 28 90e286829963 32 05 31322e3334 80c0ff7f caaf85be0e
            08 03 12 06 e4b896e7958c 20 00 32 04 2d302e35 80c0ff7f add6dc15
            f0ffff7f 04 f8ffff7f 94cfd154
            """)
        #expect(out == expected)
        #expect(try TunnelStreamDecoder(columns: goldenColumns).decode(out) == [Array(goldenBatch().row(0)), Array(goldenBatch().row(1))])
    }

    @Test func writeColumnsInAnyOrderMapToTableFields() throws {
        // The job writes a subset in another order; field numbers follow the table.
        let write = [ColumnSpec(name: "amt", type: .decimal(precision: 18, scale: 2)), ColumnSpec(name: "ID", type: .bigint)]
        var encoder = try TunnelRecordEncoder(tableColumns: goldenColumns, writeColumns: write)
        var batch = RowBatch(columns: write)
        batch.append(row: [.decimal("1.00"), .int(7)])
        var out: [UInt8] = []
        try encoder.encode(batch, into: &out)
        encoder.finish(into: &out)
        let rows = try TunnelStreamDecoder(columns: goldenColumns).decode(out)
        #expect(rows == [[.int(7), .null, .null, .null, .null, .decimal("1.00")]])
        #expect(throws: SluiceError.self) {
            try TunnelRecordEncoder(tableColumns: goldenColumns, writeColumns: [ColumnSpec(name: "nope", type: .string)])
        }
    }

    /// A JSON column goes as its text, the bytes a STRING column would get (pyodps's record writer
    /// writes JSON with its string writer).
    @Test func jsonColumnsAreWrittenAsTheirText() throws {
        func encoded(_ type: ColumnType) throws -> [UInt8] {
            let columns = [ColumnSpec(name: "j", type: type)]
            var encoder = try TunnelRecordEncoder(tableColumns: columns, writeColumns: columns)
            var batch = RowBatch(columns: columns)
            batch.append(row: [.string(#"{"a":[1,"é"]}"#)])
            var out: [UInt8] = []
            try encoder.encode(batch, into: &out)
            encoder.finish(into: &out)
            return out
        }
        #expect(try encoded(.json) == encoded(.string))
        #expect(try TunnelStreamDecoder(columns: [ColumnSpec(name: "j", type: .json)]).decode(try encoded(.json))
                == [[.string(#"{"a":[1,"é"]}"#)]])
    }

    @Test func typeMismatchAndRangeAreErrors() throws {
        let cols = [ColumnSpec(name: "a", type: .tinyint), ColumnSpec(name: "b", type: .string)]
        var encoder = try TunnelRecordEncoder(tableColumns: cols, writeColumns: cols)
        var out: [UInt8] = []
        var batch = RowBatch(columns: cols)
        batch.append(row: [.int(128), .string("x")])
        #expect { try encoder.encode(batch, into: &out) } throws: { ($0 as? SluiceError)?.message.contains("out of range") == true }
        var batch2 = RowBatch(columns: cols)
        batch2.append(row: [.int(1), .int(2)])
        #expect { try encoder.encode(batch2, into: &out) } throws: { ($0 as? SluiceError)?.message.contains("STRING") == true }
    }

    @Test(arguments: [OverLengthRule?.none, .truncate, .keepOn, .setNull])
    func overLengthRules(rule: OverLengthRule?) throws {
        let cols = [ColumnSpec(name: "s", type: .string), ColumnSpec(name: "b", type: .binary)]
        var encoder = try TunnelRecordEncoder(tableColumns: cols, writeColumns: cols,
                                              limits: FieldLimits(maxFieldLength: 4, overLengthRule: rule))
        var batch = RowBatch(columns: cols)
        batch.append(row: [.string("aé世界"), .binary([1, 2, 3, 4, 5])]) // 1 + 2 + 3 + 3 bytes
        batch.append(row: [.string("abcd"), .binary([9])])
        var out: [UInt8] = []
        guard let rule else {
            #expect { try encoder.encode(batch, into: &out) } throws: { ($0 as? SluiceError)?.hint?.contains("overLengthRule") == true }
            return
        }
        try encoder.encode(batch, into: &out)
        encoder.finish(into: &out)
        let rows = try TunnelStreamDecoder(columns: cols).decode(out)
        #expect(rows[1] == [.string("abcd"), .binary([9])])
        switch rule {
        case .truncate: #expect(rows[0] == [.string("aé"), .binary([1, 2, 3, 4])])
        case .keepOn: #expect(rows[0] == [.string("aé世界"), .binary([1, 2, 3, 4, 5])])
        case .setNull: #expect(rows[0] == [.null, .null])
        }
        #expect(encoder.overLengthValues == 2)
    }

    @Test func emptyAsNull() throws {
        let cols = [ColumnSpec(name: "s", type: .string)]
        for flag in [false, true] {
            var encoder = try TunnelRecordEncoder(tableColumns: cols, writeColumns: cols, limits: FieldLimits(emptyAsNull: flag))
            var batch = RowBatch(columns: cols)
            batch.append(row: [.string("")])
            var out: [UInt8] = []
            try encoder.encode(batch, into: &out)
            encoder.finish(into: &out)
            #expect(try TunnelStreamDecoder(columns: cols).decode(out) == [[flag ? .null : .string("")]])
        }
    }

    @Test func blocksSplitAtTheSizeAndEachIsAStream() throws {
        let encoder = try TunnelRecordEncoder(tableColumns: goldenColumns, writeColumns: goldenColumns)
        var builder = TunnelBlockBuilder(encoder: encoder, blockSize: 100)
        var blocks: [EncodedBlock] = []
        for _ in 0..<10 { blocks += try builder.add(goldenBatch()) }
        if let last = builder.flush() { blocks.append(last) }
        #expect(blocks.count > 1)
        #expect(blocks.reduce(0) { $0 + $1.rows } == 20)
        #expect(builder.totalRows == 20)
        var all: [[Value]] = []
        for b in blocks {
            let rows = try TunnelStreamDecoder(columns: goldenColumns).decode(b.bytes)
            #expect(Int64(rows.count) == b.rows)
            all += rows
        }
        #expect(all.count == 20)
        #expect(all[19] == Array(goldenBatch().row(1)))
        #expect(builder.flush() == nil)
    }

    @Test func zlibFramingRoundTrip() throws {
        let data = Array(String(repeating: "sluice tunnel block ", count: 500).utf8)
        let z = try Zlib.compress(data)
        #expect(z[0] == 0x78)                                         // RFC 1950 header: CM 8, 32K window
        #expect((UInt16(z[0]) << 8 | UInt16(z[1])) % 31 == 0)         // FCHECK
        #expect(z.count < data.count)
        #expect(try Zlib.decompress(z) == data)
        #expect(throws: SluiceError.self) { try Zlib.decompress(z + [0]) }
        #expect(throws: SluiceError.self) { try Zlib.decompress(Array(z.dropLast(3))) }
    }
}
