import Foundation

/// Checking that text is one JSON value (RFC 8259), for JSON columns: a value that is not JSON makes
/// its record dirty instead of failing the destination's load.
extension JSONText {
    /// How strict `problem(in:rules:)` is beyond RFC 8259.
    struct Rules: Sendable, Hashable {
        /// Nesting deeper than this is refused (PostgreSQL's parser recurses per level).
        var maxDepth = 1000
        /// PostgreSQL's `jsonb`: no `\u0000` escape, and numbers within `numeric`'s range.
        var postgres = false
    }

    /// Why `b` (valid UTF-8) is not exactly one JSON value, surrounding whitespace allowed; nil when it is.
    /// Unpaired UTF-16 surrogate escapes are refused: they stand for no character.
    static func problem(in b: UnsafeRawBufferPointer, rules: Rules = Rules()) -> String? {
        guard let base = b.baseAddress, !b.isEmpty else { return "empty text is not JSON" }
        var reader = JSONReader(p: base.assumingMemoryBound(to: UInt8.self), n: b.count, rules: rules)
        return reader.document()
    }
}

/// A one-pass JSON checker over bytes; containers are tracked on a stack (no recursion).
private struct JSONReader {
    let p: UnsafePointer<UInt8>
    let n: Int
    let rules: JSONText.Rules
    var i = 0
    /// Open containers, innermost last: true for an object.
    var stack: [Bool] = []

    init(p: UnsafePointer<UInt8>, n: Int, rules: JSONText.Rules) {
        self.p = p
        self.n = n
        self.rules = rules
    }

    mutating func skipWS() { while i < n, JSONPathScanner.isWS(p[i]) { i += 1 } }

    func at(_ what: String) -> String { "\(what) at byte \(i + 1)" }

    /// What reading at a value's position did.
    enum Step {
        /// A whole value was read.
        case complete
        /// A container was opened (and a member name read): its first value comes next.
        case expectValue
        case failed(String)
    }

    /// The whole text: one value, then only whitespace.
    mutating func document() -> String? {
        while true {
            skipWS()
            guard i < n else { return at("unexpected end of the text, expecting a value") }
            switch value() {
            case .failed(let problem): return problem
            case .expectValue: continue
            case .complete: break
            }
            // After a value: close containers, or go on to the next element.
            while true {
                skipWS()
                guard let object = stack.last else { return i == n ? nil : at("text after the JSON value") }
                guard i < n else { return at("unexpected end of the text inside \(object ? "an object" : "an array")") }
                let c = p[i]
                if c == UInt8(ascii: object ? "}" : "]") {
                    stack.removeLast()
                    i += 1
                    continue
                }
                guard c == UInt8(ascii: ",") else { return at("expected ',' or '\(object ? "}" : "]")'") }
                i += 1
                if object, let problem = member() { return problem }
                break
            }
        }
    }

    /// One value at `i`, or the opening of a container (and its first member name).
    mutating func value() -> Step {
        let problem: String?
        switch p[i] {
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            let object = p[i] == UInt8(ascii: "{")
            guard stack.count < rules.maxDepth else { return .failed(at("nesting deeper than \(rules.maxDepth) levels")) }
            i += 1
            skipWS()
            if i < n, p[i] == UInt8(ascii: object ? "}" : "]") {
                i += 1
                return .complete
            }
            stack.append(object)
            if object, let problem = member() { return .failed(problem) }
            return .expectValue
        case UInt8(ascii: "\""): problem = string()
        case UInt8(ascii: "t"): problem = literal("true")
        case UInt8(ascii: "f"): problem = literal("false")
        case UInt8(ascii: "n"): problem = literal("null")
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): problem = number()
        default:
            let c = p[i]
            problem = at(c < 0x80 ? "unexpected character '\(Character(UnicodeScalar(c)))'" : "unexpected byte 0x\(String(c, radix: 16, uppercase: true))")
        }
        return problem.map(Step.failed) ?? .complete
    }

    /// `"key":` of an object member; its value comes next.
    mutating func member() -> String? {
        skipWS()
        guard i < n, p[i] == UInt8(ascii: "\"") else { return at("expected a member name in double quotes") }
        if let problem = string() { return problem }
        skipWS()
        guard i < n, p[i] == UInt8(ascii: ":") else { return at("expected ':' after a member name") }
        i += 1
        return nil
    }

    mutating func literal(_ word: StaticString) -> String? {
        let count = word.utf8CodeUnitCount
        guard n - i >= count, memcmp(p + i, word.utf8Start, count) == 0 else { return at("invalid literal") }
        i += count
        return nil
    }

    mutating func string() -> String? {
        i += 1
        while i < n {
            let c = p[i]
            if c == UInt8(ascii: "\"") {
                i += 1
                return nil
            }
            if c < 0x20 { return at("a control character (U+00\(String(c, radix: 16, uppercase: true).leftPadded(2))) unescaped in a string") }
            if c != UInt8(ascii: "\\") {
                i += 1
                continue
            }
            if let problem = escape() { return problem }
        }
        return at("unterminated string")
    }

    /// The escape at `i` (a backslash); UTF-16 surrogates must come in pairs.
    mutating func escape() -> String? {
        guard i + 1 < n else { return at("unterminated string") }
        switch p[i + 1] {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
             UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
            i += 2
            return nil
        case UInt8(ascii: "u"):
            guard let unit = hex4(at: i + 2) else { return at("invalid \\u escape") }
            if unit == 0, rules.postgres { return at("\\u0000, which PostgreSQL's jsonb cannot hold,") }
            i += 6
            if (0xDC00...0xDFFF).contains(unit) { return at("an unpaired low surrogate escape") }
            guard (0xD800...0xDBFF).contains(unit) else { return nil }
            guard i + 1 < n, p[i] == UInt8(ascii: "\\"), p[i + 1] == UInt8(ascii: "u"),
                  let low = hex4(at: i + 2), (0xDC00...0xDFFF).contains(low) else {
                return at("an unpaired high surrogate escape")
            }
            i += 6
            return nil
        default:
            return at("invalid escape")
        }
    }

    func hex4(at k: Int) -> UInt16? {
        guard k + 4 <= n else { return nil }
        var v: UInt16 = 0
        for j in k..<(k + 4) {
            let c = p[j]
            let d: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = c - UInt8(ascii: "A") + 10
            default: return nil
            }
            v = v << 4 | UInt16(d)
        }
        return v
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`; for PostgreSQL, within `numeric`'s range.
    mutating func number() -> String? {
        let start = i
        if p[i] == UInt8(ascii: "-") { i += 1 }
        guard i < n, isDigit(p[i]) else { return at("invalid number") }
        if p[i] == UInt8(ascii: "0") { i += 1 } else { while i < n, isDigit(p[i]) { i += 1 } }
        let integerDigits = i - start - (p[start] == UInt8(ascii: "-") ? 1 : 0)
        if i < n, p[i] == UInt8(ascii: ".") {
            i += 1
            guard i < n, isDigit(p[i]) else { return at("invalid number: no digit after '.'") }
            while i < n, isDigit(p[i]) { i += 1 }
        }
        guard i < n, p[i] == UInt8(ascii: "e") || p[i] == UInt8(ascii: "E") else { return nil }
        i += 1
        var negative = false
        if i < n, p[i] == UInt8(ascii: "+") || p[i] == UInt8(ascii: "-") {
            negative = p[i] == UInt8(ascii: "-")
            i += 1
        }
        guard i < n, isDigit(p[i]) else { return at("invalid number: no digit in the exponent") }
        var exponent = 0
        while i < n, isDigit(p[i]) {
            exponent = min(exponent * 10 + Int(p[i] - UInt8(ascii: "0")), 1_000_000)
            i += 1
        }
        // numeric holds up to 131072 digits before the point and 16383 after it.
        if rules.postgres, negative ? exponent > 16_000 : exponent + integerDigits > 131_000 {
            return at("a number beyond the range of PostgreSQL's numeric")
        }
        return nil
    }

    func isDigit(_ c: UInt8) -> Bool { c &- UInt8(ascii: "0") < 10 }
}

private extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: "0", count: Swift.max(0, width - count)) + self }
}
