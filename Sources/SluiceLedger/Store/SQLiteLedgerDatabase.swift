import Foundation
import SluiceCore
import SluiceSQLite
import Synchronization

/// The embedded ledger: `ledger.db`, a SQLite file in the state directory.
///
/// One connection, owned by its own serial queue (`SQLiteDatabase`). A transaction spans several
/// statements, each one hop to that queue, so the transactions of one process take turns through a
/// gate; those of other processes wait for SQLite's write lock (`BEGIN IMMEDIATE`, 30 s busy timeout).
final class SQLiteLedgerDatabase: LedgerDatabase {
    let dialect = LedgerDialect.sqlite
    let path: String
    private let db: SQLiteDatabase
    private let gate = AsyncGate()

    var description: String { path }

    private init(path: String, db: SQLiteDatabase) {
        self.path = path
        self.db = db
    }

    static func open(path: String) async throws -> SQLiteLedgerDatabase {
        let db = try await SQLiteDatabase.open(
            path: path, options: SQLiteOpenOptions(mode: .readWrite(create: true), busyTimeoutMillis: 30_000))
        try await db.perform { c in try c.execute("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON") }
        return SQLiteLedgerDatabase(path: path, db: db)
    }

    func read<T: Sendable>(_ body: @escaping @Sendable (any LedgerConnection) async throws -> T) async throws -> T {
        try await gate.withLock { try await body(SQLiteLedgerConnection(db: db)) }
    }

    func write<T: Sendable>(_ body: @escaping @Sendable (any LedgerConnection) async throws -> T) async throws -> T {
        try await gate.withLock {
            try await db.perform { try $0.execute("BEGIN IMMEDIATE") }
            do {
                let result = try await body(SQLiteLedgerConnection(db: db))
                try await db.perform { try $0.execute("COMMIT") }
                return result
            } catch {
                _ = try? await db.perform { c in if c.isInTransaction { try c.execute("ROLLBACK") } }
                throw error
            }
        }
    }

    func migrate() async throws -> String {
        let path = self.path
        return try await gate.withLock {
            try await db.perform { c in try LedgerMigrations.migrateSQLite(c, path: path) }
        }
    }

    func schemaVersion() async throws -> Int {
        try await db.perform { c in if case .integer(let v)? = try c.scalar("PRAGMA user_version") { Int(v) } else { 0 } }
    }

    /// Closes the connection (later calls fail). A ledger closed before exit leaves no write-ahead
    /// log behind for the next process to read back; the statement cache would keep it open otherwise.
    func close() async {
        _ = try? await db.perform { $0.close() }
    }
}

/// Statements on the ledger's SQLite connection, each run on its queue.
struct SQLiteLedgerConnection: LedgerConnection {
    let db: SQLiteDatabase

    func execute(_ sql: String, _ binds: [LedgerValue]) async throws {
        let values = binds.map(Self.value)
        try await db.perform { c in _ = try c.run(sql, values) }
    }

    func query(_ sql: String, _ binds: [LedgerValue]) async throws -> [LedgerRow] {
        let values = binds.map(Self.value)
        let (columns, rows) = try await db.perform { c in try c.queryNamed(sql, values) }
        let names = Dictionary(columns.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        return rows.map { LedgerRow(names: names, values: $0.map(Self.value)) }
    }

    static func value(_ v: LedgerValue) -> SQLiteValue {
        switch v {
        case .null: .null
        case .integer(let i): .integer(i)
        case .text(let t): .text(t)
        case .blob(let b): .blob(b)
        }
    }

    static func value(_ v: SQLiteValue) -> LedgerValue {
        switch v {
        case .null: .null
        case .integer(let i): .integer(i)
        case .real(let d): .integer(Int64(d))
        case .text(let t): .text(t)
        case .blob(let b): .blob(b)
        }
    }
}

/// An async mutual exclusion: `withLock` bodies run one at a time, in arrival order.
final class AsyncGate: Sendable {
    private let state = Mutex<(locked: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func withLock<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        await acquire()
        defer { release() }
        return try await body()
    }

    private func acquire() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let free = state.withLock { s -> Bool in
                if s.locked {
                    s.waiters.append(c)
                    return false
                }
                s.locked = true
                return true
            }
            if free { c.resume() }
        }
    }

    private func release() {
        let next = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if s.waiters.isEmpty {
                s.locked = false
                return nil
            }
            return s.waiters.removeFirst()
        }
        next?.resume()
    }
}
