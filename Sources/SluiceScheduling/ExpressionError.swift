import SluiceCore
/// Why an expression was rejected and where: `offset` is the 0-based character index in `text` of the
/// character at fault (the whole text's length for "missing something at the end").
public struct ExpressionError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The full text that was parsed.
    public var text: String
    /// 0-based character index of the fault.
    public var offset: Int
    public var reason: String
    /// What held the text, e.g. `parameter startTime` or `destination.partition`; nil for a bare expression.
    public var subject: String?

    public init(text: String, offset: Int, reason: String, subject: String? = nil) {
        self.text = text
        self.offset = offset
        self.reason = reason
        self.subject = subject
    }

    /// 1-based column of the fault.
    public var column: Int { offset + 1 }

    /// `parameter x: invalid expression at column 5: reason`, then the text and a caret under the fault.
    public var description: String {
        let head = subject.map { "\($0): " } ?? ""
        let shown = String(text.map { $0 == "\n" || $0 == "\t" || $0 == "\r" ? " " : $0 })
        return """
        \(head)invalid expression at column \(column): \(reason)
            \(shown)
            \(String(repeating: " ", count: offset))^
        """
    }

    /// The same error as the `SluiceError` every public API throws (exit code 2).
    public var sluiceError: SluiceError { SluiceError(.invalidInput, description) }
}
