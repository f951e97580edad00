import Foundation
import Logging
import NIOCore
import NIOSSL
import PostgresNIO
import SluiceCore

/// Connections to a PostgreSQL server named by a `PostgresURL`: a pool for ordinary work, single
/// connections for session-level state (advisory locks), and errors that name the server and never
/// the password.
public enum PostgresConnector {
    /// A connection configuration for `url`.
    public static func connectionConfiguration(_ url: PostgresURL) throws -> PostgresConnection.Configuration {
        var c = PostgresConnection.Configuration(host: url.host, port: url.port, username: url.user,
                                                 password: try url.password()?.reveal(), database: url.database,
                                                 tls: try connectionTLS(url))
        c.options.connectTimeout = .seconds(10)
        return c
    }

    /// A pool configuration for `url`.
    public static func clientConfiguration(_ url: PostgresURL, maximumConnections: Int = 8) throws -> PostgresClient.Configuration {
        var c = PostgresClient.Configuration(host: url.host, port: url.port, username: url.user,
                                             password: try url.password()?.reveal(), database: url.database,
                                             tls: try clientTLS(url))
        c.options.maximumConnections = maximumConnections
        c.options.connectTimeout = .seconds(10)
        return c
    }

    private static func tlsConfiguration(_ url: PostgresURL) -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let ca = url.rootCertificate { tls.trustRoots = .file(ca) }
        return tls
    }

    private static func connectionTLS(_ url: PostgresURL) throws -> PostgresConnection.Configuration.TLS {
        switch url.tls {
        case .disable: .disable
        case .prefer: .prefer(try NIOSSLContext(configuration: tlsConfiguration(url)))
        case .require: .require(try NIOSSLContext(configuration: tlsConfiguration(url)))
        }
    }

    private static func clientTLS(_ url: PostgresURL) throws -> PostgresClient.Configuration.TLS {
        switch url.tls {
        case .disable: .disable
        case .prefer: .prefer(tlsConfiguration(url))
        case .require: .require(tlsConfiguration(url))
        }
    }

    /// Opens one connection, with a clear error when the server cannot be reached or refuses us.
    public static func connect(_ url: PostgresURL, logger: Logger = Logger(label: "sluice.postgres")) async throws -> PostgresConnection {
        do {
            return try await PostgresConnection.connect(configuration: try connectionConfiguration(url), id: 1, logger: logger)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw describe(error, server: url.description, doing: "connecting")
        }
    }

    /// A `SluiceError` that says what failed on which server: the server's own message and SQLSTATE
    /// for errors it reported, the network error otherwise. Never the password (PostgresNIO's
    /// errors describe themselves generically for that reason; this reads their fields).
    public static func describe(_ error: any Error, server: String, doing: String) -> SluiceError {
        if let e = error as? SluiceError { return e }
        if let e = error as? PostgresTransactionError, let inner = e.closureError ?? e.beginError ?? e.commitError {
            return describe(inner, server: server, doing: doing)
        }
        guard let e = error as? PSQLError else {
            return SluiceError(.state, "\(server): \(doing) failed: \(error)")
        }
        if let info = e.serverInfo, let message = info[.message] {
            let state = info[.sqlState] ?? ""
            let hint: String? = switch state {
            case "28P01", "28000": "check the user and the password (PGPASSWORD, or ?passwordFile=PATH in the URL)"
            case "3D000": "create the database first (createdb), or name another in the URL"
            default: info[.hint]
            }
            return SluiceError(.state, "\(server): \(doing) failed: \(message)\(state.isEmpty ? "" : " (SQLSTATE \(state))")", hint: hint)
        }
        switch e.code {
        case .connectionError, .serverClosedConnection, .uncleanShutdown:
            let cause = e.underlying.map { " (\($0))" } ?? ""
            return SluiceError(.state, "\(server): \(doing) failed: cannot reach the server\(cause)",
                               hint: "check that PostgreSQL runs there and accepts connections from this host")
        case .sslUnsupported:
            return SluiceError(.state, "\(server): \(doing) failed: the server does not offer TLS (sslmode asks for it)")
        case .authMechanismRequiresPassword:
            return SluiceError(.state, "\(server): \(doing) failed: the server asks for a password and none was given",
                               hint: "set PGPASSWORD, or add ?passwordFile=PATH to the URL")
        default:
            return SluiceError(.state, "\(server): \(doing) failed: \(e.code)")
        }
    }
}
