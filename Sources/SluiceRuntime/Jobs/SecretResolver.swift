import Foundation
import SluiceCore

/// Resolves a job's secret references at the edge of the program: `${env:NAME}` from the
/// environment, `${file:PATH}` from a file (relative paths from the job file's directory). The
/// pure modules only ever see the result, as a `Secret`.
public struct SecretResolver: Sendable {
    public var environment: [String: String]
    /// The directory relative file paths are read from (the job file's); nil = the working directory.
    public var directory: String?

    public init(environment: [String: String] = ProcessInfo.processInfo.environment, relativeTo directory: String? = nil) {
        self.environment = environment
        self.directory = directory
    }

    /// The secret `value` stands for (a literal as it is). Throws `SluiceError.invalidInput` naming
    /// the variable or file, never the value.
    public func resolve(_ value: SecretValue) throws -> Secret {
        switch value {
        case .literal(let s):
            return Secret(s)
        case .env(let name):
            guard let v = environment[name] else {
                throw SluiceError.invalid("environment variable \(name) is not set",
                                          hint: "export \(name)=… before running, or use ${file:PATH}")
            }
            return Secret(v)
        case .file(let path):
            let full = self.path(path)
            guard let text = Self.readText(full) else {
                throw SluiceError.invalid("secret file \(full) cannot be read",
                                          hint: "check the path (relative paths are read from the job file's directory) and its permissions")
            }
            return Secret(text.trimmingCharacters(in: .newlines))
        }
    }

    /// The secret, or nil when its variable is not set or its file cannot be read (for `validate`,
    /// which checks what it can without the secrets).
    public func resolveIfAvailable(_ value: SecretValue) -> Secret? {
        try? resolve(value)
    }

    /// `path` as the job means it: relative paths from the job file's directory.
    public func path(_ path: String) -> String {
        guard !path.hasPrefix("/"), let directory, !directory.isEmpty, directory != "." else { return path }
        return (directory as NSString).appendingPathComponent(path)
    }

    /// A file's UTF-8 text, nil when it cannot be read.
    static func readText(_ path: String) -> String? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return String(data: data, encoding: .utf8)
    }
}
