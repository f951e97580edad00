import Foundation

/// Why a record could not be turned into a row.
public struct DirtyReason: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// The value (or key) is not JSON although JSON paths are mapped.
        case notJSON
        /// A mapped JSON path is missing and `missingField` is `dirty`.
        case missingField
        /// A number does not fit the column type.
        case overflow
        /// Text that is not a number went into a numeric column.
        case notNumeric
        /// A number with a fractional part went into an integer column.
        case notInteger
        /// Text or a number that is not a valid date/time for a DATETIME, DATE or TIMESTAMP column.
        case invalidDate
        /// Text longer than VARCHAR(n)/CHAR(n) (characters) or STRING (8 MiB).
        case tooLong
        /// Bytes that are not valid text (UTF-8, or the job's `encoding`).
        case invalidText
        /// A `long`/`integer`/`short`/`double`/`float` key or value with the wrong byte count.
        case wrongLength
        /// Text that is not a boolean went into a BOOLEAN column.
        case notBoolean
        /// NULL went into a NOT NULL column.
        case nullNotAllowed
        /// A source kind the column type cannot take (e.g. a JSON object into BIGINT).
        case incompatible
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}

/// One source value before conversion. Pointers are valid only while the record is being processed.
enum Cell {
    case null
    case int(Int64)
    case double(Double)
    case bool(Bool)
    /// UTF-8 text, not yet validated.
    case text(UnsafeRawBufferPointer)
    case string(String)
    /// A JSON number's text.
    case number(UnsafeRawBufferPointer)
    /// Compact JSON text of an object or array.
    case json(UnsafeRawBufferPointer)
    /// Raw bytes (`bytearray`).
    case bytes(UnsafeRawBufferPointer)
}

/// Per-run conversion state: options, the zone-offset cache and scratch buffers.
struct Converter {
    let emptyAsNull: Bool
    let unit: EpochUnit
    let pattern: DateTimePattern?
    var zone: ZoneOffsets
    var digits: [UInt8] = []

    init(emptyAsNull: Bool, unit: EpochUnit, pattern: DateTimePattern?, zone: TimeZone) {
        self.emptyAsNull = emptyAsNull
        self.unit = unit
        self.pattern = pattern
        self.zone = ZoneOffsets(zone: zone)
        digits.reserveCapacity(64)
    }

    static let maxStringBytes = 8 << 20
    static let minDatetimeMillis: Int64 = -62_135_596_800_000   // 0001-01-01T00:00:00Z
    static let maxDatetimeMillis: Int64 = 253_402_300_799_999   // 9999-12-31T23:59:59.999Z

    mutating func convert(_ cell: Cell, to type: ColumnType, nullable: Bool) throws(DirtyReason) -> Value {
        switch cell {
        case .null:
            guard nullable else { throw DirtyReason(.nullNotAllowed, "NULL into a NOT NULL \(type) column") }
            return .null
        case .text(let b) where b.isEmpty && emptyAsNull:
            return try convert(.null, to: type, nullable: nullable)
        case .string(let s) where s.isEmpty && emptyAsNull:
            return try convert(.null, to: type, nullable: nullable)
        default: break
        }
        switch type {
        case .bigint: return .int(try integer(cell, min: .min, max: .max, type))
        case .int: return .int(try integer(cell, min: Int64(Int32.min), max: Int64(Int32.max), type))
        case .smallint: return .int(try integer(cell, min: Int64(Int16.min), max: Int64(Int16.max), type))
        case .tinyint: return .int(try integer(cell, min: Int64(Int8.min), max: Int64(Int8.max), type))
        case .double: return .double(try floating(cell, type))
        case .float:
            let d = try floating(cell, type)
            let f = Float(d)
            if d.isFinite, !f.isFinite { throw DirtyReason(.overflow, "\(d) overflows FLOAT") }
            return .float(f)
        case .decimal(let p, let s): return .decimal(try decimal(cell, precision: p, scale: s))
        case .string:
            let s = try string(cell, type)
            if s.utf8.count > Self.maxStringBytes {
                throw DirtyReason(.tooLong, "text of \(s.utf8.count) bytes is longer than STRING's 8 MiB limit")
            }
            return .string(s)
        case .varchar(let n), .char(let n):
            let s = try string(cell, type)
            if s.utf8.count > n {
                let chars = s.unicodeScalars.count
                if chars > n {
                    throw DirtyReason(.tooLong, "text of \(chars) characters is too long for \(type): \(Self.preview(s))")
                }
            }
            return .string(s)
        case .boolean: return .bool(try boolean(cell))
        case .datetime:
            let (sec, nanos) = try instant(cell, type)
            let (ms, o1) = sec.multipliedReportingOverflow(by: 1000)
            let (total, o2) = ms.addingReportingOverflow(Int64(nanos / 1_000_000))
            guard !o1, !o2, total >= Self.minDatetimeMillis, total <= Self.maxDatetimeMillis else {
                throw DirtyReason(.invalidDate, "\(describe(cell)) is outside DATETIME's range 0001-01-01 … 9999-12-31")
            }
            return .datetime(total)
        case .timestamp:
            let (sec, nanos) = try instant(cell, type)
            guard sec >= Self.minDatetimeMillis / 1000, sec <= Self.maxDatetimeMillis / 1000 else {
                throw DirtyReason(.invalidDate, "\(describe(cell)) is outside TIMESTAMP's range 0001-01-01 … 9999-12-31")
            }
            return .timestamp(seconds: sec, nanos: Int32(nanos))
        case .date: return .date(try date(cell))
        case .binary: return .binary(try binary(cell))
        }
    }

    // MARK: - Text

    static func preview(_ s: String) -> String {
        let limit = 64
        if s.unicodeScalars.count <= limit { return "'\(s)'" }
        return "'\(String(String.UnicodeScalarView(s.unicodeScalars.prefix(limit))))…'"
    }

    static func preview(_ b: UnsafeRawBufferPointer) -> String {
        if let s = String(validating: UnsafeRawBufferPointer(rebasing: b.prefix(256)).assumingMemoryBoundToUInt8(), as: UTF8.self) {
            return preview(s)
        }
        return "0x" + b.prefix(32).map { String($0 >> 4, radix: 16) + String($0 & 15, radix: 16) }.joined()
            + (b.count > 32 ? "…" : "")
    }

    func describe(_ cell: Cell) -> String {
        switch cell {
        case .null: return "NULL"
        case .int(let v): return "\(v)"
        case .double(let d): return "\(d)"
        case .bool(let b): return "\(b)"
        case .text(let b), .number(let b), .json(let b), .bytes(let b): return Self.preview(b)
        case .string(let s): return Self.preview(s)
        }
    }

    @inline(__always)
    static func utf8String(_ b: UnsafeRawBufferPointer) -> String? {
        FastText.string(b)
    }

    func string(_ cell: Cell, _ type: ColumnType) throws(DirtyReason) -> String {
        switch cell {
        case .null: return ""
        case .string(let s): return s
        case .int(let v): return String(v)
        case .double(let d): return d.description
        case .bool(let b): return b ? "true" : "false"
        case .number(let b), .text(let b), .json(let b), .bytes(let b):
            guard let s = Self.utf8String(b) else {
                throw DirtyReason(.invalidText, "bytes that are not valid UTF-8 into \(type): \(Self.preview(b))")
            }
            return s
        }
    }

    func binary(_ cell: Cell) throws(DirtyReason) -> [UInt8] {
        switch cell {
        case .null: return []
        case .bytes(let b), .text(let b), .number(let b), .json(let b): return Array(b)
        case .string(let s): return Array(s.utf8)
        case .int(let v): return Array(String(v).utf8)
        case .double(let d): return Array(d.description.utf8)
        case .bool(let b): return Array((b ? "true" : "false").utf8)
        }
    }

    /// The bytes of a textual cell with surrounding ASCII whitespace removed, passed to `body`.
    @inline(__always)
    func withTrimmedText<R>(_ cell: Cell, _ body: (UnsafeRawBufferPointer) throws(DirtyReason) -> R?) throws(DirtyReason) -> R? {
        switch cell {
        case .text(let b), .number(let b), .bytes(let b):
            return try body(Self.trim(b))
        case .string(let s):
            return try Self.withUTF8(s) { (b) throws(DirtyReason) -> R? in try body(Self.trim(b)) }
        default: return nil
        }
    }

    /// `String.withUTF8` for a body with typed throws.
    static func withUTF8<R>(_ string: String, _ body: (UnsafeRawBufferPointer) throws(DirtyReason) -> R) throws(DirtyReason) -> R {
        var s = string
        var result: Result<R, DirtyReason>?
        s.withUTF8 { u in
            do throws(DirtyReason) { result = .success(try body(UnsafeRawBufferPointer(u))) } catch { result = .failure(error) }
        }
        return try result!.get()
    }

    static func trim(_ b: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        var lo = 0
        var hi = b.count
        while lo < hi, JSONPathScanner.isWS(b[lo]) { lo += 1 }
        while hi > lo, JSONPathScanner.isWS(b[hi - 1]) { hi -= 1 }
        return UnsafeRawBufferPointer(rebasing: b[lo..<hi])
    }

    // MARK: - Numbers

    mutating func integer(_ cell: Cell, min: Int64, max: Int64, _ type: ColumnType) throws(DirtyReason) -> Int64 {
        let v: Int64
        switch cell {
        case .int(let x): v = x
        case .bool(let b): v = b ? 1 : 0
        case .double(let d):
            guard d.isFinite else { throw DirtyReason(.overflow, "\(d) does not fit \(type)") }
            guard d.rounded(.towardZero) == d else { throw DirtyReason(.notInteger, "\(d) has a fractional part; \(type) takes whole numbers") }
            guard d >= -9.223372036854775808e18, d < 9.223372036854775808e18 else {
                throw DirtyReason(.overflow, "\(d) overflows \(type)")
            }
            v = Int64(d)
        case .json, .null:
            throw DirtyReason(.incompatible, "\(describe(cell)) cannot go into \(type)")
        case .number(let b) where FastText.smallInteger(b) != nil:
            v = FastText.smallInteger(b)!
        default:
            var digits = self.digits
            defer { self.digits = digits }
            let parsed: Int64? = try withTrimmedText(cell) { (b) throws(DirtyReason) -> Int64? in
                try Self.parseInteger(b, type, &digits)
            }
            v = parsed!
        }
        guard v >= min, v <= max else { throw DirtyReason(.overflow, "\(v) overflows \(type) (\(min) … \(max))") }
        return v
    }

    static func parseInteger(_ b: UnsafeRawBufferPointer, _ type: ColumnType, _ digits: inout [UInt8]) throws(DirtyReason) -> Int64 {
        // Fast path: optional sign and digits.
        var i = 0
        var negative = false
        if i < b.count, b[i] == UInt8(ascii: "-") || b[i] == UInt8(ascii: "+") {
            negative = b[i] == UInt8(ascii: "-")
            i += 1
        }
        if i < b.count, b[i...].allSatisfy({ $0 &- UInt8(ascii: "0") < 10 }) {
            var v: Int64 = 0
            while i < b.count {
                let d = Int64(b[i] - UInt8(ascii: "0"))
                let (m, o1) = v.multipliedReportingOverflow(by: 10)
                let (s, o2) = negative ? m.subtractingReportingOverflow(d) : m.addingReportingOverflow(d)
                if o1 || o2 { throw DirtyReason(.overflow, "\(preview(b)) overflows \(type)") }
                v = s
                i += 1
            }
            return v
        }
        guard let dec = DecimalText.parse(b, into: &digits) else {
            throw DirtyReason(.notNumeric, "\(preview(b)) is not a number, for \(type)")
        }
        if dec.exponent < 0 { throw DirtyReason(.notInteger, "\(preview(b)) has a fractional part; \(type) takes whole numbers") }
        if digits.isEmpty { return 0 }
        if digits.count + dec.exponent > 19 { throw DirtyReason(.overflow, "\(preview(b)) overflows \(type)") }
        var v: Int64 = 0
        for k in 0..<(digits.count + dec.exponent) {
            let d = Int64(k < digits.count ? digits[k] : 0)
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (s, o2) = dec.negative ? m.subtractingReportingOverflow(d) : m.addingReportingOverflow(d)
            if o1 || o2 { throw DirtyReason(.overflow, "\(preview(b)) overflows \(type)") }
            v = s
        }
        return v
    }

    func floating(_ cell: Cell, _ type: ColumnType) throws(DirtyReason) -> Double {
        switch cell {
        case .int(let v): return Double(v)
        case .double(let d): return d
        case .bool(let b): return b ? 1 : 0
        case .json, .null: throw DirtyReason(.incompatible, "\(describe(cell)) cannot go into \(type)")
        case .number(let b) where FastText.fastDouble(b) != nil:
            return FastText.fastDouble(b)!
        default:
            let r: Double? = try withTrimmedText(cell) { (b) throws(DirtyReason) -> Double? in
                if DecimalText.isNumber(b) {
                    let s = String(decoding: b.assumingMemoryBoundToUInt8(), as: UTF8.self)
                    guard let d = Double(s) else { throw DirtyReason(.notNumeric, "\(Self.preview(b)) is not a number, for \(type)") }
                    if !d.isFinite { throw DirtyReason(.overflow, "\(Self.preview(b)) overflows \(type)") }
                    return d
                }
                switch String(decoding: b.assumingMemoryBoundToUInt8(), as: UTF8.self) {
                case "NaN": return .nan
                case "Infinity", "+Infinity": return .infinity
                case "-Infinity": return -.infinity
                default: throw DirtyReason(.notNumeric, "\(Self.preview(b)) is not a number, for \(type)")
                }
            }
            return r!
        }
    }

    mutating func decimal(_ cell: Cell, precision: Int, scale: Int) throws(DirtyReason) -> String {
        let type = ColumnType.decimal(precision: precision, scale: scale)
        var digits = self.digits
        defer { self.digits = digits }
        func fromText(_ b: UnsafeRawBufferPointer) throws(DirtyReason) -> String {
            guard let dec = DecimalText.parse(b, into: &digits) else {
                throw DirtyReason(.notNumeric, "\(Self.preview(b)) is not a number, for \(type)")
            }
            guard let text = DecimalText.format(dec, digits: digits, precision: precision, scale: scale) else {
                throw DirtyReason(.overflow, "\(Self.preview(b)) overflows \(type)")
            }
            return text
        }
        switch cell {
        case .int(let v):
            return try Self.withUTF8(String(v)) { (b) throws(DirtyReason) in try fromText(b) }
        case .double(let d):
            guard d.isFinite else { throw DirtyReason(.overflow, "\(d) does not fit \(type)") }
            return try Self.withUTF8(d.description) { (b) throws(DirtyReason) in try fromText(b) }
        case .bool, .json, .null:
            throw DirtyReason(.incompatible, "\(describe(cell)) cannot go into \(type)")
        default:
            let r: String? = try withTrimmedText(cell) { (b) throws(DirtyReason) -> String? in try fromText(b) }
            return r!
        }
    }

    func boolean(_ cell: Cell) throws(DirtyReason) -> Bool {
        switch cell {
        case .bool(let b): return b
        case .int(let v) where v == 0 || v == 1: return v == 1
        case .double(let d) where d == 0 || d == 1: return d == 1
        case .text, .string, .number, .bytes:
            let r: Bool? = try withTrimmedText(cell) { (b) throws(DirtyReason) -> Bool? in
                switch String(decoding: b.assumingMemoryBoundToUInt8(), as: UTF8.self).lowercased() {
                case "true", "1": return true
                case "false", "0": return false
                default: return nil
                }
            }
            if let r { return r }
        default: break
        }
        throw DirtyReason(.notBoolean, "\(describe(cell)) is not a boolean (true, false, 1, 0)")
    }

    // MARK: - Dates

    /// An instant as UTC seconds and nanoseconds (0 ≤ nanos < 10⁹).
    mutating func instant(_ cell: Cell, _ type: ColumnType) throws(DirtyReason) -> (Int64, Int) {
        switch cell {
        case .int(let v): return epoch(v)
        case .double(let d):
            let scaled = unit == .seconds ? d : d / 1000
            guard scaled.isFinite, abs(scaled) < 1e15 else { throw DirtyReason(.invalidDate, "\(d) is not a valid epoch time") }
            let sec = scaled.rounded(.down)
            return (Int64(sec), Int(((scaled - sec) * 1e9).rounded()).clamped(0, 999_999_999))
        case .bool, .json, .null:
            throw DirtyReason(.incompatible, "\(describe(cell)) cannot go into \(type)")
        default:
            var zone = self.zone
            defer { self.zone = zone }
            let unit = self.unit
            let pattern = self.pattern
            let r: (Int64, Int)? = try withTrimmedText(cell) { (b) throws(DirtyReason) -> (Int64, Int)? in
                // A pattern such as yyyyMMddHHmmss comes before reading digits as an epoch number.
                let t = Self.civil(b, pattern)
                if t == nil, let v = Self.epochDigits(b) { return Self.epoch(v, unit) }
                if case .number = cell, let d = Double(String(decoding: b.assumingMemoryBoundToUInt8(), as: UTF8.self)) {
                    let scaled = unit == .seconds ? d : d / 1000
                    guard scaled.isFinite, abs(scaled) < 1e15 else { throw DirtyReason(.invalidDate, "\(d) is not a valid epoch time") }
                    let sec = scaled.rounded(.down)
                    return (Int64(sec), Int(((scaled - sec) * 1e9).rounded()).clamped(0, 999_999_999))
                }
                guard let t else {
                    throw DirtyReason(.invalidDate, "\(Self.preview(b)) is not a date-time (expected \(pattern?.description ?? "yyyy-MM-dd HH:mm:ss, ISO-8601 or epoch \(unit.rawValue)"))")
                }
                let local = CivilDate(year: t.year, month: t.month, day: t.day).dayNumber * 86400
                    + Int64(t.hour * 3600 + t.minute * 60 + t.second)
                let utc = t.offset.map { local - Int64($0) } ?? zone.utc(fromLocal: local)
                return (utc, t.nanos)
            }
            return r!
        }
    }

    static func civil(_ b: UnsafeRawBufferPointer, _ pattern: DateTimePattern?) -> ParsedDateTime? {
        let t = pattern.map { DateTimeParsing.parse(b, pattern: $0) } ?? DateTimeParsing.parseAuto(b)
        guard let t, DateTimeParsing.valid(t) else { return nil }
        return t
    }

    /// Digits only (optionally signed): an epoch number written as text.
    static func epochDigits(_ b: UnsafeRawBufferPointer) -> Int64? {
        guard !b.isEmpty, b.count <= 19 else { return nil }
        var i = 0
        var negative = false
        if b[0] == UInt8(ascii: "-") { negative = true; i = 1 }
        guard i < b.count, b.count - i <= 18 else { return nil }
        var v: Int64 = 0
        while i < b.count {
            let d = b[i] &- UInt8(ascii: "0")
            guard d < 10 else { return nil }
            v = v * 10 + Int64(d)
            i += 1
        }
        return negative ? -v : v
    }

    func epoch(_ v: Int64) -> (Int64, Int) { Self.epoch(v, unit) }

    static func epoch(_ v: Int64, _ unit: EpochUnit) -> (Int64, Int) {
        switch unit {
        case .seconds: return (v, 0)
        case .milliseconds:
            let (sec, ms) = floorDivide(v, 1000)
            return (sec, Int(ms) * 1_000_000)
        }
    }

    mutating func date(_ cell: Cell) throws(DirtyReason) -> Int32 {
        var days: Int64
        switch cell {
        case .text, .string, .bytes:
            // A date written as text is taken as written; a time with an offset moves to the job's zone.
            let pattern = self.pattern
            var zone = self.zone
            defer { self.zone = zone }
            let r: Int64? = try withTrimmedText(cell) { (b) throws(DirtyReason) -> Int64? in
                let t = Self.civil(b, pattern)
                if t == nil, Self.epochDigits(b) != nil { return nil }
                guard let t else {
                    throw DirtyReason(.invalidDate, "\(Self.preview(b)) is not a date (expected \(pattern?.description ?? "yyyy-MM-dd or ISO-8601"))")
                }
                var d = CivilDate(year: t.year, month: t.month, day: t.day).dayNumber
                if let off = t.offset {
                    let utc = d * 86400 + Int64(t.hour * 3600 + t.minute * 60 + t.second) - Int64(off)
                    let local = utc + Int64(zone.offset(atUTC: utc))
                    d = floorDivide(local, 86400).0
                }
                return d
            }
            if let r {
                days = r
                break
            }
            fallthrough
        default:
            let (sec, _) = try instant(cell, .date)
            // Outside ±10^14 s every date is out of range anyway; avoid overflow near Int64's ends.
            guard sec > -100_000_000_000_000, sec < 100_000_000_000_000 else {
                throw DirtyReason(.invalidDate, "\(describe(cell)) is outside DATE's range 0001-01-01 … 9999-12-31")
            }
            let local = sec + Int64(zone.offset(atUTC: sec))
            days = floorDivide(local, 86400).0
        }
        guard days >= -719_162, days <= 2_932_896 else {
            throw DirtyReason(.invalidDate, "\(describe(cell)) is outside DATE's range 0001-01-01 … 9999-12-31")
        }
        return Int32(days)
    }
}

/// Floor division and the non-negative remainder, without overflow.
@inline(__always)
func floorDivide(_ a: Int64, _ b: Int64) -> (Int64, Int64) {
    let q = a / b
    let r = a % b
    return r < 0 ? (q - 1, r + b) : (q, r)
}

extension Int {
    func clamped(_ lo: Int, _ hi: Int) -> Int { Swift.min(Swift.max(self, lo), hi) }
}

extension UnsafeRawBufferPointer {
    @inline(__always)
    func assumingMemoryBoundToUInt8() -> UnsafeBufferPointer<UInt8> {
        guard let base = baseAddress else { return UnsafeBufferPointer(start: nil, count: 0) }
        return UnsafeBufferPointer(start: base.assumingMemoryBound(to: UInt8.self), count: count)
    }
}

/// Decimal text: parsing JSON-style numbers into digits and an exponent, and formatting them at a
/// DECIMAL(p,s) scale with half-up rounding.
enum DecimalText {
    struct Parsed {
        var negative: Bool
        /// value = digits × 10^exponent; digits have no leading or trailing zeros (empty = 0).
        var exponent: Int
    }

    /// A JSON number, optionally with a leading `+`.
    static func isNumber(_ b: UnsafeRawBufferPointer) -> Bool {
        guard let base = b.baseAddress, !b.isEmpty else { return false }
        var p = base.assumingMemoryBound(to: UInt8.self)
        var n = b.count
        if p[0] == UInt8(ascii: "+") {
            p += 1
            n -= 1
            guard n > 0, p[0] != UInt8(ascii: "-") else { return false }
        }
        var i = 0
        return JSONPathScanner.scanNumber(p, n, &i) && i == n
    }

    static func parse(_ b: UnsafeRawBufferPointer, into digits: inout [UInt8]) -> Parsed? {
        guard isNumber(b) else { return nil }
        digits.removeAll(keepingCapacity: true)
        var i = 0
        var negative = false
        if b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
            negative = b[i] == UInt8(ascii: "-")
            i += 1
        }
        var exponent = 0
        var seenPoint = false
        while i < b.count {
            let c = b[i]
            if c == UInt8(ascii: ".") {
                seenPoint = true
            } else if c &- UInt8(ascii: "0") < 10 {
                if !(digits.isEmpty && c == UInt8(ascii: "0")) { digits.append(c - UInt8(ascii: "0")) }
                if seenPoint { exponent -= 1 }
            } else {
                break
            }
            i += 1
        }
        if i < b.count {
            // Exponent.
            i += 1
            var eNeg = false
            if b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
                eNeg = b[i] == UInt8(ascii: "-")
                i += 1
            }
            var e = 0
            while i < b.count {
                if e < 1_000_000 { e = e * 10 + Int(b[i] - UInt8(ascii: "0")) }
                i += 1
            }
            exponent += eNeg ? -e : e
        }
        while let last = digits.last, last == 0 {
            digits.removeLast()
            exponent += 1
        }
        if digits.isEmpty { return Parsed(negative: false, exponent: 0) }
        return Parsed(negative: negative, exponent: exponent)
    }

    /// Plain text scaled to `scale` (half-up), or nil when more than `precision − scale` integer
    /// digits are needed.
    static func format(_ d: Parsed, digits: [UInt8], precision: Int, scale: Int) -> String? {
        // The unscaled integer N = round(value × 10^scale), as digits.
        var n: [UInt8]
        let shift = d.exponent + scale
        if digits.isEmpty {
            n = []
        } else if shift >= 0 {
            guard digits.count + shift <= precision else { return nil }
            n = digits + Array(repeating: 0, count: shift)
        } else {
            let keep = digits.count + shift
            if keep < 0 {
                n = []
            } else {
                n = Array(digits[0..<keep])
                if digits[keep] >= 5 {
                    var k = n.count - 1
                    while k >= 0 {
                        if n[k] == 9 { n[k] = 0; k -= 1 } else { n[k] += 1; break }
                    }
                    if k < 0 { n.insert(1, at: 0) }
                }
                while let f = n.first, f == 0 { n.removeFirst() }
            }
        }
        guard n.count <= precision else { return nil }
        let negative = d.negative && !n.isEmpty
        if n.count <= scale { n = Array(repeating: 0, count: scale - n.count + 1) + n }
        var out = negative ? "-" : ""
        out.reserveCapacity(n.count + 2)
        let intCount = n.count - scale
        for k in 0..<intCount { out.unicodeScalars.append(Unicode.Scalar(n[k] + 48)) }
        if scale > 0 {
            out += "."
            for k in intCount..<n.count { out.unicodeScalars.append(Unicode.Scalar(n[k] + 48)) }
        }
        return out
    }
}
