import SluiceCore
/// The compiled form of a value: constants, expressions and references, evaluated left to right.
enum ExpressionPart: Sendable {
    case literal([UInt8])
    /// `$[fmt±offsets]`: calendar days (weeks folded in) then seconds (hours, minutes) from the scheduled time.
    case scheduled(TimeFormat, days: Int, seconds: Int)
    /// `$[add_months(fmt,±N)]`.
    case addMonths(TimeFormat, months: Int)
    /// `${fmt±N}`: N units of the format's smallest field from the business date.
    case business(TimeFormat, amount: Int, unit: BusinessUnit)
    case builtin(BuiltinValue)
    /// `${name}`: the value of another parameter, by index in its set.
    case reference(Int)
}

enum BusinessUnit: Sendable { case year, month, day }

/// The built-in values (`$bizdate`, `${bdp.system.cyctime}`, …).
public enum BuiltinValue: String, Sendable, CaseIterable {
    case bizdate, cyctime, gmtdate, bizmonth, jobid, nodeid, taskid
}

enum FormatField: UInt8, Sendable {
    case year4, year2, month, day, hour24, hour12, minute, second

    var isTime: Bool { rawValue >= FormatField.hour24.rawValue }
}

enum FormatItem: Sendable {
    case field(FormatField)
    case byte(UInt8)
}

/// A date/time format such as `yyyy-mm-dd hh24` (without spaces), compiled.
struct TimeFormat: Sendable {
    var items: [FormatItem]
    /// Bytes the format can produce at most.
    var maxWidth: Int
    var smallestDateUnit: BusinessUnit?

    init(items: [FormatItem]) {
        self.items = items
        var width = 0
        var unit: BusinessUnit?
        for item in items {
            switch item {
            case .byte: width += 1
            case .field(let f):
                width += f == .year4 ? 11 : 2
                switch f {
                case .year4, .year2: if unit == nil { unit = .year }
                case .month: if unit != .day { unit = .month }
                case .day: unit = .day
                default: break
                }
            }
        }
        self.maxWidth = width
        self.smallestDateUnit = unit
    }

    @inline(__always)
    func write(_ date: CivilDate, _ secondOfDay: Int, into w: inout ByteWriter) {
        for item in items {
            switch item {
            case .byte(let b): w.byte(b)
            case .field(let f):
                switch f {
                case .year4: w.year(date.year)
                case .year2: w.two(abs(date.year) % 100)
                case .month: w.two(date.month)
                case .day: w.two(date.day)
                case .hour24: w.two(secondOfDay / 3600)
                case .hour12:
                    let h = secondOfDay / 3600 % 12
                    w.two(h == 0 ? 12 : h)
                case .minute: w.two(secondOfDay / 60 % 60)
                case .second: w.two(secondOfDay % 60)
                }
            }
        }
    }
}

/// Parses the DataWorks parameter grammar into `ExpressionPart`s. Positions are byte offsets into the
/// UTF-8 text while parsing and are turned into character offsets for errors.
struct ExpressionParser {
    enum Mode {
        /// A parameter's value: `'…'` and `"…"` are constants.
        case parameterValue
        /// A job string (partition spec, window bound): quotes are ordinary characters.
        case template
    }

    struct Failure: Error {
        var position: Int
        var reason: String
    }

    let text: String
    let bytes: [UInt8]
    let mode: Mode
    let resolve: (String) -> Int?
    var pos = 0
    /// (parameter index, byte position) of every `${name}` reference, for cycle reports.
    var references: [(index: Int, position: Int)] = []

    static let maxMagnitude = 1_000_000

    init(text: String, mode: Mode, resolve: @escaping (String) -> Int?) {
        self.text = text
        self.bytes = Array(text.utf8)
        self.mode = mode
        self.resolve = resolve
    }

    /// Parses the whole text; errors carry a character offset.
    mutating func parse(subject: String?) throws(ExpressionError) -> [ExpressionPart] {
        do throws(Failure) {
            return try parseAll()
        } catch let failure {
            throw error(failure, subject: subject)
        }
    }

    func error(_ failure: Failure, subject: String?) -> ExpressionError {
        ExpressionError(text: text, offset: characterOffset(failure.position), reason: failure.reason,
                        subject: subject)
    }

    func characterOffset(_ bytePosition: Int) -> Int {
        let p = min(max(0, bytePosition), bytes.count)
        return String(decoding: bytes[0..<p], as: UTF8.self).count
    }

    private func fail(_ position: Int, _ reason: String) -> Failure {
        Failure(position: position, reason: reason)
    }

    private func shown(_ b: UInt8) -> String {
        b < 0x80 ? String(UnicodeScalar(b)) : "non-ASCII character"
    }

    private mutating func parseAll() throws(Failure) -> [ExpressionPart] {
        var parts: [ExpressionPart] = []
        var literal: [UInt8] = []
        func flush() {
            if !literal.isEmpty {
                parts.append(.literal(literal))
                literal.removeAll()
            }
        }
        let n = bytes.count
        while pos < n {
            let c = bytes[pos]
            switch c {
            case UInt8(ascii: "$"):
                let next: UInt8 = pos + 1 < n ? bytes[pos + 1] : 0
                if next == UInt8(ascii: "[") {
                    flush()
                    parts.append(try parseScheduled())
                } else if next == UInt8(ascii: "{") {
                    flush()
                    parts.append(try parseBrace())
                } else if isLetter(next) {
                    flush()
                    parts.append(try parseBuiltinName())
                } else {
                    literal.append(c)
                    pos += 1
                }
            case UInt8(ascii: "'") where mode == .parameterValue, UInt8(ascii: "\"") where mode == .parameterValue:
                guard let close = bytes[(pos + 1)...].firstIndex(of: c) else {
                    throw fail(pos, "unterminated constant: no closing \(shown(c)) for this quote")
                }
                literal.append(contentsOf: bytes[(pos + 1)..<close])
                pos = close + 1
            case UInt8(ascii: "]"):
                throw fail(pos, "unbalanced `]`: no `$[` opens it")
            case UInt8(ascii: "}"):
                throw fail(pos, "unbalanced `}`: no `${` opens it")
            default:
                literal.append(c)
                pos += 1
            }
        }
        flush()
        return parts
    }

    /// `$name` built-ins.
    private mutating func parseBuiltinName() throws(Failure) -> ExpressionPart {
        let start = pos
        var end = pos + 1
        while end < bytes.count && isLetter(bytes[end]) { end += 1 }
        let name = String(decoding: bytes[(pos + 1)..<end], as: UTF8.self)
        guard let builtin = BuiltinValue(rawValue: name) else {
            let known = BuiltinValue.allCases.map { "$\($0.rawValue)" }.joined(separator: " ")
            throw fail(start, "unknown built-in `$\(name)`; known: \(known)")
        }
        pos = end
        return .builtin(builtin)
    }

    /// Finds the closing bracket of the expression opened at `pos`, rejecting nesting and spaces.
    private func closing(_ close: UInt8, opener: String) throws(Failure) -> Int {
        var i = pos + 2
        while i < bytes.count {
            let b = bytes[i]
            if b == close { return i }
            switch b {
            case UInt8(ascii: "$"), UInt8(ascii: "["), UInt8(ascii: "{"):
                throw fail(i, "unexpected `\(shown(b))` inside `\(opener)…`: expressions do not nest")
            case UInt8(ascii: "]"), UInt8(ascii: "}"):
                throw fail(i, "unbalanced `\(shown(b))` inside `\(opener)…`, which closes with `\(shown(close))`")
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"):
                throw fail(i, "a space inside a format is not allowed")
            default: i += 1
            }
        }
        throw fail(pos, "unclosed `\(opener)`: no matching `\(shown(close))`")
    }

    private mutating func parseScheduled() throws(Failure) -> ExpressionPart {
        let close = try closing(UInt8(ascii: "]"), opener: "$[")
        let start = pos + 2
        defer { pos = close + 1 }
        guard start < close else { throw fail(start, "empty `$[]`: expected a format such as yyyymmdd") }
        let prefix = Array("add_months".utf8)
        if close - start >= prefix.count && Array(bytes[start..<(start + prefix.count)]) == prefix {
            return try parseAddMonths(from: start + prefix.count, end: close)
        }
        let (format, offsetStart) = try parseFormat(from: start, end: close, business: false)
        var days = 0, seconds = 0
        var hasDayTerm = false
        var p = offsetStart
        while p < close {
            let term = try parseOffsetTerm(at: &p, end: close, business: false)
            switch term.unit {
            case .days:
                hasDayTerm = true
                days += term.value
            case .hours: seconds += term.value * 3600
            case .minutes: seconds += term.value * 60
            }
        }
        if hasDayTerm, let unit = format.smallestDateUnit, unit != .day, !format.items.contains(where: {
            if case .field(let f) = $0 { return f.isTime } else { return false }
        }) {
            let field = unit == .year ? "year" : "month"
            throw fail(offsetStart, "in `$[...]` a plain offset counts days, but this format's smallest field "
                + "is the \(field); use $[add_months(yyyymmdd,-N)] for months (years: -12*N), or ${...} "
                + "for offsets in the format's unit on the business date")
        }
        guard abs(days) <= 3_660_000, abs(seconds) <= 3_660_000 * 86_400 else {
            throw fail(offsetStart, "offset too large")
        }
        return .scheduled(format, days: days, seconds: seconds)
    }

    private mutating func parseAddMonths(from start: Int, end: Int) throws(Failure) -> ExpressionPart {
        var p = start
        guard p < end, bytes[p] == UInt8(ascii: "(") else {
            throw fail(p, "expected `(` after add_months, as in $[add_months(yyyymmdd,-1)]")
        }
        p += 1
        guard let comma = bytes[p..<end].firstIndex(of: UInt8(ascii: ",")) else {
            throw fail(end, "expected `,` and a month count, as in $[add_months(yyyymmdd,-1)]")
        }
        let (format, offsetStart) = try parseFormat(from: p, end: comma, business: false, insideCall: true)
        if offsetStart < comma {
            throw fail(offsetStart, "no offsets inside add_months' format; give the months after the comma")
        }
        p = comma + 1
        var sign = 1
        if p < end && (bytes[p] == UInt8(ascii: "-") || bytes[p] == UInt8(ascii: "+")) {
            sign = bytes[p] == UInt8(ascii: "-") ? -1 : 1
            p += 1
        }
        var months = try parseNumber(at: &p, end: end, after: "the comma")
        while p < end && bytes[p] == UInt8(ascii: "*") {
            p += 1
            let factor = try parseNumber(at: &p, end: end, after: "`*`")
            months = try multiply(months, factor, at: p)
        }
        guard p < end, bytes[p] == UInt8(ascii: ")") else {
            if p < end { throw fail(p, "unexpected `\(shown(bytes[p]))` in the month count; expected `)`") }
            throw fail(end, "expected `)` to close add_months(")
        }
        p += 1
        if p < end {
            throw fail(p, "nothing may follow add_months(...) inside `$[...]`; put constants after `]`")
        }
        return .addMonths(format, months: sign * months)
    }

    private mutating func parseBrace() throws(Failure) -> ExpressionPart {
        let close = try closing(UInt8(ascii: "}"), opener: "${")
        let start = pos + 2
        defer { pos = close + 1 }
        guard start < close else { throw fail(start, "empty `${}`: expected a format such as yyyymmdd or a parameter name") }
        let content = String(decoding: bytes[start..<close], as: UTF8.self)
        switch content {
        case "bdp.system.bizdate": return .builtin(.bizdate)
        case "bdp.system.cyctime": return .builtin(.cyctime)
        default: break
        }
        if content.hasPrefix("bdp.system.") {
            throw fail(start, "unknown built-in `${\(content)}`; known: ${bdp.system.bizdate} ${bdp.system.cyctime}")
        }
        if let index = resolve(content) {
            references.append((index, pos))
            return .reference(index)
        }
        let identifierLike = bytes[start..<close].allSatisfy {
            isLetter($0) || ($0 >= 0x30 && $0 <= 0x39) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".")
        }
        let format: TimeFormat
        let offsetStart: Int
        do throws(Failure) {
            (format, offsetStart) = try parseFormat(from: start, end: close, business: true)
        } catch let failure {
            if identifierLike && !startsWithFormatToken(start) {
                throw fail(start, "unknown parameter `\(content)`: it is not declared, and it is not a date "
                    + "format (yyyy, yy, mm, dd)")
            }
            if identifierLike {
                throw fail(failure.position, "`\(content)` is not a declared parameter, and not a valid "
                    + "date format: " + failure.reason)
            }
            throw failure
        }
        guard let unit = format.smallestDateUnit else {
            throw fail(start, "no date field in the format")
        }
        var amount = 0
        var p = offsetStart
        while p < close {
            amount += try parseOffsetTerm(at: &p, end: close, business: true).value
        }
        guard abs(amount) <= 3_660_000 else { throw fail(offsetStart, "offset too large") }
        return .business(format, amount: amount, unit: unit)
    }

    private func startsWithFormatToken(_ p: Int) -> Bool {
        token(at: p, end: bytes.count) != nil
    }

    /// The format token at `p`, with its length.
    private func token(at p: Int, end: Int) -> (FormatField, Int)? {
        func has(_ s: StaticString) -> Bool {
            let count = s.utf8CodeUnitCount
            guard p + count <= end else { return false }
            return s.withUTF8Buffer { buf in
                for i in 0..<count where bytes[p + i] != buf[i] { return false }
                return true
            }
        }
        if has("yyyy") { return (.year4, 4) }
        if has("yy") { return (.year2, 2) }
        if has("mm") { return (.month, 2) }
        if has("mi") { return (.minute, 2) }
        if has("dd") { return (.day, 2) }
        if has("hh24") { return (.hour24, 4) }
        if has("hh12") { return (.hour12, 4) }
        if has("hh") { return (.hour12, 2) }
        if has("ss") { return (.second, 2) }
        return nil
    }

    /// Reads format tokens and separators up to the first `+`/`-` followed by a digit (the offsets).
    private func parseFormat(from start: Int, end: Int, business: Bool,
                             insideCall: Bool = false) throws(Failure) -> (TimeFormat, Int) {
        var items: [FormatItem] = []
        var hasField = false
        var p = start
        let opener = business ? "${...}" : "$[...]"
        while p < end {
            let b = bytes[p]
            if b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z") {
                guard let (field, length) = token(at: p, end: end) else {
                    var q = p
                    while q < end && isLetter(bytes[q]) { q += 1 }
                    let word = String(decoding: bytes[p..<q], as: UTF8.self)
                    throw fail(p, "unknown token `\(word)` in a format; use yyyy, yy, mm, dd, hh24, hh, mi, ss")
                }
                if business && field.isTime {
                    let word = String(decoding: bytes[p..<(p + length)], as: UTF8.self)
                    throw fail(p, "`\(word)` is not available in ${...}, which is the business date (a day); "
                        + "use $[...] for the scheduled time")
                }
                items.append(.field(field))
                hasField = true
                p += length
                continue
            }
            if b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z") {
                throw fail(p, "formats are lower case: yyyy, mm, dd, hh24, mi, ss")
            }
            if b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") {
                throw fail(p, "unexpected digit in \(opener): offsets start with + or -; put constants "
                    + "outside the brackets, as in $[yyyymmddhh24]0000")
            }
            if b == UInt8(ascii: "+") || b == UInt8(ascii: "-") {
                if p + 1 < end && bytes[p + 1] >= UInt8(ascii: "0") && bytes[p + 1] <= UInt8(ascii: "9") {
                    if !hasField {
                        throw fail(start, "expected a format such as yyyymmdd before the offset")
                    }
                    return (TimeFormat(items: items), p)
                }
                // A sign is a separator only between format tokens (`$[yyyy-mm-dd]`).
                if p + 1 >= end || !(bytes[p + 1] >= UInt8(ascii: "a") && bytes[p + 1] <= UInt8(ascii: "z")) {
                    throw fail(p + 1, "expected a number after `\(shown(b))`")
                }
                items.append(.byte(b))
                p += 1
                continue
            }
            switch b {
            case UInt8(ascii: "*"), UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: ","),
                 UInt8(ascii: "'"), UInt8(ascii: "\""), UInt8(ascii: "\\"):
                throw fail(p, "unexpected `\(shown(b))` in a format" + (insideCall ? " inside add_months" : ""))
            default:
                items.append(.byte(b))
                p += 1
            }
        }
        if !hasField {
            throw fail(start, "no date or time field in the format; use yyyy, yy, mm, dd, hh24, hh, mi, ss")
        }
        return (TimeFormat(items: items), p)
    }

    enum OffsetUnit { case days, hours, minutes }

    /// One `±N`, `±N*M`, `±N/24` or `±N/24/60` term.
    private func parseOffsetTerm(at p: inout Int, end: Int,
                                 business: Bool) throws(Failure) -> (value: Int, unit: OffsetUnit) {
        let b = bytes[p]
        guard b == UInt8(ascii: "+") || b == UInt8(ascii: "-") else {
            throw fail(p, "unexpected `\(shown(b))` after the offset; offsets are ±N, ±7*N, ±N/24 or ±N/24/60")
        }
        let sign = b == UInt8(ascii: "-") ? -1 : 1
        p += 1
        var value = try parseNumber(at: &p, end: end, after: "`\(shown(b))`")
        while p < end && bytes[p] == UInt8(ascii: "*") {
            p += 1
            let factor = try parseNumber(at: &p, end: end, after: "`*`")
            value = try multiply(value, factor, at: p)
        }
        var unit = OffsetUnit.days
        if p < end && bytes[p] == UInt8(ascii: "/") {
            if business {
                throw fail(p, "hours and minutes are not available in ${...}, which works on the business "
                    + "date (day precision); use $[...] for the scheduled time")
            }
            let slash = p
            p += 1
            guard try parseNumber(at: &p, end: end, after: "`/`") == 24 else {
                throw fail(slash + 1, "only /24 (hours) and /24/60 (minutes) may divide an offset")
            }
            unit = .hours
            if p < end && bytes[p] == UInt8(ascii: "/") {
                let second = p
                p += 1
                guard try parseNumber(at: &p, end: end, after: "`/`") == 60 else {
                    throw fail(second + 1, "only /24 (hours) and /24/60 (minutes) may divide an offset")
                }
                unit = .minutes
            }
        }
        if p < end && bytes[p] != UInt8(ascii: "+") && bytes[p] != UInt8(ascii: "-") {
            throw fail(p, "unexpected `\(shown(bytes[p]))` in the offset; offsets are ±N, ±7*N, ±N/24 or ±N/24/60")
        }
        return (sign * value, unit)
    }

    private func parseNumber(at p: inout Int, end: Int, after what: String) throws(Failure) -> Int {
        let start = p
        var value = 0
        while p < end && bytes[p] >= UInt8(ascii: "0") && bytes[p] <= UInt8(ascii: "9") {
            value = value * 10 + Int(bytes[p] - UInt8(ascii: "0"))
            if value > ExpressionParser.maxMagnitude { throw fail(start, "offset too large") }
            p += 1
        }
        if p == start {
            throw fail(p, "expected a number after \(what)")
        }
        return value
    }

    private func multiply(_ a: Int, _ b: Int, at p: Int) throws(Failure) -> Int {
        let r = a * b
        if r > ExpressionParser.maxMagnitude { throw fail(p, "offset too large") }
        return r
    }

    private func isLetter(_ b: UInt8) -> Bool {
        (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z"))
    }
}
