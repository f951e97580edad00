import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import SluiceCore
import SluiceJob

/// Decoding of key/value bytes as Kafka's Java serializers write them.
public enum KafkaBytes {
    /// The byte count a fixed-width type needs, nil for `string`/`bytearray`.
    public static func width(of type: KafkaDataType) -> Int? {
        switch type {
        case .long, .double: 8
        case .integer, .float: 4
        case .short: 2
        case .string, .bytearray: nil
        }
    }

    @inline(__always)
    static func bigEndian(_ b: UnsafeRawBufferPointer) -> UInt64 {
        var v: UInt64 = 0
        for x in b { v = v << 8 | UInt64(x) }
        return v
    }

    /// `long`/`integer`/`short` as a signed integer; nil when the length is wrong.
    public static func integer(_ b: UnsafeRawBufferPointer, as type: KafkaDataType) -> Int64? {
        guard width(of: type) == b.count else { return nil }
        let v = bigEndian(b)
        switch type {
        case .long: return Int64(bitPattern: v)
        case .integer: return Int64(Int32(truncatingIfNeeded: v))
        case .short: return Int64(Int16(truncatingIfNeeded: v))
        default: return nil
        }
    }

    /// `double`/`float` (IEEE 754, big-endian); nil when the length is wrong.
    public static func floating(_ b: UnsafeRawBufferPointer, as type: KafkaDataType) -> Double? {
        guard width(of: type) == b.count else { return nil }
        let v = bigEndian(b)
        switch type {
        case .double: return Double(bitPattern: v)
        case .float: return Double(Float(bitPattern: UInt32(truncatingIfNeeded: v)))
        default: return nil
        }
    }
}


/// Converts text in one encoding to UTF-8 with glibc's iconv. Not shareable across threads: a field
/// program opens one per `run`.
final class Transcoder {
    private let cd: iconv_t
    /// For `UTF-16` without a byte-order mark: big-endian, as Java reads it (glibc would take the
    /// machine's order).
    private let bigEndianUTF16: iconv_t?
    let encoding: String

    init?(from encoding: String) {
        let cd = iconv_open("UTF-8", encoding)
        if Int(bitPattern: cd) == -1 { return nil }
        self.cd = cd!
        self.encoding = encoding
        let n = encoding.uppercased().replacingOccurrences(of: "_", with: "-")
        if n == "UTF-16" || n == "UTF16", let be = iconv_open("UTF-8", "UTF-16BE"), Int(bitPattern: be) != -1 {
            bigEndianUTF16 = be
        } else {
            bigEndianUTF16 = nil
        }
    }

    deinit {
        iconv_close(cd)
        if let bigEndianUTF16 { iconv_close(bigEndianUTF16) }
    }

    /// Decodes `input` into `out` (replacing its contents). False when the input is not valid text in
    /// the encoding.
    func decode(_ input: UnsafeRawBufferPointer, into out: ByteBuffer) -> Bool {
        out.count = 0
        var cd = self.cd
        if let be = bigEndianUTF16,
           !(input.count >= 2 && ((input[0] == 0xFE && input[1] == 0xFF) || (input[0] == 0xFF && input[1] == 0xFE))) {
            cd = be
        }
        _ = iconv(cd, nil, nil, nil, nil)
        guard let base = input.baseAddress, input.count > 0 else { return true }
        var inPtr: UnsafeMutablePointer<CChar>? = UnsafeMutablePointer(mutating: base.assumingMemoryBound(to: CChar.self))
        var inLeft = input.count
        out.reserve(input.count * 2 + 16)
        while true {
            var outPtr: UnsafeMutablePointer<CChar>? = (out.base + out.count).assumingMemoryBound(to: CChar.self)
            var outLeft = out.capacity - out.count
            let before = outLeft
            let rc = iconv(cd, &inPtr, &inLeft, &outPtr, &outLeft)
            let e = rc == -1 ? errno : 0
            out.count += before - outLeft
            if rc != -1 { return true }
            if e == E2BIG {
                out.reserve(out.capacity * 2)
                continue
            }
            return false
        }
    }
}

/// A growable byte buffer with a stable address between growths; scratch space for a run.
final class ByteBuffer {
    private(set) var base: UnsafeMutableRawPointer
    private(set) var capacity: Int
    var count = 0

    init(capacity: Int = 256) {
        self.capacity = capacity
        base = .allocate(byteCount: capacity, alignment: 8)
    }

    deinit { base.deallocate() }

    func reserve(_ n: Int) {
        guard n > capacity else { return }
        let n = Swift.max(n, capacity * 2)
        let newBase = UnsafeMutableRawPointer.allocate(byteCount: n, alignment: 8)
        newBase.copyMemory(from: base, byteCount: count)
        base.deallocate()
        base = newBase
        capacity = n
    }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    @inline(__always)
    func append(_ byte: UInt8) {
        if count == capacity { reserve(capacity * 2) }
        base.storeBytes(of: byte, toByteOffset: count, as: UInt8.self)
        count += 1
    }

    func append(bytes: UnsafeRawBufferPointer) {
        guard let src = bytes.baseAddress, !bytes.isEmpty else { return }
        if count + bytes.count > capacity { reserve(count + bytes.count) }
        (base + count).copyMemory(from: src, byteCount: bytes.count)
        count += bytes.count
    }

    func append(contentsOf text: StaticString) {
        let n = text.utf8CodeUnitCount
        if count + n > capacity { reserve(count + n) }
        (base + count).copyMemory(from: text.utf8Start, byteCount: n)
        count += n
    }
}

/// Header values in a charset other than UTF-8 (`headerEncoding`), decoded to UTF-8 for
/// `__headers__`. One per field-program run, like its `Transcoder`.
final class HeaderDecoder {
    let transcoder: Transcoder
    let text = ByteBuffer()
    init(transcoder: Transcoder) { self.transcoder = transcoder }
}

/// Renders a record's headers as a JSON object: name → value as a JSON string (the UTF-8 text, or
/// base64 when the bytes are not UTF-8), `null` for a null value; a name that repeats becomes an array
/// of its values in order. Names keep their first-appearance order.
public enum HeadersJSON {
    public static func render(_ headers: [KafkaHeader]) -> String {
        let out = ByteBuffer()
        render(OwnedRecordBatch([OwnedRecord(headers: headers)]), record: 0, into: out)
        return String(decoding: out.bytes.assumingMemoryBoundToUInt8(), as: UTF8.self)
    }

    /// Writes the rendering of record `i`'s headers into `out` (replacing its contents), reading the
    /// header bytes in place. Specialised here for the in-memory batch; other batches (librdkafka's)
    /// take the generic path, which still copies nothing.
    @_specialize(where B == OwnedRecordBatch)
    static func render<B: RecordBatch>(_ batch: B, record i: Int, into out: ByteBuffer, decoding: HeaderDecoder? = nil) {
        out.count = 0
        out.append(UInt8(ascii: "{"))
        let n = batch.headerCount(at: i)
        var first = true
        for h in 0..<n {
            batch.withHeader(at: i, h) { name, value in
                // Later occurrences were written with the first one.
                for j in 0..<h where batch.withHeader(at: i, j, { other, _ in equal(other, name) }) { return }
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                quote(name, into: out)
                out.append(UInt8(ascii: ":"))
                var count = 1
                for j in (h + 1)..<n where batch.withHeader(at: i, j, { other, _ in equal(other, name) }) {
                    count += 1
                }
                if count == 1 {
                    self.value(value, into: out, decoding: decoding)
                    return
                }
                out.append(UInt8(ascii: "["))
                self.value(value, into: out, decoding: decoding)
                for j in (h + 1)..<n {
                    batch.withHeader(at: i, j) { other, otherValue in
                        guard equal(other, name) else { return }
                        out.append(UInt8(ascii: ","))
                        self.value(otherValue, into: out, decoding: decoding)
                    }
                }
                out.append(UInt8(ascii: "]"))
            }
        }
        out.append(UInt8(ascii: "}"))
    }

    static func equal(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        a.count == b.count && (a.count == 0 || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0)
    }

    static func value(_ bytes: UnsafeRawBufferPointer?, into out: ByteBuffer, decoding: HeaderDecoder? = nil) {
        guard let b = bytes else {
            out.append(contentsOf: "null")
            return
        }
        if let decoding {
            if decoding.transcoder.decode(b, into: decoding.text) {
                quote(decoding.text.bytes, into: out)
            } else {
                out.append(UInt8(ascii: "\""))
                base64(b, into: out)
                out.append(UInt8(ascii: "\""))
            }
            return
        }
        if FastText.isValidUTF8(b) {
            quote(b, into: out)
        } else {
            out.append(UInt8(ascii: "\""))
            base64(b, into: out)
            out.append(UInt8(ascii: "\""))
        }
    }

    static let hex = Array("0123456789abcdef".utf8)
    static let base64Alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// Standard base64 with padding.
    static func base64(_ b: UnsafeRawBufferPointer, into out: ByteBuffer) {
        var i = 0
        let a = base64Alphabet
        while i + 3 <= b.count {
            let v = UInt32(b[i]) << 16 | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2])
            out.append(a[Int(v >> 18)]); out.append(a[Int(v >> 12 & 63)])
            out.append(a[Int(v >> 6 & 63)]); out.append(a[Int(v & 63)])
            i += 3
        }
        let rest = b.count - i
        if rest == 1 {
            let v = UInt32(b[i]) << 16
            out.append(a[Int(v >> 18)]); out.append(a[Int(v >> 12 & 63)])
            out.append(contentsOf: "==")
        } else if rest == 2 {
            let v = UInt32(b[i]) << 16 | UInt32(b[i + 1]) << 8
            out.append(a[Int(v >> 18)]); out.append(a[Int(v >> 12 & 63)]); out.append(a[Int(v >> 6 & 63)])
            out.append(UInt8(ascii: "="))
        }
    }

    /// Valid UTF-8 `b` as a JSON string literal.
    static func quote(_ b: UnsafeRawBufferPointer, into out: ByteBuffer) {
        out.append(UInt8(ascii: "\""))
        // Fast path: nothing to escape.
        if !b.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            out.append(bytes: b)
            out.append(UInt8(ascii: "\""))
            return
        }
        for c in b {
            switch c {
            case UInt8(ascii: "\""): out.append(contentsOf: "\\\"")
            case UInt8(ascii: "\\"): out.append(contentsOf: "\\\\")
            case 0x0A: out.append(contentsOf: "\\n")
            case 0x0D: out.append(contentsOf: "\\r")
            case 0x09: out.append(contentsOf: "\\t")
            case 0x08: out.append(contentsOf: "\\b")
            case 0x0C: out.append(contentsOf: "\\f")
            case 0..<0x20:
                out.append(contentsOf: "\\u00")
                out.append(hex[Int(c >> 4)])
                out.append(hex[Int(c & 15)])
            default: out.append(c)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// `s` as a JSON string literal.
    public static func quote(_ s: String) -> String {
        let out = ByteBuffer()
        FastText.withUTF8(s) { quote($0, into: out) }
        return String(decoding: out.bytes.assumingMemoryBoundToUInt8(), as: UTF8.self)
    }
}
