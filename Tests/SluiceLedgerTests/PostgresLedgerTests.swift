import Foundation
import SluiceCore
import SluicePostgres
import SluiceTestSupport
import Testing
@testable import SluiceLedger

/// What only the PostgreSQL ledger does: URLs, passwords, servers that fail or restart.
@Suite struct PostgresLedgerTests {
    @Test func urlsParseAndNeverShowThePassword() throws {
        let url = try PostgresURL(parsing: "postgresql://etl:s3cr%40t@db.internal:5433/ledger?sslmode=require")
        #expect(url.user == "etl" && url.host == "db.internal" && url.port == 5433 && url.database == "ledger")
        #expect(url.tls == .require)
        #expect(try url.password()?.reveal() == "s3cr@t")
        #expect(url.description == "postgresql://etl@db.internal:5433/ledger")
        #expect(!"\(url)".contains("s3cr") && !String(reflecting: url).contains("s3cr"))
        #expect(!"\(try url.password()!)".contains("s3cr"))
        let defaults = try PostgresURL(parsing: "postgres://me@localhost")
        #expect(defaults.port == 5432 && defaults.database == "me" && defaults.tls == .disable)
        #expect(try defaults.password(environment: ["PGPASSWORD": "p"])?.reveal() == "p")
        let e = #expect(throws: SluiceError.self) { try PostgresURL(parsing: "mysql://u:hunter2@h/db") }
        #expect(e?.message.contains("hunter2") == false)
        #expect(try LedgerLocation.resolve(url: nil, stateDirectory: "/s", environment: ["SLUICE_LEDGER": "postgresql://u@h/d"])
                == .postgres(try PostgresURL(parsing: "postgresql://u@h/d")))
    }

    @Test func aWrongPasswordIsOneClearErrorWithoutThePassword() async throws {
        let server = try await PostgresServer.shared()
        let db = try await server.createDatabase()
        let url = try PostgresURL(parsing: "postgresql://\(PostgresServer.user):not-the-password-42@127.0.0.1:\(server.port)/\(db)")
        let e = await #expect(throws: SluiceError.self) { _ = try await Ledgers.open(.postgres(url)) }
        #expect(e?.message.contains("password authentication failed") == true, "\(String(describing: e))")
        #expect(e?.description.contains("not-the-password-42") == false)
        #expect(e?.message.contains("127.0.0.1:\(server.port)") == true)
    }

    @Test func anUnreachableServerIsOneClearError() async throws {
        let url = try PostgresURL(parsing: "postgresql://u:secret-99@127.0.0.1:1/db")
        let e = await #expect(throws: SluiceError.self) { _ = try await Ledgers.open(.postgres(url)) }
        #expect(e?.message.contains("cannot reach the server") == true, "\(String(describing: e))")
        #expect(e?.description.contains("secret-99") == false)
    }

    @Test func aDatabaseWithANewerSchemaIsRefusedAndLeftAlone() async throws {
        let server = try await PostgresServer.shared()
        let db = try await server.createDatabase()
        _ = try await Ledgers.open(.postgres(try PostgresURL(parsing: server.url(database: db))))
        try await server.psql(db, "UPDATE ledger_meta SET value = '99' WHERE key = 'schema_version'")
        let e = await #expect(throws: SluiceError.self) {
            _ = try await Ledgers.open(.postgres(try PostgresURL(parsing: server.url(database: db))))
        }
        #expect(e?.message.contains("schema version 99, newer than this sluice knows") == true, "\(String(describing: e))")
        #expect(try await server.psql(db, "SELECT value FROM ledger_meta WHERE key = 'schema_version'") == "99")
    }

    /// The pool reconnects after the server restarts: a ledger opened before works after.
    @Test func theLedgerSurvivesAServerRestart() async throws {
        let server = try await PostgresServer.startPrivate()
        let db = try await server.createDatabase()
        let ledger = try await Ledgers.open(.postgres(try PostgresURL(parsing: server.url(database: db))))
        let r = try await ledger.ensureInstance(NewInstance(job: "j", scheduledAt: hour(1)))
        try await server.restart()
        var found: InstanceRecord?
        for _ in 0..<50 where found == nil {
            found = try? await ledger.instance(id: r.id)
            if found == nil { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(found?.id == r.id)
    }

    /// A server that stops answering (its processes stopped, connections open): a ledger operation
    /// fails after the operation timeout, retriable and naming the ledger, and once the server
    /// answers again the ledger connects afresh and works.
    @Test func anOperationOnAServerThatStopsAnsweringFailsInTimeAndTheLedgerRecovers() async throws {
        let server = try await PostgresServer.startPrivate()
        let url = try PostgresURL(parsing: server.url(database: try await server.createDatabase()))
        // Set up with a long limit: a new server on a busy machine may take long for its first writes.
        var generous = LedgerLimits()
        generous.operationTimeout = .seconds(180)
        let setup = try await Ledgers.open(.postgres(url), limits: generous)
        let r = try await setup.ensureInstance(NewInstance(job: "j", scheduledAt: hour(1)))
        await setup.close()
        var limits = LedgerLimits()
        limits.operationTimeout = .seconds(5)
        let ledger = try await Ledgers.open(.postgres(url), limits: limits)
        try await server.signalAll(SIGSTOP)
        let e = await #expect(throws: SluiceError.self) { _ = try await ledger.instance(id: r.id) }
        #expect(e?.isRetriable == true && e?.message.contains("did not answer within 5") == true, "\(String(describing: e))")
        try await server.signalAll(SIGCONT)
        var found: InstanceRecord?
        for _ in 0..<100 where found == nil {
            found = try? await ledger.instance(id: r.id)
            if found == nil { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(found?.id == r.id)
        await ledger.close()
    }
}
