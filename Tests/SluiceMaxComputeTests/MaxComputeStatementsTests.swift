import Foundation
import SluiceCore
import Testing
@testable import SluiceMaxCompute

/// An SQL node's statements in a MaxCompute project: one SQL instance each, in order; the first that
/// fails stops the rest and is named.
@Suite struct MaxComputeStatementsTests {
    @Test func statementsRunInOrderAsSQLInstances() async throws {
        let server = try await startServer()
        defer { Task { await server.shutdown() } }
        let changed = try await MaxComputeStatements(client: makeClient(server)).execute(SQLScript("""
            CREATE TABLE IF NOT EXISTS daily (k STRING, n BIGINT) PARTITIONED BY (ds STRING);
            ALTER TABLE daily ADD IF NOT EXISTS PARTITION (ds='20221122')
            """))
        #expect(changed == [nil, nil])
        #expect(server.sqlStatements.count == 2)
        #expect(server.rows("daily", "ds=20221122") == [])
    }

    @Test func theFirstFailingStatementStopsTheRestAndIsNamed() async throws {
        let server = try await startServer()
        defer { Task { await server.shutdown() } }
        let error = try await #require(throws: SluiceError.self) {
            try await MaxComputeStatements(client: makeClient(server)).execute(SQLScript("""
                ALTER TABLE missing ADD IF NOT EXISTS PARTITION (ds='1');
                CREATE TABLE never (k STRING)
                """))
        }
        #expect(error.message.contains("statement 1 of 2 failed on MaxCompute project proj"))
        #expect(error.message.contains("Table not found - missing"))
        #expect(!error.isRetriable)
        #expect(server.sqlStatements.count == 1)
    }
}
