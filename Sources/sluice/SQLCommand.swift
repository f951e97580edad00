import ArgumentParser
import Foundation
import SluiceCore
import SluiceMaxCompute
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
        guard case .sqlite = job.spec.destination.kind else {
            throw SluiceError.invalid("job '\(job.spec.name)' (\(job.path)) writes to \(job.spec.destination.kind.typeName), not the SQLite warehouse",
                                      hint: "give the warehouse .db file instead, or a job with destination type sqlite")
        }
        return try WarehouseSink(destination: job.spec.destination, baseDirectory: job.directory).path
    }
}

/// Writes text to standard output.
@Sendable func writeStdout(_ text: String) {
    FileHandle.standardOutput.write(Data(text.utf8))
}

struct SQLCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sql",
        abstract: "Run a read-only SQL query on the embedded warehouse, or on a job's MaxCompute project.",
        discussion: """
        WAREHOUSE_OR_JOB is a warehouse .db file, or a job file (.yaml/.yml/.json) whose destination is \
        the SQLite warehouse. The file is opened read-only; statements that would write are refused. \
        CSV output has a header line, RFC 4180 quoting and NULL as an empty field; JSON is an array of \
        objects; blobs are base64 in both.

        With a job whose destination is MaxCompute, the query runs in its project through the instances API (it is not checked for being read-only there); the result is printed in the chosen format, NULL (\\N) as an empty CSV field.

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
                if case .maxcompute = job.spec.destination.kind {
                    let sink = try MaxComputeSink(destination: job.spec.destination, settings: job.spec.settings,
                                                  relativeTo: job.directory)
                    try Self.printCSV(try await sink.runSQL(query), format: format)
                    return
                }
            }
            let target = try WarehouseTarget.resolve(self.target, options: options)
            try await Warehouse(path: target.warehousePath).query(query, format: format, emit: writeStdout)
        }
    }

    /// Prints a MaxCompute CSV result (header line, `\N` for NULL) in `format`.
    static func printCSV(_ csv: String, format: ResultFormat) throws {
        var rows = CSVText.parse(csv)
        guard !rows.isEmpty else { return }
        let header = rows.removeFirst()
        let formatter = ResultFormatter(format: format, emit: writeStdout)
        formatter.begin(columns: header)
        for row in rows { formatter.row(row.map { $0 == "\\N" ? .null : .text($0) }) }
        formatter.end()
    }
}

/// RFC 4180 CSV parsing (quoted fields, doubled quotes, CRLF or LF line ends).
enum CSVText {
    static func parse(_ text: String) -> [[String]] {
        var rows: [[String]] = []
        var row: [String] = []
        var field = ""
        var quoted = false
        var chars = Array(text).makeIterator()
        var pending: Character? = nil
        func next() -> Character? {
            if let p = pending { pending = nil; return p }
            return chars.next()
        }
        while let c = next() {
            if quoted {
                if c == "\"" {
                    if let n = next() {
                        if n == "\"" { field.append("\"") } else { quoted = false; pending = n }
                    } else { quoted = false }
                } else { field.append(c) }
            } else if c == "\"" {
                quoted = true
            } else if c == "," {
                row.append(field); field = ""
            } else if c == "\n" || c == "\r\n" || c == "\r" {
                row.append(field); field = ""
                rows.append(row); row = []
            } else {
                field.append(c)
            }
        }
        if !field.isEmpty || !row.isEmpty { row.append(field); rows.append(row) }
        return rows
    }
}
