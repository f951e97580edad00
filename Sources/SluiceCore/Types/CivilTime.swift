/// A calendar date in the proleptic Gregorian calendar, without a zone.
///
/// Arithmetic goes through `dayNumber` (days since 1970-01-01), computed directly rather than with
/// Foundation's `Calendar`, so it is cheap enough for the evaluation hot path.
public struct CivilDate: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var year: Int
    public var month: Int
    public var day: Int

    /// No validation; use `init?(validating:)` or the parsers for untrusted input.
    public init(year: Int, month: Int, day: Int) {
        self.year = year
        self.month = month
        self.day = day
    }

    public init?(validatingYear year: Int, month: Int, day: Int) {
        guard (1...12).contains(month), day >= 1, day <= CivilDate.daysInMonth(year: year, month: month)
        else { return nil }
        self.init(year: year, month: month, day: day)
    }

    /// The date `dayNumber` days after 1970-01-01.
    public init(dayNumber: Int64) {
        // Shift the epoch to 0000-03-01 so that leap days fall at the end of a 400-year era.
        let z = dayNumber + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        self.init(year: Int(year), month: Int(month), day: Int(day))
    }

    /// Days since 1970-01-01 (negative before).
    public var dayNumber: Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let shiftedMonth = Int64(month > 2 ? month - 3 : month + 9)
        let dayOfYear = (153 * shiftedMonth + 2) / 5 + Int64(day) - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    public static func isLeapYear(_ year: Int) -> Bool {
        year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
    }

    public static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: isLeapYear(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    public func adding(days: Int) -> CivilDate {
        days == 0 ? self : CivilDate(dayNumber: dayNumber + Int64(days))
    }

    /// Moves the month by `months`, clamping the day to the end of the target month
    /// (2025-03-31 − 1 month = 2025-02-28), like DataWorks `add_months`.
    public func adding(months: Int) -> CivilDate {
        if months == 0 { return self }
        let total = year * 12 + (month - 1) + months
        let newYear = total >= 0 ? total / 12 : (total - 11) / 12
        let newMonth = total - newYear * 12 + 1
        let newDay = min(day, CivilDate.daysInMonth(year: newYear, month: newMonth))
        return CivilDate(year: newYear, month: newMonth, day: newDay)
    }

    /// ISO weekday: 1 = Monday … 7 = Sunday.
    public var isoWeekday: Int {
        let n = dayNumber % 7
        return Int((n + 7 + 3) % 7) + 1
    }

    public var isLastDayOfMonth: Bool { day == CivilDate.daysInMonth(year: year, month: month) }

    public static func < (a: CivilDate, b: CivilDate) -> Bool {
        (a.year, a.month, a.day) < (b.year, b.month, b.day)
    }

    /// `yyyymmdd`.
    public var compact: String { TimeText.format(self, time: 0, pattern: .compactDate) }
    /// `yyyy-mm-dd`.
    public var description: String { TimeText.format(self, time: 0, pattern: .isoDate) }
}

/// A wall-clock date and time without a zone, to the second.
public struct CivilDateTime: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var date: CivilDate
    /// Seconds since midnight, 0 ..< 86400.
    public var secondOfDay: Int

    public init(date: CivilDate, secondOfDay: Int) {
        self.date = date
        self.secondOfDay = secondOfDay
    }

    public init(date: CivilDate, hour: Int, minute: Int, second: Int = 0) {
        self.init(date: date, secondOfDay: hour * 3600 + minute * 60 + second)
    }

    /// The wall time `localSeconds` seconds after 1970-01-01 00:00 (the "as if UTC" timeline).
    public init(localSeconds: Int64) {
        let days = localSeconds >= 0 ? localSeconds / 86_400 : (localSeconds - 86_399) / 86_400
        self.init(date: CivilDate(dayNumber: days), secondOfDay: Int(localSeconds - days * 86_400))
    }

    /// Seconds since 1970-01-01 00:00 on the wall-clock ("as if UTC") timeline.
    public var localSeconds: Int64 { date.dayNumber * 86_400 + Int64(secondOfDay) }

    public var hour: Int { secondOfDay / 3600 }
    public var minute: Int { secondOfDay / 60 % 60 }
    public var second: Int { secondOfDay % 60 }

    public static func < (a: CivilDateTime, b: CivilDateTime) -> Bool {
        (a.date, a.secondOfDay) < (b.date, b.secondOfDay)
    }

    /// `yyyymmddhhmmss`.
    public var compact: String { TimeText.format(date, time: secondOfDay, pattern: .compactDateTime) }
    /// `yyyy-mm-dd hh:mm:ss`.
    public var description: String { TimeText.format(date, time: secondOfDay, pattern: .display) }
}

/// Fixed textual forms of civil times, written without Foundation formatters.
enum TimeText {
    enum Pattern { case compactDate, isoDate, compactDateTime, display }

    static func format(_ date: CivilDate, time: Int, pattern: Pattern) -> String {
        String(unsafeUninitializedCapacity: 32) { buffer in
            var w = ByteWriter(buffer)
            switch pattern {
            case .compactDate:
                w.year(date.year); w.two(date.month); w.two(date.day)
            case .isoDate:
                w.year(date.year); w.byte(UInt8(ascii: "-")); w.two(date.month)
                w.byte(UInt8(ascii: "-")); w.two(date.day)
            case .compactDateTime:
                w.year(date.year); w.two(date.month); w.two(date.day)
                w.two(time / 3600); w.two(time / 60 % 60); w.two(time % 60)
            case .display:
                w.year(date.year); w.byte(UInt8(ascii: "-")); w.two(date.month)
                w.byte(UInt8(ascii: "-")); w.two(date.day); w.byte(UInt8(ascii: " "))
                w.two(time / 3600); w.byte(UInt8(ascii: ":")); w.two(time / 60 % 60)
                w.byte(UInt8(ascii: ":")); w.two(time % 60)
            }
            return w.count
        }
    }
}

/// Appends ASCII into a preallocated buffer; callers size the buffer for the worst case.
package struct ByteWriter {
    package let buffer: UnsafeMutableBufferPointer<UInt8>
    package var count = 0

    package init(_ buffer: UnsafeMutableBufferPointer<UInt8>) { self.buffer = buffer }

    @inlinable @inline(__always) package mutating func byte(_ b: UInt8) {
        buffer[count] = b
        count += 1
    }

    @inlinable @inline(__always) package mutating func two(_ v: Int) {
        buffer[count] = UInt8(truncatingIfNeeded: 48 + v / 10 % 10)
        buffer[count + 1] = UInt8(truncatingIfNeeded: 48 + v % 10)
        count += 2
    }

    /// At least four digits, with a leading `-` before year 0 (at most 11 bytes for supported years).
    package mutating func year(_ y: Int) {
        if (0...9999).contains(y) {
            two(y / 100)
            two(y % 100)
            return
        }
        var v = y
        if v < 0 { byte(UInt8(ascii: "-")); v = -v }
        var digits: [UInt8] = []
        while v > 0 || digits.count < 4 {
            digits.append(UInt8(48 + v % 10))
            v /= 10
        }
        for d in digits.reversed() { byte(d) }
    }

    package mutating func bytes(_ b: UnsafeBufferPointer<UInt8>) {
        guard b.count > 0 else { return }
        _ = UnsafeMutableBufferPointer(rebasing: buffer[count..<(count + b.count)])
            .update(fromContentsOf: b)
        count += b.count
    }

    package mutating func string(_ s: String) {
        if s.utf8.withContiguousStorageIfAvailable({ bytes($0) }) == nil {
            for b in s.utf8 { byte(b) }
        }
    }
}
