import Testing
@testable import SluiceCore

/// Splitting an SQL node's text into statements.
@Suite struct SQLScriptTests {
    @Test func semicolonsEndStatementsOutsideQuotesCommentsAndDollarBodies() {
        let script = SQLScript("""
            INSERT INTO t VALUES ('a;b', "c;d", `e;f`);  -- a comment; still a comment
            /* block; comment */ UPDATE t SET x = 'it''s; fine';
            CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;
            DO $body$ BEGIN PERFORM 1; END $body$;
            ;;
            SELECT 1
            """)
        #expect(script.statements == [
            "INSERT INTO t VALUES ('a;b', \"c;d\", `e;f`)",
            "-- a comment; still a comment\n/* block; comment */ UPDATE t SET x = 'it''s; fine'",
            "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql",
            "DO $body$ BEGIN PERFORM 1; END $body$",
            "SELECT 1",
        ])
    }

    @Test func aScriptOfBlanksAndCommentsHasNoStatement() {
        #expect(SQLScript(" ;\n -- only this\n ; /* and this */ ").statements.isEmpty)
        #expect(SQLScript("").statements.isEmpty)
    }

    @Test func transactionControlIsRecognisedAfterComments() {
        for statement in ["BEGIN", "commit", "  -- c\nROLLBACK", "START TRANSACTION", "/* x */ end", "SAVEPOINT s", "abort"] {
            #expect(SQLScript.controlsTransaction(statement), "\(statement)")
        }
        for statement in ["SELECT 1", "START_DATE", "beginning", "INSERT INTO begin_t VALUES (1)", "-- BEGIN\nSELECT 1"] {
            #expect(!SQLScript.controlsTransaction(statement), "\(statement)")
        }
    }

    @Test func aFailureNamesTheStatementAndItsTarget() {
        let script = SQLScript("DELETE FROM a;\nINSERT INTO b\nSELECT * FROM c")
        let error = script.failure(at: 1, on: "warehouse w.db", "no such table: b")
        #expect(error.message == "statement 2 of 2 failed on warehouse w.db: no such table: b (statement: INSERT INTO b SELECT * FROM c)")
        #expect(!error.isRetriable && error.hint != nil)
        #expect(SQLScript.preview(String(repeating: "x", count: 100), limit: 10) == "xxxxxxxxx…")
    }
}
