import Foundation
import Testing
import SluiceTestSupport
@testable import SluiceSQLite

@Suite struct SQLiteConnectionTests {
    @Test func bindsAndReadsEveryStorageClass() throws {
        let dir = try TemporaryDirectory()
        let c = try SQLiteConnection(path: dir.file("a.db"), options: SQLiteOpenOptions(mode: .readWrite(create: true)))
        try c.execute("CREATE TABLE t (a, b, c, d, e)")
        try c.run("INSERT INTO t VALUES (?1, ?2, ?3, ?4, ?5)",
                  [.null, .integer(-7), .real(2.5), .text("héllo"), .blob([0, 1, 255])])
        let r = try c.query("SELECT a, b, c, d, e FROM t")
        #expect(r == [[.null, .integer(-7), .real(2.5), .text("héllo"), .blob([0, 1, 255])]])
        #expect(try c.scalarText("PRAGMA journal_mode") == "wal")
    }

    @Test func aReleasedConnectionClosesAndCheckpoints() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("a.db")
        var c: SQLiteConnection? = try SQLiteConnection(path: path, options: SQLiteOpenOptions(mode: .readWrite(create: true)))
        try c?.execute("CREATE TABLE t (x)")
        try c?.run("INSERT INTO t VALUES (?1)", [.integer(1)])   // a cached statement
        #expect(FileManager.default.fileExists(atPath: path + "-wal"))
        weak let released = c
        c = nil
        // Cached statements do not keep the connection alive: the last connection's close
        // checkpoints the write-ahead log and removes it.
        #expect(released == nil)
        #expect(!FileManager.default.fileExists(atPath: path + "-wal"))
    }

    @Test func aStatementOutlivingItsConnectionStillWorks() throws {
        var c: SQLiteConnection? = try SQLiteConnection(path: ":memory:", options: SQLiteOpenOptions(mode: .readWrite(create: true)))
        let stmt = try #require(try c?.prepare("SELECT 1"))
        c = nil
        #expect(try stmt.step())
    }

    @Test func transactionRollsBackWhenBodyThrows() throws {
        let dir = try TemporaryDirectory()
        let c = try SQLiteConnection(path: dir.file("a.db"), options: SQLiteOpenOptions(mode: .readWrite(create: true)))
        try c.execute("CREATE TABLE t (x)")
        struct Boom: Error {}
        #expect(throws: Boom.self) {
            try c.transaction { try c.run("INSERT INTO t VALUES (1)"); throw Boom() }
        }
        #expect(try c.scalar("SELECT COUNT(*) FROM t") == .integer(0))
        #expect(!c.isInTransaction)
        try c.transaction { try c.run("INSERT INTO t VALUES (2)") }
        #expect(try c.scalar("SELECT x FROM t") == .integer(2))
    }

    @Test func prepareRefusesTrailingStatementsAndReportsErrors() throws {
        let c = try SQLiteConnection(path: ":memory:", options: SQLiteOpenOptions(mode: .readWrite(create: true)))
        #expect(throws: SQLiteError.self) { _ = try c.prepare("SELECT 1; SELECT 2") }
        #expect(throws: SQLiteError.self) { _ = try c.prepare("SELEC 1") }
        #expect(throws: SQLiteError.self) { _ = try c.prepare("SELECT 1; DELETE FROM x") }
        _ = try c.prepare("SELECT 1;  ")
        _ = try c.prepare("SELECT 1; -- a comment\n ;")
    }

    @Test func secondWriterGetsBusyAfterTimeout() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("a.db")
        let a = try SQLiteConnection(path: path, options: SQLiteOpenOptions(mode: .readWrite(create: true)))
        try a.execute("CREATE TABLE t (x); BEGIN IMMEDIATE; INSERT INTO t VALUES (1)")
        let b = try SQLiteConnection(path: path, options: SQLiteOpenOptions(mode: .readWrite(create: false), busyTimeoutMillis: 10))
        let error = #expect(throws: SQLiteError.self) { try b.execute("BEGIN IMMEDIATE") }
        #expect(error?.isBusy == true)
        // A reader still sees the committed (empty) state.
        #expect(try b.scalar("SELECT COUNT(*) FROM t") == .integer(0))
        try a.execute("COMMIT")
        #expect(try b.scalar("SELECT COUNT(*) FROM t") == .integer(1))
    }

    @Test func databaseRunsWorkOnItsQueue() async throws {
        let dir = try TemporaryDirectory()
        let db = try await SQLiteDatabase.open(path: dir.file("a.db"), options: SQLiteOpenOptions(mode: .readWrite(create: true)))
        try await db.perform { try $0.execute("CREATE TABLE t (x INTEGER)") }
        try await db.write { c in for i in 0..<100 { try c.run("INSERT INTO t VALUES (?1)", [.integer(Int64(i))]) } }
        let sum = try await db.perform { try $0.scalar("SELECT SUM(x) FROM t") }
        #expect(sum == .integer(4950))
    }
}
