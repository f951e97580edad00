import Foundation
import SluiceCore

/// The ledger's logic, written once over a `LedgerDatabase`: the same statements run on the SQLite
/// file and on PostgreSQL. Each method is one transaction (`write`) or one read.
public final class SQLLedger: Ledger {
    public let id: String
    public let limits: LedgerLimits
    public let origin: AttemptOrigin
    public let runLocks: any RunLocks
    let db: any LedgerDatabase
    let now: @Sendable () -> Date

    package init(db: any LedgerDatabase, id: String, limits: LedgerLimits, origin: AttemptOrigin, runLocks: any RunLocks,
                 now: @escaping @Sendable () -> Date) {
        self.db = db
        self.id = id
        self.limits = limits
        self.origin = origin
        self.runLocks = runLocks
        self.now = now
    }

    public var description: String { db.description }

    public func close() async { await db.close() }

    public func schemaVersion() async throws -> Int {
        try await guarded("reading the schema version") { try await db.schemaVersion() }
    }

    // MARK: transactions and errors

    func read<T: Sendable>(_ doing: String, _ body: @Sendable @escaping (any LedgerConnection) async throws -> T) async throws -> T {
        try await guarded(doing) { try await db.read(body) }
    }

    /// One transaction; `body` gets the connection and the clock's time in epoch milliseconds.
    func write<T: Sendable>(_ doing: String, _ body: @Sendable @escaping (any LedgerConnection, Int64) async throws -> T) async throws -> T {
        let nowMillis = now().epochMillis
        return try await guarded(doing) { try await db.write { try await body($0, nowMillis) } }
    }

    func guarded<T>(_ doing: String, _ body: () async throws -> T) async throws -> T {
        do { return try await body() } catch { throw LedgerErrors.describe(error, ledger: db.description, doing: doing) }
    }

    // MARK: instances

    static let instanceColumns = """
        id, job, scheduled_at_ms, business_date, parameters, window_start_ms, window_end_ms, partition, status,
        attempts, created_at_ms, started_at_ms, finished_at_ms, records_read, records_written, records_dirty,
        records_late, records_early, records_skipped, error, success_reason
        """

    static func decodeInstance(_ r: LedgerRow) -> InstanceRecord {
        let params = r.text("parameters").flatMap { try? JSONDecoder().decode([String: String].self, from: Data($0.utf8)) } ?? [:]
        let epoch = Date(timeIntervalSince1970: 0)
        return InstanceRecord(
            id: r.int("id") ?? 0, job: r.text("job") ?? "", scheduledAt: r.date("scheduled_at_ms") ?? epoch,
            businessDate: r.text("business_date"), parameters: params, windowStart: r.date("window_start_ms"),
            windowEnd: r.date("window_end_ms"), partition: r.text("partition"),
            status: InstanceStatus(rawValue: r.text("status") ?? "") ?? .pending, attempts: Int(r.int("attempts") ?? 0),
            createdAt: r.date("created_at_ms") ?? epoch, startedAt: r.date("started_at_ms"), finishedAt: r.date("finished_at_ms"),
            counts: InstanceCounts(read: r.int("records_read") ?? 0, written: r.int("records_written") ?? 0,
                                   dirty: r.int("records_dirty") ?? 0, late: r.int("records_late") ?? 0,
                                   early: r.int("records_early") ?? 0, skipped: r.int("records_skipped") ?? 0),
            error: r.text("error"), successReason: r.text("success_reason"))
    }

    static func instances(_ c: any LedgerConnection, where condition: String, _ binds: [LedgerValue],
                          suffix: String = "") async throws -> [InstanceRecord] {
        try await c.query("SELECT \(instanceColumns) FROM instances WHERE \(condition)\(suffix)", binds).map(decodeInstance)
    }

    static func fetchInstance(_ c: any LedgerConnection, id: Int64, suffix: String = "") async throws -> InstanceRecord? {
        try await instances(c, where: "id = ?1", [.integer(id)], suffix: suffix).first
    }

    static func requireInstance(_ c: any LedgerConnection, id: Int64, suffix: String = "") async throws -> InstanceRecord {
        guard let r = try await fetchInstance(c, id: id, suffix: suffix) else {
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

    static func json<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    private func upsert(_ c: any LedgerConnection, _ n: NewInstance, status: InstanceStatus, now: Int64,
                        updateDescription: Bool) async throws -> Int64 {
        let description: [LedgerValue] = [.optional(n.businessDate), .text(Self.parametersJSON(n.parameters)),
                                          .optional(n.windowStart), .optional(n.windowEnd), .optional(n.partition)]
        if let existing = try await c.first("SELECT id FROM instances WHERE job = ?1 AND scheduled_at_ms = ?2\(db.dialect.forUpdate)",
                                            [.text(n.job), .date(n.scheduledAt)])?.int("id") {
            if updateDescription {
                try await c.execute("""
                    UPDATE instances SET business_date = ?2, parameters = ?3, window_start_ms = ?4, window_end_ms = ?5,
                      partition = ?6 WHERE id = ?1
                    """, [.integer(existing)] + description)
            }
            return existing
        }
        // Two schedulers may create the same instance at once: the second insert does nothing.
        let inserted = try await c.first("""
            INSERT INTO instances (job, scheduled_at_ms, business_date, parameters, window_start_ms, window_end_ms,
              partition, status, created_at_ms)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
            ON CONFLICT (job, scheduled_at_ms) DO NOTHING
            RETURNING id
            """, [.text(n.job), .date(n.scheduledAt)] + description + [.text(status.rawValue), .integer(now)])
        if let id = inserted?.int("id") { return id }
        guard let id = try await c.first("SELECT id FROM instances WHERE job = ?1 AND scheduled_at_ms = ?2",
                                         [.text(n.job), .date(n.scheduledAt)])?.int("id") else {
            throw SluiceError(.state, "instance of \(n.job) at \(n.scheduledAt) could not be created")
        }
        return id
    }

    public func ensureInstance(_ new: NewInstance, status: InstanceStatus) async throws -> InstanceRecord {
        try await write("creating an instance of \(new.job)") { c, now in
            let id = try await self.upsert(c, new, status: status, now: now, updateDescription: false)
            return try await Self.requireInstance(c, id: id)
        }
    }

    public func startAttempt(_ new: NewInstance, number attempt: Int?) async throws -> InstanceRecord {
        try await write("starting \(attempt.map { "attempt \($0) of " } ?? "")an instance of \(new.job)") { c, now in
            if let attempt {
                try await self.checkNextAttempt(c, new, attempt)
            }
            let id = try await self.upsert(c, new, status: .pending, now: now, updateDescription: true)
            return try await self.start(c, id: id, now: now)
        }
    }

    /// Refuses attempt `attempt` unless it is the instance's next one and the instance may run.
    private func checkNextAttempt(_ c: any LedgerConnection, _ new: NewInstance, _ attempt: Int) async throws {
        let existing = try await Self.instances(c, where: "job = ?1 AND scheduled_at_ms = ?2",
                                                [.text(new.job), .date(new.scheduledAt)], suffix: db.dialect.forUpdate).first
        guard let r = existing else {
            if attempt != 1 { throw SluiceError(.state, "there is no instance of \(new.job) for attempt \(attempt)") }
            return
        }
        if r.attempts != attempt - 1 || [.succeeded, .killed, .dryRun].contains(r.status) {
            throw SluiceError(.state, "instance \(r.id) of \(new.job) has had \(r.attempts) attempt(s) and is \(r.status.rawValue): attempt \(attempt) is not started",
                              hint: "another process ran it meanwhile (e.g. the run of a scheduler that crashed); see `sluice instance show \(r.id)`")
        }
    }

    public func startAttempt(id: Int64) async throws -> InstanceRecord {
        try await write("starting instance \(id)") { c, now in
            _ = try await Self.requireInstance(c, id: id, suffix: self.db.dialect.forUpdate)
            return try await self.start(c, id: id, now: now)
        }
    }

    private func start(_ c: any LedgerConnection, id: Int64, now: Int64) async throws -> InstanceRecord {
        try await c.execute("""
            UPDATE instances SET status = 'running', attempts = attempts + 1, started_at_ms = ?2, finished_at_ms = NULL,
              records_read = 0, records_written = 0, records_dirty = 0, records_late = 0, records_early = 0,
              records_skipped = 0, error = NULL, success_reason = NULL, error_code = NULL, error_retriable = NULL,
              wait_reason = NULL
            WHERE id = ?1
            """, [.integer(id), .integer(now)])
        try await c.execute("DELETE FROM dirty_records WHERE instance_id = ?1", [.integer(id)])
        let r = try await Self.requireInstance(c, id: id)
        try await c.execute("""
            INSERT INTO attempts (instance_id, attempt, launched_by, host, pid, started_at_ms, status)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'running')
            ON CONFLICT (instance_id, attempt) DO UPDATE SET launched_by = excluded.launched_by, host = excluded.host,
              pid = excluded.pid, started_at_ms = excluded.started_at_ms, finished_at_ms = NULL, status = 'running',
              error = NULL
            """, [.integer(id), .integer(Int64(r.attempts)), .text(origin.launchedBy), .text(origin.host),
                  .integer(Int64(origin.pid)), .integer(now)])
        return r
    }

    public func updateCounts(id: Int64, _ counts: InstanceCounts) async throws {
        try await write("updating instance \(id)") { c, _ in try await Self.setCounts(c, id: id, counts) }
    }

    static func setCounts(_ c: any LedgerConnection, id: Int64, _ k: InstanceCounts) async throws {
        try await c.execute("""
            UPDATE instances SET records_read = ?2, records_written = ?3, records_dirty = ?4, records_late = ?5,
              records_early = ?6, records_skipped = ?7 WHERE id = ?1
            """, [.integer(id), .integer(k.read), .integer(k.written), .integer(k.dirty), .integer(k.late),
                  .integer(k.early), .integer(k.skipped)])
    }

    /// Ends the instance's current attempt in `attempts` with the instance's status, error and counts.
    static func endAttempt(_ c: any LedgerConnection, id: Int64, now: Int64) async throws {
        try await c.execute("""
            UPDATE attempts SET status = (SELECT status FROM instances WHERE id = ?1),
              error = (SELECT error FROM instances WHERE id = ?1), finished_at_ms = ?2,
              records_read = (SELECT records_read FROM instances WHERE id = ?1),
              records_written = (SELECT records_written FROM instances WHERE id = ?1),
              records_dirty = (SELECT records_dirty FROM instances WHERE id = ?1),
              records_late = (SELECT records_late FROM instances WHERE id = ?1)
            WHERE instance_id = ?1 AND attempt = (SELECT attempts FROM instances WHERE id = ?1) AND finished_at_ms IS NULL
            """, [.integer(id), .integer(now)])
    }

    @discardableResult
    public func finish(id: Int64, status: InstanceStatus, counts: InstanceCounts, error: String?,
                       failure: InstanceFailure?) async throws -> InstanceRecord {
        guard status.isFinal else {
            throw SluiceError.invalid("an instance cannot finish as \(status.rawValue)")
        }
        return try await write("finishing instance \(id)") { c, now in
            _ = try await Self.requireInstance(c, id: id, suffix: self.db.dialect.forUpdate)
            try await Self.setCounts(c, id: id, counts)
            try await c.execute("""
                UPDATE instances SET status = ?2, finished_at_ms = ?3, error = ?4, error_code = ?5, error_retriable = ?6
                WHERE id = ?1
                """, [.integer(id), .text(status.rawValue), .integer(now), .optional(error), .optional(failure?.code),
                      failure.map { .integer($0.retriable ? 1 : 0) } ?? .null])
            try await Self.endAttempt(c, id: id, now: now)
            return try await Self.requireInstance(c, id: id)
        }
    }

    @discardableResult
    public func setStatus(id: Int64, _ status: InstanceStatus, error: String?) async throws -> InstanceRecord {
        try await write("updating instance \(id)") { c, now in
            _ = try await Self.requireInstance(c, id: id, suffix: self.db.dialect.forUpdate)
            try await c.execute("UPDATE instances SET status = ?2, finished_at_ms = ?3, error = COALESCE(?4, error) WHERE id = ?1",
                                [.integer(id), .text(status.rawValue), status.isFinal ? .integer(now) : .null, .optional(error)])
            if status.isFinal { try await Self.endAttempt(c, id: id, now: now) }
            return try await Self.requireInstance(c, id: id)
        }
    }

    @discardableResult
    public func setSuccess(id: Int64, reason: String) async throws -> InstanceRecord {
        try await write("setting instance \(id) to success") { c, now in
            let r = try await Self.requireInstance(c, id: id, suffix: self.db.dialect.forUpdate)
            if r.status == .running {
                throw SluiceError.invalid("instance \(id) of \(r.job) is running", hint: "kill it first, or wait for it to end")
            }
            try await c.execute("UPDATE instances SET status = 'succeeded', success_reason = ?2, finished_at_ms = ?3 WHERE id = ?1",
                                [.integer(id), .text(reason), .integer(now)])
            return try await Self.requireInstance(c, id: id)
        }
    }

    public func instance(id: Int64) async throws -> InstanceRecord? {
        try await read("reading instance \(id)") { c in try await Self.fetchInstance(c, id: id) }
    }

    public func instance(job: String, scheduledAt: Date) async throws -> InstanceRecord? {
        try await read("reading an instance of \(job)") { c in
            try await Self.instances(c, where: "job = ?1 AND scheduled_at_ms = ?2", [.text(job), .date(scheduledAt)]).first
        }
    }

    public func latestInstance(job: String) async throws -> InstanceRecord? {
        try await read("reading the latest instance of \(job)") { c in
            try await Self.instances(c, where: "job = ?1", [.text(job)], suffix: " ORDER BY scheduled_at_ms DESC LIMIT 1").first
        }
    }

    /// The WHERE condition of `f` (without its order, limit and offset) and its binds.
    static func condition(_ f: InstanceFilter) -> (String, [LedgerValue]) {
        var conds = ["1 = 1"]
        var binds: [LedgerValue] = []
        func add(_ condition: (Int) -> String, _ value: LedgerValue) {
            binds.append(value)
            conds.append(condition(binds.count))
        }
        if let job = f.job { add({ "job = ?\($0)" }, .text(job)) }
        if let status = f.status { add({ "status = ?\($0)" }, .text(status.rawValue)) }
        if let from = f.scheduledFrom { add({ "scheduled_at_ms >= ?\($0)" }, .date(from)) }
        if let before = f.scheduledBefore { add({ "scheduled_at_ms < ?\($0)" }, .date(before)) }
        return (conds.joined(separator: " AND "), binds)
    }

    public func instances(_ f: InstanceFilter) async throws -> [InstanceRecord] {
        try await read("listing instances") { c in
            let (condition, binds) = Self.condition(f)
            var suffix = f.newestFirst ? " ORDER BY scheduled_at_ms DESC, id DESC" : " ORDER BY scheduled_at_ms, id"
            if let limit = f.limit { suffix += " LIMIT \(max(0, limit))" }
            if f.offset > 0 { suffix += (f.limit == nil && self.db.dialect == .sqlite ? " LIMIT -1" : "") + " OFFSET \(f.offset)" }
            return try await Self.instances(c, where: condition, binds, suffix: suffix)
        }
    }

    public func attempts(id: Int64) async throws -> [AttemptRecord] {
        try await read("reading the attempts of instance \(id)") { c in
            try await c.query("""
                SELECT attempt, launched_by, host, pid, started_at_ms, finished_at_ms, status, error
                FROM attempts WHERE instance_id = ?1 ORDER BY attempt
                """, [.integer(id)]).map { r in
                AttemptRecord(attempt: Int(r.int("attempt") ?? 0), launchedBy: r.text("launched_by") ?? "",
                              host: r.text("host") ?? "", pid: Int32(truncatingIfNeeded: r.int("pid") ?? 0),
                              startedAt: r.date("started_at_ms") ?? Date(timeIntervalSince1970: 0),
                              finishedAt: r.date("finished_at_ms"),
                              status: InstanceStatus(rawValue: r.text("status") ?? "") ?? .running, error: r.text("error"))
            }
        }
    }
}
