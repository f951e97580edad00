import SluiceCore
import SluiceSQLite

/// Every version of the ledger's schema, in order. A migration is never edited once released:
/// changes are new entries. `PRAGMA user_version` holds the version a ledger file is at.
enum LedgerMigrations {
    static let all: [(version: Int, sql: String)] = [
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
    ]

    static var latest: Int { all.last?.version ?? 0 }

    /// Brings the ledger at `c` to the latest version, one transaction per migration.
    static func migrate(_ c: SQLiteConnection, path: String) throws {
        guard case .integer(let v)? = try c.scalar("PRAGMA user_version") else { return }
        let current = Int(v)
        if current > latest {
            throw SluiceError(.state, "the ledger \(path) is at schema version \(current), newer than this sluice knows (\(latest))",
                              hint: "use a newer sluice, or another --state-dir")
        }
        for m in all where m.version > current {
            try c.transaction(.immediate) {
                // Another process may have migrated while we waited for the lock.
                guard case .integer(let now)? = try c.scalar("PRAGMA user_version"), now < m.version else { return }
                try c.execute(m.sql)
                try c.execute("PRAGMA user_version = \(m.version)")
            }
        }
    }
}
