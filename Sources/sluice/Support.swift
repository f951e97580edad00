import ArgumentParser
import Foundation
import SluiceCore
import SluiceRuntime
import SluiceJob
import SluiceLedger

/// Options every command that loads a job shares.
struct JobOptions: ParsableArguments {
    @Option(name: .customLong("datasources"), help: ArgumentHelp("A YAML file of named connections for DataWorks `datasource` references.", valueName: "FILE"))
    var datasources: String?

    @Option(name: .customLong("param"), help: ArgumentHelp("Define a scheduling parameter (repeatable), e.g. --param 'startTime=$[yyyymmddhh24-1/24]0000'.", valueName: "name=expr"))
    var params: [String] = []

    func load(_ path: String) throws -> LoadedJob {
        try JobFiles.load(path: path, datasourcesPath: datasources, parameters: JobFiles.parameters(params))
    }

    /// Loads a job that must be a sync (one with a source, a mapping and a destination table):
    /// `command` names what needs it, for the error an SQL node gets.
    func loadSync(_ path: String, for command: String) throws -> LoadedJob {
        let job = try load(path)
        guard job.spec.task == .sync else {
            throw SluiceError.invalid("\(path) is an SQL node (type: sql): it has no source, mapping or table of its own, which `sluice \(command)` needs",
                                      hint: "give `sluice \(command)` the sync job that writes the table")
        }
        return job
    }
}

/// Where a command finds the ledger: `--ledger URL` (or `SLUICE_LEDGER`) names a PostgreSQL
/// ledger; otherwise the SQLite ledger in `--state-dir DIR`, else `.sluice/` next to the job file,
/// else `./.sluice`.
struct LedgerOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The state directory: the embedded ledger, run locks and run output (default: .sluice/ next to the job file, else ./.sluice).", valueName: "DIR"))
    var stateDir: String?

    @Option(help: ArgumentHelp("A PostgreSQL ledger, postgresql://USER@HOST:PORT/DB (default: $SLUICE_LEDGER, else the SQLite ledger in the state directory). Give the password in PGPASSWORD or ?passwordFile=PATH rather than in the URL.", valueName: "URL"))
    var ledger: String?

    func directory(jobFile: String?) -> String {
        if let stateDir { return stateDir }
        if let jobFile { return Ledgers.defaultStateDirectory(forJobFile: jobFile) }
        return ".sluice"
    }

    func location(jobFile: String?) throws -> LedgerLocation {
        try LedgerLocation.resolve(url: ledger, stateDirectory: directory(jobFile: jobFile))
    }

    /// Opens an existing ledger; a missing SQLite ledger is invalid input rather than a new empty file.
    func open(jobFile: String?, origin: AttemptOrigin = .thisProcess()) async throws -> (ledger: any Ledger, directory: String, location: LedgerLocation) {
        let dir = directory(jobFile: jobFile)
        let location = try location(jobFile: jobFile)
        if case .stateDirectory = location, !FileManager.default.fileExists(atPath: dir + "/" + SQLLedger.fileName) {
            throw SluiceError.invalid("there is no ledger in \(dir)",
                                      hint: "pass --state-dir DIR or --ledger URL, or the job file (its ledger is .sluice/ next to it)")
        }
        return (try await Ledgers.open(location, origin: origin), dir, location)
    }

    /// The operations on instances, over the opened ledger.
    func operations(jobFile: String?) async throws -> Operations {
        let (ledger, dir, location) = try await open(jobFile: jobFile)
        return Operations(ledger: ledger, location: location, stateDirectory: dir)
    }
}

/// Writes to standard error.
func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// Runs a command body, turning Sluice errors into messages on stderr and the documented exit codes
/// (2 invalid input, 1 the work failed).
func runReportingErrors(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let e as JobFileError {
        for d in e.diagnostics { printError(d.description) }
        throw ExitCode(2)
    } catch let e as SluiceError {
        printError("error: \(e.description)")
        throw ExitCode(e.exitCode)
    }
}

func runReportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let e as JobFileError {
        for d in e.diagnostics { printError(d.description) }
        throw ExitCode(2)
    } catch let e as SluiceError {
        printError("error: \(e.description)")
        throw ExitCode(e.exitCode)
    }
}

extension LogFormat: ExpressibleByArgument {}
