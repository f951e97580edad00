import Foundation
import SluiceCore

/// A value bound to, or read from, a ledger statement. The ledger stores only these kinds, so that
/// the same statements run on SQLite and on PostgreSQL.
package enum LedgerValue: Sendable, Hashable {
    case null
    case integer(Int64)
    case text(String)
    case blob([UInt8])

    static func optional(_ v: String?) -> LedgerValue { v.map(LedgerValue.text) ?? .null }
    static func optional(_ v: Int64?) -> LedgerValue { v.map(LedgerValue.integer) ?? .null }
    static func optional(_ v: Date?) -> LedgerValue { v.map { .integer($0.epochMillis) } ?? .null }
    static func date(_ v: Date) -> LedgerValue { .integer(v.epochMillis) }
}

/// One row of a ledger query, read by column name.
package struct LedgerRow: Sendable {
    let names: [String: Int]
    let values: [LedgerValue]

    package init(names: [String: Int], values: [LedgerValue]) {
        self.names = names
        self.values = values
    }

    subscript(_ column: String) -> LedgerValue {
        guard let i = names[column] else { preconditionFailure("the ledger query has no column \(column)") }
        return values[i]
    }

    func int(_ column: String) -> Int64? { if case .integer(let v) = self[column] { v } else { nil } }
    func text(_ column: String) -> String? { if case .text(let v) = self[column] { v } else { nil } }
    func date(_ column: String) -> Date? { int(column).map(Date.init(epochMillis:)) }
    func blob(_ column: String) -> [UInt8]? {
        switch self[column] {
        case .blob(let v): v
        case .null: nil
        default: []
        }
    }
}

/// Runs statements on one connection, inside a transaction when the caller opened one. Statements
/// are written with SQLite's numbered parameters (`?1`, `?2`, …); a store rewrites them for its
/// database.
package protocol LedgerConnection: Sendable {
    /// Runs a statement that returns no rows.
    func execute(_ sql: String, _ binds: [LedgerValue]) async throws
    /// Runs a statement and returns its rows (`RETURNING` included).
    func query(_ sql: String, _ binds: [LedgerValue]) async throws -> [LedgerRow]
}

extension LedgerConnection {
    func execute(_ sql: String) async throws { try await execute(sql, []) }
    func first(_ sql: String, _ binds: [LedgerValue] = []) async throws -> LedgerRow? {
        try await query(sql, binds).first
    }
}

/// The SQL dialect a statement is written for, where SQLite and PostgreSQL differ.
package enum LedgerDialect: Sendable {
    case sqlite, postgres

    /// The suffix that locks the selected rows until the transaction ends. SQLite has none: its
    /// write transactions exclude each other as a whole.
    var forUpdate: String { self == .postgres ? " FOR UPDATE" : "" }
    /// `… FOR UPDATE SKIP LOCKED` on PostgreSQL: rows another transaction holds are passed over.
    var forUpdateSkipLocked: String { self == .postgres ? " FOR UPDATE SKIP LOCKED" : "" }
}

/// A database holding a ledger: SQLite (a file in the state directory) or PostgreSQL.
package protocol LedgerDatabase: Sendable {
    var dialect: LedgerDialect { get }
    /// Names the database in messages, without secrets: the file path, or the URL without password.
    var description: String { get }
    /// Runs `body` outside a transaction (each statement on its own).
    func read<T: Sendable>(_ body: @escaping @Sendable (any LedgerConnection) async throws -> T) async throws -> T
    /// Runs `body` in one transaction that excludes other writers of the rows it touches; it is
    /// rolled back when `body` throws.
    func write<T: Sendable>(_ body: @escaping @Sendable (any LedgerConnection) async throws -> T) async throws -> T
    /// Brings the schema to the latest version (in one place: `LedgerMigrations`), refusing a
    /// database whose schema is newer than this binary knows. Returns the ledger's id.
    func migrate() async throws -> String
    /// The schema version of the database.
    func schemaVersion() async throws -> Int
    func close() async
}

extension Date {
    package var epochMillis: Int64 { Int64((timeIntervalSince1970 * 1000).rounded()) }
    package init(epochMillis: Int64) { self.init(timeIntervalSince1970: Double(epochMillis) / 1000) }
}
