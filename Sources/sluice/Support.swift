import ArgumentParser
import Foundation
import SluiceCore
import SluiceRuntime
import SluiceJob

/// Options every command that loads a job shares.
struct JobOptions: ParsableArguments {
    @Option(name: .customLong("datasources"), help: ArgumentHelp("A YAML file of named connections for DataWorks `datasource` references.", valueName: "FILE"))
    var datasources: String?

    @Option(name: .customLong("param"), help: ArgumentHelp("Define a scheduling parameter (repeatable), e.g. --param 'startTime=$[yyyymmddhh24-1/24]0000'.", valueName: "name=expr"))
    var params: [String] = []

    func load(_ path: String) throws -> LoadedJob {
        try JobFiles.load(path: path, datasourcesPath: datasources, parameters: JobFiles.parameters(params))
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
