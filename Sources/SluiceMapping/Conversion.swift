import Foundation
import SluiceCore
import SluiceJob

/// Why a record could not be turned into a row.
public struct DirtyReason: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// The value (or key) is not JSON although JSON paths are mapped.
        case notJSON
        /// The value is not Avro its schema can read (no Confluent frame, bytes that do not decode).
        case notAvro
        /// The value's schema id is not in the schema registry (or its schema is not Avro).
        case unknownSchema
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
    /// A JSON number's text.
    case number(UnsafeRawBufferPointer)
    /// Compact JSON text of an object or array.
    case json(UnsafeRawBufferPointer)
    /// Raw bytes (`bytearray`).
    case bytes(UnsafeRawBufferPointer)
}

/// How one column is filled: its type, nullability and how date-time text and numbers are read.
struct ColumnConversion: Sendable {
    var type: ColumnType
    var nullable: Bool
    /// What numbers mean in DATETIME/DATE/TIMESTAMP columns.
    var unit: EpochUnit = .milliseconds
    /// Index of the pattern for date-time text in `Converter.patterns`; −1 = ISO-8601 and
    /// `yyyy-MM-dd HH:mm:ss[.SSS]`. (An index keeps this type trivial to copy on the hot path.)
    var pattern: Int = -1
}

/// Per-run conversion state: options, the zone-offset cache and scratch buffers. Converted cells go
/// straight into the open row of a `RowBatch` (text and bytes into its arena, without a `String`).
struct Converter {
    let emptyAsNull: Bool
    /// DataWorks `maxFieldLength` (bytes) for STRING/VARCHAR/CHAR/BINARY; nil = 8 MiB.
    let maxFieldLength: Int?
    /// DataWorks `overLengthRule`; nil = an over-long value makes the record dirty.
    let overLengthRule: OverLengthRule?
    /// Date-time patterns that columns refer to by index.
    let patterns: [DateTimePattern]
    var zone: ZoneOffsets
    var digits: [UInt8] = []
    /// Values of the current record that `overLengthRule` changed (or kept whole).
    var overLength = 0
    /// The rows go to PostgreSQL: NUL in text and JSON `jsonb` refuses make a record dirty.
    let postgresText: Bool

    init(emptyAsNull: Bool, zone: TimeZone, patterns: [DateTimePattern] = [], maxFieldLength: Int? = nil,
         overLengthRule: OverLengthRule? = nil, postgresText: Bool = false) {
        self.emptyAsNull = emptyAsNull
        self.postgresText = postgresText
        self.patterns = patterns
        self.maxFieldLength = maxFieldLength
        self.overLengthRule = overLengthRule
        self.zone = ZoneOffsets(zone: zone)
        digits.reserveCapacity(64)
    }

    static let maxStringBytes = 8 << 20
    static let minDatetimeMillis: Int64 = -62_135_596_800_000   // 0001-01-01T00:00:00Z
    static let maxDatetimeMillis: Int64 = 253_402_300_799_999   // 9999-12-31T23:59:59.999Z

    /// Converts `cell` for a column and returns it as a `Value` (constants, previews).
    mutating func convert(_ cell: Cell, to column: ColumnConversion) throws(DirtyReason) -> Value {
        var one = RowBatch(columns: [ColumnSpec(name: "c", type: column.type, nullable: column.nullable)])
        var failure: DirtyReason?
        one.appendRow { w in
            do throws(DirtyReason) { try convert(cell, to: column, into: &w, at: 0) } catch { failure = error }
            return failure == nil
        }
        if let failure { throw failure }
        return one[0, 0]
    }

    /// Converts `cell` for a column into cell `c` of the open row of `out`.
    mutating func convert(_ cell: Cell, to column: ColumnConversion, into out: inout RowWriter, at c: Int) throws(DirtyReason) {
        let type = column.type
        switch cell {
        case .null:
            guard column.nullable else { throw DirtyReason(.nullNotAllowed, "NULL into a NOT NULL \(type) column") }
            out.set(c, stored: .null)
            return
        case .text(let b) where b.isEmpty && emptyAsNull:
            return try convert(.null, to: column, into: &out, at: c)
        default: break
        }
        switch type {
        case .bigint: out.set(c, stored: .int(try integer(cell, min: .min, max: .max, type)))
        case .int: out.set(c, stored: .int(try integer(cell, min: Int64(Int32.min), max: Int64(Int32.max), type)))
        case .smallint: out.set(c, stored: .int(try integer(cell, min: Int64(Int16.min), max: Int64(Int16.max), type)))
        case .tinyint: out.set(c, stored: .int(try integer(cell, min: Int64(Int8.min), max: Int64(Int8.max), type)))
        case .double: out.set(c, stored: .double(try floating(cell, type)))
        case .float:
            let d = try floating(cell, type)
            let f = Float(d)
            if d.isFinite, !f.isFinite { throw DirtyReason(.overflow, "\(d) overflows FLOAT") }
            out.set(c, stored: .float(f))
        case .decimal(let p, let s):
            let text = try decimal(cell, precision: p, scale: s)
            FastText.withUTF8(text) { out.setBytes(c, $0, .decimal) }
        case .string, .varchar, .char:
            try withText(cell, type) { (b) throws(DirtyReason) in try putText(b, column, into: &out, at: c) }
        case .boolean: out.set(c, stored: .bool(try boolean(cell)))
        case .datetime:
            let (sec, nanos) = try instant(cell, column)
            let (ms, o1) = sec.multipliedReportingOverflow(by: 1000)
            let (total, o2) = ms.addingReportingOverflow(Int64(nanos / 1_000_000))
            guard !o1, !o2, total >= Self.minDatetimeMillis, total <= Self.maxDatetimeMillis else {
                throw DirtyReason(.invalidDate, "\(describe(cell)) is outside DATETIME's range 0001-01-01 … 9999-12-31")
            }
            out.set(c, stored: .datetime(total))
        case .timestamp:
            let (sec, nanos) = try instant(cell, column)
            guard sec >= Self.minDatetimeMillis / 1000, sec <= Self.maxDatetimeMillis / 1000 else {
                throw DirtyReason(.invalidDate, "\(describe(cell)) is outside TIMESTAMP's range 0001-01-01 … 9999-12-31")
            }
            out.set(c, stored: .timestamp(sec, Int32(nanos)))
        case .date: out.set(c, stored: .date(try date(cell, column)))
        case .binary:
            try withBinary(cell) { (b) throws(DirtyReason) in try putBinary(b, column, into: &out, at: c) }
        case .json:
            try json(cell, column, into: &out, at: c)
        }
    }

    // MARK: - Over-long values

    /// Writes valid UTF-8 `b` into a STRING/VARCHAR/CHAR cell, applying the length limits: STRING's
    /// 8 MiB (or `maxFieldLength`), VARCHAR(n)/CHAR(n)'s n characters. An over-long value is dirty,
    /// or follows `overLengthRule`.
    @inline(__always)
    mutating func putText(_ b: UnsafeRawBufferPointer, _ column: ColumnConversion, into out: inout RowWriter, at c: Int) throws(DirtyReason) {
        if postgresText, let base = b.baseAddress, memchr(base, 0, b.count) != nil {
            throw DirtyReason(.invalidText, "text with a NUL character (U+0000), which PostgreSQL text cannot hold: \(Self.preview(b))")
        }
        let limit = maxFieldLength ?? Self.maxStringBytes
        var chars = Int.max
        if case .varchar(let n) = column.type { chars = n } else if case .char(let n) = column.type { chars = n }
        if b.count <= limit, b.count <= chars {
            return out.setBytes(c, b, .string)
        }
        let scalars = b.count > chars ? Self.scalarCount(b) : 0
        guard b.count > limit || scalars > chars else { return out.setBytes(c, b, .string) }
        guard let rule = overLengthRule else {
            if scalars > chars {
                throw DirtyReason(.tooLong, "text of \(scalars) characters is too long for \(column.type): \(Self.preview(String(decoding: b.assumingMemoryBoundToUInt8(), as: UTF8.self)))")
            }
            throw DirtyReason(.tooLong, maxFieldLength == nil
                ? "text of \(b.count) bytes is longer than STRING's 8 MiB limit"
                : "text of \(b.count) bytes is longer than maxFieldLength (\(limit) bytes)")
        }
        switch rule {
        case .keepOn:
            out.setBytes(c, b, .string)
        case .setNull:
            guard column.nullable else {
                throw DirtyReason(.nullNotAllowed, "an over-long value set to NULL (overLengthRule: setNull) into a NOT NULL \(column.type) column")
            }
            out.set(c, stored: .null)
        case .truncate:
            out.setBytes(c, Self.truncatedUTF8(b, bytes: limit, characters: chars), .string)
        }
        overLength += 1
    }

    /// Writes bytes into a BINARY cell, applying `maxFieldLength` (default 8 MiB) and `overLengthRule`.
    @inline(__always)
    mutating func putBinary(_ b: UnsafeRawBufferPointer, _ column: ColumnConversion, into out: inout RowWriter, at c: Int) throws(DirtyReason) {
        let limit = maxFieldLength ?? Self.maxStringBytes
        guard b.count > limit else { return out.setBytes(c, b, .binary) }
        switch overLengthRule {
        case nil:
            throw DirtyReason(.tooLong, maxFieldLength == nil
                ? "\(b.count) bytes are longer than BINARY's 8 MiB limit"
                : "\(b.count) bytes are longer than maxFieldLength (\(limit) bytes)")
        case .keepOn?:
            out.setBytes(c, b, .binary)
        case .setNull?:
            guard column.nullable else {
                throw DirtyReason(.nullNotAllowed, "an over-long value set to NULL (overLengthRule: setNull) into a NOT NULL BINARY column")
            }
            out.set(c, stored: .null)
        case .truncate?:
            out.setBytes(c, UnsafeRawBufferPointer(rebasing: b[0..<limit]), .binary)
        }
        overLength += 1
    }

    /// Unicode scalars in valid UTF-8.
    static func scalarCount(_ b: UnsafeRawBufferPointer) -> Int {
        var n = 0
        for byte in b where byte & 0xC0 != 0x80 { n += 1 }
        return n
    }

    /// The longest prefix of valid UTF-8 `b` with at most `bytes` bytes and `characters` scalars,
    /// cut at a character boundary.
    static func truncatedUTF8(_ b: UnsafeRawBufferPointer, bytes: Int, characters: Int) -> UnsafeRawBufferPointer {
        var end = Swift.min(b.count, bytes)
        // Back to a scalar boundary.
        while end > 0, end < b.count, b[end] & 0xC0 == 0x80 { end -= 1 }
        if characters < Int.max {
            var seen = 0
            var i = 0
            while i < end {
                if b[i] & 0xC0 != 0x80 {
                    if seen == characters { end = i; break }
                    seen += 1
                }
                i += 1
            }
        }
        return UnsafeRawBufferPointer(rebasing: b[0..<end])
    }

    // MARK: - JSON

    /// A JSON cell: an object, array or (from a path) string as written, numbers and booleans as
    /// JSON literals, text and bytes when they are one JSON value. Anything else is dirty, so that
    /// the destination never refuses a load for it.
    mutating func json(_ cell: Cell, _ column: ColumnConversion, into out: inout RowWriter, at c: Int) throws(DirtyReason) {
        switch cell {
        case .null:
            out.set(c, stored: .null)
        case .int(let v):
            FastText.withUTF8(String(v)) { out.setBytes(c, $0, .string) }
        case .double(let d):
            guard d.isFinite else { throw DirtyReason(.incompatible, "\(d) is not a JSON number") }
            FastText.withUTF8(d.description) { out.setBytes(c, $0, .string) }
        case .bool(let b):
            FastText.withUTF8(b ? "true" : "false") { out.setBytes(c, $0, .string) }
        case .text(let b), .number(let b), .json(let b), .bytes(let b):
            guard FastText.isValidUTF8(b) else {
                throw DirtyReason(.invalidText, "bytes that are not valid UTF-8 into JSON: \(Self.preview(b))")
            }
            if let problem = JSONText.problem(in: b, rules: JSONText.Rules(postgres: postgresText)) {
                throw DirtyReason(.notJSON, "not JSON for a JSON column (\(problem)): \(Self.preview(b))")
            }
            try putJSON(b, column, into: &out, at: c)
        }
    }

    /// Writes valid JSON text, applying `maxFieldLength` (default 8 MiB): JSON is never truncated,
    /// so an over-long value is dirty unless `overLengthRule` is `keepOn` or `setNull`.
    mutating func putJSON(_ b: UnsafeRawBufferPointer, _ column: ColumnConversion, into out: inout RowWriter, at c: Int) throws(DirtyReason) {
        let limit = maxFieldLength ?? Self.maxStringBytes
        guard b.count > limit else { return out.setBytes(c, b, .string) }
        switch overLengthRule {
        case .keepOn?:
            out.setBytes(c, b, .string)
        case .setNull? where column.nullable:
            out.set(c, stored: .null)
        default:
            throw DirtyReason(.tooLong, "JSON of \(b.count) bytes is longer than \(maxFieldLength == nil ? "the 8 MiB limit" : "maxFieldLength (\(limit) bytes)"), and JSON is not truncated")
        }
        overLength += 1
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
        }
    }

    /// Calls `body` with the cell as valid UTF-8 text (numbers and booleans as written).
    @inline(__always)
    func withText(_ cell: Cell, _ type: ColumnType, _ body: (UnsafeRawBufferPointer) throws(DirtyReason) -> Void) throws(DirtyReason) {
        switch cell {
        case .null: try body(UnsafeRawBufferPointer(start: nil, count: 0))
        case .int(let v): try FastText.withUTF8(String(v), body)
        case .double(let d): try FastText.withUTF8(d.description, body)
        case .bool(let b): try FastText.withUTF8(b ? "true" : "false", body)
        case .number(let b), .text(let b), .json(let b), .bytes(let b):
            guard FastText.isValidUTF8(b) else {
                throw DirtyReason(.invalidText, "bytes that are not valid UTF-8 into \(type): \(Self.preview(b))")
            }
            try body(b)
        }
    }

    /// Calls `body` with the cell's bytes (text as UTF-8, numbers and booleans as written).
    @inline(__always)
    func withBinary(_ cell: Cell, _ body: (UnsafeRawBufferPointer) throws(DirtyReason) -> Void) throws(DirtyReason) {
        switch cell {
        case .null: try body(UnsafeRawBufferPointer(start: nil, count: 0))
        case .bytes(let b), .text(let b), .number(let b), .json(let b): try body(b)
        case .int(let v): try FastText.withUTF8(String(v), body)
        case .double(let d): try FastText.withUTF8(d.description, body)
        case .bool(let b): try FastText.withUTF8(b ? "true" : "false", body)
        }
    }

    /// The bytes of a textual cell with surrounding ASCII whitespace removed, passed to `body`.
    @inline(__always)
    func withTrimmedText<R>(_ cell: Cell, _ body: (UnsafeRawBufferPointer) throws(DirtyReason) -> R?) throws(DirtyReason) -> R? {
        switch cell {
        case .text(let b), .number(let b), .bytes(let b):
            return try body(Self.trim(b))
        default: return nil
        }
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
        default:
            if case .number(let b) = cell, let small = FastText.smallInteger(b) {
                v = small
                break
            }
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
        default:
            if case .number(let b) = cell, let d = FastText.fastDouble(b) { return d }
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
            return try FastText.withUTF8(String(v)) { (b) throws(DirtyReason) in try fromText(b) }
        case .double(let d):
            guard d.isFinite else { throw DirtyReason(.overflow, "\(d) does not fit \(type)") }
            return try FastText.withUTF8(d.description) { (b) throws(DirtyReason) in try fromText(b) }
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
        case .text, .number, .bytes:
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
    mutating func instant(_ cell: Cell, _ column: ColumnConversion) throws(DirtyReason) -> (Int64, Int) {
        let type = column.type
        let unit = column.unit
        switch cell {
        case .int(let v): return Self.epoch(v, unit)
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
            let pattern = column.pattern >= 0 ? patterns[column.pattern] : nil
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

    static func epoch(_ v: Int64, _ unit: EpochUnit) -> (Int64, Int) {
        switch unit {
        case .seconds: return (v, 0)
        case .milliseconds:
            let (sec, ms) = floorDivide(v, 1000)
            return (sec, Int(ms) * 1_000_000)
        }
    }

    mutating func date(_ cell: Cell, _ column: ColumnConversion) throws(DirtyReason) -> Int32 {
        var days: Int64
        switch cell {
        case .text, .bytes:
            // A date written as text is taken as written; a time with an offset moves to the job's zone.
            let pattern = column.pattern >= 0 ? patterns[column.pattern] : nil
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
            let (sec, _) = try instant(cell, column)
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
