import SluiceCore
/// Parsers for the time texts Sluice reads: resolved window bounds (`yyyymmddhhmmss` and its prefixes,
/// epoch milliseconds) and command-line times (`2022-11-22 10:05:00`). Every rejection points at the
/// character (`ExpressionError`); the `throws` (untyped) variants throw `SluiceError(.invalidInput)`.
public enum WallTime {
    /// `yyyymmddhhmmss`, or the prefixes `yyyymmdd`, `yyyymmddhh`, `yyyymmddhhmi` (missing fields are 0).
    public static func parseCompact(_ text: String, subject: String? = nil) throws -> CivilDateTime {
        do { return try parseCompact(parsing: text, subject: subject) } catch { throw error.sluiceError }
    }

    public static func parseCompact(parsing text: String, subject: String? = nil) throws(ExpressionError) -> CivilDateTime {
        let bytes = Array(text.utf8)
        func fail(_ at: Int, _ reason: String) -> ExpressionError {
            let offset = String(decoding: bytes[0..<min(at, bytes.count)], as: UTF8.self).count
            return ExpressionError(text: text, offset: offset, reason: reason, subject: subject)
        }
        for (i, b) in bytes.enumerated() where b < 0x30 || b > 0x39 {
            throw fail(i, "expected a digit: the time is yyyymmddhhmmss (or yyyymmdd, yyyymmddhh, yyyymmddhhmi)")
        }
        guard [8, 10, 12, 14].contains(bytes.count) else {
            throw fail(bytes.count < 14 ? bytes.count : 14,
                       "a time has 8, 10, 12 or 14 digits (yyyymmdd[hh[mi[ss]]]), this one has \(bytes.count)")
        }
        func number(_ at: Int, _ length: Int) -> Int {
            var v = 0
            for i in at..<(at + length) { v = v * 10 + Int(bytes[i] - 0x30) }
            return v
        }
        let year = number(0, 4), month = number(4, 2), day = number(6, 2)
        guard (1...12).contains(month) else { throw fail(4, "month \(month) is not 01…12") }
        let days = CivilDate.daysInMonth(year: year, month: month)
        guard (1...days).contains(day) else {
            throw fail(6, "day \(day) does not exist in \(year)-\(month < 10 ? "0" : "")\(month)")
        }
        let hour = bytes.count >= 10 ? number(8, 2) : 0
        let minute = bytes.count >= 12 ? number(10, 2) : 0
        let second = bytes.count >= 14 ? number(12, 2) : 0
        guard hour < 24 else { throw fail(8, "hour \(hour) is not 00…23") }
        guard minute < 60 else { throw fail(10, "minute \(minute) is not 00…59") }
        guard second < 60 else { throw fail(12, "second \(second) is not 00…59") }
        return CivilDateTime(date: CivilDate(year: year, month: month, day: day),
                             hour: hour, minute: minute, second: second)
    }

    /// A `yyyymmdd…` bound as an instant (epoch seconds) in `zone`: a repeated wall time means its
    /// first occurrence, a skipped one the first instant after the gap.
    public static func instant(_ text: String, in zone: SchedulingZone, subject: String? = nil) throws -> Int64 {
        zone.instant(for: try parseCompact(text, subject: subject))
    }

    /// Epoch milliseconds (digits, optionally preceded by `-`).
    public static func parseEpochMillis(_ text: String, subject: String? = nil) throws -> Int64 {
        do { return try parseEpochMillis(parsing: text, subject: subject) } catch { throw error.sluiceError }
    }

    public static func parseEpochMillis(parsing text: String, subject: String? = nil) throws(ExpressionError) -> Int64 {
        let bytes = Array(text.utf8)
        func fail(_ at: Int, _ reason: String) -> ExpressionError {
            let offset = String(decoding: bytes[0..<min(at, bytes.count)], as: UTF8.self).count
            return ExpressionError(text: text, offset: offset, reason: reason, subject: subject)
        }
        var i = 0
        let negative = bytes.first == UInt8(ascii: "-")
        if negative { i = 1 }
        guard i < bytes.count else { throw fail(i, "expected epoch milliseconds (digits)") }
        var value: Int64 = 0
        while i < bytes.count {
            let b = bytes[i]
            guard b >= 0x30 && b <= 0x39 else { throw fail(i, "expected a digit: epoch milliseconds are digits only") }
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(Int64(b - 0x30))
            guard !o1 && !o2 else { throw fail(i, "number too large for epoch milliseconds") }
            value = s
            i += 1
        }
        return negative ? -value : value
    }

    /// A command-line time: `yyyy-mm-dd hh:mm[:ss]`, `yyyy-mm-ddThh:mm[:ss]`, `yyyy-mm-dd`, or the compact
    /// `yyyymmdd[hh[mi[ss]]]`.
    public static func parseDisplay(_ text: String, subject: String? = nil) throws -> CivilDateTime {
        do { return try parseDisplay(parsing: text, subject: subject) } catch { throw error.sluiceError }
    }

    public static func parseDisplay(parsing text: String, subject: String? = nil) throws(ExpressionError) -> CivilDateTime {
        let bytes = Array(text.utf8)
        if !bytes.contains(UInt8(ascii: "-")) && !bytes.contains(UInt8(ascii: ":")) {
            return try parseCompact(parsing: text, subject: subject)
        }
        func fail(_ at: Int, _ reason: String) -> ExpressionError {
            let offset = String(decoding: bytes[0..<min(at, bytes.count)], as: UTF8.self).count
            return ExpressionError(text: text, offset: offset, reason: reason, subject: subject)
        }
        let usage = "expected yyyy-mm-dd hh:mm[:ss]"
        // Layout: yyyy-mm-dd[( |T)hh:mm[:ss]]
        let digitPositions = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]
        let separators: [Int: [UInt8]] = [4: [0x2D], 7: [0x2D], 10: [0x20, 0x54], 13: [0x3A], 16: [0x3A]]
        guard [10, 16, 19].contains(bytes.count) else {
            for (i, b) in bytes.enumerated() {
                if let allowed = separators[i], !allowed.contains(b) { throw fail(i, usage) }
                if digitPositions.contains(i), !(0x30...0x39).contains(b) { throw fail(i, usage) }
            }
            throw fail(min(bytes.count, 19), usage)
        }
        for (i, b) in bytes.enumerated() {
            if let allowed = separators[i] {
                guard allowed.contains(b) else { throw fail(i, usage) }
            } else if !(0x30...0x39).contains(b) {
                throw fail(i, usage)
            }
        }
        var compact = bytes.filter { (0x30...0x39).contains($0) }
        if compact.count == 8 { compact += Array("000000".utf8) }
        if compact.count == 12 { compact += Array("00".utf8) }
        do {
            return try parseCompact(parsing: String(decoding: compact, as: UTF8.self))
        } catch {
            // Map the compact position back to the display text.
            let map = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]
            throw fail(map[min(error.offset, map.count - 1)], error.reason)
        }
    }

    /// A date: `yyyy-mm-dd` or `yyyymmdd`.
    public static func parseDate(_ text: String, subject: String? = nil) throws -> CivilDate {
        let digits = text.utf8.filter { $0 != UInt8(ascii: "-") }.count
        guard digits == 8 else {
            throw ExpressionError(text: text, offset: 0, reason: "expected a date yyyymmdd or yyyy-mm-dd",
                                  subject: subject).sluiceError
        }
        return try parseDisplay(text, subject: subject).date
    }
}
