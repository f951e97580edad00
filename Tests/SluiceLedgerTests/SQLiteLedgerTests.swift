import Foundation
import SluiceCore
import SluiceSQLite
import SluiceTestSupport
import Testing
@testable import SluiceLedger

/// What only the embedded ledger does: a file in the state directory.
@Suite struct SQLiteLedgerTests {
    @Test func theLedgerIsAFileInTheStateDirectory() async throws {
        let dir = try TemporaryDirectory()
        _ = try await Ledgers.openSQLite(stateDirectory: dir.path + "/.sluice")
        #expect(FileManager.default.fileExists(atPath: dir.path + "/.sluice/ledger.db"))
        #expect(Ledgers.defaultStateDirectory(forJobFile: "/a/b/job.yaml") == "/a/b/.sluice")
        #expect(Ledgers.defaultStateDirectory(forJobFile: "job.yaml") == "./.sluice")
        #expect(try LedgerLocation.resolve(url: nil, stateDirectory: "/s", environment: [:]) == .stateDirectory("/s"))
    }

    /// A closed ledger leaves no write-ahead log for the next process to read back.
    @Test func closingCheckpointsAndRemovesTheWriteAheadLog() async throws {
        let dir = try TemporaryDirectory()
        let ledger = try await Ledgers.openSQLite(stateDirectory: dir.path)
        _ = try await ledger.ensureInstance(NewInstance(job: "j", scheduledAt: hour(1)))
        let wal = dir.path + "/ledger.db-wal"
        #expect(FileManager.default.fileExists(atPath: wal))
        await ledger.close()
        #expect(!FileManager.default.fileExists(atPath: wal))
        #expect(try await Ledgers.openSQLite(stateDirectory: dir.path).instances().count == 1)
    }

    @Test func refusesALedgerFromTheFuture() async throws {
        let dir = try TemporaryDirectory()
        let c = try SQLiteConnection(path: dir.path + "/ledger.db", options: SQLiteOpenOptions(mode: .readWrite(create: true)))
        try c.execute("PRAGMA user_version = 999")
        c.close()
        let e = await #expect(throws: SluiceError.self) { _ = try await Ledgers.openSQLite(stateDirectory: dir.path) }
        #expect(e?.kind == .state)
        #expect(e?.message.contains("newer") == true)
    }

    /// A ledger made by an earlier version (schema 6) is migrated on first use, keeping its rows.
    @Test func migratesAnOlderLedger() async throws {
        let dir = try TemporaryDirectory()
        let c = try SQLiteConnection(path: dir.path + "/ledger.db", options: SQLiteOpenOptions(mode: .readWrite(create: true)))
        for m in LedgerMigrations.sqlite where m.version <= 6 {
            try c.execute(m.sql)
        }
        try c.execute("PRAGMA user_version = 6")
        try c.execute("INSERT INTO instances (job, scheduled_at_ms, status, created_at_ms, claimed_attempt) VALUES ('old', 1000, 'running', 1, 2)")
        c.close()
        let ledger = try await Ledgers.openSQLite(stateDirectory: dir.path)
        #expect(try await ledger.schemaVersion() == LedgerMigrations.latest)
        let old = try #require(try await ledger.instances(job: "old").first)
        #expect(try await ledger.schedulingState(id: old.id).claimedAttempt == 2)
        #expect(try await ledger.attempts(id: old.id).isEmpty)
    }
}
