import Foundation
import NIOCore
import SluiceCore

/// PostgreSQL's binary representations of the values Sluice writes and reads back: the COPY BINARY
/// file header and trailer, `numeric`, and the 2000-01-01 epoch of `date` and `timestamp`.
/// (PostgreSQL documentation: COPY, "Binary Format"; the types' send/receive functions.)
enum PostgresBinary {
    /// `PGCOPY\n\377\r\n\0`, then 32-bit flags (0: no OIDs) and a 32-bit header extension length (0).
    static let header: [UInt8] = Array("PGCOPY\n".utf8) + [0xFF, 0x0D, 0x0A, 0x00] + [0, 0, 0, 0] + [0, 0, 0, 0]
    /// A 16-bit field count of −1.
    static let trailer: [UInt8] = [0xFF, 0xFF]

    /// Days from 1970-01-01 to 2000-01-01, PostgreSQL's epoch for `date` and `timestamp`.
    static let epochDays: Int64 = 10_957
    static let epochSeconds: Int64 = 946_684_800

    /// `numeric`'s signs.
    static let numericPositive: UInt16 = 0x0000
    static let numericNegative: UInt16 = 0x4000

    /// Writes plain decimal text (`-12.50`, `7`, `.5`) as a length-prefixed binary `numeric`: base-10000
    /// digits with a weight, a sign and the display scale (the digits after the point as written).
    /// Returns false, writing nothing, when `text` is not such a number.
    static func writeNumeric(_ text: UnsafeRawBufferPointer, to out: inout ByteBuffer) -> Bool {
        let n = text.count
        var i = 0
        var negative = false
        if i < n, text[i] == UInt8(ascii: "-") || text[i] == UInt8(ascii: "+") {
            negative = text[i] == UInt8(ascii: "-")
            i += 1
        }
        var intStart = i
        while i < n, isDigit(text[i]) { i += 1 }
        let intEnd = i
        var fracStart = i, fracEnd = i
        if i < n, text[i] == UInt8(ascii: ".") {
            i += 1
            fracStart = i
            while i < n, isDigit(text[i]) { i += 1 }
            fracEnd = i
        }
        guard i == n, intEnd > intStart || fracEnd > fracStart, fracEnd - fracStart <= 0x3FFF else { return false }
        while intStart < intEnd, text[intStart] == UInt8(ascii: "0") { intStart += 1 }
        let intCount = intEnd - intStart, fracCount = fracEnd - fracStart
        let intGroups = (intCount + 3) / 4, fracGroups = (fracCount + 3) / 4
        return withUnsafeTemporaryAllocation(of: Int16.self, capacity: max(1, intGroups + fracGroups)) { digits in
            var count = 0, accumulated = 0
            var position = intGroups * 4 - intCount
            for k in intStart..<intEnd {
                accumulated = accumulated * 10 + Int(text[k] - UInt8(ascii: "0"))
                position += 1
                if position % 4 == 0 { digits[count] = Int16(accumulated); count += 1; accumulated = 0 }
            }
            for k in fracStart..<fracEnd {
                accumulated = accumulated * 10 + Int(text[k] - UInt8(ascii: "0"))
                position += 1
                if position % 4 == 0 { digits[count] = Int16(accumulated); count += 1; accumulated = 0 }
            }
            if position % 4 != 0 {
                for _ in 0..<(4 - position % 4) { accumulated *= 10 }
                digits[count] = Int16(accumulated)
                count += 1
            }
            var weight = intGroups - 1
            var first = 0, last = count
            while first < last, digits[first] == 0 { first += 1; weight -= 1 }
            while last > first, digits[last - 1] == 0 { last -= 1 }
            let used = last - first
            if used == 0 { weight = 0; negative = false }
            out.writeInteger(Int32(8 + 2 * used))
            out.writeInteger(Int16(used))
            out.writeInteger(Int16(weight))
            out.writeInteger(negative ? numericNegative : numericPositive)
            out.writeInteger(Int16(fracCount))
            for k in first..<last { out.writeInteger(digits[k]) }
            return true
        }
    }

    /// The text of a binary `numeric` (its whole value, without the length prefix), as PostgreSQL
    /// prints it: the display scale's digits after the point. Nil when the bytes are not a numeric.
    static func numericText(_ buffer: ByteBuffer) -> String? {
        var b = buffer
        guard let count = b.readInteger(as: Int16.self), let weight = b.readInteger(as: Int16.self),
              let sign = b.readInteger(as: UInt16.self), let scale = b.readInteger(as: Int16.self), count >= 0 else { return nil }
        switch sign {
        case 0xC000: return "NaN"
        case 0xD000: return "Infinity"
        case 0xF000: return "-Infinity"
        case numericPositive, numericNegative: break
        default: return nil
        }
        var digits: [Int] = []
        for _ in 0..<count {
            guard let d = b.readInteger(as: Int16.self) else { return nil }
            digits.append(Int(d))
        }
        func group(_ i: Int) -> Int { i >= 0 && i < digits.count ? digits[i] : 0 }
        func padded(_ d: Int) -> String { let s = String(d); return String(repeating: "0", count: 4 - s.count) + s }
        var text = sign == numericNegative ? "-" : ""
        if weight < 0 {
            text += "0"
        } else {
            for i in 0...Int(weight) { text += i == 0 ? String(group(i)) : padded(group(i)) }
        }
        if scale > 0 {
            var fraction = ""
            var i = Int(weight) + 1
            while fraction.count < Int(scale) {
                fraction += padded(group(i))
                i += 1
            }
            text += "." + fraction.prefix(Int(scale))
        }
        return text
    }

    /// Epoch milliseconds as microseconds since 2000-01-01 (`timestamp`, `timestamptz`).
    static func microseconds(millis: Int64) -> Int64 { (millis - epochSeconds * 1000) * 1000 }

    /// Epoch seconds and nanoseconds as microseconds since 2000-01-01, rounded to the nearest
    /// microsecond as PostgreSQL rounds text input.
    static func microseconds(seconds: Int64, nanos: Int32) -> Int64 {
        (seconds - epochSeconds) * 1_000_000 + (Int64(nanos) + 500) / 1000
    }

    /// `yyyy-MM-dd HH:mm:ss[.ffffff]` of microseconds since 2000-01-01 (trailing zeros of the
    /// fraction dropped, as PostgreSQL prints it).
    static func timestampText(microseconds: Int64) -> String {
        if microseconds == .max { return "infinity" }
        if microseconds == .min { return "-infinity" }
        let (seconds, micros) = (microseconds + epochSeconds * 1_000_000).quotientAndRemainder(dividingBy: 1_000_000)
        let (s, us) = micros < 0 ? (seconds - 1, micros + 1_000_000) : (seconds, micros)
        var text = CivilDateTime(localSeconds: s).description
        if us > 0 {
            var fraction = String(us)
            fraction = String(repeating: "0", count: 6 - fraction.count) + fraction
            while fraction.hasSuffix("0") { fraction.removeLast() }
            text += "." + fraction
        }
        return text
    }

    /// `yyyy-MM-dd` of days since 2000-01-01.
    static func dateText(days: Int32) -> String {
        if days == .max { return "infinity" }
        if days == .min { return "-infinity" }
        return CivilDate(dayNumber: Int64(days) + epochDays).description
    }

    @inline(__always)
    static func isDigit(_ c: UInt8) -> Bool { c &- UInt8(ascii: "0") < 10 }
}
