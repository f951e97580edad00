import Foundation
import Logging
import NIOCore
import PostgresNIO
import SluiceCore
import SluicePostgres
import Synchronization

/// The shared ledger: a PostgreSQL database that schedulers and workers on several hosts use at
/// once. A pool of connections (postgres-nio's `PostgresClient`, which reconnects after the server
/// restarts); statements use `$1`-style parameters, rewritten from the ledger's `?1`.
///
/// Every operation is bounded by `LedgerLimits.operationTimeout`. A pool can wait forever for a
/// connection after the server restarted (a scheduler stopped scheduling in tests that restart
/// PostgreSQL under load): an operation that has not finished in time fails as retriable, and the
/// pool is replaced by a new one, which connects afresh.
final class PostgresLedgerDatabase: LedgerDatabase {
    let dialect = LedgerDialect.postgres
    let url: PostgresURL
    private let pool: Mutex<Pool>
    private let logger = Logger(label: "sluice.ledger.postgres")
    private let operationTimeout: Duration

    /// A client and the task that runs it.
    private struct Pool {
        let client: PostgresClient
        let running: Task<Void, Never>

        init(_ url: PostgresURL) throws {
            let client = PostgresClient(configuration: try PostgresConnector.clientConfiguration(url),
                                        backgroundLogger: Logger(label: "sluice.ledger.postgres"))
            self.client = client
            running = Task { await client.run() }
        }
    }

    var description: String { url.description }

    private init(url: PostgresURL, operationTimeout: Duration) throws {
        self.url = url
        self.operationTimeout = operationTimeout
        pool = Mutex(try Pool(url))
    }

    /// Opens the ledger at `url`: checks that the server answers and accepts us (a one-line error
    /// otherwise), migrates, and returns the ledger with its advisory run locks.
    static func openLedger(_ url: PostgresURL, limits: LedgerLimits, origin: AttemptOrigin,
                           now: @escaping @Sendable () -> Date) async throws -> SQLLedger {
        let probe = try await PostgresConnector.connect(url)
        try? await probe.close()
        let db = try PostgresLedgerDatabase(url: url, operationTimeout: limits.operationTimeout)
        do {
            let id = try await db.migrate()
            return SQLLedger(db: db, id: id, limits: limits, origin: origin,
                             runLocks: PostgresRunLocks(url: url, database: db), now: now)
        } catch {
            await db.close()
            throw LedgerErrors.describe(error, ledger: url.description, doing: "opening the ledger")
        }
    }

    func read<T: Sendable>(_ body: @escaping @Sendable (any LedgerConnection) async throws -> T) async throws -> T {
        let logger = self.logger
        return try await bounded(doing: "reading") { client in
            try await client.withConnection { connection in
                try await body(PostgresLedgerConnection(connection: connection, logger: logger))
            }
        }
    }

    func write<T: Sendable>(_ body: @escaping @Sendable (any LedgerConnection) async throws -> T) async throws -> T {
        let logger = self.logger
        do {
            return try await bounded(doing: "writing") { client in
                try await client.withTransaction(logger: logger) { connection in
                    try await body(PostgresLedgerConnection(connection: connection, logger: logger))
                }
            }
        } catch let e as PostgresTransactionError {
            // The error of the body (e.g. a refused attempt) is the one to report, as it is.
            throw e.closureError ?? e.beginError ?? e.commitError ?? e.rollbackError ?? e
        }
    }

    /// Runs `operation` on the current pool; when it has not finished within the operation timeout,
    /// replaces the pool and throws a retriable error. The operation runs in a task of its own, which
    /// is then cancelled but not awaited: a wait inside the pool that ignores cancellation must not
    /// hold the caller (a task group would wait for it; one did, in a test that restarts the server).
    private func bounded<T: Sendable>(doing: String, _ operation: @escaping @Sendable (PostgresClient) async throws -> T) async throws -> T {
        let client = pool.withLock { $0.client }, timeout = operationTimeout
        let outcome = Once<T>()
        let work = Task {
            do { outcome.finish(.success(try await operation(client))) } catch { outcome.finish(.failure(error)) }
        }
        let timer = Task {
            try await Task.sleep(for: timeout)
            let failure = SluiceError(.state, "the ledger \(url) did not answer within \(timeout) while \(doing)",
                                      hint: "check that PostgreSQL runs and accepts connections; Sluice connects again",
                                      retriable: true)
            if outcome.finish(.failure(failure)) {
                work.cancel()
                replacePool(client)
            }
        }
        defer { timer.cancel() }
        let result = await withTaskCancellationHandler {
            await outcome.value
        } onCancel: {
            work.cancel()  // its outcome (done, rolled back, or the timeout) is still awaited
        }
        return try result.get()
    }

    /// A new pool in place of the one of `client`, unless another operation replaced it already.
    private func replacePool(_ client: PostgresClient) {
        let old: Pool? = pool.withLock { current in
            guard current.client === client, let fresh = try? Pool(url) else { return nil }
            defer { current = fresh }
            return current
        }
        guard let old else { return }
        logger.warning("the ledger's connections did not answer for \(operationTimeout): connecting afresh")
        old.running.cancel()
    }

    func migrate() async throws -> String {
        try await write { c in try await LedgerMigrations.migratePostgres(c, description: self.url.description) }
    }

    func schemaVersion() async throws -> Int {
        try await read { c in Int(try await LedgerMigrations.postgresVersion(c)) }
    }

    func close() async {
        let running = pool.withLock { $0.running }
        running.cancel()
        _ = await running.value
    }

    static func describe(_ error: any Error, ledger: String, doing: String) -> SluiceError {
        PostgresConnector.describe(error, server: "ledger \(ledger)", doing: doing)
    }
}

/// Statements on one PostgreSQL connection of the ledger's pool.
struct PostgresLedgerConnection: LedgerConnection {
    let connection: PostgresConnection
    let logger: Logger

    func execute(_ sql: String, _ binds: [LedgerValue]) async throws {
        let rows = try await connection.query(Self.query(sql, binds), logger: logger)
        for try await _ in rows {}
    }

    func query(_ sql: String, _ binds: [LedgerValue]) async throws -> [LedgerRow] {
        var result: [LedgerRow] = []
        var names: [String: Int]?
        for try await row in try await connection.query(Self.query(sql, binds), logger: logger) {
            if names == nil {
                names = Dictionary(row.enumerated().map { ($1.columnName, $0) }, uniquingKeysWith: { a, _ in a })
            }
            result.append(LedgerRow(names: names ?? [:], values: try row.map(Self.value)))
        }
        return result
    }

    /// `?N` parameters become `$N`; values are bound as BIGINT, TEXT or BYTEA.
    static func query(_ sql: String, _ binds: [LedgerValue]) -> PostgresQuery {
        var bindings = PostgresBindings(capacity: binds.count)
        for b in binds {
            switch b {
            case .null: bindings.appendNull()
            case .integer(let v): bindings.append(v)
            case .text(let v): bindings.append(v)
            case .blob(let v): bindings.append(ByteBuffer(bytes: v))
            }
        }
        return PostgresQuery(unsafeSQL: sql.replacing(/\?(\d+)/) { "$\($0.output.1)" }, binds: bindings)
    }

    static func value(_ cell: PostgresCell) throws -> LedgerValue {
        guard cell.bytes != nil else { return .null }
        switch cell.dataType {
        case .int2, .int4, .int8, .oid: return .integer(try cell.decode(Int64.self))
        case .bool: return .integer(try cell.decode(Bool.self) ? 1 : 0)
        case .bytea: return .blob(Array(buffer: try cell.decode(ByteBuffer.self)))
        case .float4, .float8, .numeric: return .integer(Int64(try cell.decode(Double.self)))
        default: return .text(try cell.decode(String.self))
        }
    }
}

/// A result set once, by whichever comes first, and awaited by one caller.
private final class Once<T: Sendable>: Sendable {
    private let state = Mutex<(result: Result<T, any Error>?, waiter: CheckedContinuation<Result<T, any Error>, Never>?)>((nil, nil))

    /// Sets the result unless one was set; returns whether this one was.
    @discardableResult
    func finish(_ result: Result<T, any Error>) -> Bool {
        let (set, waiter) = state.withLock { s -> (Bool, CheckedContinuation<Result<T, any Error>, Never>?) in
            guard s.result == nil else { return (false, nil) }
            s.result = result
            defer { s.waiter = nil }
            return (true, s.waiter)
        }
        waiter?.resume(returning: result)
        return set
    }

    var value: Result<T, any Error> {
        get async {
            await withCheckedContinuation { c in
                let done = state.withLock { s -> Result<T, any Error>? in
                    if s.result == nil { s.waiter = c }
                    return s.result
                }
                if let done { c.resume(returning: done) }
            }
        }
    }
}
