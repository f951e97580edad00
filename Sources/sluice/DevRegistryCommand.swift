import ArgumentParser
import Foundation
import Hummingbird
import Logging
import SluiceCore
import SluiceSchemaRegistry

/// `sluice dev-registry`: runs the development Schema Registry until SIGINT/SIGTERM.
struct DevRegistryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dev-registry",
        abstract: "Run a small Confluent-compatible Schema Registry for development and tests.",
        discussion: """
        Serves the REST subset Schema Registry clients use, with schemas in memory (lost when it stops). Not a production registry. When it accepts connections it prints exactly one line, `ready <host>:<port>`, on standard output; it runs until SIGINT or SIGTERM.

        Endpoints (answers in application/vnd.schemaregistry.v1+json):
          POST /subjects/S/versions      register {"schema": …}: {"id": N}
          GET  /schemas/ids/ID           {"schema": …}; 404 (40403) when unknown
          GET  /subjects                 the subjects
          GET  /subjects/S/versions      the versions; …/N or …/latest: one
          POST /subjects/S               look a schema up: subject, version, id
          POST /compatibility/subjects/S/versions/N|latest  {"is_compatible": …}
          GET|PUT /config                the level: BACKWARD (default) or NONE

        Avro schemas are parsed (an invalid one is refused with 422) and compared parsed, so spacing does not make a new schema. A new version of a subject must be BACKWARD compatible with its latest version (readers of the new schema read the old data) unless the level is NONE. PROTOBUF schemas (.proto text) are parsed with Sluice's .proto reader (an unreadable one is refused with 422), stored as text and not checked for compatibility (as under NONE); JSON schemas are stored as text. Schema references are refused.

        With --user, every request needs HTTP basic authentication as one of the users (401 otherwise).

        Examples:
          sluice dev-registry --port 8081
          REGISTRY_PASSWORD=s3cret sluice dev-registry --port 0 --user sluice:env:REGISTRY_PASSWORD
          curl -s -X POST -H 'Content-Type: application/vnd.schemaregistry.v1+json' \\
            --data '{"schema": "{\\"type\\":\\"record\\",\\"name\\":\\"Order\\",\\"fields\\":[{\\"name\\":\\"id\\",\\"type\\":\\"long\\"}]}"}' \\
            http://127.0.0.1:8081/subjects/orders-value/versions

        A job reads Confluent-framed Avro and Protobuf values with it through source.schemaRegistry (docs/value-formats.md).
        """
    )

    @Option(help: "Port to listen on (default 8081); 0 picks a free one (printed in the ready line).")
    var port: Int = 8081

    @Option(help: "Address to bind.")
    var host: String = "127.0.0.1"

    @Option(name: .customLong("user"), help: ArgumentHelp("A user for HTTP basic authentication, repeatable: USER:PASSWORD, USER:env:VARIABLE or USER:file:PATH. Without it, no authentication.", valueName: "USER:SECRET"))
    var users: [String] = []

    func run() async throws {
        let accepted: [DevRegistryServer.User]
        do {
            guard (0...65535).contains(port) else { throw SluiceError.invalid("--port must be 0…65535, not \(port)") }
            accepted = try users.map { (u) throws(SluiceError) in try DevRegistryServer.User(parsing: u) }
        } catch let error as SluiceError {
            FileHandle.standardError.write(Data("sluice dev-registry: \(error)\n".utf8))
            throw ExitCode(error.exitCode)
        }
        // Standard output holds the ready line only: the server's log goes to standard error.
        var logger = Logger(label: "sluice.dev-registry") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .warning
        let host = self.host
        let app = DevRegistryServer.make(host: host, port: port, users: accepted, logger: logger) { bound in
            FileHandle.standardOutput.write(Data("ready \(host):\(bound)\n".utf8))
        }
        do {
            try await app.runService()
        } catch {
            FileHandle.standardError.write(Data("sluice dev-registry: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
