import Foundation
import SluiceCore
import SluiceMaxComputeWire
import SluiceTestSupport
import Testing
import SluiceJob

/// Runs a process to completion and returns (exit status, stdout, stderr).
func runProcess(_ executable: String, _ arguments: [String]) async throws -> (Int32, String, String) {
    let r = try await Subprocess.run(executable, arguments)
    return (r.status, r.stdout, r.stderr)
}

func resourcePath(_ name: String) -> String {
    if let url = Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Resources") {
        return url.path
    }
    return URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Resources/\(name)").path
}

/// `$PYTHON`, else the first python3 on PATH (the one pip installed pyodps for).
func findPython() -> String { Subprocess.python }

/// The tagged form `pyodps_decode.py` prints for a value.
func pyodpsTag(_ v: Value) -> String? {
    func hexLE<T: FixedWidthInteger>(_ x: T) -> String {
        withUnsafeBytes(of: x.littleEndian) { $0.map { String(format: "%02x", $0) }.joined() }
    }
    switch v {
    case .null: return nil
    case .int(let i): return "i:\(i)"
    case .double(let d): return "d:" + hexLE(d.bitPattern)
    case .float(let f): return "f:" + hexLE(f.bitPattern)
    case .bool(let b): return "t:\(b)"
    case .datetime(let ms): return "dt:\(ms)"
    case .date(let d): return "date:\(d)"
    case .timestamp(let s, let n): return "ts:\(s):\(n)"
    case .decimal(let s): return "dec:" + s
    case .string(let s): return "s:" + s
    case .binary(let b): return "b:" + b.map { String(format: "%02x", $0) }.joined()
    }
}

@Suite(.timeLimit(.minutes(5))) struct PyodpsCrossCheckTests {
    static let columns: [ColumnSpec] = [
        ColumnSpec(name: "c_bigint", type: .bigint), ColumnSpec(name: "c_int", type: .int),
        ColumnSpec(name: "c_smallint", type: .smallint), ColumnSpec(name: "c_tinyint", type: .tinyint),
        ColumnSpec(name: "c_double", type: .double), ColumnSpec(name: "c_float", type: .float),
        ColumnSpec(name: "c_decimal", type: .decimal(precision: 38, scale: 18)),
        ColumnSpec(name: "c_decimal2", type: .decimal(precision: 10, scale: 2)),
        ColumnSpec(name: "c_string", type: .string), ColumnSpec(name: "c_varchar", type: .varchar(10)),
        ColumnSpec(name: "c_char", type: .char(5)), ColumnSpec(name: "c_boolean", type: .boolean),
        ColumnSpec(name: "c_datetime", type: .datetime), ColumnSpec(name: "c_date", type: .date),
        ColumnSpec(name: "c_timestamp", type: .timestamp), ColumnSpec(name: "c_binary", type: .binary),
    ]

    static func rows() -> [[Value]] {
        var rows: [[Value]] = [
            [.int(.max), .int(Int64(Int32.max)), .int(Int64(Int16.max)), .int(Int64(Int8.max)),
             .double(.greatestFiniteMagnitude), .float(.greatestFiniteMagnitude),
             .decimal("99999999999999999999.999999999999999999"), .decimal("99999999.99"),
             .string("hello"), .string("ten chars!"), .string("abcde"), .bool(true),
             .datetime(253_402_300_799_999), .date(2_932_896), .timestamp(seconds: 9_000_000_000, nanos: 999_999_999),
             .binary([0, 1, 127, 128, 255])],
            [.int(.min), .int(Int64(Int32.min)), .int(Int64(Int16.min)), .int(Int64(Int8.min)),
             .double(-.leastNonzeroMagnitude), .float(-.leastNonzeroMagnitude),
             .decimal("-99999999999999999999.999999999999999999"), .decimal("-0.01"),
             .string("世界 🌍 ünïcødé"), .string("日本語"), .string("é"), .bool(false),
             .datetime(-62_135_596_800_000), .date(-719_162), .timestamp(seconds: -1, nanos: 1),
             .binary([])],
            [.int(0), .int(0), .int(0), .int(0), .double(-0.0), .float(0), .decimal("0.000000000000000001"),
             .decimal("0.00"), .string(""), .string(""), .string(""), .bool(true), .datetime(0), .date(0),
             .timestamp(seconds: 0, nanos: 0), .binary(Array("text".utf8))],
            [.int(-1), .int(-1), .int(-1), .int(-1), .double(.infinity), .float(-.infinity), .decimal("-1"),
             .decimal("1.50"), .string("tab\there\nnew line \"quoted\" \u{0}nul"), .string("x"), .string("y"),
             .bool(false), .datetime(1_704_164_645_123), .date(19_724), .timestamp(seconds: 1_704_164_645, nanos: 123_456_789),
             .binary([0xE4, 0xB8])],
            [.int(1), .null, .null, .null, .double(.nan), .null, .null, .null, .string(String(repeating: "long ", count: 20_000)),
             .null, .null, .null, .null, .null, .null, .null],
            Array(repeating: .null, count: columns.count),
        ]
        // Deterministic pseudo-random rows: many lengths, signs and NULL patterns.
        var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 {
            seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17
            return seed
        }
        for _ in 0..<300 {
            var row: [Value] = []
            for c in columns {
                if next() % 7 == 0 { row.append(.null); continue }
                let r = next()
                switch c.type {
                case .bigint: row.append(.int(Int64(bitPattern: r) >> Int64(r % 63)))
                case .int: row.append(.int(Int64(Int32(truncatingIfNeeded: r))))
                case .smallint: row.append(.int(Int64(Int16(truncatingIfNeeded: r))))
                case .tinyint: row.append(.int(Int64(Int8(truncatingIfNeeded: r))))
                case .double: row.append(.double(Double(Int64(bitPattern: r)) / Double(1 + r % 1000)))
                case .float: row.append(.float(Float(Int32(truncatingIfNeeded: r)) / 7))
                case .decimal(_, let scale):
                    let whole = Int64(bitPattern: r) % 1_000_000
                    let frac = String(r % 100).padding(toLength: scale, withPad: "0", startingAt: 0)
                    row.append(.decimal(scale == 0 ? "\(whole)" : "\(whole).\(frac)"))
                case .string:
                    let scalars = (0..<(r % 40)).map { i in Character(UnicodeScalar(UInt32(0x20 + (r >> (i % 50)) % 0x3000))
                        ?? "?") }
                    row.append(.string(String(scalars)))
                case .varchar: row.append(.string(String("varchar".prefix(Int(r % 8)))))
                case .char: row.append(.string(String("chars".prefix(Int(r % 6)))))
                case .boolean: row.append(.bool(r & 1 == 1))
                // DATETIME and DATE within 0001-01-01 … 9999-12-31.
                case .datetime: row.append(.datetime(Int64(r % 315_537_897_600_000) - 62_135_596_800_000))
                case .date: row.append(.date(Int32(r % 3_652_059) - 719_162))
                case .timestamp: row.append(.timestamp(seconds: Int64(bitPattern: r) % 5_000_000_000, nanos: Int32(r % 1_000_000_000)))
                case .binary: row.append(.binary((0..<(r % 20)).map { UInt8(truncatingIfNeeded: r >> $0) }))
                case .json: row.append(.string("{\"n\":\(r % 1000)}"))
                }
            }
            rows.append(row)
        }
        return rows
    }

    @Test(arguments: [UploadCompression.none, .deflate], [64 << 20, 16384])
    func pyodpsDecodesOurBlocksExactly(compression: UploadCompression, blockSize: Int) async throws {
        let rows = Self.rows()
        var batch = RowBatch(columns: Self.columns)
        for r in rows { batch.append(row: r) }
        let encoder = try TunnelRecordEncoder(tableColumns: Self.columns, writeColumns: Self.columns)
        var builder = TunnelBlockBuilder(encoder: encoder, blockSize: blockSize)
        var blocks = try builder.add(batch)
        if let last = builder.flush() { blocks.append(last) }
        #expect(blockSize > 100_000 ? blocks.count == 1 : blocks.count > 2)

        let schema = try String(decoding: JSONSerialization.data(withJSONObject: Self.columns.map { [$0.name, $0.type.description.lowercased()] }),
                                as: UTF8.self)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-mc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }

        var decoded: [[String?]] = []
        for (i, block) in blocks.enumerated() {
            // Our own length check: the stream ends exactly at the trailer (pyodps ignores trailing bytes).
            #expect(try TunnelStreamDecoder(columns: Self.columns).decode(block.bytes).count == Int(block.rows))
            let body = compression == .deflate ? try Zlib.compress(block.bytes) : block.bytes
            let file = dir.appendingPathComponent("block\(i)")
            try Data(body).write(to: file)
            let (status, out, err) = try await runProcess(findPython(), [resourcePath("pyodps_decode.py"), file.path, schema,
                                                                           compression.rawValue])
            try #require(status == 0, "pyodps rejected block \(i): \(err)")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [[Any]])
            #expect(json.count == Int(block.rows))
            decoded += json.map { $0.map { $0 as? String } }
        }
        let expected = rows.map { $0.map(pyodpsTag) }
        #expect(decoded.count == expected.count)
        for (i, (got, want)) in zip(decoded, expected).enumerated() where got != want {
            Issue.record("row \(i): pyodps read \(got), wrote \(want)")
            break
        }
    }

    @Test func pyodpsRejectsATruncatedStream() async throws {
        // The harness itself must be able to fail: a stream cut before its trailer is rejected.
        var encoder = try TunnelRecordEncoder(tableColumns: goldenColumns, writeColumns: goldenColumns)
        var out: [UInt8] = []
        try encoder.encode(goldenBatch(), into: &out)
        let schema = #"[["id","bigint"],["name","string"],["score","double"],["ok","boolean"],["ts","datetime"],["amt","decimal(18,2)"]]"#
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-mc-trunc-\(UUID().uuidString)")
        try Data(out).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let (status, _, err) = try await runProcess(findPython(), [resourcePath("pyodps_decode.py"), file.path, schema, "none"])
        #expect(status != 0)
        #expect(err.contains("StreamTruncatedException"), "\(err)")
    }
}
