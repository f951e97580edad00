import Foundation

/// What a number means when it is written into a DATETIME, DATE or TIMESTAMP column.
public enum EpochUnit: String, Sendable, Hashable, CaseIterable {
    case milliseconds, seconds
}

/// A date-time text pattern for DATETIME/DATE/TIMESTAMP columns, a subset of Java's
/// `DateTimeFormatter` letters: `yyyy MM dd HH mm ss`, `S…` (fraction digits, 1–9), and literal
/// text (any other character, or `'quoted'`). Times are read in the job's zone.
public struct DateTimePattern: Sendable, Hashable, CustomStringConvertible {
    package enum Token: Sendable, Hashable {
        case year, month, day, hour, minute, second
        case fraction(Int)
        case literal(UInt8)
    }
    package let tokens: [Token]
    public let description: String

    /// Parses a pattern; nil when it has an unsupported letter or a non-ASCII literal.
    public init?(_ text: String) {
        var tokens: [Token] = []
        let c = Array(text.utf8)
        var i = 0
        func run(_ ch: UInt8) -> Int {
            var j = i
            while j < c.count, c[j] == ch { j += 1 }
            return j - i
        }
        while i < c.count {
            let ch = c[i]
            let n = run(ch)
            switch ch {
            case UInt8(ascii: "y"): guard n == 4 else { return nil }; tokens.append(.year)
            case UInt8(ascii: "M"): guard n == 2 else { return nil }; tokens.append(.month)
            case UInt8(ascii: "d"): guard n == 2 else { return nil }; tokens.append(.day)
            case UInt8(ascii: "H"): guard n == 2 else { return nil }; tokens.append(.hour)
            case UInt8(ascii: "m"): guard n == 2 else { return nil }; tokens.append(.minute)
            case UInt8(ascii: "s"): guard n == 2 else { return nil }; tokens.append(.second)
            case UInt8(ascii: "S"): guard n <= 9 else { return nil }; tokens.append(.fraction(n))
            case UInt8(ascii: "'"):
                var j = i + 1
                while j < c.count, c[j] != UInt8(ascii: "'") { tokens.append(.literal(c[j])); j += 1 }
                guard j < c.count else { return nil }
                i = j + 1
                continue
            default:
                if (ch >= UInt8(ascii: "a") && ch <= UInt8(ascii: "z")) || (ch >= UInt8(ascii: "A") && ch <= UInt8(ascii: "Z"))
                    || ch >= 0x80 { return nil }
                for _ in 0..<n { tokens.append(.literal(ch)) }
            }
            i += n
        }
        guard !tokens.isEmpty else { return nil }
        self.tokens = tokens
        self.description = text
    }
}
