/// Byte-level helpers for the hot path: UTF-8 validation, integer and float parsing without
/// creating Strings.
@usableFromInline
package enum FastText {
    /// `String.withUTF8` as raw bytes, for a body with typed throws (or none), without copying a
    /// native string.
    @inlinable package static func withUTF8<R, E: Error>(_ string: String, _ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        var s = string
        var result: Result<R, E>?
        s.withUTF8 { u in
            do throws(E) { result = .success(try body(UnsafeRawBufferPointer(u))) } catch { result = .failure(error) }
        }
        return try result!.get()
    }

    /// True when `b` is well-formed UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF).
    /// ASCII runs are checked eight bytes at a time.
    @inlinable package static func isValidUTF8(_ b: UnsafeRawBufferPointer) -> Bool {
        guard let base = b.baseAddress else { return true }
        let p = base.assumingMemoryBound(to: UInt8.self)
        let n = b.count
        var i = 0
        while i < n {
            while i &+ 32 <= n,
                  (UnsafeRawPointer(p + i).loadUnaligned(as: UInt64.self)
                   | UnsafeRawPointer(p + i + 8).loadUnaligned(as: UInt64.self)
                   | UnsafeRawPointer(p + i + 16).loadUnaligned(as: UInt64.self)
                   | UnsafeRawPointer(p + i + 24).loadUnaligned(as: UInt64.self)) & 0x8080_8080_8080_8080 == 0 { i &+= 32 }
            while i &+ 16 <= n,
                  (UnsafeRawPointer(p + i).loadUnaligned(as: UInt64.self)
                   | UnsafeRawPointer(p + i + 8).loadUnaligned(as: UInt64.self)) & 0x8080_8080_8080_8080 == 0 { i &+= 16 }
            while i &+ 8 <= n, UnsafeRawPointer(p + i).loadUnaligned(as: UInt64.self) & 0x8080_8080_8080_8080 == 0 { i &+= 8 }
            guard i < n else { return true }
            let c = p[i]
            if c < 0x80 { i += 1; continue }
            @inline(__always) func cont(_ k: Int) -> Bool { k < n && p[k] & 0xC0 == 0x80 }
            switch c {
            case 0xC2...0xDF:
                guard cont(i + 1) else { return false }
                i += 2
            case 0xE0...0xEF:
                guard cont(i + 1), cont(i + 2) else { return false }
                let c1 = p[i + 1]
                if c == 0xE0, c1 < 0xA0 { return false }          // overlong
                if c == 0xED, c1 >= 0xA0 { return false }         // surrogate
                i += 3
            case 0xF0...0xF4:
                guard cont(i + 1), cont(i + 2), cont(i + 3) else { return false }
                let c1 = p[i + 1]
                if c == 0xF0, c1 < 0x90 { return false }          // overlong
                if c == 0xF4, c1 >= 0x90 { return false }         // above U+10FFFF
                i += 4
            default:
                return false
            }
        }
        return true
    }

    /// Optional sign and 1–18 digits, nothing else: the common integer, parsed without overflow checks.
    @inline(__always)
    @inlinable package static func smallInteger(_ b: UnsafeRawBufferPointer) -> Int64? {
        let n = b.count
        guard n > 0 else { return nil }
        var i = 0
        var negative = false
        if b[0] == UInt8(ascii: "-") { negative = true; i = 1 }
        guard n - i >= 1, n - i <= 18 else { return nil }
        var v: Int64 = 0
        while i < n {
            let d = b[i] &- UInt8(ascii: "0")
            guard d < 10 else { return nil }
            v = v &* 10 &+ Int64(d)
            i += 1
        }
        return negative ? -v : v
    }

    @usableFromInline static let powersOfTen: [Double] = (0...22).map { k in (0..<k).reduce(1.0) { acc, _ in acc * 10 } }

    /// A JSON number (already validated) whose value is exactly representable as `m × 10^±k` with
    /// m < 2^53 and k ≤ 22 (Clinger's fast path: one correctly rounded operation). Nil otherwise, and
    /// the caller falls back to the full conversion.
    @inline(__always)
    @inlinable package static func fastDouble(_ b: UnsafeRawBufferPointer) -> Double? {
        let n = b.count
        var i = 0
        var negative = false
        if n > 0, b[0] == UInt8(ascii: "-") { negative = true; i = 1 }
        var mantissa: UInt64 = 0
        var digits = 0
        var exponent = 0
        while i < n, b[i] &- UInt8(ascii: "0") < 10 {
            mantissa = mantissa &* 10 &+ UInt64(b[i] - UInt8(ascii: "0"))
            digits += 1
            i += 1
        }
        if i < n, b[i] == UInt8(ascii: ".") {
            i += 1
            while i < n, b[i] &- UInt8(ascii: "0") < 10 {
                mantissa = mantissa &* 10 &+ UInt64(b[i] - UInt8(ascii: "0"))
                digits += 1
                exponent -= 1
                i += 1
            }
        }
        guard i == n, digits > 0, digits <= 15, exponent >= -22 else { return nil }
        var d = Double(mantissa)
        if exponent < 0 { d /= powersOfTen[-exponent] }
        return negative ? -d : d
    }
}
