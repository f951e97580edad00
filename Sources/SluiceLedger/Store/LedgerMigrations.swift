import Foundation
import SluiceCore
import SluiceSQLite

/// Every version of the ledger's schema, for both stores, in one place. A migration is never edited
/// once released: changes are new entries, added to both lists with the same version number.
///
/// SQLite keeps its version in `PRAGMA user_version`; PostgreSQL in `ledger_meta` (`schema_version`).
/// PostgreSQL ledgers start at version 7, whose one migration creates the whole schema of that version.
enum LedgerMigrations {
    static let sqlite: [(version: Int, sql: String)] = [
        (1, """
        CREATE TABLE instances (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          job TEXT NOT NULL,
          scheduled_at_ms INTEGER NOT NULL,
          business_date TEXT,
          parameters TEXT NOT NULL DEFAULT '{}',
          window_start_ms INTEGER,
          window_end_ms INTEGER,
          partition TEXT,
          status TEXT NOT NULL CHECK (status IN ('pending','waiting','running','succeeded','failed','killed','dryRun')),
          attempts INTEGER NOT NULL DEFAULT 0,
          created_at_ms INTEGER NOT NULL,
          started_at_ms INTEGER,
          finished_at_ms INTEGER,
          records_read INTEGER NOT NULL DEFAULT 0,
          records_written INTEGER NOT NULL DEFAULT 0,
          records_dirty INTEGER NOT NULL DEFAULT 0,
          records_late INTEGER NOT NULL DEFAULT 0,
          records_early INTEGER NOT NULL DEFAULT 0,
          records_skipped INTEGER NOT NULL DEFAULT 0,
          error TEXT,
          success_reason TEXT,
          UNIQUE (job, scheduled_at_ms)
        );
        CREATE INDEX instances_by_status ON instances (status, scheduled_at_ms);
        CREATE TABLE plans (
          instance_id INTEGER PRIMARY KEY REFERENCES instances (id) ON DELETE CASCADE,
          topic TEXT NOT NULL,
          window_mode TEXT,
          planned_at_ms INTEGER NOT NULL,
          window_start_ms INTEGER,
          window_end_ms INTEGER,
          partition_count INTEGER
        );
        CREATE TABLE plan_offsets (
          instance_id INTEGER NOT NULL REFERENCES plans (instance_id) ON DELETE CASCADE,
          partition INTEGER NOT NULL,
          from_offset INTEGER NOT NULL,
          to_offset INTEGER NOT NULL,
          low_watermark INTEGER,
          high_watermark INTEGER,
          read_to_offset INTEGER,
          PRIMARY KEY (instance_id, partition)
        );
        CREATE TABLE dirty_records (
          id INTEGER PRIMARY KEY,
          instance_id INTEGER NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
          attempt INTEGER NOT NULL,
          partition INTEGER NOT NULL,
          record_offset INTEGER NOT NULL,
          timestamp_ms INTEGER NOT NULL,
          column_name TEXT,
          reason TEXT NOT NULL,
          key BLOB,
          value BLOB,
          key_length INTEGER,
          value_length INTEGER
        );
        CREATE INDEX dirty_records_by_instance ON dirty_records (instance_id, id);
        CREATE TABLE instance_logs (
          id INTEGER PRIMARY KEY,
          instance_id INTEGER NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
          attempt INTEGER NOT NULL,
          at_ms INTEGER NOT NULL,
          level TEXT NOT NULL,
          message TEXT NOT NULL
        );
        CREATE INDEX instance_logs_by_instance ON instance_logs (instance_id, id);
        """),
        // The scheduler: automatic-retry times, why an instance was skipped, the job files it runs.
        (2, """
        ALTER TABLE instances ADD COLUMN retry_at_ms INTEGER;
        ALTER TABLE instances ADD COLUMN skip_reason TEXT;
        CREATE TABLE jobs (
          job TEXT PRIMARY KEY,
          path TEXT NOT NULL,
          first_seen_ms INTEGER NOT NULL,
          updated_at_ms INTEGER NOT NULL
        );
        """),
        // The attempt the scheduler launched and has not yet seen end (settled after a crash).
        (3, """
        ALTER TABLE instances ADD COLUMN claimed_attempt INTEGER;
        """),
        // The ledger's own id (destinations tag writes with it), and each attempt's commit, recorded
        // before the destination's commit so that an attempt killed meanwhile can be settled.
        (4, """
        CREATE TABLE ledger_meta (
          key TEXT PRIMARY KEY,
          value TEXT NOT NULL
        );
        INSERT INTO ledger_meta (key, value) VALUES ('ledger_id', lower(hex(randomblob(16))));
        CREATE TABLE commits (
          instance_id INTEGER NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
          attempt INTEGER NOT NULL,
          mode TEXT NOT NULL,
          destination TEXT NOT NULL,
          partition TEXT NOT NULL,
          token TEXT,
          counts TEXT NOT NULL,
          read_ends TEXT NOT NULL,
          prepared_at_ms INTEGER NOT NULL,
          committed_at_ms INTEGER,
          PRIMARY KEY (instance_id, attempt)
        );
        """),
        // The instance's plan as the planner made it (JSON of `InstancePlan`), replayed as it is.
        (5, """
        ALTER TABLE plans ADD COLUMN instance_plan TEXT;
        """),
        // Whether a failed attempt may succeed when run again (the scheduler retries only those),
        // and its error's code.
        (6, """
        ALTER TABLE instances ADD COLUMN error_retriable INTEGER;
        ALTER TABLE instances ADD COLUMN error_code TEXT;
        """),
        // Claims with a lease (several schedulers on one ledger), why an instance waits, and each
        // attempt with who launched it.
        (7, """
        ALTER TABLE instances ADD COLUMN claimed_by TEXT;
        ALTER TABLE instances ADD COLUMN lease_until_ms INTEGER;
        ALTER TABLE instances ADD COLUMN wait_reason TEXT;
        CREATE TABLE attempts (
          instance_id INTEGER NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
          attempt INTEGER NOT NULL,
          launched_by TEXT NOT NULL,
          host TEXT NOT NULL,
          pid INTEGER NOT NULL,
          started_at_ms INTEGER NOT NULL,
          finished_at_ms INTEGER,
          status TEXT NOT NULL,
          error TEXT,
          PRIMARY KEY (instance_id, attempt)
        );
        """),
        // Actions people took (who, when, what) for the console, what each attempt measured (record
        // counts, bytes read, seconds per phase) for /metrics, and the index the newest-first pages use.
        (8, """
        CREATE TABLE actions (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          at_ms INTEGER NOT NULL,
          actor TEXT NOT NULL,
          action TEXT NOT NULL,
          instance_id INTEGER,
          job TEXT,
          detail TEXT,
          outcome TEXT NOT NULL
        );
        CREATE INDEX actions_by_job ON actions (job, id);
        CREATE INDEX actions_by_instance ON actions (instance_id, id);
        ALTER TABLE attempts ADD COLUMN records_read INTEGER;
        ALTER TABLE attempts ADD COLUMN records_written INTEGER;
        ALTER TABLE attempts ADD COLUMN records_dirty INTEGER;
        ALTER TABLE attempts ADD COLUMN records_late INTEGER;
        ALTER TABLE attempts ADD COLUMN bytes_read INTEGER;
        ALTER TABLE attempts ADD COLUMN phases_ms TEXT;
        CREATE INDEX instances_by_time ON instances (scheduled_at_ms, id);
        """),
        // Sharded instances: an attempt's shards, each claimed by a worker with a lease and a fence
        // (the claim's number), and what it read and wrote.
        (9, """
        CREATE TABLE shard_sets (
          instance_id INTEGER NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
          attempt INTEGER NOT NULL,
          job TEXT NOT NULL,
          spec TEXT NOT NULL,
          status TEXT NOT NULL CHECK (status IN ('open','closed')),
          created_at_ms INTEGER NOT NULL,
          PRIMARY KEY (instance_id, attempt)
        );
        CREATE TABLE shards (
          instance_id INTEGER NOT NULL,
          attempt INTEGER NOT NULL,
          shard INTEGER NOT NULL,
          plan TEXT NOT NULL,
          status TEXT NOT NULL CHECK (status IN ('pending','running','done','failed')),
          worker TEXT,
          fence INTEGER NOT NULL DEFAULT 0,
          lease_until_ms INTEGER,
          started_at_ms INTEGER,
          finished_at_ms INTEGER,
          result TEXT,
          error TEXT,
          PRIMARY KEY (instance_id, attempt, shard),
          FOREIGN KEY (instance_id, attempt) REFERENCES shard_sets (instance_id, attempt) ON DELETE CASCADE
        );
        CREATE INDEX shards_by_status ON shards (status, instance_id, attempt, shard);
        """),
    ]

    static let postgres: [(version: Int, sql: String)] = [
        (7, """
        CREATE TABLE instances (
          id BIGSERIAL PRIMARY KEY,
          job TEXT NOT NULL,
          scheduled_at_ms BIGINT NOT NULL,
          business_date TEXT,
          parameters TEXT NOT NULL DEFAULT '{}',
          window_start_ms BIGINT,
          window_end_ms BIGINT,
          partition TEXT,
          status TEXT NOT NULL CHECK (status IN ('pending','waiting','running','succeeded','failed','killed','dryRun')),
          attempts BIGINT NOT NULL DEFAULT 0,
          created_at_ms BIGINT NOT NULL,
          started_at_ms BIGINT,
          finished_at_ms BIGINT,
          records_read BIGINT NOT NULL DEFAULT 0,
          records_written BIGINT NOT NULL DEFAULT 0,
          records_dirty BIGINT NOT NULL DEFAULT 0,
          records_late BIGINT NOT NULL DEFAULT 0,
          records_early BIGINT NOT NULL DEFAULT 0,
          records_skipped BIGINT NOT NULL DEFAULT 0,
          error TEXT,
          success_reason TEXT,
          retry_at_ms BIGINT,
          skip_reason TEXT,
          claimed_attempt BIGINT,
          error_retriable BIGINT,
          error_code TEXT,
          claimed_by TEXT,
          lease_until_ms BIGINT,
          wait_reason TEXT,
          UNIQUE (job, scheduled_at_ms)
        );
        CREATE INDEX instances_by_status ON instances (status, scheduled_at_ms);
        CREATE TABLE plans (
          instance_id BIGINT PRIMARY KEY REFERENCES instances (id) ON DELETE CASCADE,
          topic TEXT NOT NULL,
          window_mode TEXT,
          planned_at_ms BIGINT NOT NULL,
          window_start_ms BIGINT,
          window_end_ms BIGINT,
          partition_count BIGINT,
          instance_plan TEXT
        );
        CREATE TABLE plan_offsets (
          instance_id BIGINT NOT NULL REFERENCES plans (instance_id) ON DELETE CASCADE,
          partition BIGINT NOT NULL,
          from_offset BIGINT NOT NULL,
          to_offset BIGINT NOT NULL,
          low_watermark BIGINT,
          high_watermark BIGINT,
          read_to_offset BIGINT,
          PRIMARY KEY (instance_id, partition)
        );
        CREATE TABLE dirty_records (
          id BIGSERIAL PRIMARY KEY,
          instance_id BIGINT NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
          attempt BIGINT NOT NULL,
          partition BIGINT NOT NULL,
          record_offset BIGINT NOT NULL,
          timestamp_ms BIGINT NOT NULL,
          column_name TEXT,
          reason TEXT NOT NULL,
          key BYTEA,
          value BYTEA,
          key_length BIGINT,
          value_length BIGINT
        );
        CREATE INDEX dirty_records_by_instance ON dirty_records (instance_id, id);
        CREATE TABLE instance_logs (
          id BIGSERIAL PRIMARY KEY,
          instance_id BIGINT NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
          attempt BIGINT NOT NULL,
          at_ms BIGINT NOT NULL,
          level TEXT NOT NULL,
          message TEXT NOT NULL
        );
        CREATE INDEX instance_logs_by_instance ON instance_logs (instance_id, id);
        CREATE TABLE jobs (
          job TEXT PRIMARY KEY,
          path TEXT NOT NULL,
          first_seen_ms BIGINT NOT NULL,
          updated_at_ms BIGINT NOT NULL
        );
        CREATE TABLE commits (
          instance_id BIGINT NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
          attempt BIGINT NOT NULL,
          mode TEXT NOT NULL,
          destination TEXT NOT NULL,
          partition TEXT NOT NULL,
          token TEXT,
          counts TEXT NOT NULL,
          read_ends TEXT NOT NULL,
          prepared_at_ms BIGINT NOT NULL,
          committed_at_ms BIGINT,
          PRIMARY KEY (instance_id, attempt)
        );
        CREATE TABLE attempts (
          instance_id BIGINT NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
          attempt BIGINT NOT NULL,
          launched_by TEXT NOT NULL,
          host TEXT NOT NULL,
          pid BIGINT NOT NULL,
          started_at_ms BIGINT NOT NULL,
          finished_at_ms BIGINT,
          status TEXT NOT NULL,
          error TEXT,
          PRIMARY KEY (instance_id, attempt)
        );
        CREATE TABLE run_locks (
          lock_key BIGINT PRIMARY KEY,
          job TEXT NOT NULL,
          partition TEXT NOT NULL,
          instance_id TEXT,
          host TEXT NOT NULL,
          pid BIGINT NOT NULL,
          acquired_at_ms BIGINT NOT NULL
        );
        """),
        // Actions people took (who, when, what) for the console, what each attempt measured (record
        // counts, bytes read, seconds per phase) for /metrics, and the index the newest-first pages use.
        (8, """
        CREATE TABLE actions (
          id BIGSERIAL PRIMARY KEY,
          at_ms BIGINT NOT NULL,
          actor TEXT NOT NULL,
          action TEXT NOT NULL,
          instance_id BIGINT,
          job TEXT,
          detail TEXT,
          outcome TEXT NOT NULL
        );
        CREATE INDEX actions_by_job ON actions (job, id);
        CREATE INDEX actions_by_instance ON actions (instance_id, id);
        ALTER TABLE attempts ADD COLUMN records_read BIGINT;
        ALTER TABLE attempts ADD COLUMN records_written BIGINT;
        ALTER TABLE attempts ADD COLUMN records_dirty BIGINT;
        ALTER TABLE attempts ADD COLUMN records_late BIGINT;
        ALTER TABLE attempts ADD COLUMN bytes_read BIGINT;
        ALTER TABLE attempts ADD COLUMN phases_ms TEXT;
        CREATE INDEX instances_by_time ON instances (scheduled_at_ms, id);
        """),
        // Sharded instances: an attempt's shards, each claimed by a worker with a lease and a fence
        // (the claim's number), and what it read and wrote.
        (9, """
        CREATE TABLE shard_sets (
          instance_id BIGINT NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
          attempt BIGINT NOT NULL,
          job TEXT NOT NULL,
          spec TEXT NOT NULL,
          status TEXT NOT NULL CHECK (status IN ('open','closed')),
          created_at_ms BIGINT NOT NULL,
          PRIMARY KEY (instance_id, attempt)
        );
        CREATE TABLE shards (
          instance_id BIGINT NOT NULL,
          attempt BIGINT NOT NULL,
          shard BIGINT NOT NULL,
          plan TEXT NOT NULL,
          status TEXT NOT NULL CHECK (status IN ('pending','running','done','failed')),
          worker TEXT,
          fence BIGINT NOT NULL DEFAULT 0,
          lease_until_ms BIGINT,
          started_at_ms BIGINT,
          finished_at_ms BIGINT,
          result TEXT,
          error TEXT,
          PRIMARY KEY (instance_id, attempt, shard),
          FOREIGN KEY (instance_id, attempt) REFERENCES shard_sets (instance_id, attempt) ON DELETE CASCADE
        );
        CREATE INDEX shards_by_status ON shards (status, instance_id, attempt, shard);
        """),
    ]

    static var latest: Int { sqlite.last?.version ?? 0 }

    static func newerSchema(_ description: String, _ version: Int, hint: String) -> SluiceError {
        SluiceError(.state, "the ledger \(description) is at schema version \(version), newer than this sluice knows (\(latest))",
                    hint: hint)
    }

    /// Brings the ledger file at `c` to the latest version, one transaction per migration; returns
    /// the ledger's id.
    static func migrateSQLite(_ c: SQLiteConnection, path: String) throws -> String {
        guard case .integer(let v)? = try c.scalar("PRAGMA user_version") else { return "" }
        if Int(v) > latest {
            throw newerSchema(path, Int(v), hint: "use a newer sluice, or another --state-dir")
        }
        for m in sqlite where m.version > Int(v) {
            try c.transaction(.immediate) {
                // Another process may have migrated while we waited for the lock.
                guard case .integer(let now)? = try c.scalar("PRAGMA user_version"), now < m.version else { return }
                try c.execute(m.sql)
                try c.execute("PRAGMA user_version = \(m.version)")
            }
        }
        guard case .text(let id)? = try c.scalar("SELECT value FROM ledger_meta WHERE key = 'ledger_id'") else {
            throw SluiceError(.state, "ledger \(path) has no id (ledger_meta)")
        }
        return id
    }

    /// The schema version of a PostgreSQL ledger (0 for an empty database).
    static func postgresVersion(_ c: any LedgerConnection) async throws -> Int64 {
        guard try await c.first("SELECT to_regclass('ledger_meta') IS NOT NULL AS present")?.int("present") == 1 else { return 0 }
        return try await c.first("SELECT value FROM ledger_meta WHERE key = 'schema_version'")?.text("value")
            .flatMap { Int64($0) } ?? 0
    }

    /// Brings a PostgreSQL ledger to the latest version inside the caller's transaction, holding an
    /// advisory lock so that processes starting together migrate once; returns the ledger's id.
    static func migratePostgres(_ c: any LedgerConnection, description: String) async throws -> String {
        try await c.execute("SELECT pg_advisory_xact_lock(7290123456789)")
        try await c.execute("CREATE TABLE IF NOT EXISTS ledger_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        let current = Int(try await postgresVersion(c))
        if current > latest {
            throw newerSchema(description, current, hint: "use a newer sluice, or another --ledger")
        }
        for m in postgres where m.version > current {
            // One statement at a time: the extended query protocol takes one per query.
            for statement in m.sql.split(separator: /;\s*(\n|$)/) where !statement.allSatisfy(\.isWhitespace) {
                try await c.execute(String(statement))
            }
        }
        try await c.execute("""
            INSERT INTO ledger_meta (key, value) VALUES ('schema_version', ?1)
            ON CONFLICT (key) DO UPDATE SET value = excluded.value
            """, [.text(String(latest))])
        try await c.execute("INSERT INTO ledger_meta (key, value) VALUES ('ledger_id', ?1) ON CONFLICT (key) DO NOTHING",
                            [.text(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased())])
        guard let id = try await c.first("SELECT value FROM ledger_meta WHERE key = 'ledger_id'")?.text("value") else {
            throw SluiceError(.state, "ledger \(description) has no id (ledger_meta)")
        }
        return id
    }
}
