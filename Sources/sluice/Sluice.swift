import ArgumentParser
import Foundation
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
            Validate.self,
            Show.self,
            Import.self,
            Run.self,
            MapFields.self,
            Demo.self,
            Loadgen.self,
            Params.self,
            Schedule.self,
            DDLCommand.self,
            SQLCommand.self,
            PartitionsCommand.self,
            DevKafkaCommand.self, DevRegistryCommand.self,
            InstanceCommand.self,
            LegacySpelling<Instances>.self,
            LegacySpelling<Rerun>.self,
            LegacySpelling<Kill>.self,
            LegacySpelling<SetSuccess>.self,
            LegacySpelling<Dirty>.self,
            SchedulerCommand.self,
            WorkerCommand.self,
            BackfillCommand.self,
            Serve.self,
        ]
    )

    /// Like ArgumentParser's own entry point, except that usage errors exit 2 (Sluice's "invalid
    /// input") rather than 64.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            if exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(2)
            }
            exit(withError: error)
        }
    }
}
