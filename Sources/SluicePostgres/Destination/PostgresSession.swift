import Foundation
import Logging
import NIOCore
import PostgresNIO
import SluiceCore

/// A value bound to a statement parameter.
enum PostgresBind: Sendable {
    case null
    case int(Int64)
    case text(String)
    case ints([Int64])
}

/// One connection of a destination operation (a write, a check, a query), and the statements it
/// runs. Errors are PostgresNIO's; the operation turns them into a `SluiceError` that says what it
/// was doing (`PostgresPlace.error`).
struct PostgresSession: Sendable {
    let connection: PostgresConnection
    let logger: Logger

    /// Connects; errors are PostgresNIO's, for the operation to describe.
    static func open(_ url: PostgresURL) async throws -> PostgresSession {
        let logger = Logger(label: "sluice.destination.postgresql")
        let connection = try await PostgresConnection.connect(
            configuration: try PostgresConnector.connectionConfiguration(url), id: 1, logger: logger)
        return PostgresSession(connection: connection, logger: logger)
    }

    /// Runs one statement and returns its rows.
    @discardableResult
    func rows(_ sql: String, _ binds: [PostgresBind] = []) async throws -> [PostgresRow] {
        var bindings = PostgresBindings(capacity: binds.count)
        for b in binds {
            switch b {
            case .null: bindings.appendNull()
            case .int(let v): bindings.append(v)
            case .text(let v): bindings.append(v)
            case .ints(let v): bindings.append(v)
            }
        }
        return try await connection.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger).collect()
    }

    /// Runs statements without parameters, one after another.
    func execute(_ statements: String...) async throws {
        for sql in statements { try await rows(sql) }
    }

    /// Takes a transaction-level advisory lock on `key` (in a key space of its own: class
    /// `lockClass`, the text's hash), held until the transaction ends, also when the process dies.
    func lockForTransaction(_ key: String) async throws {
        try await rows("SELECT pg_advisory_xact_lock(\(Self.lockClass), hashtext($1))", [.text(key)])
    }

    /// The first of the two 32-bit advisory lock keys of the destination's locks ("SLUC"), so that
    /// they never meet the ledger's 64-bit run locks.
    static let lockClass: Int32 = 0x534C_5543

    /// Rolls back what is open and closes the connection; never throws.
    func close(rollback: Bool = false) async {
        if rollback { _ = try? await rows("ROLLBACK") }
        try? await connection.close()
    }
}

extension PostgresRow {
    /// Cell `i` as text (nil for NULL).
    func text(_ i: Int) throws -> String? {
        let cell = Array(self)[i]
        guard cell.bytes != nil else { return nil }
        return try cell.decode(String.self)
    }

    /// Cell `i` as an integer (nil for NULL).
    func int(_ i: Int) throws -> Int64? {
        let cell = Array(self)[i]
        guard cell.bytes != nil else { return nil }
        return try cell.decode(Int64.self)
    }

    /// Cell `i` as a boolean (nil for NULL).
    func bool(_ i: Int) throws -> Bool? {
        let cell = Array(self)[i]
        guard cell.bytes != nil else { return nil }
        return try cell.decode(Bool.self)
    }
}

/// Where a destination operation happens, for its errors: the server (never its password) and the
/// table.
struct PostgresPlace: Sendable, CustomStringConvertible {
    let url: PostgresURL
    let table: String

    var description: String { "PostgreSQL \(url), table \(table)" }

    /// A destination error for `error` raised while `doing`: the server's message and SQLSTATE, or
    /// the network's. Data the server refuses (SQLSTATE classes 22 and 23), statements it cannot run
    /// (42), a refused login (28) and a missing database (3D) fail the same way every time; the rest
    /// (a server down, a lock timeout) may pass.
    func error(_ error: any Error, doing: String) -> SluiceError {
        if let e = error as? SluiceError { return e }
        if error is CancellationError { return SluiceError(.failed, "\(self): \(doing) was cancelled") }
        let described = PostgresConnector.describe(error, server: description, doing: doing)
        let state = Self.sqlState(error) ?? ""
        let permanent = ["22", "23", "42", "28", "3D"].contains(String(state.prefix(2)))
        return SluiceError(.destination, described.message, hint: described.hint,
                           code: state.hasPrefix("42") ? "destination.schema" : nil,
                           context: ["table": table], retriable: !permanent)
    }

    static func sqlState(_ error: any Error) -> String? {
        if let e = error as? PostgresTransactionError, let inner = e.closureError ?? e.beginError ?? e.commitError {
            return sqlState(inner)
        }
        return (error as? PSQLError)?.serverInfo?[.sqlState]
    }

    static func serverField(_ error: any Error, _ field: PSQLError.ServerInfo.Field) -> String? {
        (error as? PSQLError)?.serverInfo?[field]
    }
}
