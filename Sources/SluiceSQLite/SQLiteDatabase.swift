import Dispatch
import Foundation

/// The owner of one SQLite connection: every call runs on the connection's own serial queue, so
/// blocking SQLite work (disk I/O, waiting for locks) never runs on Swift's cooperative thread pool.
///
/// The connection is used by one queue only, so a transaction may stay open across several
/// `perform` calls (the warehouse writer keeps one open from `open` to `commit`).
public final class SQLiteDatabase: @unchecked Sendable {
    public let path: String
    private let queue: DispatchQueue
    /// Only touched on `queue` (and by deinit, when no one else can).
    private let connection: SQLiteConnection

    private init(path: String, queue: DispatchQueue, connection: SQLiteConnection) {
        self.path = path
        self.queue = queue
        self.connection = connection
    }

    /// Opens the file on a new serial queue.
    public static func open(path: String, options: SQLiteOpenOptions) async throws -> SQLiteDatabase {
        let queue = DispatchQueue(label: "sluice.sqlite:\(path)")
        let connection: SQLiteConnection = try await withCheckedThrowingContinuation { cont in
            queue.async {
                cont.resume(with: Result { try OpenedConnection(SQLiteConnection(path: path, options: options)) })
            }
        }.value
        return SQLiteDatabase(path: path, queue: queue, connection: connection)
    }

    /// Runs `body` with the connection on the connection's queue.
    public func perform<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { cont in
            queue.async {
                cont.resume(with: Result { try body(self.connection) })
            }
        }
    }

    /// Runs `body` in an immediate transaction on the connection's queue.
    public func write<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) throws -> T) async throws -> T {
        try await perform { db in try db.transaction(.immediate) { try body(db) } }
    }
}

/// Moves a freshly opened connection out of its queue; nothing else references it yet.
private struct OpenedConnection: @unchecked Sendable {
    let value: SQLiteConnection
    init(_ value: SQLiteConnection) { self.value = value }
}
