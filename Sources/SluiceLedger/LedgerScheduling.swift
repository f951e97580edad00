import Foundation
import SluiceCore
import SluiceSQLite

/// What the scheduler keeps about an instance beyond `InstanceRecord`.
public struct InstanceSchedulingState: Sendable, Hashable, Codable {
    /// When an automatic retry after a failure is due; nil when none is.
    public var retryAt: Date?
    /// Why the scheduler skipped the instance (e.g. `catchUp: latest`); such an instance has status
    /// `dryRun` and was never run.
    public var skipReason: String?
    /// The attempt the scheduler launched and has not yet seen end; nil when none is.
    public var claimedAttempt: Int?
    /// For a failed attempt that recorded its error: its code and whether running again may
    /// succeed. Nil when the attempt recorded no error (e.g. it was interrupted).
    public var failure: InstanceFailure?
}

/// How a failed attempt failed, as its run recorded it.
public struct InstanceFailure: Sendable, Hashable, Codable {
    public var code: String
    public var retriable: Bool
}

/// A job file the scheduler has run, as the ledger remembers it.
public struct RegisteredJob: Sendable, Hashable, Codable {
    public var job: String
    public var path: String
    /// When a scheduler first saw the job: its first instance is the first scheduled at or after it.
    public var firstSeen: Date
}

extension Ledger {
    /// Records that the scheduler runs `job` from `path`; the first call fixes `firstSeen` to now.
    @discardableResult
    public func registerJob(_ job: String, path: String) async throws -> RegisteredJob {
        try await write("registering job \(job)") { c, now in
            try c.run("""
                INSERT INTO jobs (job, path, first_seen_ms, updated_at_ms) VALUES (?1, ?2, ?3, ?3)
                ON CONFLICT (job) DO UPDATE SET path = excluded.path, updated_at_ms = excluded.updated_at_ms
                """, [.text(job), .text(path), .integer(now)])
            return try Self.fetchJob(c, job)!
        }
    }

    /// The job file last registered for `job`, if any.
    public func registeredJob(_ job: String) async throws -> RegisteredJob? {
        try await read("reading job \(job)") { c in try Self.fetchJob(c, job) }
    }

    static func fetchJob(_ c: SQLiteConnection, _ job: String) throws -> RegisteredJob? {
        guard let r = try c.query("SELECT path, first_seen_ms FROM jobs WHERE job = ?1", [.text(job)]).first,
              case .text(let path) = r[0], case .integer(let seen) = r[1] else { return nil }
        return RegisteredJob(job: job, path: path, firstSeen: Date(epochMillis: seen))
    }

    /// The scheduler's state of an instance.
    public func schedulingState(id: Int64) async throws -> InstanceSchedulingState {
        try await read("reading instance \(id)") { c in
            guard let r = try c.query("""
                SELECT retry_at_ms, skip_reason, claimed_attempt, error_code, error_retriable FROM instances WHERE id = ?1
                """, [.integer(id)]).first else {
                return InstanceSchedulingState()
            }
            let retry: Date? = if case .integer(let v) = r[0] { Date(epochMillis: v) } else { nil }
            let skip: String? = if case .text(let t) = r[1] { t } else { nil }
            let claimed: Int? = if case .integer(let v) = r[2] { Int(v) } else { nil }
            let failure: InstanceFailure? = if case .text(let code) = r[3], case .integer(let v) = r[4] {
                InstanceFailure(code: code, retriable: v != 0)
            } else { nil }
            return InstanceSchedulingState(retryAt: retry, skipReason: skip, claimedAttempt: claimed, failure: failure)
        }
    }

    /// Sets (or clears, with nil) when the instance's automatic retry is due.
    public func setRetry(id: Int64, at: Date?) async throws {
        try await write("scheduling a retry of instance \(id)") { c, _ in
            _ = try c.run("UPDATE instances SET retry_at_ms = ?2 WHERE id = ?1",
                      [.integer(id), at.map { .integer($0.epochMillis) } ?? .null])
        }
    }

    /// Failed instances of `job` whose automatic retry is due at `now`, oldest scheduled first.
    public func dueRetries(job: String, now: Date) async throws -> [InstanceRecord] {
        try await read("listing due retries of \(job)") { c in
            try c.query("""
                SELECT \(Self.instanceColumns) FROM instances
                WHERE job = ?1 AND status = 'failed' AND retry_at_ms IS NOT NULL AND retry_at_ms <= ?2
                ORDER BY scheduled_at_ms
                """, [.text(job), .integer(now.epochMillis)]).map(Self.decodeInstance)
        }
    }

    /// Marks an instance that was never run as skipped: status `dryRun`, with the reason kept.
    @discardableResult
    public func markSkipped(id: Int64, reason: String) async throws -> InstanceRecord {
        try await write("skipping instance \(id)") { c, now in
            let r = try Self.requireInstance(c, id: id)
            if r.status == .running {
                throw SluiceError.invalid("instance \(id) of \(r.job) is running and cannot be skipped")
            }
            try c.run("UPDATE instances SET status = 'dryRun', skip_reason = ?2, finished_at_ms = ?3, retry_at_ms = NULL WHERE id = ?1",
                      [.integer(id), .text(reason), .integer(now)])
            return try Self.requireInstance(c, id: id)
        }
    }

    /// Instances of `job` that are not final (pending, waiting, running), oldest scheduled first.
    public func openInstances(job: String) async throws -> [InstanceRecord] {
        try await read("listing open instances of \(job)") { c in
            try c.query("""
                SELECT \(Self.instanceColumns) FROM instances
                WHERE job = ?1 AND status IN ('pending', 'waiting', 'running') ORDER BY scheduled_at_ms
                """, [.text(job)]).map(Self.decodeInstance)
        }
    }

    /// The instance of `job` scheduled last before `before`, if any.
    public func previousInstance(job: String, before: Date) async throws -> InstanceRecord? {
        try await read("reading the previous instance of \(job)") { c in
            try c.query("""
                SELECT \(Self.instanceColumns) FROM instances WHERE job = ?1 AND scheduled_at_ms < ?2
                ORDER BY scheduled_at_ms DESC LIMIT 1
                """, [.text(job), .integer(before.epochMillis)]).first.map(Self.decodeInstance)
        }
    }

    /// Records that the scheduler launches the instance's next attempt (`attempts + 1`, returned) and
    /// clears its retry due time. The claim stays until `releaseClaim`, so a scheduler that starts
    /// after a crash knows which ended attempts it still has to settle (retry policy).
    public func claimAttempt(id: Int64) async throws -> Int {
        try await write("claiming the next attempt of instance \(id)") { c, _ in
            let r = try Self.requireInstance(c, id: id)
            try c.run("UPDATE instances SET claimed_attempt = ?2, retry_at_ms = NULL WHERE id = ?1",
                      [.integer(id), .integer(Int64(r.attempts + 1))])
            return r.attempts + 1
        }
    }

    /// Forgets the scheduler's claim on the instance (its attempt ended and was settled).
    public func releaseClaim(id: Int64) async throws {
        _ = try await write("settling instance \(id)") { c, _ in
            try c.run("UPDATE instances SET claimed_attempt = NULL WHERE id = ?1", [.integer(id)])
        }
    }

    /// Instances of `job` with a claimed attempt, oldest scheduled first.
    public func claimedInstances(job: String) async throws -> [InstanceRecord] {
        try await read("listing claimed instances of \(job)") { c in
            try c.query("""
                SELECT \(Self.instanceColumns) FROM instances WHERE job = ?1 AND claimed_attempt IS NOT NULL
                ORDER BY scheduled_at_ms
                """, [.text(job)]).map(Self.decodeInstance)
        }
    }
}
