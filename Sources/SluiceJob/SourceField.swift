import Foundation
import SluiceCore

/// One of the six fields every Kafka record has (DataWorks' "default Kafka fields").
public enum BuiltinField: String, Sendable, Hashable, CaseIterable {
    case key = "__key__"
    case value = "__value__"
    case partition = "__partition__"
    case headers = "__headers__"
    case offset = "__offset__"
    case timestamp = "__timestamp__"

    /// The name without underscores (`key`, `value`, …), used when mapping by name.
    public var bareName: String { String(rawValue.dropFirst(2).dropLast(2)) }
}

/// One step of a JSON path: a member of an object or an element of an array.
public enum PathComponent: Sendable, Hashable, CustomStringConvertible {
    case member(String)
    case index(Int)

    /// The component in field-definition syntax: `.name`, `['a.b']` or `[1]`.
    public var description: String {
        switch self {
        case .index(let i): return "[\(i)]"
        case .member(let name):
            if SourceField.needsBrackets(name) {
                let escaped = name.replacingOccurrences(of: "\\", with: "\\\\")
                    .replacingOccurrences(of: "'", with: "\\'")
                return "['\(escaped)']"
            }
            return "." + name
        }
    }
}

/// A parsed source field definition (a reader `column` entry).
///
/// Syntax:
/// - built-ins: `__key__`, `__value__`, `__partition__`, `__headers__`, `__offset__`, `__timestamp__`;
/// - a constant: `'abc'` (everything between the outer single quotes, verbatim);
/// - a JSON path into the value: `b`, `a.a1`, `c[1]`, `d[0].AA`, `['a.b']` (a bracketed, quoted member
///   name may contain `.`, `[`, `]`; `\'` and `\\` escape inside it), `[0]` for a top-level array;
///   `__value__.path` is the same as `path`;
/// - a JSON path into the key: `__key__.path`, `__key__[0]`, `__key__['a.b']`.
public enum SourceField: Sendable, Hashable, CustomStringConvertible {
    case builtin(BuiltinField)
    case constant(String)
    /// A path into the record value, parsed as JSON. Never empty.
    case valuePath([PathComponent])
    /// A path into the record key, parsed as JSON. Never empty.
    case keyPath([PathComponent])

    /// Parses a field definition; throws a `FieldDefinitionError` locating the problem.
    public init(parsing text: String) throws(FieldDefinitionError) {
        var parser = FieldDefinitionParser(text)
        self = try parser.parse()
    }

    /// The canonical spelling: parsing it yields this field again.
    public var description: String {
        switch self {
        case .builtin(let b): return b.rawValue
        case .constant(let s): return "'\(s)'"
        case .valuePath(let p): return SourceField.render(p)
        case .keyPath(let p): return "__key__" + p.map(\.description).joined()
        }
    }

    /// The name used by map-by-name: a built-in's bare name (`key`), a path's last member name, a
    /// constant's text; nil for a path ending in an index.
    public var mappingName: String? {
        switch self {
        case .builtin(let b): return b.bareName
        case .constant(let s): return s
        case .valuePath(let p), .keyPath(let p):
            if case .member(let m) = p.last { return m }
            return nil
        }
    }

    static func render(_ path: [PathComponent]) -> String {
        var out = ""
        for (i, c) in path.enumerated() {
            let d = c.description
            if i == 0, case .member(let m) = c, !needsBrackets(m) { out += m } else { out += d }
        }
        return out
    }

    static func needsBrackets(_ name: String) -> Bool {
        name.isEmpty || name.contains(where: { $0 == "." || $0 == "[" || $0 == "]" || $0 == "'" })
            || name.hasPrefix("__") || name.first == " " || name.last == " "
    }
}

/// A field definition that does not parse. `position` is the 0-based character offset of the problem.
public struct FieldDefinitionError: Error, Sendable, Equatable, CustomStringConvertible {
    public var definition: String
    public var position: Int
    public var message: String

    public init(definition: String, position: Int, message: String) {
        self.definition = definition
        self.position = position
        self.message = message
    }

    /// `field 'a..b', character 3: message`.
    public var description: String {
        "field '\(definition)', character \(position + 1): \(message)"
    }
}

/// A note about a field definition for the job validator: an error (the definition cannot be used) or
/// a warning (it can, but probably does not mean what the user thinks).
public struct FieldDefinitionIssue: Sendable, Equatable, CustomStringConvertible {
    public var severity: Diagnostic.Severity
    /// 0-based character offset into the definition.
    public var position: Int
    public var message: String

    public init(severity: Diagnostic.Severity, position: Int, message: String) {
        self.severity = severity
        self.position = position
        self.message = message
    }

    public var description: String {
        (severity == .warning ? "warning: " : "") + "character \(position + 1): \(message)"
    }
}

extension SourceField {
    /// Checks a field definition for the job validator.
    ///
    /// Returns syntax errors with their position and warnings for likely mistakes (a built-in spelt
    /// in another case, an `__x__` name that is not a built-in). SluiceMapping adds a check against a
    /// sample record.
    public static func check(_ text: String) -> [FieldDefinitionIssue] {
        let field: SourceField
        do {
            field = try SourceField(parsing: text)
        } catch {
            return [FieldDefinitionIssue(severity: .error, position: error.position, message: error.message)]
        }
        var issues: [FieldDefinitionIssue] = []
        if case .valuePath(let path) = field, case .member(let first) = path[0], !text.hasPrefix("[") {
            if let b = BuiltinField.allCases.first(where: { $0.rawValue.lowercased() == first.lowercased() }),
               b.rawValue != first {
                issues.append(FieldDefinitionIssue(
                    severity: .warning, position: 0,
                    message: "'\(first)' is read as a JSON member of the value; the built-in field is spelt '\(b.rawValue)'"))
            } else if first.hasPrefix("__"), first.hasSuffix("__"), first.count > 4, path.count == 1 {
                issues.append(FieldDefinitionIssue(
                    severity: .warning, position: 0,
                    message: "'\(first)' is not a built-in field (\(BuiltinField.allCases.map(\.rawValue).joined(separator: ", "))); it is read as a JSON member of the value"))
            }
        }
        return issues
    }
}

/// Recursive-descent parser over the definition's characters, keeping positions for errors.
struct FieldDefinitionParser {
    let text: String
    let chars: [Character]
    var i = 0

    init(_ text: String) {
        self.text = text
        self.chars = Array(text)
    }

    func fail(_ at: Int, _ message: String) -> FieldDefinitionError {
        FieldDefinitionError(definition: text, position: at, message: message)
    }

    mutating func parse() throws(FieldDefinitionError) -> SourceField {
        if chars.isEmpty { throw fail(0, "empty field definition") }
        if chars[0] == "'" {
            guard chars.count >= 2, chars.last == "'" else {
                throw fail(chars.count, "constant is not closed: a constant is written between single quotes, e.g. 'abc'")
            }
            return .constant(String(chars[1..<(chars.count - 1)]))
        }
        if let b = BuiltinField(rawValue: text) { return .builtin(b) }
        for prefix in [BuiltinField.key, .value] {
            let p = Array(prefix.rawValue)
            if chars.count > p.count, Array(chars[0..<p.count]) == p, chars[p.count] == "." || chars[p.count] == "[" {
                i = p.count
                if chars[i] == "." { i += 1 }
                let path = try parsePath(leadingMemberAllowed: true)
                return prefix == .key ? .keyPath(path) : .valuePath(path)
            }
        }
        for b in BuiltinField.allCases where b != .key && b != .value {
            let p = Array(b.rawValue)
            if chars.count > p.count, Array(chars[0..<p.count]) == p, chars[p.count] == "." || chars[p.count] == "[" {
                throw fail(p.count, "\(b.rawValue) is not JSON; only __key__ and __value__ take a path")
            }
        }
        return .valuePath(try parsePath(leadingMemberAllowed: true))
    }

    mutating func parsePath(leadingMemberAllowed: Bool) throws(FieldDefinitionError) -> [PathComponent] {
        var path: [PathComponent] = []
        if i >= chars.count { throw fail(i, "a path is expected here") }
        if chars[i] != "[" { path.append(.member(try parseName())) }
        while i < chars.count {
            let c = chars[i]
            if c == "." {
                i += 1
                if i < chars.count, chars[i] == "[" {
                    throw fail(i, "'.' must be followed by a member name; write [..] directly after the previous component")
                }
                path.append(.member(try parseName()))
            } else if c == "[" {
                path.append(try parseBracket())
            } else {
                throw fail(i, "unexpected '\(c)'")
            }
        }
        return path
    }

    mutating func parseName() throws(FieldDefinitionError) -> String {
        let start = i
        while i < chars.count, chars[i] != ".", chars[i] != "[" {
            if chars[i] == "]" { throw fail(i, "']' without '['") }
            if chars[i] == "'" {
                throw fail(i, "a quote inside a member name; write a member with unusual characters as ['name']")
            }
            i += 1
        }
        if i == start {
            if start == chars.count { throw fail(start, "a member name is expected after '.'") }
            if start == 0 { throw fail(start, "a field definition cannot start with '.'") }
            throw fail(start, "empty member name: two '.' in a row")
        }
        return String(chars[start..<i])
    }

    mutating func parseBracket() throws(FieldDefinitionError) -> PathComponent {
        let open = i
        i += 1
        guard i < chars.count else { throw fail(open, "'[' is not closed") }
        if chars[i] == "'" || chars[i] == "\"" {
            let quote = chars[i]
            i += 1
            var name = ""
            while true {
                guard i < chars.count else { throw fail(open, "quoted member name is not closed") }
                let c = chars[i]
                if c == "\\" {
                    guard i + 1 < chars.count else { throw fail(i, "'\\' at the end") }
                    name.append(chars[i + 1])
                    i += 2
                    continue
                }
                if c == quote { i += 1; break }
                name.append(c)
                i += 1
            }
            guard i < chars.count, chars[i] == "]" else { throw fail(i, "']' expected after the quoted member name") }
            i += 1
            return .member(name)
        }
        let start = i
        while i < chars.count, chars[i] != "]" { i += 1 }
        guard i < chars.count else { throw fail(open, "'[' is not closed") }
        let body = String(chars[start..<i]).trimmingWhitespace()
        i += 1
        guard !body.isEmpty else { throw fail(start, "empty [] : write an array index such as [0] or a quoted member such as ['a.b']") }
        guard body.allSatisfy(\.isASCII), body.allSatisfy(\.isNumber), let n = Int(body) else {
            if body.hasPrefix("-") { throw fail(start, "array index must not be negative") }
            throw fail(start, "'\(body)' is not an array index; quote a member name: ['\(body)']")
        }
        return .index(n)
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }
}
