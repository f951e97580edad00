import Foundation
import SluiceCore

/// A civil date-time as read from text, before the zone is applied.
struct ParsedDateTime {
    var year = 1970, month = 1, day = 1, hour = 0, minute = 0, second = 0
    var nanos = 0
    /// Seconds east of UTC when the text carried an offset or `Z`.
    var offset: Int?
    var hasTime = false
}

enum DateTimeParsing {

    static func daysInMonth(_ y: Int, _ m: Int) -> Int {
        switch m {
        case 2: return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    static func valid(_ t: ParsedDateTime) -> Bool {
        (1...9999).contains(t.year) && (1...12).contains(t.month) && t.day >= 1
            && t.day <= daysInMonth(t.year, t.month) && (0...23).contains(t.hour) && (0...59).contains(t.minute)
            && (0...59).contains(t.second)
    }

    @inline(__always)
    static func digits(_ b: UnsafeRawBufferPointer, _ i: inout Int, _ count: Int) -> Int? {
        guard i + count <= b.count else { return nil }
        var v = 0
        for k in 0..<count {
            let d = b[i + k] &- UInt8(ascii: "0")
            guard d < 10 else { return nil }
            v = v * 10 + Int(d)
        }
        i += count
        return v
    }

    /// Fraction digits (1–9) after a `.` or `,`, as nanoseconds.
    static func fraction(_ b: UnsafeRawBufferPointer, _ i: inout Int) -> Int? {
        var v = 0
        var n = 0
        while i < b.count, b[i] &- UInt8(ascii: "0") < 10 {
            if n < 9 { v = v * 10 + Int(b[i] - UInt8(ascii: "0")) }
            n += 1
            i += 1
        }
        guard n > 0 else { return nil }
        for _ in min(n, 9)..<9 { v *= 10 }
        return v
    }

    /// ISO-8601 and friends: `yyyy-MM-dd`, then optionally `T` or a space and `HH:mm[:ss[.f…]]`,
    /// then optionally `Z` or `±HH[:mm]`.
    static func parseAuto(_ b: UnsafeRawBufferPointer) -> ParsedDateTime? {
        var t = ParsedDateTime()
        var i = 0
        guard let y = digits(b, &i, 4), i < b.count, b[i] == UInt8(ascii: "-") else { return nil }
        i += 1
        guard let mo = digits(b, &i, 2), i < b.count, b[i] == UInt8(ascii: "-") else { return nil }
        i += 1
        guard let d = digits(b, &i, 2) else { return nil }
        (t.year, t.month, t.day) = (y, mo, d)
        if i == b.count { return t }
        guard b[i] == UInt8(ascii: "T") || b[i] == UInt8(ascii: " ") || b[i] == UInt8(ascii: "t") else { return nil }
        i += 1
        guard let h = digits(b, &i, 2), i < b.count, b[i] == UInt8(ascii: ":") else { return nil }
        i += 1
        guard let mi = digits(b, &i, 2) else { return nil }
        (t.hour, t.minute, t.hasTime) = (h, mi, true)
        if i < b.count, b[i] == UInt8(ascii: ":") {
            i += 1
            guard let s = digits(b, &i, 2) else { return nil }
            t.second = s
            if i < b.count, b[i] == UInt8(ascii: ".") || b[i] == UInt8(ascii: ",") {
                i += 1
                guard let f = fraction(b, &i) else { return nil }
                t.nanos = f
            }
        }
        if i == b.count { return t }
        if b[i] == UInt8(ascii: "Z") || b[i] == UInt8(ascii: "z") {
            t.offset = 0
            return i + 1 == b.count ? t : nil
        }
        guard b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") else { return nil }
        let sign = b[i] == UInt8(ascii: "-") ? -1 : 1
        i += 1
        guard let oh = digits(b, &i, 2), oh <= 18 else { return nil }
        var om = 0
        if i < b.count {
            if b[i] == UInt8(ascii: ":") { i += 1 }
            guard let m = digits(b, &i, 2), m < 60 else { return nil }
            om = m
        }
        guard i == b.count else { return nil }
        t.offset = sign * (oh * 3600 + om * 60)
        return t
    }

    static func parse(_ b: UnsafeRawBufferPointer, pattern: DateTimePattern) -> ParsedDateTime? {
        var t = ParsedDateTime()
        var i = 0
        for token in pattern.tokens {
            switch token {
            case .year: guard let v = digits(b, &i, 4) else { return nil }; t.year = v
            case .month: guard let v = digits(b, &i, 2) else { return nil }; t.month = v
            case .day: guard let v = digits(b, &i, 2) else { return nil }; t.day = v
            case .hour: guard let v = digits(b, &i, 2) else { return nil }; t.hour = v; t.hasTime = true
            case .minute: guard let v = digits(b, &i, 2) else { return nil }; t.minute = v
            case .second: guard let v = digits(b, &i, 2) else { return nil }; t.second = v
            case .fraction(let n):
                guard let v = digits(b, &i, n) else { return nil }
                var nanos = v
                for _ in n..<9 { nanos *= 10 }
                t.nanos = nanos
            case .literal(let c):
                guard i < b.count, b[i] == c else { return nil }
                i += 1
            }
        }
        return i == b.count ? t : nil
    }
}

/// Offsets of the job's time zone, cached by hour so that a batch costs a handful of zone look-ups.
struct ZoneOffsets {
    let zone: TimeZone
    private var localHour: Int64 = .min
    private var localOffset = 0
    private var utcHour: Int64 = .min
    private var utcOffset = 0

    init(zone: TimeZone) { self.zone = zone }

    /// Offset (seconds east of UTC) in effect at a UTC instant.
    mutating func offset(atUTC seconds: Int64) -> Int {
        let h = floorDivide(seconds, 3600).0
        if h != utcHour {
            utcHour = h
            utcOffset = zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(seconds)))
        }
        return utcOffset
    }

    /// UTC seconds for a local wall-clock time (given as seconds since 1970-01-01T00:00 local).
    mutating func utc(fromLocal local: Int64) -> Int64 {
        let h = floorDivide(local, 3600).0
        if h != localHour {
            localHour = h
            let guess = zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(local)))
            let second = zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(local &- Int64(guess))))
            localOffset = second
        }
        return local &- Int64(localOffset)
    }
}
