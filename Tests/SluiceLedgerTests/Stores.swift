import Foundation
import SluiceCore
import SluicePostgres
import SluiceTestSupport
import Testing
@testable import SluiceLedger

/// The two ledger stores; the contract tests run against each.
enum LedgerStore: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite, postgres
    var testDescription: String { rawValue }

    /// A fresh, empty ledger location: a new state directory, or a new database of the test server.
    func newLocation() async throws -> LedgerUnderTest {
        switch self {
        case .sqlite:
            let dir = try TemporaryDirectory(prefix: "sluice-ledger")
            return LedgerUnderTest(location: .stateDirectory(dir.path + "/.sluice"), directory: dir)
        case .postgres:
            let server = try await PostgresServer.shared()
            let db = try await server.createDatabase(prefix: "ledger")
            return LedgerUnderTest(location: .postgres(try PostgresURL(parsing: server.url(database: db))), directory: nil,
                                   server: server, database: db)
        }
    }
}

/// One ledger location a test opens (as often as it likes).
struct LedgerUnderTest: Sendable {
    let location: LedgerLocation
    let directory: TemporaryDirectory?
    var server: PostgresServer?
    var database: String?

    func open(_ clock: ManualTestClock = ManualTestClock(), limits: LedgerLimits = LedgerLimits(),
              origin: AttemptOrigin = .thisProcess()) async throws -> any Ledger {
        try await Ledgers.open(location, limits: limits, origin: origin, now: { clock.now })
    }
}
