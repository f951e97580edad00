import Foundation
import Logging
import PostgresNIO
import SluiceCore
import SluicePostgres
import Synchronization

/// Run locks of a PostgreSQL ledger: session-level advisory locks, each on a connection of its
/// own, so that they work across hosts and the database drops them when the holder's session ends
/// (the process killed, the host gone). The holder's details go into `run_locks`, for messages and
/// for `sluice instance kill`.
struct PostgresRunLocks: RunLocks {
    let url: PostgresURL
    let database: PostgresLedgerDatabase
    var pollInterval: Duration = .milliseconds(200)

    /// The advisory lock key of `job` and `partition` (64-bit FNV-1a of both).
    static func key(job: String, partition: String) -> Int64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in ("sluice-run\u{0}" + job + "\u{0}" + partition).utf8 { hash = (hash ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        return Int64(bitPattern: hash)
    }

    func acquire(job: String, partition: String, instanceId: String?, wait: Bool) async throws -> any HeldRunLock {
        let key = Self.key(job: job, partition: partition)
        while true {
            if let lock = try await tryLock(key: key) {
                let holder = RunLockHolder(pid: getpid(), job: job, partition: partition, instanceId: instanceId,
                                           acquiredAtMillis: Date().epochMillis)
                try await lock.record(holder)
                return lock
            }
            guard wait else {
                let who = await currentHolder(job: job, partition: partition)?.description
                    ?? "a process that has not written its details yet"
                throw SluiceError(.state, "job '\(job)' partition \(partition.isEmpty ? "(unpartitioned)" : partition) is being written by another sluice run (\(who))",
                                  hint: "wait for it to finish, or pass --wait to wait for it")
            }
            try await Task.sleep(for: pollInterval)
        }
    }

    func hold(job: String, partition: String) async -> (any HeldRunLock)? {
        guard let lock = try? await tryLock(key: Self.key(job: job, partition: partition)) else { return nil }
        // A holder row left by a dead holder would name a pid nobody should signal.
        try? await lock.clearRecord()
        return lock
    }

    func currentHolder(job: String, partition: String) async -> RunLockHolder? {
        let key = Self.key(job: job, partition: partition)
        return try? await database.read { c -> RunLockHolder? in
            let held = try await c.first("""
                SELECT count(*) AS n FROM pg_locks
                WHERE locktype = 'advisory' AND granted AND objsubid = 1
                  AND classid::bigint = ((?1::bigint >> 32) & 4294967295) AND objid::bigint = (?1::bigint & 4294967295)
                """, [.integer(key)])?.int("n") ?? 0
            guard held > 0 else { return nil }
            guard let r = try await c.first("""
                SELECT job, partition, instance_id, host, pid, acquired_at_ms FROM run_locks WHERE lock_key = ?1
                """, [.integer(key)]) else {
                return RunLockHolder(pid: 0, job: job, partition: partition, instanceId: nil, acquiredAtMillis: 0, host: nil)
            }
            return RunLockHolder(pid: Int32(truncatingIfNeeded: r.int("pid") ?? 0), job: job, partition: partition,
                                 instanceId: r.text("instance_id"), acquiredAtMillis: r.int("acquired_at_ms") ?? 0,
                                 host: r.text("host"))
        } ?? nil
    }

    /// Takes the advisory lock on a new connection; nil (and the connection closed) when it is held.
    private func tryLock(key: Int64) async throws -> PostgresRunLock? {
        let connection = try await PostgresConnector.connect(url)
        let c = PostgresLedgerConnection(connection: connection, logger: Logger(label: "sluice.runlock"))
        do {
            let got = try await c.first("SELECT pg_try_advisory_lock(?1) AS locked", [.integer(key)])?.int("locked") == 1
            if got { return PostgresRunLock(connection: connection, key: key) }
        } catch {
            try? await connection.close()
            if error is CancellationError { throw error }
            throw PostgresConnector.describe(error, server: "ledger \(url)", doing: "taking a run lock")
        }
        try? await connection.close()
        return nil
    }
}

/// An advisory run lock this process holds on its own connection.
final class PostgresRunLock: HeldRunLock {
    private let connection: PostgresConnection
    let key: Int64
    private let state = Mutex<(holder: RunLockHolder?, released: Bool)>((nil, false))

    init(connection: PostgresConnection, key: Int64) {
        self.connection = connection
        self.key = key
    }

    deinit {
        let connection = self.connection
        if !state.withLock({ $0.released }) { Task { try? await connection.close() } }
    }

    var holder: RunLockHolder {
        state.withLock { $0.holder } ?? RunLockHolder(pid: getpid(), job: "", partition: "", instanceId: nil, acquiredAtMillis: 0)
    }

    private var statements: PostgresLedgerConnection {
        PostgresLedgerConnection(connection: connection, logger: Logger(label: "sluice.runlock"))
    }

    func record(_ holder: RunLockHolder) async throws {
        state.withLock { $0.holder = holder }
        try await statements.execute("""
            INSERT INTO run_locks (lock_key, job, partition, instance_id, host, pid, acquired_at_ms)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
            ON CONFLICT (lock_key) DO UPDATE SET job = excluded.job, partition = excluded.partition,
              instance_id = excluded.instance_id, host = excluded.host, pid = excluded.pid,
              acquired_at_ms = excluded.acquired_at_ms
            """, [.integer(key), .text(holder.job), .text(holder.partition), .optional(holder.instanceId),
                  .text(holder.host ?? ""), .integer(Int64(holder.pid)), .integer(holder.acquiredAtMillis)])
    }

    func clearRecord() async throws {
        try await statements.execute("DELETE FROM run_locks WHERE lock_key = ?1", [.integer(key)])
    }

    /// Clears the holder's details, unlocks and closes the lock's connection.
    func release() async {
        guard state.withLock({ s -> Bool in
            defer { s.released = true }
            return !s.released
        }) else { return }
        try? await clearRecord()
        try? await statements.execute("SELECT pg_advisory_unlock(?1)", [.integer(key)])
        try? await connection.close()
    }
}
