import Foundation
import SluiceCore
import SluiceSQLite
import SluicePostgres

/// Where a ledger is: the SQLite file in a state directory, or a PostgreSQL database.
public enum LedgerLocation: Sendable, Hashable, CustomStringConvertible {
    case stateDirectory(String)
    case postgres(PostgresURL)

    /// The location a command uses: `--ledger URL`, else `SLUICE_LEDGER`, else the state directory.
    /// Only `postgresql://` (or `postgres://`) URLs are ledger URLs.
    public static func resolve(url: String?, stateDirectory: String,
                               environment: [String: String] = ProcessInfo.processInfo.environment) throws -> LedgerLocation {
        guard let text = url ?? environment["SLUICE_LEDGER"].flatMap({ $0.isEmpty ? nil : $0 }) else {
            return .stateDirectory(stateDirectory)
        }
        return .postgres(try PostgresURL(parsing: text))
    }

    /// The file, or the URL without its password.
    public var description: String {
        switch self {
        case .stateDirectory(let dir): dir + "/" + SQLLedger.fileName
        case .postgres(let url): url.description
        }
    }

    public var isShared: Bool { if case .postgres = self { true } else { false } }
}

/// Opens ledgers.
public enum Ledgers {
    /// Opens (creating and migrating as needed) the ledger at `location`.
    public static func open(_ location: LedgerLocation, limits: LedgerLimits = LedgerLimits(),
                            origin: AttemptOrigin = .thisProcess(),
                            now: @escaping @Sendable () -> Date = { Date() }) async throws -> any Ledger {
        switch location {
        case .stateDirectory(let dir):
            return try await openSQLite(stateDirectory: dir, limits: limits, origin: origin, now: now)
        case .postgres(let url):
            return try await PostgresLedgerDatabase.openLedger(url, limits: limits, origin: origin, now: now)
        }
    }

    /// Opens `ledger.db` in `stateDirectory`, creating the directory and the file as needed.
    public static func openSQLite(stateDirectory: String, limits: LedgerLimits = LedgerLimits(),
                                  origin: AttemptOrigin = .thisProcess(),
                                  now: @escaping @Sendable () -> Date = { Date() }) async throws -> SQLLedger {
        do {
            try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
        } catch {
            throw SluiceError(.state, "cannot create the state directory \(stateDirectory): \(error.localizedDescription)",
                              hint: "pass a writable --state-dir")
        }
        let path = stateDirectory + "/" + SQLLedger.fileName
        do {
            let db = try await SQLiteLedgerDatabase.open(path: path)
            let id = try await db.migrate()
            return SQLLedger(db: db, id: id, limits: limits, origin: origin,
                             runLocks: FileRunLocks(stateDirectory: stateDirectory), now: now)
        } catch {
            throw LedgerErrors.describe(error, ledger: path, doing: "opening the ledger")
        }
    }

    /// The default state directory of a job file: `.sluice/` next to it.
    public static func defaultStateDirectory(forJobFile jobPath: String) -> String {
        let dir = (jobPath as NSString).deletingLastPathComponent
        return (dir.isEmpty ? "." : dir) + "/.sluice"
    }
}

extension SQLLedger {
    /// The embedded ledger's file name inside the state directory.
    public static let fileName = "ledger.db"
}

/// Ledger failures as `SluiceError`s that say which ledger and what it was doing.
enum LedgerErrors {
    static func describe(_ error: any Error, ledger: String, doing: String) -> SluiceError {
        if let e = error as? SluiceError { return e }
        if let e = error as? SQLiteError, e.isBusy {
            return SluiceError(.state, "ledger \(ledger): \(doing) timed out waiting for another process's transaction",
                               hint: "retry; if it persists, look for a process holding \(ledger) open")
        }
        if let e = error as? SQLiteError {
            return SluiceError(.state, "ledger \(ledger): \(doing) failed: \(e.message) (SQLite code \(e.extendedCode))")
        }
        return PostgresLedgerDatabase.describe(error, ledger: ledger, doing: doing)
    }
}
