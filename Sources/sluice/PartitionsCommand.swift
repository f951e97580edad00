import ArgumentParser
import Foundation
import SluiceCore
import SluiceRuntime
import SluiceWarehouse

struct PartitionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "partitions",
        abstract: "List a warehouse table's partitions: rows, and the instance, window and offsets that wrote each.",
        discussion: """
        Row counts are counted live from the table. Provenance (job, instance, window, Kafka offsets per \
        partition as [from-to)) comes from the _sluice_partitions table, written in the same \
        transaction as the data. An append instance that ran more than once shows one write: each run \
        replaces its instance's earlier rows. --history also lists the replaced writes. TABLE may be left \
        out when a job file is given.

        Example:
          sluice partitions jobs/events_hourly.yaml
          sluice partitions warehouse.db ods_events --json
        """)

    @Argument(help: ArgumentHelp("A warehouse .db file or a job file.", valueName: "WAREHOUSE_OR_JOB"))
    var target: String

    @Argument(help: "The table (default: the job's destination table).")
    var table: String?

    @Flag(help: "Print JSON for scripts.")
    var json = false

    @Flag(help: "Also list the writes whose rows were replaced: by a later overwrite, or by a rerun of the same append instance.")
    var history = false

    @OptionGroup var options: JobOptions

    func run() async throws {
        try await runReportingErrors {
            let partitions: [PartitionInfo]
            if WarehouseTarget.isJobFile(self.target) {
                let job = try table == nil ? options.loadSync(self.target, for: "partitions") : options.load(self.target)
                var destination = try Destinations.make(job: job)
                if let table, table != destination.table {
                    // Another table of the job's warehouse.
                    guard var warehouse = destination as? WarehouseDestination else {
                        throw SluiceError.invalid("a job file names its own table; give the warehouse file to list another table")
                    }
                    warehouse.writer.table = table
                    destination = warehouse
                }
                partitions = try await destination.partitions()
            } else {
                guard let table else { throw SluiceError.invalid("name the table: sluice partitions \(self.target) TABLE") }
                partitions = try await Warehouse(path: self.target).partitions(table: table)
            }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                writeStdout(String(decoding: try encoder.encode(partitions), as: UTF8.self) + "\n")
            } else {
                writeStdout(Warehouse.renderPartitions(partitions, history: history))
            }
        }
    }
}
