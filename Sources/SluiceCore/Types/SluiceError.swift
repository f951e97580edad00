/// The one error type that crosses module boundaries. `kind` decides the exit code of the CLI:
/// `.invalidInput` exits 2, everything else exits 1.
///
/// Messages say what failed, where (file and path in the job, partition and offset in Kafka) and,
/// when it helps, what to do (`hint`). They never contain secrets.
public struct SluiceError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable {
        /// Bad flags, an invalid job file, an invalid expression. Exit code 2.
        case invalidInput
        /// Kafka could not be read as planned.
        case kafka
        /// The destination could not be written, or refused the data.
        case destination
        /// The dirty-record limit was exceeded.
        case dirtyLimit
        /// State (ledger, locks) problems.
        case state
        /// Anything else that made the work fail.
        case failed

        /// Kafka, the destination and the ledger can be down for a while; bad input and a
        /// dirty-record limit stay as they are.
        public var isRetriableByDefault: Bool {
            switch self {
            case .kafka, .destination, .state, .failed: true
            case .invalidInput, .dirtyLimit: false
            }
        }
    }

    public var kind: Kind
    public var message: String
    public var hint: String?
    /// A stable name for the failure, for scripts and alerts: `kafka.retention`, `destination.schema`;
    /// the kind's name when nothing more precise was given.
    public var code: String
    /// Where it happened: `topic`, `partition`, `offset`, `file`, `path`, `table`, … (never secrets).
    public var context: [String: String]
    /// Whether running again may succeed (a broker or destination that was down, a lock held by
    /// another run). The scheduler retries only these automatically. Invalid input, the
    /// dirty-record limit, a table that does not match the job and data lost to retention fail the
    /// same way every time.
    public var isRetriable: Bool

    public init(_ kind: Kind, _ message: String, hint: String? = nil, code: String? = nil,
                context: [String: String] = [:], retriable: Bool? = nil) {
        self.kind = kind
        self.message = message
        self.hint = hint
        self.code = code ?? kind.rawValue
        self.context = context
        self.isRetriable = retriable ?? kind.isRetriableByDefault
    }

    public static func invalid(_ message: String, hint: String? = nil) -> SluiceError {
        SluiceError(.invalidInput, message, hint: hint)
    }

    public var description: String {
        if let hint { return "\(message)\n  hint: \(hint)" }
        return message
    }

    /// The process exit code for this error: 2 for invalid input, 1 otherwise.
    public var exitCode: Int32 { kind == .invalidInput ? 2 : 1 }
}

/// One problem found while loading or validating a job file, located by file and path.
public struct Diagnostic: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Severity: String, Sendable { case error, warning }
    public var file: String
    /// A path into the document such as `source.begin.time` or `steps[0].parameter.column[3]`.
    /// Empty for problems with the whole file.
    public var path: String
    public var message: String
    public var severity: Severity

    public init(file: String, path: String, message: String, severity: Severity = .error) {
        self.file = file
        self.path = path
        self.message = message
        self.severity = severity
    }

    /// `FILE:PATH: message` (or `FILE: message` when the path is empty); warnings say so.
    public var description: String {
        let prefix = path.isEmpty ? file : "\(file):\(path)"
        return severity == .warning ? "\(prefix): warning: \(message)" : "\(prefix): \(message)"
    }
}

/// Thrown when a job file has one or more errors; carries every diagnostic found.
public struct JobFileError: Error, CustomStringConvertible, Sendable {
    public var diagnostics: [Diagnostic]
    public init(_ diagnostics: [Diagnostic]) { self.diagnostics = diagnostics }
    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}
