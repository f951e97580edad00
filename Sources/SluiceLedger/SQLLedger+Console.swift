import Foundation
import SluiceCore

/// What the console and /metrics read: counts for pagination, recorded actions, what attempts
/// measured, and the totals behind the metrics, each one query on either store.
extension SQLLedger {
    public func countInstances(_ f: InstanceFilter) async throws -> Int {
        try await read("counting instances") { c in
            let (condition, binds) = Self.condition(f)
            return Int(try await c.first("SELECT COUNT(*) AS n FROM instances WHERE \(condition)", binds)?.int("n") ?? 0)
        }
    }

    public func jobNames() async throws -> [String] {
        try await read("listing jobs") { c in
            try await c.query("SELECT DISTINCT job FROM instances UNION SELECT job FROM jobs ORDER BY job", [])
                .compactMap { $0.text("job") }
        }
    }

    @discardableResult
    public func recordAction(_ a: NewLedgerAction) async throws -> LedgerAction {
        try await write("recording the action \(a.action) of \(a.actor)") { c, now in
            guard let row = try await c.first("""
                INSERT INTO actions (at_ms, actor, action, instance_id, job, detail, outcome)
                VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id
                """, [.integer(now), .text(a.actor), .text(a.action), .optional(a.instanceId), .optional(a.job),
                      .optional(a.detail), .text(a.outcome)]), let id = row.int("id") else {
                throw SluiceError(.state, "the ledger returned no id for the recorded action")
            }
            return LedgerAction(id: id, at: Date(epochMillis: now), actor: a.actor, action: a.action,
                                instanceId: a.instanceId, job: a.job, detail: a.detail, outcome: a.outcome)
        }
    }

    public func actions(job: String?, instanceId: Int64?, limit: Int) async throws -> [LedgerAction] {
        try await read("listing actions") { c in
            var conds = ["1 = 1"]
            var binds: [LedgerValue] = []
            if let job { binds.append(.text(job)); conds.append("job = ?\(binds.count)") }
            if let instanceId { binds.append(.integer(instanceId)); conds.append("instance_id = ?\(binds.count)") }
            return try await c.query("""
                SELECT id, at_ms, actor, action, instance_id, job, detail, outcome FROM actions
                WHERE \(conds.joined(separator: " AND ")) ORDER BY id DESC LIMIT \(max(0, limit))
                """, binds).map { r in
                LedgerAction(id: r.int("id") ?? 0, at: r.date("at_ms") ?? Date(timeIntervalSince1970: 0),
                             actor: r.text("actor") ?? "", action: r.text("action") ?? "", instanceId: r.int("instance_id"),
                             job: r.text("job"), detail: r.text("detail"), outcome: r.text("outcome") ?? "")
            }
        }
    }

    public func recordAttemptMetrics(id: Int64, attempt: Int, _ m: AttemptMetrics) async throws {
        try await write("recording the measurements of attempt \(attempt) of instance \(id)") { c, _ in
            try await c.execute("UPDATE attempts SET bytes_read = ?3, phases_ms = ?4 WHERE instance_id = ?1 AND attempt = ?2",
                                [.integer(id), .integer(Int64(attempt)), .integer(m.bytesRead), .text(m.storedPhases)])
        }
    }

    public func attemptMetrics(id: Int64) async throws -> [Int: AttemptMetrics] {
        try await read("reading the measurements of instance \(id)") { c in
            var out: [Int: AttemptMetrics] = [:]
            for r in try await c.query("SELECT attempt, bytes_read, phases_ms FROM attempts WHERE instance_id = ?1",
                                       [.integer(id)]) {
                guard let attempt = r.int("attempt"), r.int("bytes_read") != nil || r.text("phases_ms") != nil else { continue }
                out[Int(attempt)] = AttemptMetrics(phases: AttemptMetrics.phases(stored: r.text("phases_ms")),
                                                   bytesRead: r.int("bytes_read") ?? 0)
            }
            return out
        }
    }

    public func totals(now: Date) async throws -> LedgerTotals {
        try await read("computing the ledger's totals") { c in
            var t = LedgerTotals()
            func counts(_ sql: String, _ binds: [LedgerValue] = []) async throws -> [LedgerTotals.JobCount] {
                try await c.query(sql, binds).map {
                    LedgerTotals.JobCount(job: $0.text("job") ?? "", status: $0.text("status") ?? "", count: $0.int("n") ?? 0)
                }
            }
            t.instances = try await counts("SELECT job, status, COUNT(*) AS n FROM instances GROUP BY job, status ORDER BY job, status")
            t.attempts = try await counts("""
                SELECT i.job AS job, a.status AS status, COUNT(*) AS n FROM attempts a JOIN instances i ON i.id = a.instance_id
                WHERE a.finished_at_ms IS NOT NULL GROUP BY i.job, a.status ORDER BY i.job, a.status
                """)
            t.queued = try await counts("""
                SELECT job, status, COUNT(*) AS n FROM instances WHERE status IN ('pending', 'waiting') AND scheduled_at_ms <= ?1
                GROUP BY job, status ORDER BY job, status
                """, [.date(now)])
            t.records = try await c.query("""
                SELECT i.job AS job, CAST(COALESCE(SUM(a.records_read), 0) AS BIGINT) AS r, CAST(COALESCE(SUM(a.records_written), 0) AS BIGINT) AS w,
                  CAST(COALESCE(SUM(a.records_late), 0) AS BIGINT) AS l, CAST(COALESCE(SUM(a.records_dirty), 0) AS BIGINT) AS d,
                  CAST(COALESCE(SUM(a.bytes_read), 0) AS BIGINT) AS b
                FROM attempts a JOIN instances i ON i.id = a.instance_id WHERE a.finished_at_ms IS NOT NULL
                GROUP BY i.job ORDER BY i.job
                """, []).map {
                LedgerTotals.JobRecords(job: $0.text("job") ?? "", read: $0.int("r") ?? 0, written: $0.int("w") ?? 0,
                                        late: $0.int("l") ?? 0, dirty: $0.int("d") ?? 0, bytes: $0.int("b") ?? 0)
            }
            t.lastSuccess = try await Self.lastSuccesses(c)
            return t
        }
    }

    /// Per job, its succeeded instance with the latest scheduled time.
    static func lastSuccesses(_ c: any LedgerConnection) async throws -> [LedgerTotals.JobLastSuccess] {
        try await c.query("""
            SELECT i.job AS job, i.business_date AS business_date, i.scheduled_at_ms AS scheduled_at_ms,
              i.finished_at_ms AS finished_at_ms
            FROM instances i JOIN (SELECT job, MAX(scheduled_at_ms) AS latest FROM instances WHERE status = 'succeeded'
                                   GROUP BY job) l ON l.job = i.job AND l.latest = i.scheduled_at_ms
            ORDER BY i.job
            """, []).map {
            LedgerTotals.JobLastSuccess(job: $0.text("job") ?? "", businessDate: $0.text("business_date"),
                                        scheduledAt: $0.date("scheduled_at_ms") ?? Date(timeIntervalSince1970: 0),
                                        finishedAt: $0.date("finished_at_ms"))
        }
    }

    public func finishedAttempts() async throws -> [FinishedAttempt] {
        try await read("reading finished attempts") { c in
            try await c.query("""
                SELECT i.job AS job, a.status AS status, a.started_at_ms AS s, a.finished_at_ms AS f, a.phases_ms AS p
                FROM attempts a JOIN instances i ON i.id = a.instance_id WHERE a.finished_at_ms IS NOT NULL
                """, []).map { r in
                let millis = max(0, (r.int("f") ?? 0) - (r.int("s") ?? 0))
                return FinishedAttempt(job: r.text("job") ?? "", status: InstanceStatus(rawValue: r.text("status") ?? "") ?? .failed,
                                       seconds: Double(millis) / 1000, phases: AttemptMetrics.phases(stored: r.text("p")))
            }
        }
    }
}
