import ArgumentParser
import Foundation
import SluiceCore
import SluiceMaxCompute
import SluiceRuntime
import SluiceWarehouse
import SluiceJob

struct DDLCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ddl",
        abstract: "Print the CREATE TABLE for a job's destination (DataWorks \"Generate Target Table Schema\").",
        discussion: """
        Columns are the job's destination columns, typed by destination.columnTypes; without a declared \
        type, columns mapped from __partition__, __offset__ or __timestamp__ are BIGINT and the rest \
        STRING. Partition columns (from destination.partition, e.g. ds=${partition}) are STRING. \
        The dialect defaults to the destination's: maxcompute for MaxCompute, postgresql for \
        PostgreSQL, else sqlite.

        --apply creates the table in the job's SQLite warehouse (and the file, if missing), in its \
        MaxCompute project (CREATE TABLE IF NOT EXISTS … PARTITIONED BY …), or in its PostgreSQL \
        database (with _sluice_partitions, the write records); an existing table is checked against \
        the job instead, and differences are listed.

        Example:
          sluice ddl jobs/events_hourly.yaml --dialect maxcompute
          sluice ddl jobs/events_hourly.yaml --apply
        """)

    @Argument(help: "The job file.")
    var job: String

    @Option(help: "sqlite, maxcompute or postgresql (default: the destination's).")
    var dialect: DDLDialect?

    @Flag(help: "Create the table in the job's destination (SQLite warehouse, MaxCompute, PostgreSQL).")
    var apply = false

    @OptionGroup var options: JobOptions

    func run() async throws {
        try await runReportingErrors {
            let loaded = try options.loadSync(job, for: "ddl")
            let spec = loaded.spec
            let columns = try TableDDL.destinationColumns(of: spec)
            let keys = TableDDL.partitionKeys(template: spec.destination.partition)
            let defaultDialect: DDLDialect = switch spec.destination.kind {
            case .maxcompute: .maxcompute
            case .postgresql: .postgresql
            case .unresolved(_, let type) where ["odps", "maxcompute"].contains(type.lowercased()): .maxcompute
            default: .sqlite
            }
            let chosen = dialect ?? defaultDialect
            guard apply else {
                writeStdout(TableDDL.createTable(name: spec.destination.table, columns: columns, partitionKeys: keys,
                                                 dialect: chosen) + "\n")
                return
            }
            let destination = try Destinations.make(job: loaded, createTable: true)
            guard chosen == destination.dialect else {
                throw SluiceError.invalid("--apply with the \(chosen.rawValue) dialect needs a job whose destination speaks it (this one is \(destination.dialect.rawValue))",
                                          hint: "print the DDL without --apply and run it where the table lives (DataWorks or odpscmd for MaxCompute)")
            }
            writeStdout(destination.createTableDDL(columns: columns, partitionKeys: keys) + "\n")
            printError(try await destination.createTable(columns: columns, partitionKeys: keys))
        }
    }
}
