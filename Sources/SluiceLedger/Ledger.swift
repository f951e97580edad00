import Foundation
import SluiceCore
import SluiceSQLite

/// The ledger: a SQLite file under the state directory recording every instance, its offset plan,
/// the offsets it actually read, its dirty records and its log.
///
/// One `Ledger` owns one connection, on its own queue; several processes (scheduler, CLI commands)
/// may open the same file, each method being one short transaction. Times come from `now`, so tests
/// drive the ledger with a manual clock.
public final class Ledger: Sendable {
    /// The ledger's file name inside the state directory.
    public static let fileName = "ledger.db"

    public let path: String
    /// The ledger's own id, made when it was created: destinations tag writes with it, so that an
    /// instance is named uniquely even when several ledgers write one destination.
    public let id: String
    public let limits: LedgerLimits
    private let db: SQLiteDatabase
    private let now: @Sendable () -> Date

    private init(path: String, id: String, db: SQLiteDatabase, limits: LedgerLimits, now: @escaping @Sendable () -> Date) {
        self.path = path
        self.id = id
        self.db = db
        self.limits = limits
        self.now = now
    }

    /// The default state directory of a job file: `.sluice/` next to it.
    public static func defaultStateDirectory(forJobFile jobPath: String) -> String {
        let dir = (jobPath as NSString).deletingLastPathComponent
        return (dir.isEmpty ? "." : dir) + "/.sluice"
    }

    /// Opens (creating and migrating as needed) `ledger.db` in `stateDirectory`.
    public static func open(stateDirectory: String, limits: LedgerLimits = LedgerLimits(),
                            now: @escaping @Sendable () -> Date = { Date() }) async throws -> Ledger {
        do {
            try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
        } catch {
            throw SluiceError(.state, "cannot create the state directory \(stateDirectory): \(error.localizedDescription)",
                              hint: "pass a writable --state-dir")
        }
        return try await open(path: stateDirectory + "/" + fileName, limits: limits, now: now)
    }

    /// Opens (creating and migrating as needed) the ledger file at `path`.
    public static func open(path: String, limits: LedgerLimits = LedgerLimits(),
                            now: @escaping @Sendable () -> Date = { Date() }) async throws -> Ledger {
        do {
            let db = try await SQLiteDatabase.open(
                path: path, options: SQLiteOpenOptions(mode: .readWrite(create: true), busyTimeoutMillis: 30_000))
            let id = try await db.perform { c -> String in
                try c.execute("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON")
                try LedgerMigrations.migrate(c, path: path)
                guard case .text(let id)? = try c.scalar("SELECT value FROM ledger_meta WHERE key = 'ledger_id'") else {
                    throw SluiceError(.state, "ledger \(path) has no id (ledger_meta)")
                }
                return id
            }
            return Ledger(path: path, id: id, db: db, limits: limits, now: now)
        } catch {
            throw stateError(error, path: path, doing: "opening the ledger")
        }
    }

    /// Closes the connection (later calls fail). A ledger closed before exit leaves no write-ahead
    /// log behind for the next process to read back; the connection's statement cache would keep
    /// it open otherwise.
    public func close() async {
        _ = try? await db.perform { $0.close() }
    }

    static func stateError(_ error: any Error, path: String, doing: String) -> SluiceError {
        if let e = error as? SluiceError { return e }
        if let e = error as? SQLiteError, e.isBusy {
            return SluiceError(.state, "ledger \(path): \(doing) timed out waiting for another process's transaction",
                               hint: "retry; if it persists, look for a process holding \(path) open")
        }
        if let e = error as? SQLiteError {
            return SluiceError(.state, "ledger \(path): \(doing) failed: \(e.message) (SQLite code \(e.extendedCode))")
        }
        return SluiceError(.state, "ledger \(path): \(doing) failed: \(error)")
    }

    /// The schema version of the file.
    public func schemaVersion() async throws -> Int {
        try await read("reading the schema version") { c in
            if case .integer(let v)? = try c.scalar("PRAGMA user_version") { Int(v) } else { 0 }
        }
    }

    func read<T: Sendable>(_ doing: String, _ body: @escaping @Sendable (SQLiteConnection) throws -> T) async throws -> T {
        do { return try await db.perform(body) } catch { throw Self.stateError(error, path: path, doing: doing) }
    }

    func write<T: Sendable>(_ doing: String, _ body: @escaping @Sendable (SQLiteConnection, Int64) throws -> T) async throws -> T {
        let nowMillis = now().epochMillis
        do { return try await db.write { try body($0, nowMillis) } } catch {
            throw Self.stateError(error, path: path, doing: doing)
        }
    }

    // MARK: instances

    static let instanceColumns = """
        id, job, scheduled_at_ms, business_date, parameters, window_start_ms, window_end_ms, partition, status,
        attempts, created_at_ms, started_at_ms, finished_at_ms, records_read, records_written, records_dirty,
        records_late, records_early, records_skipped, error, success_reason
        """

    static func decodeInstance(_ r: [SQLiteValue]) -> InstanceRecord {
        func int(_ i: Int) -> Int64? { if case .integer(let v) = r[i] { v } else { nil } }
        func text(_ i: Int) -> String? { if case .text(let v) = r[i] { v } else { nil } }
        func date(_ i: Int) -> Date? { int(i).map(Date.init(epochMillis:)) }
        let params = text(4).flatMap { try? JSONDecoder().decode([String: String].self, from: Data($0.utf8)) } ?? [:]
        return InstanceRecord(
            id: int(0) ?? 0, job: text(1) ?? "", scheduledAt: date(2) ?? Date(timeIntervalSince1970: 0),
            businessDate: text(3), parameters: params, windowStart: date(5), windowEnd: date(6), partition: text(7),
            status: InstanceStatus(rawValue: text(8) ?? "") ?? .pending, attempts: Int(int(9) ?? 0),
            createdAt: date(10) ?? Date(timeIntervalSince1970: 0), startedAt: date(11), finishedAt: date(12),
            counts: InstanceCounts(read: int(13) ?? 0, written: int(14) ?? 0, dirty: int(15) ?? 0, late: int(16) ?? 0,
                                   early: int(17) ?? 0, skipped: int(18) ?? 0),
            error: text(19), successReason: text(20))
    }

    static func fetchInstance(_ c: SQLiteConnection, id: Int64) throws -> InstanceRecord? {
        try c.query("SELECT \(instanceColumns) FROM instances WHERE id = ?1", [.integer(id)]).first.map(decodeInstance)
    }

    static func requireInstance(_ c: SQLiteConnection, id: Int64) throws -> InstanceRecord {
        guard let r = try fetchInstance(c, id: id) else {
            throw SluiceError.invalid("there is no instance \(id) in the ledger",
                                      hint: "list instances with `sluice instance list`")
        }
        return r
    }

    static func parametersJSON(_ p: [String: String]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(p)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    private static func upsert(_ c: SQLiteConnection, _ n: NewInstance, status: InstanceStatus, now: Int64,
                               updateDescription: Bool) throws -> Int64 {
        let scheduled = SQLiteValue.integer(n.scheduledAt.epochMillis)
        if case .integer(let id)? = try c.scalar("SELECT id FROM instances WHERE job = ?1 AND scheduled_at_ms = ?2",
                                                 [.text(n.job), scheduled]) {
            if updateDescription {
                try c.run("""
                    UPDATE instances SET business_date = ?2, parameters = ?3, window_start_ms = ?4, window_end_ms = ?5,
                      partition = ?6 WHERE id = ?1
                    """, [.integer(id), n.businessDate.map(SQLiteValue.text) ?? .null, .text(parametersJSON(n.parameters)),
                          n.windowStart.map { .integer($0.epochMillis) } ?? .null,
                          n.windowEnd.map { .integer($0.epochMillis) } ?? .null, n.partition.map(SQLiteValue.text) ?? .null])
            }
            return id
        }
        try c.run("""
            INSERT INTO instances (job, scheduled_at_ms, business_date, parameters, window_start_ms, window_end_ms,
              partition, status, created_at_ms)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
            """, [.text(n.job), scheduled, n.businessDate.map(SQLiteValue.text) ?? .null, .text(parametersJSON(n.parameters)),
                  n.windowStart.map { .integer($0.epochMillis) } ?? .null, n.windowEnd.map { .integer($0.epochMillis) } ?? .null,
                  n.partition.map(SQLiteValue.text) ?? .null, .text(status.rawValue), .integer(now)])
        return c.lastInsertRowID
    }

    /// The instance for (`job`, `scheduledAt`), created with `status` when it does not exist yet.
    /// An existing instance is returned unchanged.
    public func ensureInstance(_ new: NewInstance, status: InstanceStatus = .pending) async throws -> InstanceRecord {
        try await write("creating an instance of \(new.job)") { c, now in
            let id = try Self.upsert(c, new, status: status, now: now, updateDescription: false)
            return try Self.requireInstance(c, id: id)
        }
    }

    /// Starts a run of the instance (`job`, `scheduledAt`), creating it if needed: status `running`,
    /// attempts + 1, counters, error and finish time cleared, parameters and window updated, and the
    /// dirty records of earlier attempts dropped. Returns the instance as started.
    public func startAttempt(_ new: NewInstance) async throws -> InstanceRecord {
        try await write("starting an instance of \(new.job)") { c, now in
            let id = try Self.upsert(c, new, status: .pending, now: now, updateDescription: true)
            return try Self.start(c, id: id, now: now)
        }
    }

    /// Starts attempt number `attempt` of the instance (`job`, `scheduledAt`) as `startAttempt(_:)` does,
    /// but only when it is the next one: the instance has had `attempt - 1` attempts and is not
    /// succeeded, killed or dry-run. Otherwise it throws a `.state` error and changes nothing. A run
    /// the scheduler launched uses it, so that an attempt is made once even when a crashed scheduler's
    /// orphaned run and the next scheduler's run of the same instance both reach this point.
    public func startAttempt(_ new: NewInstance, number attempt: Int) async throws -> InstanceRecord {
        try await write("starting attempt \(attempt) of an instance of \(new.job)") { c, now in
            if case .integer(let id)? = try c.scalar("SELECT id FROM instances WHERE job = ?1 AND scheduled_at_ms = ?2",
                                                     [.text(new.job), .integer(new.scheduledAt.epochMillis)]) {
                let r = try Self.requireInstance(c, id: id)
                if r.attempts != attempt - 1 || [.succeeded, .killed, .dryRun].contains(r.status) {
                    throw SluiceError(.state, "instance \(id) of \(new.job) has had \(r.attempts) attempt(s) and is \(r.status.rawValue): attempt \(attempt) is not started",
                                      hint: "another process ran it meanwhile (e.g. the run of a scheduler that crashed); see `sluice instance show \(id)`")
                }
            } else if attempt != 1 {
                throw SluiceError(.state, "there is no instance of \(new.job) for attempt \(attempt)")
            }
            let id = try Self.upsert(c, new, status: .pending, now: now, updateDescription: true)
            return try Self.start(c, id: id, now: now)
        }
    }

    /// Starts another run of an existing instance (a rerun), as `startAttempt(_:)` does.
    public func startAttempt(id: Int64) async throws -> InstanceRecord {
        try await write("starting instance \(id)") { c, now in
            _ = try Self.requireInstance(c, id: id)
            return try Self.start(c, id: id, now: now)
        }
    }

    private static func start(_ c: SQLiteConnection, id: Int64, now: Int64) throws -> InstanceRecord {
        try c.run("""
            UPDATE instances SET status = 'running', attempts = attempts + 1, started_at_ms = ?2, finished_at_ms = NULL,
              records_read = 0, records_written = 0, records_dirty = 0, records_late = 0, records_early = 0,
              records_skipped = 0, error = NULL, success_reason = NULL, error_code = NULL, error_retriable = NULL
            WHERE id = ?1
            """, [.integer(id), .integer(now)])
        try c.run("DELETE FROM dirty_records WHERE instance_id = ?1", [.integer(id)])
        return try requireInstance(c, id: id)
    }

    /// Records progress of a running instance.
    public func updateCounts(id: Int64, _ counts: InstanceCounts) async throws {
        try await write("updating instance \(id)") { c, _ in
            try Self.setCounts(c, id: id, counts)
        }
    }

    private static func setCounts(_ c: SQLiteConnection, id: Int64, _ k: InstanceCounts) throws {
        try c.run("""
            UPDATE instances SET records_read = ?2, records_written = ?3, records_dirty = ?4, records_late = ?5,
              records_early = ?6, records_skipped = ?7 WHERE id = ?1
            """, [.integer(id), .integer(k.read), .integer(k.written), .integer(k.dirty), .integer(k.late),
                  .integer(k.early), .integer(k.skipped)])
    }

    /// Ends an attempt: `succeeded`, `failed` (with `error`), `killed` or `dryRun`, with its final counts.
    @discardableResult
    public func finish(id: Int64, status: InstanceStatus, counts: InstanceCounts, error: String? = nil,
                       failure: (code: String, retriable: Bool)? = nil) async throws -> InstanceRecord {
        guard status.isFinal else {
            throw SluiceError.invalid("an instance cannot finish as \(status.rawValue)")
        }
        return try await write("finishing instance \(id)") { c, now in
            _ = try Self.requireInstance(c, id: id)
            try Self.setCounts(c, id: id, counts)
            try c.run("""
                UPDATE instances SET status = ?2, finished_at_ms = ?3, error = ?4, error_code = ?5, error_retriable = ?6
                WHERE id = ?1
                """, [.integer(id), .text(status.rawValue), .integer(now), error.map(SQLiteValue.text) ?? .null,
                      failure.map { .text($0.code) } ?? .null, failure.map { .integer($0.retriable ? 1 : 0) } ?? .null])
            return try Self.requireInstance(c, id: id)
        }
    }

    /// Sets the status without a run: `pending`, `waiting`, `killed`, `failed` (e.g. a paused job's
    /// instance, with `error` saying why) or `dryRun`. Final statuses set the finish time.
    @discardableResult
    public func setStatus(id: Int64, _ status: InstanceStatus, error: String? = nil) async throws -> InstanceRecord {
        try await write("updating instance \(id)") { c, now in
            _ = try Self.requireInstance(c, id: id)
            try c.run("UPDATE instances SET status = ?2, finished_at_ms = ?3, error = COALESCE(?4, error) WHERE id = ?1",
                      [.integer(id), .text(status.rawValue), status.isFinal ? .integer(now) : .null,
                       error.map(SQLiteValue.text) ?? .null])
            return try Self.requireInstance(c, id: id)
        }
    }

    /// Marks an instance successful by hand (`sluice instance set-success`), recording why. Refused while it runs.
    @discardableResult
    public func setSuccess(id: Int64, reason: String) async throws -> InstanceRecord {
        try await write("setting instance \(id) to success") { c, now in
            let r = try Self.requireInstance(c, id: id)
            if r.status == .running {
                throw SluiceError.invalid("instance \(id) of \(r.job) is running", hint: "kill it first, or wait for it to end")
            }
            try c.run("UPDATE instances SET status = 'succeeded', success_reason = ?2, finished_at_ms = ?3 WHERE id = ?1",
                      [.integer(id), .text(reason), .integer(now)])
            return try Self.requireInstance(c, id: id)
        }
    }

    public func instance(id: Int64) async throws -> InstanceRecord? {
        try await read("reading instance \(id)") { c in try Self.fetchInstance(c, id: id) }
    }

    public func instance(job: String, scheduledAt: Date) async throws -> InstanceRecord? {
        try await read("reading an instance of \(job)") { c in
            try c.query("SELECT \(Self.instanceColumns) FROM instances WHERE job = ?1 AND scheduled_at_ms = ?2",
                        [.text(job), .integer(scheduledAt.epochMillis)]).first.map(Self.decodeInstance)
        }
    }

    /// The instance of `job` with the latest scheduled time, if any.
    public func latestInstance(job: String) async throws -> InstanceRecord? {
        try await read("reading the latest instance of \(job)") { c in
            try c.query("SELECT \(Self.instanceColumns) FROM instances WHERE job = ?1 ORDER BY scheduled_at_ms DESC LIMIT 1",
                        [.text(job)]).first.map(Self.decodeInstance)
        }
    }

    /// Instances by scheduled time (oldest first), filtered by job, status and a scheduled-time range
    /// `[from, to)`.
    public func instances(job: String? = nil, status: InstanceStatus? = nil, scheduledFrom: Date? = nil,
                          scheduledBefore: Date? = nil, limit: Int? = nil) async throws -> [InstanceRecord] {
        try await read("listing instances") { c in
            var conds: [String] = []
            var binds: [SQLiteValue] = []
            if let job { binds.append(.text(job)); conds.append("job = ?\(binds.count)") }
            if let status { binds.append(.text(status.rawValue)); conds.append("status = ?\(binds.count)") }
            if let scheduledFrom { binds.append(.integer(scheduledFrom.epochMillis)); conds.append("scheduled_at_ms >= ?\(binds.count)") }
            if let scheduledBefore { binds.append(.integer(scheduledBefore.epochMillis)); conds.append("scheduled_at_ms < ?\(binds.count)") }
            var sql = "SELECT \(Self.instanceColumns) FROM instances"
            if !conds.isEmpty { sql += " WHERE " + conds.joined(separator: " AND ") }
            sql += " ORDER BY scheduled_at_ms, id"
            if let limit { sql += " LIMIT \(max(0, limit))" }
            return try c.query(sql, binds).map(Self.decodeInstance)
        }
    }

    // MARK: plans

    /// Stores the instance's plan before anything is read, replacing an earlier plan (and the read
    /// ends recorded with it). The plan is kept as it is (JSON); its offsets also go into columns,
    /// for the queries of `contiguous` windows.
    public func storePlan(id: Int64, plan: InstancePlan) async throws {
        let json = try Self.json(plan)
        let w = plan.window
        try await write("storing the plan of instance \(id)") { c, _ in
            _ = try Self.requireInstance(c, id: id)
            try c.run("DELETE FROM plans WHERE instance_id = ?1", [.integer(id)])
            try c.run("""
                INSERT INTO plans (instance_id, topic, window_mode, planned_at_ms, window_start_ms, window_end_ms, partition_count,
                  instance_plan)
                VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                """, [.integer(id), .text(w.topic), .text(plan.windowMode.rawValue), .integer(w.plannedAtMillis),
                      w.startMillis.map(SQLiteValue.integer) ?? .null, w.endMillis.map(SQLiteValue.integer) ?? .null,
                      .integer(Int64(w.topicPartitionCount)), .text(json)])
            for p in w.partitions {
                try c.run("""
                    INSERT INTO plan_offsets (instance_id, partition, from_offset, to_offset, low_watermark, high_watermark,
                      read_to_offset)
                    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                    """, [.integer(id), .integer(Int64(p.partition)), .integer(p.fromOffset), .integer(p.toOffset),
                          .integer(p.lowWatermark), .integer(p.highWatermark),
                          plan.readEnds[p.partition].map(SQLiteValue.integer) ?? .null])
            }
        }
    }

    static func fetchPlan(_ c: SQLiteConnection, id: Int64) throws -> InstancePlan? {
        guard let head = try c.query("""
            SELECT topic, window_mode, planned_at_ms, window_start_ms, window_end_ms, partition_count, instance_plan
            FROM plans WHERE instance_id = ?1
            """, [.integer(id)]).first else { return nil }
        var partitions: [PartitionPlan] = []
        var ends: [Int32: Int64] = [:]
        for r in try c.query("""
            SELECT partition, from_offset, to_offset, low_watermark, high_watermark, read_to_offset
            FROM plan_offsets WHERE instance_id = ?1 ORDER BY partition
            """, [.integer(id)]) {
            func int(_ i: Int) -> Int64? { if case .integer(let v) = r[i] { v } else { nil } }
            let p = Int32(truncatingIfNeeded: int(0) ?? 0), from = int(1) ?? 0, to = int(2) ?? 0
            partitions.append(PartitionPlan(partition: p, fromOffset: from, toOffset: to, lowWatermark: int(3) ?? from,
                                            highWatermark: int(4) ?? to))
            if let end = int(5) { ends[p] = end }
        }
        // The read ends live in their column: they are recorded after the plan.
        if case .text(let json) = head[6], var plan = try? JSONDecoder().decode(InstancePlan.self, from: Data(json.utf8)) {
            plan.readEnds = ends
            return plan
        }
        // A plan stored before plans were kept whole: rebuilt from its columns and its instance.
        func int(_ i: Int) -> Int64? { if case .integer(let v) = head[i] { v } else { nil } }
        let instance = try requireInstance(c, id: id)
        let mode: WindowMode = if case .text(let t) = head[1] { WindowMode(rawValue: t) ?? .offsets } else { .offsets }
        let topic: String = if case .text(let t) = head[0] { t } else { "" }
        let window = WindowPlan(topic: topic, startMillis: int(3), endMillis: int(4), plannedAtMillis: int(2) ?? 0,
                                topicPartitionCount: int(5).map { Int32(truncatingIfNeeded: $0) } ?? Int32(partitions.count),
                                partitions: partitions)
        return InstancePlan(job: instance.job, scheduledTime: Int64(instance.scheduledAt.timeIntervalSince1970.rounded()),
                            businessDate: instance.businessDate ?? "", parameters: instance.parameters,
                            partition: instance.partition ?? "", windowMode: mode, window: window, readEnds: ends)
    }

    /// The instance's stored plan, if one was stored.
    public func plan(id: Int64) async throws -> InstancePlan? {
        try await read("reading the plan of instance \(id)") { c in try Self.fetchPlan(c, id: id) }
    }

    /// Records, per partition, the offset after the last record the instance actually read.
    /// Partitions must be in the stored plan.
    public func recordReadEnds(id: Int64, _ ends: [Int32: Int64]) async throws {
        try await write("recording the offsets read by instance \(id)") { c, _ in
            for (p, end) in ends {
                try c.run("UPDATE plan_offsets SET read_to_offset = ?3 WHERE instance_id = ?1 AND partition = ?2",
                          [.integer(id), .integer(Int64(p)), .integer(end)])
                if c.changes == 0 {
                    throw SluiceError(.state, "instance \(id) has no planned offsets for partition \(p)")
                }
            }
        }
    }

    /// Where the previous successful run of `job` ended, per partition: the most recent instance
    /// scheduled before `before` whose status is `succeeded` and that has a stored plan, with the
    /// offsets it read to (the planned `to` where no read end was recorded). This is where a
    /// `contiguous` window starts. Nil when there is none.
    public func previousSuccessfulEnd(job: String, before: Date) async throws -> (instance: InstanceRecord, ends: [Int32: Int64])? {
        try await read("finding the previous successful instance of \(job)") { c in
            guard let r = try c.query("""
                SELECT \(Self.instanceColumns.split(separator: ",").map { "i." + $0.trimmingCharacters(in: .whitespacesAndNewlines) }.joined(separator: ", "))
                FROM instances i JOIN plans p ON p.instance_id = i.id
                WHERE i.job = ?1 AND i.status = 'succeeded' AND i.scheduled_at_ms < ?2
                ORDER BY i.scheduled_at_ms DESC LIMIT 1
                """, [.text(job), .integer(before.epochMillis)]).first else { return nil }
            let instance = Self.decodeInstance(r)
            var ends: [Int32: Int64] = [:]
            for row in try c.query("""
                SELECT partition, COALESCE(read_to_offset, to_offset) FROM plan_offsets WHERE instance_id = ?1
                """, [.integer(instance.id)]) {
                if case .integer(let p) = row[0], case .integer(let e) = row[1] { ends[Int32(truncatingIfNeeded: p)] = e }
            }
            return (instance, ends)
        }
    }

    // MARK: dirty records

    /// Stores dirty records of the instance's current attempt, up to the per-instance limit.
    /// Returns how many were stored (the rest are only counted, by the caller, in `InstanceCounts`).
    @discardableResult
    public func addDirtyRecords(id: Int64, _ records: [LedgerDirtyRecord]) async throws -> Int {
        let limits = self.limits
        return try await write("storing dirty records of instance \(id)") { c, _ in
            let instance = try Self.requireInstance(c, id: id)
            guard case .integer(let have)? = try c.scalar("SELECT COUNT(*) FROM dirty_records WHERE instance_id = ?1",
                                                          [.integer(id)]) else { return 0 }
            let room = max(0, limits.dirtyRecordsPerInstance - Int(have))
            for d in records.prefix(room) {
                func bounded(_ b: [UInt8]?) -> SQLiteValue { b.map { .blob(Array($0.prefix(limits.dirtyBytesPerField))) } ?? .null }
                try c.run("""
                    INSERT INTO dirty_records (instance_id, attempt, partition, record_offset, timestamp_ms, column_name,
                      reason, key, value, key_length, value_length)
                    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                    """, [.integer(id), .integer(Int64(instance.attempts)), .integer(Int64(d.partition)), .integer(d.offset),
                          .integer(d.timestampMillis), d.column.map(SQLiteValue.text) ?? .null,
                          .text(Self.bounded(d.reason, limits.logMessageBytes)), bounded(d.key), bounded(d.value),
                          (d.keyLength ?? d.key?.count).map { .integer(Int64($0)) } ?? .null,
                          (d.valueLength ?? d.value?.count).map { .integer(Int64($0)) } ?? .null])
            }
            return min(room, records.count)
        }
    }

    /// The stored dirty records of the instance, in the order they were stored.
    public func dirtyRecords(id: Int64, limit: Int? = nil) async throws -> [LedgerDirtyRecord] {
        try await read("reading dirty records of instance \(id)") { c in
            var sql = """
                SELECT partition, record_offset, timestamp_ms, column_name, reason, key, value, key_length, value_length
                FROM dirty_records WHERE instance_id = ?1 ORDER BY id
                """
            if let limit { sql += " LIMIT \(max(0, limit))" }
            return try c.query(sql, [.integer(id)]).map { r in
                func int(_ i: Int) -> Int64? { if case .integer(let v) = r[i] { v } else { nil } }
                func blob(_ i: Int) -> [UInt8]? { if case .blob(let v) = r[i] { v } else if r[i] == .null { nil } else { [] } }
                var d = LedgerDirtyRecord(partition: Int32(truncatingIfNeeded: int(0) ?? 0), offset: int(1) ?? 0,
                                    timestampMillis: int(2) ?? 0,
                                    column: { if case .text(let t) = r[3] { t } else { nil } }(),
                                    reason: { if case .text(let t) = r[4] { t } else { "" } }(),
                                    key: blob(5), value: blob(6))
                d.keyLength = int(7).map(Int.init)
                d.valueLength = int(8).map(Int.init)
                return d
            }
        }
    }

    // MARK: logs

    /// Appends lines to the instance's log (tagged with its current attempt), keeping at most
    /// `limits.logLinesPerInstance` lines, each cut to `limits.logMessageBytes`.
    public func appendLog(id: Int64, level: InstanceLogLine.Level = .info, _ messages: [String]) async throws {
        let limits = self.limits
        try await write("writing the log of instance \(id)") { c, now in
            let instance = try Self.requireInstance(c, id: id)
            for m in messages {
                let bounded = Self.bounded(m, limits.logMessageBytes)
                try c.run("INSERT INTO instance_logs (instance_id, attempt, at_ms, level, message) VALUES (?1, ?2, ?3, ?4, ?5)",
                          [.integer(id), .integer(Int64(instance.attempts)), .integer(now), .text(level.rawValue), .text(bounded)])
            }
            try c.run("""
                DELETE FROM instance_logs WHERE instance_id = ?1 AND id <= (
                  SELECT id FROM instance_logs WHERE instance_id = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)
                """, [.integer(id), .integer(Int64(limits.logLinesPerInstance))])
        }
    }

    public func appendLog(id: Int64, level: InstanceLogLine.Level = .info, _ message: String) async throws {
        try await appendLog(id: id, level: level, [message])
    }

    static func bounded(_ s: String, _ bytes: Int) -> String {
        s.utf8.count <= bytes ? s : String(decoding: s.utf8.prefix(bytes), as: UTF8.self) + " …"
    }

    /// The instance's kept log, oldest line first.
    public func log(id: Int64) async throws -> [InstanceLogLine] {
        try await read("reading the log of instance \(id)") { c in
            try c.query("SELECT at_ms, attempt, level, message FROM instance_logs WHERE instance_id = ?1 ORDER BY id",
                        [.integer(id)]).map { r in
                func int(_ i: Int) -> Int64 { if case .integer(let v) = r[i] { v } else { 0 } }
                func text(_ i: Int) -> String { if case .text(let v) = r[i] { v } else { "" } }
                return InstanceLogLine(at: Date(epochMillis: int(0)), attempt: Int(int(1)),
                                       level: InstanceLogLine.Level(rawValue: text(2)) ?? .info, message: text(3))
            }
        }
    }
}
