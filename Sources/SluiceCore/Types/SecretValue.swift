/// A value that may be secret. Job files should reference secrets (`${env:NAME}`, `${file:PATH}`)
/// rather than hold them; a literal is allowed but `sluice validate` warns about it when the key
/// looks secret. `description` never reveals a secret. Resolving a reference (reading the
/// environment or a file) is the application's job (`SluiceRuntime.SecretResolver`), which hands
/// the result on as a `Secret`.
public enum SecretValue: Sendable, Hashable, CustomStringConvertible {
    case literal(String)
    case env(String)
    case file(String)

    /// Parses `${env:NAME}` and `${file:PATH}`; anything else is a literal.
    public init(parsing text: String) {
        if text.hasPrefix("${env:"), text.hasSuffix("}") {
            self = .env(String(text.dropFirst(6).dropLast()))
        } else if text.hasPrefix("${file:"), text.hasSuffix("}") {
            self = .file(String(text.dropFirst(7).dropLast()))
        } else {
            self = .literal(text)
        }
    }

    /// The text as written in a job file (a literal is shown as written: use `redacted` for output).
    public var source: String {
        switch self {
        case .literal(let s): s
        case .env(let name): "${env:\(name)}"
        case .file(let path): "${file:\(path)}"
        }
    }

    public var isReference: Bool { if case .literal = self { false } else { true } }

    /// References shown as written, literals as `******`.
    public var redacted: String { isReference ? source : "******" }

    public var description: String { redacted }
}

/// A resolved secret (a password, a key, a token). Every way of printing it (`description`,
/// `debugDescription`, string interpolation, `dump`, a mirror) shows `******`; it is not `Codable`.
/// `reveal()` is the one way to the value, for the library call that needs it.
public struct Secret: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    private let value: String

    public init(_ value: String) { self.value = value }

    /// The secret itself. Call it only where the value is handed to the system that needs it.
    public func reveal() -> String { value }

    public var isEmpty: Bool { value.isEmpty }
    public var description: String { "******" }
    public var debugDescription: String { "Secret(******)" }
    public var customMirror: Mirror { Mirror(self, children: [:]) }
}

/// Keys whose values are secrets wherever they appear (kafkaConfig, destination connections).
public enum SecretKeys {
    public static func isSecret(_ key: String) -> Bool {
        let k = key.lowercased()
        return k.contains("password") || k.contains("secret") || k.hasSuffix("accesskey")
            || k == "accesskey" || k.contains("jaas.config") || k.contains("token")
            || k.hasSuffix(".key") || k.contains("credential")
    }
}
