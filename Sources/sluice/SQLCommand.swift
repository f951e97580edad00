import ArgumentParser
import Foundation
import SluiceCore
import SluiceRuntime
import SluiceWarehouse

extension ResultFormat: ExpressibleByArgument {}
extension DDLDialect: ExpressibleByArgument {}

/// What a WAREHOUSE_OR_JOB argument names: a warehouse file, or a job file writing into one.
struct WarehouseTarget {
    var warehousePath: String
    var job: LoadedJob?

    /// Job files end in .yaml, .yml or .json; anything else is a warehouse file.
    static func isJobFile(_ path: String) -> Bool {
        ["yaml", "yml", "json"].contains((path as NSString).pathExtension.lowercased())
    }

    static func resolve(_ argument: String, options: JobOptions) throws -> WarehouseTarget {
        guard isJobFile(argument) else { return WarehouseTarget(warehousePath: argument, job: nil) }
        let job = try options.load(argument)
        return WarehouseTarget(warehousePath: try warehousePath(of: job), job: job)
    }

    /// The warehouse file of a job whose destination is the SQLite warehouse (relative paths are
    /// relative to the job file's directory).
    static func warehousePath(of job: LoadedJob) throws -> String {
        guard case .sqlite(let path) = job.spec.destination.kind else {
            throw SluiceError.invalid("job '\(job.spec.name)' (\(job.path)) writes to \(job.spec.destination.kind.typeName), not the SQLite warehouse",
                                      hint: "give the warehouse .db file instead, or a job with destination type sqlite")
        }
        return path.hasPrefix("/") ? path : job.directory + "/" + path
    }
}

/// Writes text to standard output.
@Sendable func writeStdout(_ text: String) {
    FileHandle.standardOutput.write(Data(text.utf8))
}

struct SQLCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sql",
        abstract: "Run a read-only SQL query on the embedded warehouse.",
        discussion: """
        WAREHOUSE_OR_JOB is a warehouse .db file, or a job file (.yaml/.yml/.json) whose destination is \
        the SQLite warehouse. The file is opened read-only; statements that would write are refused. \
        CSV output has a header line, RFC 4180 quoting and NULL as an empty field; JSON is an array of \
        objects; blobs are base64 in both.

        Example (the DataWorks tutorial's step 5 check):
          sluice sql jobs/events_hourly.yaml "SELECT * FROM ods_events WHERE ds='2022112210' LIMIT 20"
          sluice sql warehouse.db "SELECT ds, COUNT(*) FROM ods_events GROUP BY ds" --format csv
        """)

    @Argument(help: ArgumentHelp("A warehouse .db file or a job file.", valueName: "WAREHOUSE_OR_JOB"))
    var target: String

    @Argument(help: "One SQL statement (SELECT, WITH … SELECT, EXPLAIN, read-only PRAGMA).")
    var query: String

    @Option(help: "Output format: table, csv or json.")
    var format: ResultFormat = .table

    @OptionGroup var options: JobOptions

    func run() async throws {
        try await runReportingErrors {
            let target = try WarehouseTarget.resolve(self.target, options: options)
            try await Warehouse(path: target.warehousePath).query(query, format: format, emit: writeStdout)
        }
    }
}
