import Foundation

/// The statements of an SQL node (`type: sql`), split at the semicolons that end them. A semicolon
/// inside a quoted string ('…', "…", `…`), a comment (`-- …`, `/* … */`) or a PostgreSQL
/// dollar-quoted body (`$$ … $$`, `$tag$ … $tag$`) does not end a statement. Empty statements are
/// dropped; each statement keeps its text without the semicolon, trimmed.
public struct SQLScript: Sendable, Equatable {
    public var statements: [String]

    public init(statements: [String]) { self.statements = statements }

    public init(_ text: String) { self.statements = Self.split(text) }

    public static func split(_ text: String) -> [String] {
        var statements: [String] = []
        var scanner = Scanner(Array(text.unicodeScalars))
        var start = 0
        while let end = scanner.nextSemicolon() {
            statements.append(scanner.text(start..<end))
            start = end + 1
        }
        statements.append(scanner.text(start..<scanner.chars.count))
        return statements.filter { !isBlank($0) }
    }

    /// Whether the statement begins or ends a transaction (`BEGIN`, `COMMIT`, `ROLLBACK`, `START
    /// TRANSACTION`, `END`, `SAVEPOINT`, `RELEASE`): an SQL node runs its statements in one transaction
    /// of its own.
    public static func controlsTransaction(_ statement: String) -> Bool {
        let words = withoutLeadingComments(statement).split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" })
        guard let first = words.first?.uppercased() else { return false }
        switch first {
        case "BEGIN", "COMMIT", "ROLLBACK", "END", "SAVEPOINT", "RELEASE", "ABORT": return true
        case "START": return words.dropFirst().first?.uppercased() == "TRANSACTION"
        default: return false
        }
    }

    /// The statement on one line, shortened to `limit` characters, for messages.
    public static func preview(_ statement: String, limit: Int = 80) -> String {
        let line = statement.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }.joined(separator: " ")
        return line.count <= limit ? line : String(line.prefix(limit - 1)) + "…"
    }

    /// The error of statement `index` failing on `target` with the database's `message`.
    public func failure(at index: Int, on target: String, _ message: String, retriable: Bool = false,
                        code: String? = nil) -> SluiceError {
        SluiceError(.destination,
                    "statement \(index + 1) of \(statements.count) failed on \(target): \(message) (statement: \(Self.preview(statements[index])))",
                    hint: retriable ? nil : "fix the statement in the job's `sql`; the statements before it were rolled back where the database has transactions",
                    code: code ?? "sql.statement", context: ["statement": String(index + 1)], retriable: retriable)
    }

    private static func isBlank(_ statement: String) -> Bool {
        withoutLeadingComments(statement).isEmpty
    }

    /// The statement without the comments and blanks before its first word.
    static func withoutLeadingComments(_ statement: String) -> String {
        var rest = Substring(statement)
        while true {
            rest = rest.drop(while: { $0.isWhitespace })
            if rest.hasPrefix("--") {
                rest = rest.drop(while: { !$0.isNewline })
            } else if rest.hasPrefix("/*"), let close = rest.range(of: "*/") {
                rest = rest[close.upperBound...]
            } else {
                return String(rest)
            }
        }
    }

    /// Walks the script's characters, skipping what cannot hold a statement's end.
    private struct Scanner {
        let chars: [Unicode.Scalar]
        var i = 0

        init(_ chars: [Unicode.Scalar]) { self.chars = chars }

        func text(_ range: Range<Int>) -> String {
            var s = String.UnicodeScalarView()
            s.append(contentsOf: chars[range])
            return String(s).trimmingCharacters(in: .whitespacesAndNewlines)
        }

        /// The index of the next semicolon that ends a statement.
        mutating func nextSemicolon() -> Int? {
            while i < chars.count {
                let c = chars[i]
                switch c {
                case ";":
                    i += 1
                    return i - 1
                case "'", "\"", "`":
                    skipQuoted(c)
                case "-" where peek(1) == "-":
                    while i < chars.count, chars[i] != "\n" { i += 1 }
                case "/" where peek(1) == "*":
                    skipBlockComment()
                case "$":
                    skipDollarQuoted()
                default:
                    i += 1
                }
            }
            return nil
        }

        func peek(_ n: Int) -> Unicode.Scalar? { i + n < chars.count ? chars[i + n] : nil }

        /// A quoted string or identifier; a doubled quote stands for itself, and a backslash escapes
        /// the next character in '…' and "…" (MaxCompute's and MySQL-style strings).
        mutating func skipQuoted(_ quote: Unicode.Scalar) {
            i += 1
            while i < chars.count {
                if chars[i] == "\\", quote != "`" { i += 2; continue }
                if chars[i] == quote {
                    if peek(1) == quote { i += 2; continue }
                    i += 1
                    return
                }
                i += 1
            }
        }

        /// `/* … */`, nested as PostgreSQL nests them.
        mutating func skipBlockComment() {
            var depth = 0
            while i < chars.count {
                if chars[i] == "/", peek(1) == "*" { depth += 1; i += 2; continue }
                if chars[i] == "*", peek(1) == "/" {
                    depth -= 1
                    i += 2
                    if depth == 0 { return }
                    continue
                }
                i += 1
            }
        }

        /// `$tag$ … $tag$` (PostgreSQL); a `$` that does not open one (`$1`, `${x}`) is skipped alone.
        mutating func skipDollarQuoted() {
            var j = i + 1
            while j < chars.count, chars[j] == "_" || chars[j].properties.isAlphabetic || (j > i + 1 && ("0"..."9").contains(chars[j])) {
                j += 1
            }
            guard j < chars.count, chars[j] == "$" else { i += 1; return }
            let tag = Array(chars[i...j])
            i = j + 1
            while i < chars.count {
                if chars[i] == "$", i + tag.count <= chars.count, Array(chars[i..<(i + tag.count)]) == tag {
                    i += tag.count
                    return
                }
                i += 1
            }
        }
    }
}

/// A database an SQL node runs its statements on: the SQLite warehouse, a PostgreSQL database or a
/// MaxCompute project (the job's `target:`).
public protocol SQLTarget: Sendable {
    /// What the statements run on, for messages (never a secret).
    var description: String { get }
    /// Runs the statements in order, all or none where the database has transactions (SQLite,
    /// PostgreSQL), one after another where it has none (MaxCompute). Returns the rows each statement
    /// changed (nil where the database does not say). A failure is `SQLScript.failure`.
    func execute(_ script: SQLScript) async throws -> [Int64?]
}
