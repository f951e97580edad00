import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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

/// Character encodings for `string` keys and values.
public enum TextEncoding {
    /// True for the names that mean UTF-8 (decoded without iconv).
    public static func isUTF8(_ name: String) -> Bool {
        let n = name.lowercased().replacingOccurrences(of: "-", with: "").replacingOccurrences(of: "_", with: "")
        return n == "utf8"
    }

    /// Checks that iconv knows `name` (e.g. `GBK`, `GB18030`, `UTF-16`, `ISO-8859-1`).
    public static func isSupported(_ name: String) -> Bool {
        if isUTF8(name) { return true }
        let cd = iconv_open("UTF-8", name)
        if Int(bitPattern: cd) == -1 { return false }
        iconv_close(cd)
        return true
    }
}

/// Converts text in one encoding to UTF-8 with glibc's iconv. Not shareable across threads: a field
/// program opens one per `run`.
final class Transcoder {
    private let cd: iconv_t
    let encoding: String

    init?(from encoding: String) {
        let cd = iconv_open("UTF-8", encoding)
        if Int(bitPattern: cd) == -1 { return nil }
        self.cd = cd!
        self.encoding = encoding
    }

    deinit { iconv_close(cd) }

    /// Decodes `input` into `out` (replacing its contents). False when the input is not valid text in
    /// the encoding.
    func decode(_ input: UnsafeRawBufferPointer, into out: ByteBuffer) -> Bool {
        out.count = 0
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
        let newBase = UnsafeMutableRawPointer.allocate(byteCount: n, alignment: 8)
        newBase.copyMemory(from: base, byteCount: count)
        base.deallocate()
        base = newBase
        capacity = n
    }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }
}

/// Renders a record's headers as a JSON object: name → value as a JSON string (the UTF-8 text, or
/// base64 when the bytes are not UTF-8), `null` for a null value; a name that repeats becomes an array
/// of its values in order. Names keep their first-appearance order.
public enum HeadersJSON {
    public static func render(_ headers: [KafkaHeader]) -> String {
        if headers.isEmpty { return "{}" }
        var order: [String] = []
        var values: [String: [String]] = [:]
        for h in headers {
            let v: String
            if let bytes = h.value {
                if let s = String(validating: bytes, as: UTF8.self) {
                    v = quote(s)
                } else {
                    v = "\"" + Data(bytes).base64EncodedString() + "\""
                }
            } else {
                v = "null"
            }
            if values[h.name] == nil { order.append(h.name) }
            values[h.name, default: []].append(v)
        }
        var out = "{"
        for (i, name) in order.enumerated() {
            if i > 0 { out += "," }
            out += quote(name) + ":"
            let vs = values[name]!
            out += vs.count == 1 ? vs[0] : "[" + vs.joined(separator: ",") + "]"
        }
        return out + "}"
    }

    /// `s` as a JSON string literal.
    public static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if u.value < 0x20 {
                    out += "\\u00" + String(u.value >> 4, radix: 16) + String(u.value & 0xF, radix: 16)
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }
}
