import Foundation
import SluiceCore

/// Commits, and what the scheduler keeps: jobs, retries, skips, claims with leases.
extension SQLLedger {
    // MARK: commits

    public func prepareCommit(_ r: CommitRecord) async throws {
        let counts = try Self.json(r.counts), ends = try Self.json(r.readEnds)
        try await write("recording the commit of instance \(r.instanceId)") { c, now in
            let instance = try await Self.requireInstance(c, id: r.instanceId, suffix: self.db.dialect.forUpdate)
            guard instance.attempts == r.attempt, instance.status == .running else {
                throw SluiceError(.state, "instance \(r.instanceId) is \(instance.status.rawValue) at attempt \(instance.attempts): attempt \(r.attempt) does not commit",
                                  hint: "another process ran or settled it meanwhile; see `sluice instance show \(r.instanceId)`")
            }
            try await c.execute("""
                INSERT INTO commits (instance_id, attempt, mode, destination, partition, token, counts, read_ends, prepared_at_ms)
                VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                ON CONFLICT (instance_id, attempt) DO UPDATE SET mode = excluded.mode, destination = excluded.destination,
                  partition = excluded.partition, token = excluded.token, counts = excluded.counts,
                  read_ends = excluded.read_ends, prepared_at_ms = excluded.prepared_at_ms, committed_at_ms = NULL
                """, [.integer(r.instanceId), .integer(Int64(r.attempt)), .text(r.mode.rawValue), .text(r.destination),
                      .text(r.partition), .optional(r.token), .text(counts), .text(ends), .integer(now)])
        }
    }

    public func commitRecord(id: Int64, attempt: Int) async throws -> CommitRecord? {
        try await read("reading the commit of instance \(id)") { c in
            try await Self.fetchCommits(c, "instance_id = ?1 AND attempt = ?2", [.integer(id), .integer(Int64(attempt))]).first
        }
    }

    public func commitRecords(id: Int64) async throws -> [CommitRecord] {
        try await read("reading the commits of instance \(id)") { c in
            try await Self.fetchCommits(c, "instance_id = ?1", [.integer(id)])
        }
    }

    @discardableResult
    public func finishCommitted(id: Int64, attempt: Int, counts: InstanceCounts, readEnds: [Int32: Int64],
                                note: String?) async throws -> InstanceRecord {
        try await write("recording the success of instance \(id)") { c, now in
            let r = try await Self.requireInstance(c, id: id, suffix: self.db.dialect.forUpdate)
            guard r.attempts == attempt, r.status != .succeeded else {
                throw SluiceError(.state, "instance \(id) is \(r.status.rawValue) at attempt \(r.attempts): attempt \(attempt) is not recorded as succeeded")
            }
            try await Self.setReadEnds(c, id: id, readEnds)
            try await Self.setCounts(c, id: id, counts)
            try await c.execute("UPDATE instances SET status = 'succeeded', finished_at_ms = ?2, error = NULL WHERE id = ?1",
                                [.integer(id), .integer(now)])
            try await c.execute("UPDATE commits SET committed_at_ms = ?3 WHERE instance_id = ?1 AND attempt = ?2",
                                [.integer(id), .integer(Int64(attempt)), .integer(now)])
            try await Self.endAttempt(c, id: id, now: now)
            if let note { try await Self.insertLog(c, id: id, attempt: attempt, at: now, level: .info, note) }
            return try await Self.requireInstance(c, id: id)
        }
    }

    static func fetchCommits(_ c: any LedgerConnection, _ condition: String, _ binds: [LedgerValue]) async throws -> [CommitRecord] {
        try await c.query("""
            SELECT instance_id, attempt, mode, destination, partition, token, counts, read_ends, prepared_at_ms, committed_at_ms
            FROM commits WHERE \(condition) ORDER BY instance_id, attempt
            """, binds).map { r in
            let decoder = JSONDecoder()
            return CommitRecord(
                instanceId: r.int("instance_id") ?? 0, attempt: Int(r.int("attempt") ?? 0),
                mode: WriteMode(rawValue: r.text("mode") ?? "") ?? .overwrite, destination: r.text("destination") ?? "",
                partition: r.text("partition") ?? "", token: r.text("token"),
                counts: (try? decoder.decode(InstanceCounts.self, from: Data((r.text("counts") ?? "").utf8))) ?? InstanceCounts(),
                readEnds: (try? decoder.decode([Int32: Int64].self, from: Data((r.text("read_ends") ?? "").utf8))) ?? [:],
                preparedAt: r.date("prepared_at_ms") ?? Date(timeIntervalSince1970: 0), committedAt: r.date("committed_at_ms"))
        }
    }

    // MARK: jobs

    @discardableResult
    public func registerJob(_ job: String, path: String) async throws -> RegisteredJob {
        try await write("registering job \(job)") { c, now in
            try await c.execute("""
                INSERT INTO jobs (job, path, first_seen_ms, updated_at_ms) VALUES (?1, ?2, ?3, ?3)
                ON CONFLICT (job) DO UPDATE SET path = excluded.path, updated_at_ms = excluded.updated_at_ms
                """, [.text(job), .text(path), .integer(now)])
            guard let r = try await Self.fetchJob(c, job) else { throw SluiceError(.state, "job \(job) was not registered") }
            return r
        }
    }

    public func registeredJob(_ job: String) async throws -> RegisteredJob? {
        try await read("reading job \(job)") { c in try await Self.fetchJob(c, job) }
    }

    public func registeredJobs() async throws -> [RegisteredJob] {
        try await read("listing jobs") { c in
            try await c.query("SELECT job, path, first_seen_ms FROM jobs ORDER BY job", []).compactMap { r in
                guard let job = r.text("job"), let path = r.text("path"), let seen = r.date("first_seen_ms") else { return nil }
                return RegisteredJob(job: job, path: path, firstSeen: seen)
            }
        }
    }

    static func fetchJob(_ c: any LedgerConnection, _ job: String) async throws -> RegisteredJob? {
        guard let r = try await c.first("SELECT path, first_seen_ms FROM jobs WHERE job = ?1", [.text(job)]),
              let path = r.text("path"), let seen = r.date("first_seen_ms") else { return nil }
        return RegisteredJob(job: job, path: path, firstSeen: seen)
    }

    // MARK: instances the scheduler looks after

    public func schedulingState(id: Int64) async throws -> InstanceSchedulingState {
        try await read("reading instance \(id)") { c in
            guard let r = try await c.first("""
                SELECT retry_at_ms, skip_reason, claimed_attempt, claimed_by, lease_until_ms, error_code, error_retriable,
                  wait_reason
                FROM instances WHERE id = ?1
                """, [.integer(id)]) else { return InstanceSchedulingState() }
            let failure = r.text("error_code").flatMap { code in
                r.int("error_retriable").map { InstanceFailure(code: code, retriable: $0 != 0) }
            }
            return InstanceSchedulingState(retryAt: r.date("retry_at_ms"), skipReason: r.text("skip_reason"),
                                           claimedAttempt: r.int("claimed_attempt").map(Int.init), failure: failure,
                                           claimedBy: r.text("claimed_by"), leaseUntil: r.date("lease_until_ms"),
                                           waitReason: r.text("wait_reason"))
        }
    }

    public func setRetry(id: Int64, at: Date?) async throws {
        try await write("scheduling a retry of instance \(id)") { c, _ in
            try await c.execute("UPDATE instances SET retry_at_ms = ?2 WHERE id = ?1", [.integer(id), .optional(at)])
        }
    }

    public func dueRetries(job: String, now: Date) async throws -> [InstanceRecord] {
        try await read("listing due retries of \(job)") { c in
            try await Self.instances(c, where: "job = ?1 AND status = 'failed' AND retry_at_ms IS NOT NULL AND retry_at_ms <= ?2",
                                     [.text(job), .date(now)], suffix: " ORDER BY scheduled_at_ms")
        }
    }

    @discardableResult
    public func markSkipped(id: Int64, reason: String) async throws -> InstanceRecord {
        try await write("skipping instance \(id)") { c, now in
            let r = try await Self.requireInstance(c, id: id, suffix: self.db.dialect.forUpdate)
            if r.status == .running {
                throw SluiceError.invalid("instance \(id) of \(r.job) is running and cannot be skipped")
            }
            try await c.execute("""
                UPDATE instances SET status = 'dryRun', skip_reason = ?2, finished_at_ms = ?3, retry_at_ms = NULL WHERE id = ?1
                """, [.integer(id), .text(reason), .integer(now)])
            return try await Self.requireInstance(c, id: id)
        }
    }

    public func openInstances(job: String) async throws -> [InstanceRecord] {
        try await read("listing open instances of \(job)") { c in
            try await Self.instances(c, where: "job = ?1 AND status IN ('pending', 'waiting', 'running')", [.text(job)],
                                     suffix: " ORDER BY scheduled_at_ms")
        }
    }

    public func previousInstance(job: String, before: Date) async throws -> InstanceRecord? {
        try await read("reading the previous instance of \(job)") { c in
            try await Self.instances(c, where: "job = ?1 AND scheduled_at_ms < ?2", [.text(job), .date(before)],
                                     suffix: " ORDER BY scheduled_at_ms DESC LIMIT 1").first
        }
    }

    public func setWaitReason(id: Int64, _ reason: String?) async throws {
        try await write("recording why instance \(id) waits") { c, _ in
            try await c.execute("UPDATE instances SET wait_reason = ?2 WHERE id = ?1", [.integer(id), .optional(reason)])
        }
    }

    // MARK: claims

    public func claimAttempt(id: Int64, by scheduler: String, leaseUntil: Date) async throws -> Int? {
        try await write("claiming the next attempt of instance \(id)") { c, now in
            let r = try await Self.requireInstance(c, id: id, suffix: self.db.dialect.forUpdate)
            // Ended, or started meanwhile by another scheduler's run: nothing to launch.
            if [.succeeded, .killed, .dryRun, .running].contains(r.status) { return nil }
            if let held = try await c.first("""
                SELECT claimed_by FROM instances
                WHERE id = ?1 AND claimed_attempt IS NOT NULL AND claimed_by IS NOT NULL AND claimed_by <> ?2
                  AND lease_until_ms IS NOT NULL AND lease_until_ms > ?3
                """, [.integer(id), .text(scheduler), .integer(now)]), held.text("claimed_by") != nil {
                return nil
            }
            try await c.execute("""
                UPDATE instances SET claimed_attempt = ?2, claimed_by = ?3, lease_until_ms = ?4, retry_at_ms = NULL WHERE id = ?1
                """, [.integer(id), .integer(Int64(r.attempts + 1)), .text(scheduler), .date(leaseUntil)])
            return r.attempts + 1
        }
    }

    public func adoptClaim(id: Int64, by scheduler: String, leaseUntil: Date, force: Bool) async throws -> Bool {
        try await write("taking over instance \(id)") { c, now in
            guard let r = try await c.first("SELECT claimed_by, lease_until_ms FROM instances WHERE id = ?1\(self.db.dialect.forUpdate)",
                                            [.integer(id)]) else { return false }
            if !force, let holder = r.text("claimed_by"), holder != scheduler, let lease = r.int("lease_until_ms"), lease > now {
                return false
            }
            try await c.execute("UPDATE instances SET claimed_by = ?2, lease_until_ms = ?3 WHERE id = ?1",
                                [.integer(id), .text(scheduler), .date(leaseUntil)])
            return true
        }
    }

    public func takeOverClaims(by scheduler: String, leaseUntil: Date) async throws {
        try await write("taking over the claims of earlier schedulers") { c, _ in
            try await c.execute("""
                UPDATE instances SET claimed_by = ?1, lease_until_ms = ?2 WHERE claimed_by IS NOT NULL AND claimed_by <> ?1
                """, [.text(scheduler), .date(leaseUntil)])
        }
    }

    public func renewClaims(_ ids: [Int64], by scheduler: String, leaseUntil: Date) async throws {
        guard !ids.isEmpty else { return }
        try await write("renewing the claims of \(scheduler)") { c, _ in
            for id in ids {
                try await c.execute("UPDATE instances SET lease_until_ms = ?3 WHERE id = ?1 AND claimed_by = ?2",
                                    [.integer(id), .text(scheduler), .date(leaseUntil)])
            }
        }
    }

    public func releaseClaim(id: Int64) async throws {
        try await write("settling instance \(id)") { c, _ in
            try await c.execute("UPDATE instances SET claimed_attempt = NULL, claimed_by = NULL, lease_until_ms = NULL WHERE id = ?1",
                                [.integer(id)])
        }
    }

    public func claimedInstances(job: String) async throws -> [InstanceRecord] {
        try await read("listing claimed instances of \(job)") { c in
            try await Self.instances(c, where: "job = ?1 AND claimed_attempt IS NOT NULL", [.text(job)],
                                     suffix: " ORDER BY scheduled_at_ms")
        }
    }
}
