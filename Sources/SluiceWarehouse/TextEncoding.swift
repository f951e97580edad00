/// Text forms of date and time values as the warehouse stores them: UTC, ISO-like, fixed width, so
/// they sort correctly and SQLite's date functions read them.
enum TimeText {
    /// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
    @inline(__always)
    static func civil(fromDays z0: Int64) -> (Int64, Int64, Int64) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }

    @inline(__always)
    private static func put(_ v: Int64, digits: Int, into buf: UnsafeMutableBufferPointer<UInt8>, at i: inout Int) {
        var v = v
        var k = digits - 1
        while k >= 0 {
            buf[i + k] = UInt8(truncatingIfNeeded: 48 + v % 10)
            v /= 10
            k -= 1
        }
        i += digits
    }

    @inline(__always)
    private static func putDate(days: Int64, into buf: UnsafeMutableBufferPointer<UInt8>, at i: inout Int) {
        let (y, m, d) = civil(fromDays: days)
        if y < 0 { buf[i] = UInt8(ascii: "-"); i += 1 }
        put(abs(y), digits: 4, into: buf, at: &i)
        buf[i] = UInt8(ascii: "-"); i += 1
        put(m, digits: 2, into: buf, at: &i)
        buf[i] = UInt8(ascii: "-"); i += 1
        put(d, digits: 2, into: buf, at: &i)
    }

    @inline(__always)
    private static func putTime(secondsOfDay s: Int64, into buf: UnsafeMutableBufferPointer<UInt8>, at i: inout Int) {
        buf[i] = UInt8(ascii: " "); i += 1
        put(s / 3600, digits: 2, into: buf, at: &i)
        buf[i] = UInt8(ascii: ":"); i += 1
        put(s / 60 % 60, digits: 2, into: buf, at: &i)
        buf[i] = UInt8(ascii: ":"); i += 1
        put(s % 60, digits: 2, into: buf, at: &i)
    }

    /// `YYYY-MM-DD`. `buf` needs 11 bytes; returns the length.
    static func date(days: Int32, into buf: UnsafeMutableBufferPointer<UInt8>) -> Int {
        var i = 0
        putDate(days: Int64(days), into: buf, at: &i)
        return i
    }

    /// `YYYY-MM-DD HH:MM:SS.mmm` (UTC). `buf` needs 24 bytes; returns the length.
    static func datetime(millis: Int64, into buf: UnsafeMutableBufferPointer<UInt8>) -> Int {
        let (secs, ms) = floorDivMod(millis, 1000)
        let (days, sod) = floorDivMod(secs, 86_400)
        var i = 0
        putDate(days: days, into: buf, at: &i)
        putTime(secondsOfDay: sod, into: buf, at: &i)
        buf[i] = UInt8(ascii: "."); i += 1
        put(ms, digits: 3, into: buf, at: &i)
        return i
    }

    /// `YYYY-MM-DD HH:MM:SS.nnnnnnnnn` (UTC). `buf` needs 30 bytes; returns the length.
    static func timestamp(seconds: Int64, nanos: Int32, into buf: UnsafeMutableBufferPointer<UInt8>) -> Int {
        let (days, sod) = floorDivMod(seconds, 86_400)
        var i = 0
        putDate(days: days, into: buf, at: &i)
        putTime(secondsOfDay: sod, into: buf, at: &i)
        buf[i] = UInt8(ascii: "."); i += 1
        put(Int64(max(0, min(999_999_999, nanos))), digits: 9, into: buf, at: &i)
        return i
    }

    static func floorDivMod(_ a: Int64, _ b: Int64) -> (Int64, Int64) {
        let q = a / b, r = a % b
        return r < 0 ? (q - 1, r + b) : (q, r)
    }

    static func string(_ f: (UnsafeMutableBufferPointer<UInt8>) -> Int) -> String {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 32) { buf in
            String(decoding: UnsafeBufferPointer(rebasing: buf[..<f(buf)]), as: UTF8.self)
        }
    }
}
