import ArgumentParser
import Foundation
import Logging
import SluiceCore
import SluiceDevKafka

/// `sluice dev-kafka`: runs the development Kafka broker until SIGINT/SIGTERM.
struct DevKafkaCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dev-kafka",
        abstract: "Run a small Kafka-protocol broker for development, tests and fault injection.",
        discussion: """
        A single-node broker speaking the Kafka wire protocol of Kafka 2.2 (default) or 0.10.2, with topics in memory (or in --data-dir). Not a production broker. When it accepts connections it prints exactly one line, `ready <host>:<port>` (the first listener), on standard output; it runs until SIGINT or SIGTERM.

        Topics: --topic NAME[:PARTITIONS[:createtime|logappendtime]], repeatable.

        Listeners: without --listener, one PLAINTEXT listener on --host:--port. Each --listener NAME://HOST:PORT adds one, NAME being PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL; every listener after the first is printed on standard error as `listener NAME <host>:<port>`. Metadata tells each client the address of the listener it connected through; the host is --advertised-host, else the bind host, else (for 0.0.0.0 or ::) the machine's host name.

        TLS (SSL, SASL_SSL): --tls-cert and --tls-key (PEM); with --tls-ca, clients must present a certificate that CA signed (mutual TLS).

        SASL (SASL_PLAINTEXT, SASL_SSL): --sasl-plain, --sasl-scram-sha-256 and --sasl-scram-sha-512 each add one user, repeatable. Give the secret as USER:env:VARIABLE (an environment variable) or USER:file:PATH (a file, one trailing newline dropped); USER:PASSWORD also works but shows the password in ps. Passwords are never printed.

        With --admin-port it also serves a line protocol for fault injection, on --admin-host (default 127.0.0.1, even with --host 0.0.0.0: it has no authentication); its address goes to standard error as `admin <host>:<port>`: drop-connections | fail API_KEY COUNT ERROR_CODE | delay MS [API_KEY] | refuse MS | down MS | delete-records TOPIC PARTITION OFFSET | create-topic SPEC | watermarks TOPIC PARTITION | produce TOPIC PARTITION TIMESTAMP_MS KEY|- VALUE

        Examples:
          sluice dev-kafka --port 9092 --topic events:3 --topic audit:1:logappendtime
          sluice dev-kafka --port 0 --kafka-version 0.10.2 --admin-port 0
          ALICE_PASSWORD=alice-secret sluice dev-kafka --listener PLAINTEXT://127.0.0.1:9092 --listener SASL_SSL://127.0.0.1:9094 --tls-cert server.pem --tls-key server.key --sasl-scram-sha-256 alice:env:ALICE_PASSWORD --topic events
          kcat -b 127.0.0.1:9094 -X security.protocol=SASL_SSL -X sasl.mechanisms=SCRAM-SHA-256 -X sasl.username=alice -X sasl.password=alice-secret -X ssl.ca.location=ca.pem -L

        See docs/dev-kafka.md for making the certificates and each client's settings.
        """
    )

    @Option(help: "Port of the default PLAINTEXT listener (default 9092); 0 picks a free one (printed in the ready line). Not with --listener.")
    var port: Int?

    @Option(help: "Address to bind (the default listener's, and that of listeners given without a host).")
    var host: String = "127.0.0.1"

    @Option(name: .customLong("listener"), help: ArgumentHelp("A listener, repeatable: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL://HOST:PORT (port 0: a free one). The first is the ready line's.", valueName: "NAME://HOST:PORT"))
    var listeners: [String] = []

    @Option(name: .customLong("advertised-host"), help: "Host name Metadata gives clients (default: the bind host; the machine's host name when binding 0.0.0.0 or ::).")
    var advertisedHost: String?

    @Option(name: .customLong("tls-cert"), help: ArgumentHelp("PEM certificate (and chain) of SSL and SASL_SSL listeners.", valueName: "file"))
    var tlsCert: String?

    @Option(name: .customLong("tls-key"), help: ArgumentHelp("PEM private key of --tls-cert (unencrypted).", valueName: "file"))
    var tlsKey: String?

    @Option(name: .customLong("tls-ca"), help: ArgumentHelp("PEM CA certificate(s): TLS clients must present a certificate it signed (mutual TLS).", valueName: "file"))
    var tlsCA: String?

    @Option(name: .customLong("sasl-plain"), help: ArgumentHelp("A SASL/PLAIN user, repeatable: USER:PASSWORD, USER:env:VARIABLE or USER:file:PATH.", valueName: "USER:SECRET"))
    var saslPlain: [String] = []

    @Option(name: .customLong("sasl-scram-sha-256"), help: ArgumentHelp("A SCRAM-SHA-256 user, repeatable (USER:SECRET as for --sasl-plain).", valueName: "USER:SECRET"))
    var saslScram256: [String] = []

    @Option(name: .customLong("sasl-scram-sha-512"), help: ArgumentHelp("A SCRAM-SHA-512 user, repeatable (USER:SECRET as for --sasl-plain).", valueName: "USER:SECRET"))
    var saslScram512: [String] = []

    @Option(name: .customLong("kafka-version"), help: "Broker personality: 2.2 or 0.10.2.")
    var kafkaVersion: String = "2.2"

    @Option(name: .customLong("topic"), help: "A topic to create: NAME[:PARTITIONS[:createtime|logappendtime]].")
    var topics: [String] = []

    @Flag(name: .customLong("auto-create-topics"), help: "Create unknown topics named in Metadata requests.")
    var autoCreateTopics = false

    @Option(name: .customLong("default-partitions"), help: "Partitions of auto-created topics.")
    var defaultPartitions: Int = 1

    @Option(name: .customLong("data-dir"), help: "Keep topics, records and committed offsets in this directory.")
    var dataDir: String?

    @Flag(help: "Log closed connections and their reasons on standard error.")
    var verbose = false

    @Option(name: .customLong("admin-port"), help: "Serve the fault-injection line protocol on this port (0: a free one). It has no authentication.")
    var adminPort: Int?

    @Option(name: .customLong("admin-host"), help: "Address the admin port binds to.")
    var adminHost: String = "127.0.0.1"

    /// Checks the flags; invalid input exits 2 with the reason on standard error.
    func configuration() throws -> DevKafkaConfiguration {
        do {
            guard let version = KafkaVersion(rawValue: kafkaVersion) else {
                throw SluiceError.invalid("--kafka-version must be 2.2 or 0.10.2, not '\(kafkaVersion)'")
            }
            if let port, !(0...65535).contains(port) { throw SluiceError.invalid("--port must be 0…65535, not \(port)") }
            if port != nil && !listeners.isEmpty {
                throw SluiceError.invalid("--port is the default listener's; with --listener give each listener's port",
                                          hint: "e.g. --listener PLAINTEXT://127.0.0.1:9092 --listener SASL_SSL://127.0.0.1:9094")
            }
            if let adminPort, !(0...65535).contains(adminPort) {
                throw SluiceError.invalid("--admin-port must be 0…65535, not \(adminPort)")
            }
            guard (1...10_000).contains(defaultPartitions) else {
                throw SluiceError.invalid("--default-partitions must be 1…10000, not \(defaultPartitions)")
            }
            let specs = try topics.map { try DevKafkaTopic(parsing: $0) }
            var log: (@Sendable (String) -> Void)? = nil
            if verbose {
                log = { @Sendable (line: String) in FileHandle.standardError.write(Data("dev-kafka: \(line)\n".utf8)) }
            }
            return DevKafkaConfiguration(host: host, port: port ?? 9092, version: version, topics: specs,
                                         autoCreateTopics: autoCreateTopics, defaultPartitions: defaultPartitions,
                                         dataDirectory: dataDir, log: log,
                                         listeners: try listeners.map { try DevKafkaListener(parsing: $0, defaultHost: host) },
                                         advertisedHost: advertisedHost, tls: try tls(), saslUsers: try saslUsers())
        } catch let error as SluiceError {
            FileHandle.standardError.write(Data("sluice dev-kafka: \(error)\n".utf8))
            throw ExitCode(error.exitCode)
        }
    }

    func tls() throws -> DevKafkaTLS? {
        switch (tlsCert, tlsKey) {
        case let (cert?, key?):
            return DevKafkaTLS(certificateFile: cert, privateKeyFile: key, clientCAFile: tlsCA)
        case (nil, nil):
            if tlsCA != nil { throw SluiceError.invalid("--tls-ca needs --tls-cert and --tls-key") }
            return nil
        default:
            throw SluiceError.invalid("--tls-cert and --tls-key go together", hint: "give both PEM files")
        }
    }

    func saslUsers() throws -> [DevKafkaSaslUser] {
        try saslPlain.map { try DevKafkaSaslUser(parsing: $0, mechanism: .plain) }
            + saslScram256.map { try DevKafkaSaslUser(parsing: $0, mechanism: .scramSHA256) }
            + saslScram512.map { try DevKafkaSaslUser(parsing: $0, mechanism: .scramSHA512) }
    }

    func run() async throws {
        let config = try configuration()
        let broker: DevKafkaBroker
        do {
            broker = try await DevKafkaBroker.start(config)
            for warning in broker.warnings {
                FileHandle.standardError.write(Data("sluice dev-kafka: warning: \(warning)\n".utf8))
            }
            for listener in broker.listeners.dropFirst() {
                FileHandle.standardError.write(Data("listener \(listener.securityProtocol.rawValue) \(listener.address)\n".utf8))
            }
            if let adminPort {
                let bound = try await broker.startAdmin(host: adminHost, port: adminPort)
                FileHandle.standardError.write(Data("admin \(adminHost):\(bound)\n".utf8))
            }
        } catch {
            FileHandle.standardError.write(Data("sluice dev-kafka: \(error)\n".utf8))
            throw ExitCode((error as? SluiceError)?.exitCode ?? 1)
        }
        FileHandle.standardOutput.write(Data("ready \(broker.bootstrapServers)\n".utf8))
        // Standard output holds the ready line only: the service group's log goes to standard error.
        var logger = Logger(label: "sluice.dev-kafka") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .warning
        try await DevKafkaService(broker: broker).serve(logger: logger)
    }
}
