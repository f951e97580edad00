import Foundation
import SluiceCore

/// Sharded instances: the coordinator stores an attempt's shards, workers claim them with a lease
/// and a fence (`FOR UPDATE SKIP LOCKED` on PostgreSQL), and a claim taken over cannot finish.
extension SQLLedger {
    public func createShards(id: Int64, attempt: Int, job: String, spec: ShardSetSpec, plans: [WindowPlan]) async throws {
        let specJSON = try Self.json(spec)
        let planJSON = try plans.map { try Self.json($0) }
        try await write("storing \(plans.count) shard(s) of instance \(id)") { c, now in
            try await c.execute("""
                INSERT INTO shard_sets (instance_id, attempt, job, spec, status, created_at_ms) VALUES (?1, ?2, ?3, ?4, 'open', ?5)
                """, [.integer(id), .integer(Int64(attempt)), .text(job), .text(specJSON), .integer(now)])
            for (i, plan) in planJSON.enumerated() {
                try await c.execute("""
                    INSERT INTO shards (instance_id, attempt, shard, plan, status) VALUES (?1, ?2, ?3, ?4, 'pending')
                    """, [.integer(id), .integer(Int64(attempt)), .integer(Int64(i)), .text(plan)])
            }
        }
    }

    public func claimShard(worker: String, leaseUntil: Date, only: (id: Int64, attempt: Int)?) async throws -> ClaimedShard? {
        let restrict = only.map { [LedgerValue.integer($0.id), .integer(Int64($0.attempt))] } ?? []
        return try await write("claiming a shard for worker \(worker)") { c, now in
            let filter = restrict.isEmpty ? "" : " AND s.instance_id = ?2 AND s.attempt = ?3"
            guard let row = try await c.first("""
                SELECT s.instance_id, s.attempt, s.shard FROM shards s
                WHERE (s.status = 'pending' OR (s.status = 'running' AND s.lease_until_ms < ?1))\(filter)
                  AND EXISTS (SELECT 1 FROM shard_sets t WHERE t.instance_id = s.instance_id AND t.attempt = s.attempt AND t.status = 'open')
                ORDER BY s.instance_id, s.attempt, s.shard LIMIT 1\(self.db.dialect.forUpdateSkipLocked)
                """, [.integer(now)] + restrict),
                let id = row.int("instance_id"), let attempt = row.int("attempt"), let shard = row.int("shard") else { return nil }
            let key: [LedgerValue] = [.integer(id), .integer(attempt), .integer(shard)]
            try await c.execute("""
                UPDATE shards SET status = 'running', worker = ?4, fence = fence + 1, lease_until_ms = ?5, started_at_ms = ?6,
                  finished_at_ms = NULL, result = NULL, error = NULL
                WHERE instance_id = ?1 AND attempt = ?2 AND shard = ?3
                """, key + [.text(worker), .date(leaseUntil), .integer(now)])
            guard let set = try await c.first("SELECT job, spec FROM shard_sets WHERE instance_id = ?1 AND attempt = ?2", Array(key.prefix(2))),
                  let record = try await Self.shardRows(c, where: "instance_id = ?1 AND attempt = ?2 AND shard = ?3", key).first else {
                return nil
            }
            let spec = try JSONDecoder().decode(ShardSetSpec.self, from: Data((set.text("spec") ?? "").utf8))
            return ClaimedShard(job: set.text("job") ?? "", set: spec, shard: record)
        }
    }

    public func renewShard(id: Int64, attempt: Int, shard: Int, fence: Int, leaseUntil: Date) async throws -> Bool {
        try await write("renewing the lease of shard \(shard) of instance \(id)") { c, _ in
            try await !c.query("""
                UPDATE shards SET lease_until_ms = ?5 WHERE instance_id = ?1 AND attempt = ?2 AND shard = ?3 AND fence = ?4
                  AND status = 'running' AND \(Self.openSet)
                RETURNING shard
                """, [.integer(id), .integer(Int64(attempt)), .integer(Int64(shard)), .integer(Int64(fence)), .date(leaseUntil)]).isEmpty
        }
    }

    public func finishShard(id: Int64, attempt: Int, shard: Int, fence: Int, result: ShardResult?, error: String?) async throws -> Bool {
        let resultJSON = try result.map { try Self.json($0) }
        return try await write("recording the end of shard \(shard) of instance \(id)") { c, now in
            try await !c.query("""
                UPDATE shards SET status = ?5, result = ?6, error = ?7, finished_at_ms = ?8, lease_until_ms = NULL
                WHERE instance_id = ?1 AND attempt = ?2 AND shard = ?3 AND fence = ?4 AND status = 'running' AND \(Self.openSet)
                RETURNING shard
                """, [.integer(id), .integer(Int64(attempt)), .integer(Int64(shard)), .integer(Int64(fence)),
                      .text(result == nil ? "failed" : "done"), .optional(resultJSON), .optional(error), .integer(now)]).isEmpty
        }
    }

    public func shards(id: Int64, attempt: Int) async throws -> [ShardRecord] {
        try await read("listing the shards of instance \(id)") { c in
            try await Self.shardRows(c, where: "instance_id = ?1 AND attempt = ?2", [.integer(id), .integer(Int64(attempt))])
        }
    }

    public func closeShards(id: Int64, attempt: Int) async throws {
        try await write("closing the shards of instance \(id)") { c, _ in
            try await c.execute("UPDATE shard_sets SET status = 'closed' WHERE instance_id = ?1 AND attempt = ?2",
                                [.integer(id), .integer(Int64(attempt))])
        }
    }

    /// The shard's set is open (in a statement on `shards`).
    static let openSet = """
        EXISTS (SELECT 1 FROM shard_sets t WHERE t.instance_id = shards.instance_id AND t.attempt = shards.attempt AND t.status = 'open')
        """

    static func shardRows(_ c: any LedgerConnection, where condition: String, _ binds: [LedgerValue]) async throws -> [ShardRecord] {
        let decoder = JSONDecoder()
        return try await c.query("SELECT * FROM shards WHERE \(condition) ORDER BY shard", binds).map { r in
            ShardRecord(instanceId: r.int("instance_id") ?? 0, attempt: Int(r.int("attempt") ?? 0), shard: Int(r.int("shard") ?? 0),
                        plan: try decoder.decode(WindowPlan.self, from: Data((r.text("plan") ?? "").utf8)),
                        status: ShardStatus(rawValue: r.text("status") ?? "") ?? .failed, worker: r.text("worker"),
                        fence: Int(r.int("fence") ?? 0), leaseUntil: r.date("lease_until_ms"), startedAt: r.date("started_at_ms"),
                        finishedAt: r.date("finished_at_ms"),
                        result: try r.text("result").map { try decoder.decode(ShardResult.self, from: Data($0.utf8)) },
                        error: r.text("error"))
        }
    }
}
