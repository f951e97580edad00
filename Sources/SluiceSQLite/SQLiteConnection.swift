import CSQLite
import Foundation

/// An error reported by SQLite: the result code, SQLite's message and the statement that failed.
public struct SQLiteError: Error, CustomStringConvertible, Sendable {
    /// The primary result code (`SQLITE_BUSY`, `SQLITE_CONSTRAINT`, …).
    public var code: Int32
    /// The extended result code, when known.
    public var extendedCode: Int32
    public var message: String
    public var sql: String?

    public var isBusy: Bool { code == SQLITE_BUSY || code == SQLITE_LOCKED }

    public var description: String {
        if let sql { return "\(message) (SQLite code \(extendedCode)) in: \(sql)" }
        return "\(message) (SQLite code \(extendedCode))"
    }
}

/// A SQLite value as stored: one of SQLite's five storage classes.
public enum SQLiteValue: Sendable, Hashable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
}

/// How to open a database file.
public struct SQLiteOpenOptions: Sendable {
    public enum Mode: Sendable {
        case readOnly
        case readWrite(create: Bool)
    }
    public var mode: Mode
    /// How long a statement waits for another connection's lock before failing with `SQLITE_BUSY`.
    public var busyTimeoutMillis: Int32
    /// Switch the file to write-ahead logging (readers never block the writer and see committed states).
    public var walMode: Bool
    /// The page size of a file created by this connection (SQLite's default, 4096, when nil). An
    /// existing file keeps its page size.
    public var newFilePageSize: Int? = nil

    public init(mode: Mode, busyTimeoutMillis: Int32 = 5_000, walMode: Bool = true) {
        self.mode = mode
        self.busyTimeoutMillis = busyTimeoutMillis
        self.walMode = walMode
    }
}

/// Passed to `sqlite3_bind_*` so that SQLite copies the bytes.
let sqliteTransient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// One SQLite connection. Not thread-safe: exactly one owner uses it at a time. `SQLiteDatabase`
/// owns one on a serial queue; synchronous users (tests, the queue's closures) use it directly.
public final class SQLiteConnection {
    public let path: String
    let handle: OpaquePointer
    private var statementCache: [String: SQLiteStatement] = [:]

    /// Process-wide SQLite settings, applied once before the first connection: no memory statistics
    /// (Sluice never reads them, and they cost a global mutex per allocation).
    private static let configured: Void = { _ = sluice_sqlite3_disable_memstatus() }()

    public init(path: String, options: SQLiteOpenOptions) throws {
        _ = Self.configured
        self.path = path
        var flags = SQLITE_OPEN_NOMUTEX
        switch options.mode {
        case .readOnly: flags |= SQLITE_OPEN_READONLY
        case .readWrite(let create):
            flags |= SQLITE_OPEN_READWRITE
            if create { flags |= SQLITE_OPEN_CREATE }
        }
        var db: OpaquePointer?
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc))
            if let db { sqlite3_close_v2(db) }
            throw SQLiteError(code: rc & 0xff, extendedCode: rc, message: "cannot open \(path): \(message)")
        }
        self.handle = db
        sqlite3_extended_result_codes(db, 1)
        sqlite3_busy_timeout(db, options.busyTimeoutMillis)
        if let size = options.newFilePageSize, case .readWrite = options.mode {
            // Only takes effect before the file's first page is written (the WAL switch below does).
            try execute("PRAGMA page_size = \(size)")
        }
        if options.walMode, case .readWrite = options.mode {
            let mode = try scalarText("PRAGMA journal_mode = WAL")
            if mode?.lowercased() != "wal", path != ":memory:" {
                throw SQLiteError(code: SQLITE_ERROR, extendedCode: SQLITE_ERROR,
                                  message: "cannot switch \(path) to WAL mode (journal mode is \(mode ?? "unknown"))")
            }
        }
    }

    private var isClosed = false

    deinit { close() }

    /// Closes the connection; an open transaction is rolled back. Statements still held elsewhere
    /// keep SQLite's handle alive until they are released. Later calls throw.
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        statementCache.removeAll()
        sqlite3_close_v2(handle)
    }

    private func checkOpen(_ sql: String) throws {
        if isClosed {
            throw SQLiteError(code: SQLITE_MISUSE, extendedCode: SQLITE_MISUSE, message: "the connection to \(path) is closed", sql: sql)
        }
    }

    func error(_ rc: Int32, sql: String?) -> SQLiteError { Self.error(rc, db: handle, sql: sql) }

    static func error(_ rc: Int32, db: OpaquePointer?, sql: String?) -> SQLiteError {
        SQLiteError(code: rc & 0xff, extendedCode: sqlite3_extended_errcode(db),
                    message: String(cString: sqlite3_errmsg(db)), sql: sql)
    }

    /// Runs one or more statements that return no rows (DDL, pragmas).
    public func execute(_ sql: String) throws {
        try checkOpen(sql)
        var errmsg: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &errmsg)
        if rc != SQLITE_OK {
            let message = errmsg.map { String(cString: $0) } ?? String(cString: sqlite3_errstr(rc))
            sqlite3_free(errmsg)
            throw SQLiteError(code: rc & 0xff, extendedCode: sqlite3_extended_errcode(handle),
                              message: message, sql: sql)
        }
    }

    /// Compiles one statement. Text after the first statement is an error.
    public func prepare(_ sql: String) throws -> SQLiteStatement {
        try checkOpen(sql)
        var stmt: OpaquePointer?
        var tail: UnsafePointer<CChar>?
        let rc = sql.withCString { cSQL in
            let rc = sqlite3_prepare_v3(handle, cSQL, -1, 0, &stmt, &tail)
            // Anything after the first statement must compile to nothing (whitespace, `;`, comments).
            if rc == SQLITE_OK, let tail, tail.pointee != 0 {
                var extra: OpaquePointer?
                let rc2 = sqlite3_prepare_v3(handle, tail, -1, 0, &extra, nil)
                if rc2 != SQLITE_OK || extra != nil {
                    sqlite3_finalize(extra)
                    sqlite3_finalize(stmt)
                    stmt = nil
                    return SQLITE_MISUSE
                }
            }
            return rc
        }
        if rc == SQLITE_MISUSE {
            throw SQLiteError(code: SQLITE_MISUSE, extendedCode: SQLITE_MISUSE,
                              message: "only one SQL statement is allowed", sql: sql)
        }
        guard rc == SQLITE_OK else { throw error(rc, sql: sql) }
        guard let stmt else {
            throw SQLiteError(code: SQLITE_MISUSE, extendedCode: SQLITE_MISUSE, message: "empty SQL statement", sql: sql)
        }
        return SQLiteStatement(handle: stmt, sql: sql)
    }

    /// A compiled statement kept for reuse on this connection, reset and with bindings cleared.
    public func cached(_ sql: String) throws -> SQLiteStatement {
        if let stmt = statementCache[sql] {
            stmt.reset()
            stmt.clearBindings()
            return stmt
        }
        let stmt = try prepare(sql)
        statementCache[sql] = stmt
        return stmt
    }

    /// Runs one statement with positional bindings, discarding any rows. Returns the number of rows changed.
    @discardableResult
    public func run(_ sql: String, _ bindings: [SQLiteValue] = []) throws -> Int {
        let stmt = try cached(sql)
        defer { stmt.reset() }
        try stmt.bind(bindings)
        while try stmt.step() {}
        return Int(sqlite3_changes64(handle))
    }

    /// Runs one query with positional bindings and returns every row.
    public func query(_ sql: String, _ bindings: [SQLiteValue] = []) throws -> [[SQLiteValue]] {
        let stmt = try cached(sql)
        defer { stmt.reset() }
        try stmt.bind(bindings)
        var rows: [[SQLiteValue]] = []
        while try stmt.step() {
            rows.append((0..<stmt.columnCount).map { stmt.value(at: $0) })
        }
        return rows
    }

    /// Runs one query and returns its column names with every row.
    public func queryNamed(_ sql: String, _ bindings: [SQLiteValue] = []) throws -> (columns: [String], rows: [[SQLiteValue]]) {
        let stmt = try cached(sql)
        defer { stmt.reset() }
        try stmt.bind(bindings)
        let columns = (0..<stmt.columnCount).map(stmt.columnName)
        var rows: [[SQLiteValue]] = []
        while try stmt.step() {
            rows.append((0..<stmt.columnCount).map { stmt.value(at: $0) })
        }
        return (columns, rows)
    }

    /// The first column of the first row, or nil when there is no row or it is NULL.
    public func scalar(_ sql: String, _ bindings: [SQLiteValue] = []) throws -> SQLiteValue? {
        let rows = try query(sql, bindings)
        guard let v = rows.first?.first, v != .null else { return nil }
        return v
    }

    func scalarText(_ sql: String) throws -> String? {
        if case .text(let t)? = try scalar(sql) { return t }
        return nil
    }

    public enum TransactionKind: String, Sendable {
        /// Takes the write lock at once (waiting up to the busy timeout): use for every write.
        case immediate = "IMMEDIATE"
        case deferred = "DEFERRED"
    }

    /// Runs `body` in a transaction: commits when it returns, rolls back when it throws.
    @discardableResult
    public func transaction<T>(_ kind: TransactionKind = .immediate, _ body: () throws -> T) throws -> T {
        try execute("BEGIN \(kind.rawValue)")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    /// Whether a transaction is open on this connection.
    public var isInTransaction: Bool { sqlite3_get_autocommit(handle) == 0 }

    public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }

    /// Rows changed by the last INSERT, UPDATE or DELETE.
    public var changes: Int { Int(sqlite3_changes64(handle)) }

    /// Rows changed by every INSERT, UPDATE and DELETE since the connection opened.
    public var totalChanges: Int64 { sqlite3_total_changes64(handle) }

    /// Caps a runtime limit (e.g. `SQLITE_LIMIT_ATTACHED`).
    public func setLimit(_ id: Int32, _ value: Int32) {
        sqlite3_limit(handle, id, value)
    }

    /// Refuses `ATTACH` on this connection (read-only queries must not reach other files).
    public func disallowAttach() { setLimit(SQLITE_LIMIT_ATTACHED, 0) }

    /// Drops cached statements (so that the schema can be changed without stale statements).
    public func clearStatementCache() { statementCache.removeAll() }
}

/// A compiled statement. Owned by one connection's user; never shared between threads.
/// It does not retain its connection (the connection's statement cache retains it, so that would be a
/// cycle that never closes the database): a statement that outlives its connection keeps SQLite's
/// handle alive (`sqlite3_close_v2`) until it is finalized.
public final class SQLiteStatement {
    @usableFromInline let handle: OpaquePointer
    public let sql: String

    init(handle: OpaquePointer, sql: String) {
        self.handle = handle
        self.sql = sql
    }

    deinit { sqlite3_finalize(handle) }

    /// True when the statement does not write the database.
    public var isReadOnly: Bool { sqlite3_stmt_readonly(handle) != 0 }

    public var parameterCount: Int32 { sqlite3_bind_parameter_count(handle) }

    /// Advances: true when a row is available, false when done.
    @inline(__always)
    public func step() throws -> Bool {
        let rc = sqlite3_step(handle)
        if rc == SQLITE_ROW { return true }
        if rc == SQLITE_DONE { return false }
        throw SQLiteConnection.error(rc, db: sqlite3_db_handle(handle), sql: sql)
    }

    public func reset() { sqlite3_reset(handle) }
    public func clearBindings() { sqlite3_clear_bindings(handle) }

    // MARK: binding (1-based indexes, as in SQLite)

    public func bind(_ values: [SQLiteValue]) throws {
        for (i, v) in values.enumerated() { try bind(v, at: Int32(i + 1)) }
    }

    public func bind(_ value: SQLiteValue, at index: Int32) throws {
        let rc: Int32
        switch value {
        case .null: rc = sqlite3_bind_null(handle, index)
        case .integer(let v): rc = sqlite3_bind_int64(handle, index, v)
        case .real(let v): rc = sqlite3_bind_double(handle, index, v)
        case .text(let v): rc = sqlite3_bind_text(handle, index, v, -1, sqliteTransient)
        case .blob(let v):
            rc = v.withUnsafeBytes { buf in
                sqlite3_bind_blob64(handle, index, buf.baseAddress ?? UnsafeRawPointer(bitPattern: 1),
                                    sqlite3_uint64(buf.count), sqliteTransient)
            }
        }
        guard rc == SQLITE_OK else { throw SQLiteConnection.error(rc, db: sqlite3_db_handle(handle), sql: sql) }
    }

    @inlinable @inline(__always) package func bindInt64(_ v: Int64, at index: Int32) { sqlite3_bind_int64(handle, index, v) }
    @inlinable @inline(__always) package func bindDouble(_ v: Double, at index: Int32) { sqlite3_bind_double(handle, index, v) }
    @inlinable @inline(__always) package func bindNull(at index: Int32) { sqlite3_bind_null(handle, index) }

    /// Binds text without copying: the bytes must stay valid until the statement is stepped and reset.
    @inlinable @inline(__always) package func bindTextNoCopy(_ p: UnsafeRawBufferPointer, at index: Int32) {
        let base = p.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!
        sqlite3_bind_text64(handle, index, base.assumingMemoryBound(to: CChar.self), sqlite3_uint64(p.count),
                            nil, UInt8(SQLITE_UTF8))
    }

    /// Binds a blob without copying: the bytes must stay valid until the statement is stepped and reset.
    @inlinable @inline(__always) package func bindBlobNoCopy(_ p: UnsafeRawBufferPointer, at index: Int32) {
        let base = p.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!
        sqlite3_bind_blob64(handle, index, base, sqlite3_uint64(p.count), nil)
    }

    // MARK: reading (0-based column indexes, as in SQLite)

    public var columnCount: Int { Int(sqlite3_column_count(handle)) }

    public func columnName(_ i: Int) -> String {
        sqlite3_column_name(handle, Int32(i)).map { String(cString: $0) } ?? ""
    }

    /// The declared type of a result column that is a plain table column, else nil.
    public func columnDeclaredType(_ i: Int) -> String? {
        sqlite3_column_decltype(handle, Int32(i)).map { String(cString: $0) }
    }

    public func isNull(at i: Int) -> Bool { sqlite3_column_type(handle, Int32(i)) == SQLITE_NULL }
    public func int64(at i: Int) -> Int64 { sqlite3_column_int64(handle, Int32(i)) }
    public func double(at i: Int) -> Double { sqlite3_column_double(handle, Int32(i)) }

    public func text(at i: Int) -> String {
        guard let p = sqlite3_column_text(handle, Int32(i)) else { return "" }
        let n = Int(sqlite3_column_bytes(handle, Int32(i)))
        return String(decoding: UnsafeBufferPointer(start: p, count: n), as: UTF8.self)
    }

    public func blob(at i: Int) -> [UInt8] {
        let n = Int(sqlite3_column_bytes(handle, Int32(i)))
        guard n > 0, let p = sqlite3_column_blob(handle, Int32(i)) else { return [] }
        return Array(UnsafeRawBufferPointer(start: p, count: n))
    }

    public func value(at i: Int) -> SQLiteValue {
        switch sqlite3_column_type(handle, Int32(i)) {
        case SQLITE_INTEGER: .integer(int64(at: i))
        case SQLITE_FLOAT: .real(double(at: i))
        case SQLITE_TEXT: .text(text(at: i))
        case SQLITE_BLOB: .blob(blob(at: i))
        default: .null
        }
    }
}
