import ArgumentParser
import Foundation
import SluiceCore
import SluiceMaxCompute
import SluiceRuntime
import SluiceWarehouse
import SluiceJob

extension ResultFormat: ExpressibleByArgument {}
extension DDLDialect: ExpressibleByArgument {}

/// What a WAREHOUSE_OR_JOB argument names: a job file (.yaml, .yml or .json), or else a warehouse file.
enum WarehouseTarget {
    static func isJobFile(_ path: String) -> Bool {
        ["yaml", "yml", "json"].contains((path as NSString).pathExtension.lowercased())
    }
}

/// Writes text to standard output.
@Sendable func writeStdout(_ text: String) {
    FileHandle.standardOutput.write(Data(text.utf8))
}

struct SQLCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sql",
        abstract: "Run a read-only SQL query on the embedded warehouse, or on a job's MaxCompute project or PostgreSQL database.",
        discussion: """
        WAREHOUSE_OR_JOB is a warehouse .db file, or a job file (.yaml/.yml/.json) whose destination is \
        the SQLite warehouse. The file is opened read-only; statements that would write are refused. \
        CSV output has a header line, RFC 4180 quoting and NULL as an empty field; JSON is an array of \
        objects; blobs are base64 in both.

        With a job whose destination is MaxCompute, the query runs in its project through the instances API (it is not checked for being read-only there); the result is printed in the chosen format, NULL (\\N) as an empty CSV field.

        With a job whose destination is PostgreSQL, the statement runs in a READ ONLY transaction (one that would write is refused, exit 2); numeric values print exactly, timestamps in UTC.

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
            if WarehouseTarget.isJobFile(self.target) {
                let job = try options.load(self.target)
                try await Destinations.make(job: job).query(query, format: format, emit: writeStdout)
            } else {
                try await Warehouse(path: self.target).query(query, format: format, emit: writeStdout)
            }
        }
    }
}

