import SluiceCore
import SluiceMaxComputeWire

/// An independent decoder of the tunnel record stream, used by the test server and the tests. It
/// checks every record CRC, the record count and the CRC of CRCs, and rejects trailing bytes.
struct TunnelStreamDecoder {
    struct DecodeError: Error, CustomStringConvertible {
        var description: String
    }

    let columns: [ColumnSpec]

    func decode(_ bytes: [UInt8]) throws -> [[Value]] {
        var pos = 0
        func varint() throws -> UInt64 {
            var result: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                guard pos < bytes.count else { throw DecodeError(description: "truncated varint at \(pos)") }
                let b = bytes[pos]
                pos += 1
                result |= UInt64(b & 0x7F) << shift
                if b & 0x80 == 0 { return result }
                shift += 7
                guard shift < 64 else { throw DecodeError(description: "varint too long at \(pos)") }
            }
        }
        func take(_ n: Int) throws -> ArraySlice<UInt8> {
            guard n >= 0, pos + n <= bytes.count else { throw DecodeError(description: "truncated field at \(pos)") }
            defer { pos += n }
            return bytes[pos..<(pos + n)]
        }
        func le(_ s: ArraySlice<UInt8>) -> UInt64 {
            var v: UInt64 = 0
            for (i, b) in s.enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
            return v
        }
        var rows: [[Value]] = []
        var row = [Value](repeating: .null, count: columns.count)
        var crc = CRC32C()
        var crcs = CRC32C()
        while true {
            guard pos < bytes.count else { throw DecodeError(description: "stream ends without a trailer") }
            let tag = try varint()
            let field = tag >> 3
            let wire = tag & 7
            switch field {
            case 33_553_408:
                let expected = UInt32(truncatingIfNeeded: try varint())
                guard expected == crc.value else {
                    throw DecodeError(description: "record \(rows.count): CRC \(expected) != computed \(crc.value)")
                }
                crcs.update(uint32: expected)
                crc.reset()
                rows.append(row)
                row = [Value](repeating: .null, count: columns.count)
            case 33_554_430:
                let count = Varint.unzigzag(try varint())
                guard count == Int64(rows.count) else { throw DecodeError(description: "count \(count) != \(rows.count) records") }
                guard try varint() >> 3 == 33_554_431 else { throw DecodeError(description: "no checksum tag after count") }
                let total = UInt32(truncatingIfNeeded: try varint())
                guard total == crcs.value else { throw DecodeError(description: "CRC of CRCs mismatch") }
                guard pos == bytes.count else { throw DecodeError(description: "\(bytes.count - pos) bytes after the trailer") }
                return rows
            default:
                guard field >= 1, Int(field) <= columns.count else { throw DecodeError(description: "bad field number \(field)") }
                crc.update(uint32: UInt32(field))
                let i = Int(field) - 1
                let type = columns[i].type
                switch type {
                case .bigint, .int, .smallint, .tinyint, .datetime, .date:
                    guard wire == 0 else { throw DecodeError(description: "field \(field): wire type \(wire)") }
                    let v = Varint.unzigzag(try varint())
                    crc.update(uint64: UInt64(bitPattern: v))
                    switch type {
                    case .datetime: row[i] = .datetime(v)
                    case .date: row[i] = .date(Int32(truncatingIfNeeded: v))
                    default: row[i] = .int(v)
                    }
                case .boolean:
                    let v = try varint()
                    crc.update(byte: v != 0 ? 1 : 0)
                    row[i] = .bool(v != 0)
                case .double:
                    guard wire == 1 else { throw DecodeError(description: "field \(field): wire type \(wire)") }
                    let bits = le(try take(8))
                    crc.update(uint64: bits)
                    row[i] = .double(Double(bitPattern: bits))
                case .float:
                    guard wire == 5 else { throw DecodeError(description: "field \(field): wire type \(wire)") }
                    let bits = UInt32(le(try take(4)))
                    crc.update(uint32: bits)
                    row[i] = .float(Float(bitPattern: bits))
                case .timestamp:
                    let s = Varint.unzigzag(try varint())
                    let zz = UInt32(truncatingIfNeeded: try varint())
                    let n = Int32(bitPattern: zz >> 1) ^ -Int32(bitPattern: zz & 1)
                    crc.update(uint64: UInt64(bitPattern: s))
                    crc.update(uint32: UInt32(bitPattern: n))
                    row[i] = .timestamp(seconds: s, nanos: n)
                case .string, .varchar, .char, .decimal, .binary, .json:
                    guard wire == 2 else { throw DecodeError(description: "field \(field): wire type \(wire)") }
                    let n = Int(try varint())
                    let data = Array(try take(n))
                    crc.update(data)
                    switch type {
                    case .binary: row[i] = .binary(data)
                    case .decimal: row[i] = .decimal(String(decoding: data, as: UTF8.self))
                    default:
                        guard let s = String(validating: data, as: UTF8.self) else {
                            throw DecodeError(description: "field \(field): invalid UTF-8")
                        }
                        row[i] = .string(s)
                    }
                }
            }
        }
    }
}
