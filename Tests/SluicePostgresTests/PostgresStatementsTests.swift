import Foundation
import SluiceCore
import SluiceTestSupport
import Testing
@testable import SluicePostgres

/// An SQL node's statements on a real PostgreSQL server: one transaction, counted rows, and a
/// failing statement that rolls the others back and names itself.
@Suite struct PostgresStatementsTests {
    @Test func statementsRunInOneTransactionAndCountTheirRows() async throws {
        let f = try await PostgresFixture.fresh()
        try await f.psql("CREATE TABLE events (u text, ds text); INSERT INTO events VALUES ('a','1'),('a','1'),('b','1'),('c','2');"
                         + "CREATE TABLE summary (u text, n bigint, ds text); INSERT INTO summary VALUES ('stale', 9, '1');")
        let changed = try await PostgresStatements(url: f.url).execute(SQLScript("""
            DELETE FROM summary WHERE ds = '1';
            INSERT INTO summary SELECT u, COUNT(*), ds FROM events WHERE ds = '1' GROUP BY u, ds;
            SELECT * FROM summary;
            CREATE INDEX summary_ds ON summary (ds)
            """))
        #expect(changed == [1, 2, nil, nil])
        #expect(try await f.psql("SELECT u || '=' || n FROM summary ORDER BY u") == "a=2\nb=1")
    }

    @Test func aFailingStatementRollsBackAndNamesItselfAndItsSQLState() async throws {
        let f = try await PostgresFixture.fresh()
        try await f.psql("CREATE TABLE summary (u text); INSERT INTO summary VALUES ('kept');")
        let error = try await #require(throws: SluiceError.self) {
            try await PostgresStatements(url: f.url).execute(SQLScript("DELETE FROM summary; INSERT INTO missing VALUES (1)"))
        }
        #expect(error.message.contains("statement 2 of 2 failed on PostgreSQL postgresql://"))
        #expect(error.message.contains("relation \"missing\" does not exist (SQLSTATE 42P01)"))
        #expect(!error.isRetriable)
        #expect(try await f.psql("SELECT u FROM summary") == "kept")
    }
}
