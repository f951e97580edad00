import Foundation
import SluiceCore

/// Plans, read ends, dirty records and logs.
extension SQLLedger {
    // MARK: plans

    public func storePlan(id: Int64, plan: InstancePlan) async throws {
        let json = try Self.json(plan)
        let w = plan.window
        try await write("storing the plan of instance \(id)") { c, _ in
            _ = try await Self.requireInstance(c, id: id)
            try await c.execute("DELETE FROM plans WHERE instance_id = ?1", [.integer(id)])
            try await c.execute("""
                INSERT INTO plans (instance_id, topic, window_mode, planned_at_ms, window_start_ms, window_end_ms, partition_count,
                  instance_plan)
                VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                """, [.integer(id), .text(w.topic), .text(plan.windowMode.rawValue), .integer(w.plannedAtMillis),
                      .optional(w.startMillis), .optional(w.endMillis), .integer(Int64(w.topicPartitionCount)), .text(json)])
            for p in w.partitions {
                try await c.execute("""
                    INSERT INTO plan_offsets (instance_id, partition, from_offset, to_offset, low_watermark, high_watermark,
                      read_to_offset)
                    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                    """, [.integer(id), .integer(Int64(p.partition)), .integer(p.fromOffset), .integer(p.toOffset),
                          .integer(p.lowWatermark), .integer(p.highWatermark), .optional(plan.readEnds[p.partition])])
            }
        }
    }

    static func fetchPlan(_ c: any LedgerConnection, id: Int64) async throws -> InstancePlan? {
        guard let head = try await c.first("""
            SELECT topic, window_mode, planned_at_ms, window_start_ms, window_end_ms, partition_count, instance_plan
            FROM plans WHERE instance_id = ?1
            """, [.integer(id)]) else { return nil }
        var partitions: [PartitionPlan] = []
        var ends: [Int32: Int64] = [:]
        for r in try await c.query("""
            SELECT partition, from_offset, to_offset, low_watermark, high_watermark, read_to_offset
            FROM plan_offsets WHERE instance_id = ?1 ORDER BY partition
            """, [.integer(id)]) {
            let p = Int32(truncatingIfNeeded: r.int("partition") ?? 0)
            let from = r.int("from_offset") ?? 0, to = r.int("to_offset") ?? 0
            partitions.append(PartitionPlan(partition: p, fromOffset: from, toOffset: to,
                                            lowWatermark: r.int("low_watermark") ?? from,
                                            highWatermark: r.int("high_watermark") ?? to))
            if let end = r.int("read_to_offset") { ends[p] = end }
        }
        // The read ends live in their column: they are recorded after the plan.
        if let json = head.text("instance_plan"), var plan = try? JSONDecoder().decode(InstancePlan.self, from: Data(json.utf8)) {
            plan.readEnds = ends
            return plan
        }
        // A plan stored before plans were kept whole: rebuilt from its columns and its instance.
        let instance = try await requireInstance(c, id: id)
        let window = WindowPlan(topic: head.text("topic") ?? "", startMillis: head.int("window_start_ms"),
                                endMillis: head.int("window_end_ms"), plannedAtMillis: head.int("planned_at_ms") ?? 0,
                                topicPartitionCount: head.int("partition_count").map { Int32(truncatingIfNeeded: $0) }
                                    ?? Int32(partitions.count),
                                partitions: partitions)
        return InstancePlan(job: instance.job, scheduledTime: Int64(instance.scheduledAt.timeIntervalSince1970.rounded()),
                            businessDate: instance.businessDate ?? "", parameters: instance.parameters,
                            partition: instance.partition ?? "",
                            windowMode: head.text("window_mode").flatMap(WindowMode.init(rawValue:)) ?? .offsets,
                            window: window, readEnds: ends)
    }

    public func plan(id: Int64) async throws -> InstancePlan? {
        try await read("reading the plan of instance \(id)") { c in try await Self.fetchPlan(c, id: id) }
    }

    public func recordReadEnds(id: Int64, _ ends: [Int32: Int64]) async throws {
        try await write("recording the offsets read by instance \(id)") { c, _ in
            try await Self.setReadEnds(c, id: id, ends)
        }
    }

    /// Sets the read end of each partition; throws for a partition that is not in the stored plan.
    static func setReadEnds(_ c: any LedgerConnection, id: Int64, _ ends: [Int32: Int64]) async throws {
        for (p, end) in ends.sorted(by: { $0.key < $1.key }) {
            let updated = try await c.query("""
                UPDATE plan_offsets SET read_to_offset = ?3 WHERE instance_id = ?1 AND partition = ?2 RETURNING partition
                """, [.integer(id), .integer(Int64(p)), .integer(end)])
            if updated.isEmpty {
                throw SluiceError(.state, "instance \(id) has no planned offsets for partition \(p)")
            }
        }
    }

    public func previousSuccessfulEnd(job: String, before: Date) async throws -> (instance: InstanceRecord, ends: [Int32: Int64])? {
        try await read("finding the previous successful instance of \(job)") { c in
            guard let instance = try await Self.instances(
                c, where: "job = ?1 AND status = 'succeeded' AND scheduled_at_ms < ?2 AND id IN (SELECT instance_id FROM plans)",
                [.text(job), .date(before)], suffix: " ORDER BY scheduled_at_ms DESC LIMIT 1").first else { return nil }
            var ends: [Int32: Int64] = [:]
            for row in try await c.query("""
                SELECT partition, COALESCE(read_to_offset, to_offset) AS end_offset FROM plan_offsets WHERE instance_id = ?1
                """, [.integer(instance.id)]) {
                if let p = row.int("partition"), let e = row.int("end_offset") { ends[Int32(truncatingIfNeeded: p)] = e }
            }
            return (instance, ends)
        }
    }

    // MARK: dirty records

    @discardableResult
    public func addDirtyRecords(id: Int64, _ records: [LedgerDirtyRecord]) async throws -> Int {
        let limits = self.limits
        return try await write("storing dirty records of instance \(id)") { c, _ in
            let instance = try await Self.requireInstance(c, id: id)
            let have = try await c.first("SELECT COUNT(*) AS n FROM dirty_records WHERE instance_id = ?1", [.integer(id)])?.int("n") ?? 0
            let room = max(0, limits.dirtyRecordsPerInstance - Int(have))
            for d in records.prefix(room) {
                func bounded(_ b: [UInt8]?) -> LedgerValue { b.map { .blob(Array($0.prefix(limits.dirtyBytesPerField))) } ?? .null }
                try await c.execute("""
                    INSERT INTO dirty_records (instance_id, attempt, partition, record_offset, timestamp_ms, column_name,
                      reason, key, value, key_length, value_length)
                    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                    """, [.integer(id), .integer(Int64(instance.attempts)), .integer(Int64(d.partition)), .integer(d.offset),
                          .integer(d.timestampMillis), .optional(d.column), .text(Self.bounded(d.reason, limits.logMessageBytes)),
                          bounded(d.key), bounded(d.value), .optional((d.keyLength ?? d.key?.count).map(Int64.init)),
                          .optional((d.valueLength ?? d.value?.count).map(Int64.init))])
            }
            return min(room, records.count)
        }
    }

    public func dirtyRecords(id: Int64, limit: Int?) async throws -> [LedgerDirtyRecord] {
        try await read("reading dirty records of instance \(id)") { c in
            var sql = """
                SELECT partition, record_offset, timestamp_ms, column_name, reason, key, value, key_length, value_length
                FROM dirty_records WHERE instance_id = ?1 ORDER BY id
                """
            if let limit { sql += " LIMIT \(max(0, limit))" }
            return try await c.query(sql, [.integer(id)]).map { r in
                var d = LedgerDirtyRecord(partition: Int32(truncatingIfNeeded: r.int("partition") ?? 0),
                                          offset: r.int("record_offset") ?? 0, timestampMillis: r.int("timestamp_ms") ?? 0,
                                          column: r.text("column_name"), reason: r.text("reason") ?? "",
                                          key: r.blob("key"), value: r.blob("value"))
                d.keyLength = r.int("key_length").map(Int.init)
                d.valueLength = r.int("value_length").map(Int.init)
                return d
            }
        }
    }

    // MARK: logs

    public func appendLog(id: Int64, level: InstanceLogLine.Level, _ messages: [String]) async throws {
        let limits = self.limits
        try await write("writing the log of instance \(id)") { c, now in
            let instance = try await Self.requireInstance(c, id: id)
            for m in messages {
                try await Self.insertLog(c, id: id, attempt: instance.attempts, at: now, level: level,
                                         Self.bounded(m, limits.logMessageBytes))
            }
            try await c.execute("""
                DELETE FROM instance_logs WHERE instance_id = ?1 AND id <= (
                  SELECT id FROM instance_logs WHERE instance_id = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)
                """, [.integer(id), .integer(Int64(limits.logLinesPerInstance))])
        }
    }

    static func insertLog(_ c: any LedgerConnection, id: Int64, attempt: Int, at: Int64, level: InstanceLogLine.Level,
                          _ message: String) async throws {
        try await c.execute("INSERT INTO instance_logs (instance_id, attempt, at_ms, level, message) VALUES (?1, ?2, ?3, ?4, ?5)",
                            [.integer(id), .integer(Int64(attempt)), .integer(at), .text(level.rawValue), .text(message)])
    }

    static func bounded(_ s: String, _ bytes: Int) -> String {
        s.utf8.count <= bytes ? s : String(decoding: s.utf8.prefix(bytes), as: UTF8.self) + " …"
    }

    public func log(id: Int64) async throws -> [InstanceLogLine] {
        try await read("reading the log of instance \(id)") { c in
            try await c.query("SELECT at_ms, attempt, level, message FROM instance_logs WHERE instance_id = ?1 ORDER BY id",
                              [.integer(id)]).map { r in
                InstanceLogLine(at: r.date("at_ms") ?? Date(timeIntervalSince1970: 0), attempt: Int(r.int("attempt") ?? 0),
                                level: InstanceLogLine.Level(rawValue: r.text("level") ?? "") ?? .info,
                                message: r.text("message") ?? "")
            }
        }
    }
}
