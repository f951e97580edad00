import ArgumentParser
import SluiceCore

/// The `sluice` command line. Subcommands parse their flags and call into the library targets.
@main
struct Sluice: AsyncParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "sluice",
        abstract: "Land Kafka time windows in warehouse partitions, on a schedule, exactly.",
        discussion: """
        Example:
          sluice validate jobs/events_hourly.yaml
        """,
        version: version,
        subcommands: [
            DevKafkaCommand.self,
        ]
    )
}
