import Foundation
import SluiceCore

/// A PostgreSQL connection URL, `postgresql://user[:password]@host[:port]/database[?sslmode=…]`.
///
/// The password may also come from the environment (`PGPASSWORD`) or from a file
/// (`?passwordFile=PATH`), so that it need not stand in a command line. `description` never shows
/// it: the URL is printed as `postgresql://user@host:port/database`.
public struct PostgresURL: Sendable, Hashable, CustomStringConvertible {
    public enum TLSMode: String, Sendable, Hashable {
        /// No TLS (`sslmode=disable`, the default: a database on the same network).
        case disable
        /// TLS if the server offers it.
        case prefer
        /// TLS or no connection (`require`, `verify-ca`, `verify-full`: the server's certificate
        /// is verified against the system's trust store, and `sslrootcert` when given).
        case require
    }

    public var user: String
    public var host: String
    public var port: Int
    public var database: String
    public var tls: TLSMode
    /// `sslrootcert`: the CA file that verifies the server.
    public var rootCertificate: String?
    private var passwordSource: PasswordSource

    enum PasswordSource: Sendable, Hashable {
        case none
        case inline(Secret)
        case file(String)
    }

    /// Parses a URL; throws an `.invalidInput` error that shows the URL without its password.
    public init(parsing text: String) throws {
        guard let components = URLComponents(string: text),
              let scheme = components.scheme, ["postgresql", "postgres"].contains(scheme.lowercased()) else {
            throw SluiceError.invalid("'\(Self.redacted(text))' is not a PostgreSQL URL",
                                      hint: "write postgresql://USER@HOST:PORT/DATABASE (password from PGPASSWORD or ?passwordFile=PATH)")
        }
        guard let host = components.host, !host.isEmpty else {
            throw SluiceError.invalid("the PostgreSQL URL \(Self.redacted(text)) names no host")
        }
        let query = Dictionary((components.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { _, b in b })
        self.user = components.user.flatMap { $0.removingPercentEncoding } ?? "postgres"
        self.host = host
        self.port = components.port ?? 5432
        let db = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        self.database = db.isEmpty ? self.user : db
        self.rootCertificate = query["sslrootcert"]
        switch query["sslmode"] ?? "disable" {
        case "disable": tls = .disable
        case "allow", "prefer": tls = .prefer
        case "require", "verify-ca", "verify-full": tls = .require
        case let other:
            throw SluiceError.invalid("sslmode '\(other)' in \(Self.redacted(text)) is not one of disable, prefer, require, verify-ca, verify-full")
        }
        if let password = components.password?.removingPercentEncoding {
            passwordSource = .inline(Secret(password))
        } else if let file = query["passwordFile"] {
            passwordSource = .file(file)
        } else {
            passwordSource = .none
        }
    }

    /// The password: from the URL, else the file it names, else `PGPASSWORD`; nil when there is none.
    public func password(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Secret? {
        switch passwordSource {
        case .inline(let s): return s
        case .file(let path):
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
                throw SluiceError.invalid("the password file \(path) of \(description) cannot be read")
            }
            return Secret(text.trimmingCharacters(in: .newlines))
        case .none:
            return environment["PGPASSWORD"].map(Secret.init)
        }
    }

    public var description: String { "postgresql://\(user)@\(host):\(port)/\(database)" }

    /// `text` with any password between `://user:` and `@` replaced by `***`.
    public static func redacted(_ text: String) -> String {
        text.replacing(/(:\/\/[^:@\/]*):[^@\/]*@/) { "\($0.output.1):***@" }
    }
}
