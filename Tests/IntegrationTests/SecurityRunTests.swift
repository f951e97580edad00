import Foundation
import Testing
import SluiceTestSupport
import SluiceCore
import SluiceKafka
import SluiceWarehouse

/// A `sluice dev-kafka` process with a PLAINTEXT listener (where the test produces) and secured
/// ones, certificates made by openssl for the test, one SASL user per mechanism, and a directory
/// for the job files and their warehouse.
final class SecureCluster: Sendable {
    static let users = [("PLAIN", "plain-user", "plain pass"), ("SCRAM-SHA-256", "scram256-user", "scram256-pass"),
                        ("SCRAM-SHA-512", "scram512-user", "scram512:pass=odd")]
    let broker: DevKafkaProcess
    let plaintext: String
    let listeners: [String: String]
    let certificates: TestCertificates
    let directory: TemporaryDirectory

    init(broker: DevKafkaProcess, plaintext: String, listeners: [String: String], certificates: TestCertificates,
         directory: TemporaryDirectory) {
        self.broker = broker
        self.plaintext = plaintext
        self.listeners = listeners
        self.certificates = certificates
        self.directory = directory
    }

    /// Starts the broker with `secured` listeners, serving `certificate` (default: the good one for
    /// localhost and 127.0.0.1) and asking clients for a certificate when `mutual`; `mechanisms`
    /// are the SASL mechanisms it enables.
    static func start(_ secured: [String], certificate: ((TestCertificates) -> String)? = nil, mutual: Bool = false,
                      mechanisms: Set<String> = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]) async throws -> SecureCluster {
        let certificates = try await TestCertificates.make()
        var arguments = ["--listener", "PLAINTEXT://127.0.0.1:0"] + secured.flatMap { ["--listener", "\($0)://127.0.0.1:0"] }
        arguments += ["--tls-cert", certificate?(certificates) ?? certificates.serverCert, "--tls-key", certificates.serverKey]
        if mutual { arguments += ["--tls-ca", certificates.ca] }
        var environment: [String: String] = [:]
        if secured.contains(where: { $0.hasPrefix("SASL") }) {
            for (i, (mechanism, user, password)) in users.enumerated() where mechanisms.contains(mechanism) {
                arguments += ["--sasl-\(mechanism.lowercased())", "\(user):env:DK_PASSWORD_\(i)"]
                environment["DK_PASSWORD_\(i)"] = password
            }
        }
        let (broker, ready) = try await DevKafkaProcess.ready(arguments + ["--topic", "events:2"], environment: environment)
        var listeners: [String: String] = [:]
        for line in await broker.errorLines(count: secured.count + 2, timeout: .seconds(5)) where line.hasPrefix("listener ") {
            let parts = line.split(separator: " ")
            if parts.count == 3 { listeners[String(parts[1])] = String(parts[2]) }
        }
        guard listeners.count == secured.count else {
            broker.process.signal(SIGKILL)
            throw FixtureError("dev-kafka printed listeners \(listeners), expected \(secured)")
        }
        return SecureCluster(broker: broker, plaintext: ready, listeners: listeners, certificates: certificates,
                             directory: try TemporaryDirectory(prefix: "sluice-secure"))
    }

    func stop() async {
        await broker.stop()
        certificates.remove()
    }

    func path(_ name: String) -> String { directory.file(name) }

    /// The window the jobs read: 2022-11-22 09:00–10:00 UTC (the instance at 10:05, hourly).
    static let windowStart: Int64 = 1_669_107_600_000

    /// Two records per partition inside the window, one before it and one after it.
    func produce() async throws {
        let producer = try KafkaProducer(bootstrapServers: plaintext)
        try await producer.perform { p in
            for partition: Int32 in 0...1 {
                for (i, offsetMillis) in [Int64(-60_000), 0, 1_800_000, 3_660_000].enumerated() {
                    try p.send(topic: "events", partition: partition, key: Array("k\(partition)-\(i)".utf8),
                               value: Array("v\(i)".utf8), timestamp: Self.windowStart + offsetMillis)
                }
            }
            try p.flush(timeoutSeconds: 30)
        }
    }

    /// The rows of the hour's partition, `key|partition|offset`.
    func rows() async throws -> [String] {
        guard FileManager.default.fileExists(atPath: path("warehouse.db")) else { return [] }
        let out = TextCollector()
        do {
            try await Warehouse(path: path("warehouse.db"))
                .query("SELECT k, p, o FROM t WHERE ds = '2022112209' ORDER BY p, o", format: .csv) { out.append($0) }
        } catch {
            return []  // no table yet
        }
        return out.text.split(whereSeparator: \.isNewline).dropFirst().map { $0.replacingOccurrences(of: ",", with: "|") }
    }

    static let expectedRows = ["k0-1|0|1", "k0-2|0|2", "k1-1|1|1", "k1-2|1|2"]

    /// Writes a job `name` reading `bootstrap` with `source` (YAML lines under `source:`, indented two
    /// spaces) into the warehouse's table `t`, hourly in UTC.
    func writeJob(_ name: String, bootstrap: String, source: String) throws -> String {
        try Self.writeJob(path(name + ".yaml"), name: name, bootstrap: bootstrap, source: source)
    }

    static func writeJob(_ file: String, name: String, bootstrap: String, source: String) throws -> String {
        try """
        name: \(name)
        source:
          bootstrapServers: \(bootstrap)
          topic: events
          timeZone: UTC
        \(source)
        columns: [__key__, __partition__, __offset__]
        destination:
          path: warehouse.db
          table: t
          partition: "ds=${partition}"
          columns: [k, p, o]
          columnTypes: { p: BIGINT, o: BIGINT }
        \(hourlyScheduleYAML())

        """.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    /// `sluice run JOB` for the instance of 2022-11-22 10:05 UTC, and how long it took.
    func run(_ job: String, environment: [String: String] = [:]) async throws -> (ProcessResult, Duration) {
        try await Self.run(job, environment: environment)
    }

    static func run(_ job: String, environment: [String: String] = [:]) async throws -> (ProcessResult, Duration) {
        let started = ContinuousClock.now
        // A run librdkafka kept retrying would be killed at the timeout: its status (a signal's) fails the test.
        let result = try await SluiceBinary.run(["run", job, "--at", "2022-11-22 10:05:00", "--create-table"],
                                                environment: environment, timeout: .seconds(120))
        return (result, started.duration(to: .now))
    }

    /// The instance read over PLAINTEXT, so that a failed secured run has something to leave unchanged.
    func landOverPlaintext() async throws {
        let job = try writeJob("plain", bootstrap: plaintext, source: "")
        let (r, _) = try await run(job)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try await rows() == Self.expectedRows)
    }

    /// The SASL settings of `mechanism`'s user as a security block.
    static func saslBlock(_ mechanism: String, protocolName: String = "SASL_SSL", caFile: String = "ca.pem") -> String {
        let user = users.first { $0.0 == mechanism }!.1
        return """
          security:
            protocol: \(protocolName)
            mechanism: \(mechanism)
            username: \(user)
            password: "${env:KAFKA_TEST_PASSWORD}"
        """ + (protocolName == "SASL_SSL" ? "\n    caFile: \(caFile)" : "")
    }

    static func password(_ mechanism: String) -> String { users.first { $0.0 == mechanism }!.2 }

    /// The files under the job's directory (the ledger in `.sluice/`, the warehouse, …) whose bytes
    /// contain `text`.
    func filesContaining(_ text: String) throws -> [String] {
        let needle = Data(text.utf8)
        let root = URL(fileURLWithPath: path(""))
        guard let walk = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil) else { return [] }
        return walk.compactMap { $0 as? URL }.filter { url in
            (try? Data(contentsOf: url))?.range(of: needle) != nil
        }.map(\.path)
    }

    /// Copies a certificate file into the job's directory (jobs name them relative to themselves).
    func copy(_ file: String, as name: String) throws {
        try? FileManager.default.removeItem(atPath: path(name))
        try FileManager.default.copyItem(atPath: file, toPath: path(name))
    }
}

@Suite("Secured clusters end to end: sluice run against sluice dev-kafka over TLS and SASL")
struct SecurityRunTests {
    @Test("SASL_SSL with each mechanism: the security block, the password from the environment",
          arguments: ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
    func saslSSL(mechanism: String) async throws {
        let cluster = try await SecureCluster.start(["SASL_SSL"])
        defer { Task { await cluster.stop() } }
        try await cluster.produce()
        try cluster.copy(cluster.certificates.ca, as: "ca.pem")
        let job = try cluster.writeJob("secure", bootstrap: try #require(cluster.listeners["SASL_SSL"]),
                                       source: SecureCluster.saslBlock(mechanism))
        let password = SecureCluster.password(mechanism)
        let (r, _) = try await cluster.run(job, environment: ["KAFKA_TEST_PASSWORD": password])
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
        #expect(try await cluster.rows() == SecureCluster.expectedRows)
        #expect(!(r.stdout + r.stderr).contains(password))
        let shown = try await SluiceBinary.run(["show", job])
        #expect(shown.status == 0 && shown.stdout.contains("protocol: SASL_SSL") && shown.stdout.contains("${env:KAFKA_TEST_PASSWORD}"))
    }

    @Test("mutual TLS: the client certificate and key of the security block, paths relative to the job")
    func mutualTLS() async throws {
        let cluster = try await SecureCluster.start(["SSL"], mutual: true)
        defer { Task { await cluster.stop() } }
        try await cluster.produce()
        for (file, name) in [(cluster.certificates.ca, "ca.pem"), (cluster.certificates.clientCert, "client.pem"),
                             (cluster.certificates.clientKey, "client.key")] {
            try cluster.copy(file, as: name)
        }
        let job = try cluster.writeJob("mtls", bootstrap: try #require(cluster.listeners["SSL"]), source: """
          security:
            protocol: SSL
            caFile: ca.pem
            certificateFile: client.pem
            keyFile: client.key
        """)
        let (r, _) = try await cluster.run(job)
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
        #expect(try await cluster.rows() == SecureCluster.expectedRows)
    }

    @Test("DataWorks' kafkaConfig keys: a JAAS login file, a PEM trust store, sasl.mechanism, endpoint identification off")
    func dataWorksKafkaConfig() async throws {
        let cluster = try await SecureCluster.start(["SASL_SSL"])
        defer { Task { await cluster.stop() } }
        try await cluster.produce()
        try cluster.copy(cluster.certificates.ca, as: "ca.pem")
        try """
        KafkaClient {
          org.apache.kafka.common.security.scram.ScramLoginModule required
          username="scram512-user"
          password="\(SecureCluster.password("SCRAM-SHA-512"))";
        };
        """.write(toFile: cluster.path("kafka_client_jaas.conf"), atomically: true, encoding: .utf8)
        let job = try cluster.writeJob("dataworks_style", bootstrap: try #require(cluster.listeners["SASL_SSL"]), source: """
          kafkaConfig:
            security.protocol: SASL_SSL
            sasl.mechanism: SCRAM-SHA-512
            java.security.auth.login.config: kafka_client_jaas.conf
            ssl.truststore.type: PEM
            ssl.truststore.location: ca.pem
            ssl.endpoint.identification.algorithm: ""
        """)
        let validated = try await SluiceBinary.run(["validate", job])
        #expect(validated.status == 0, "\(validated.stderr)")
        let (r, _) = try await cluster.run(job)
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
        #expect(try await cluster.rows() == SecureCluster.expectedRows)
        #expect(!(r.stdout + r.stderr).contains(SecureCluster.password("SCRAM-SHA-512")))

        // The same with sasl.jaas.config from a secret file over SASL_PLAINTEXT is covered by the
        // failure tests' listeners; here: a JAAS text in the environment.
        let inline = try cluster.writeJob("jaas_env", bootstrap: try #require(cluster.listeners["SASL_SSL"]), source: """
          kafkaConfig:
            security.protocol: SASL_SSL
            sasl.mechanism: PLAIN
            sasl.jaas.config: "${env:KAFKA_JAAS}"
            ssl.ca.location: ca.pem
        """)
        let jaas = #"org.apache.kafka.common.security.plain.PlainLoginModule required username="plain-user" password="plain pass";"#
        let (again, _) = try await cluster.run(inline, environment: ["KAFKA_JAAS": jaas])
        #expect(again.status == 0, "\(again.stdout)\n\(again.stderr)")
        #expect(!(again.stdout + again.stderr).contains("plain pass"))
    }

    /// Runs `job` expecting the instance to fail at once: exit 1, one error line naming `cause`,
    /// no secret, and the partition as it was.
    func expectFailure(_ cluster: SecureCluster, _ job: String, cause: String, secret: String? = nil,
                       environment: [String: String] = [:]) async throws {
        let (r, _) = try await cluster.run(job, environment: environment)
        #expect(r.status == 1, "\(r.stdout)\n\(r.stderr)")
        let errors = r.stderr.split(separator: "\n").filter { $0.hasPrefix("error: ") }
        #expect(errors.count == 1, "\(r.stderr)")
        #expect(errors.first?.contains(cause) == true, "\(r.stderr)")
        #expect(r.stderr.split(separator: "\n").allSatisfy { !$0.hasPrefix("  hint:") }, "one line: \(r.stderr)")
        if let secret {
            #expect(!(r.stdout + r.stderr).contains(secret))
            // Nor in the ledger (its recorded error and log), the warehouse or any other file the run wrote.
            #expect(try cluster.filesContaining(secret).isEmpty)
        }
        #expect(try await cluster.rows() == SecureCluster.expectedRows, "the partition changed")
    }

    @Test("a wrong password: exit 1 at once, naming the refused password, not the password")
    func wrongPassword() async throws {
        let cluster = try await SecureCluster.start(["SASL_SSL"])
        defer { Task { await cluster.stop() } }
        try await cluster.produce()
        try await cluster.landOverPlaintext()
        try cluster.copy(cluster.certificates.ca, as: "ca.pem")
        let job = try cluster.writeJob("secure", bootstrap: try #require(cluster.listeners["SASL_SSL"]),
                                       source: SecureCluster.saslBlock("SCRAM-SHA-256"))
        try await expectFailure(cluster, job, cause: "refused the user name or password", secret: "Wr0ng-Passw0rd",
                                environment: ["KAFKA_TEST_PASSWORD": "Wr0ng-Passw0rd"])
    }

    @Test("a mechanism the brokers do not enable: exit 1 at once, naming it")
    func unknownMechanism() async throws {
        let cluster = try await SecureCluster.start(["SASL_SSL"], mechanisms: ["PLAIN"])
        defer { Task { await cluster.stop() } }
        try await cluster.produce()
        try await cluster.landOverPlaintext()
        try cluster.copy(cluster.certificates.ca, as: "ca.pem")
        let job = try cluster.writeJob("secure", bootstrap: try #require(cluster.listeners["SASL_SSL"]),
                                       source: SecureCluster.saslBlock("SCRAM-SHA-512"))
        try await expectFailure(cluster, job, cause: "do not enable the mechanism", secret: "scram512:pass=odd",
                                environment: ["KAFKA_TEST_PASSWORD": "scram512:pass=odd"])
    }

    static let certificateProblems: [(String, String)] = [
        ("untrusted", "not signed by a CA this job trusts"),
        ("expired", "has expired"),
        ("wrong host", "host name mismatch"),
    ]

    @Test("a broker certificate the job cannot trust: exit 1 at once, naming why",
          arguments: certificateProblems.map(\.0))
    func untrustedCertificate(problem: String) async throws {
        let cause = Self.certificateProblems.first { $0.0 == problem }!.1
        let cluster = try await SecureCluster.start(["SASL_SSL"], certificate: { c in
            problem == "expired" ? c.expiredCert : problem == "wrong host" ? c.wrongHostCert : c.serverCert
        })
        defer { Task { await cluster.stop() } }
        try await cluster.produce()
        try await cluster.landOverPlaintext()
        try cluster.copy(problem == "untrusted" ? cluster.certificates.otherCA : cluster.certificates.ca, as: "ca.pem")
        let job = try cluster.writeJob("secure", bootstrap: try #require(cluster.listeners["SASL_SSL"]),
                                       source: SecureCluster.saslBlock("PLAIN"))
        try await expectFailure(cluster, job, cause: cause, secret: "plain pass",
                                environment: ["KAFKA_TEST_PASSWORD": "plain pass"])
    }

    @Test("a resolved reference in a key that is not secret is never printed; validate and run refuse it alike")
    func referenceInAKeyThatIsNotSecret() async throws {
        let dir = try TemporaryDirectory(prefix: "sluice-secret-key")
        let job = try SecureCluster.writeJob(dir.file("mech.yaml"), name: "mech", bootstrap: "127.0.0.1:9", source: """
          kafkaConfig:
            security.protocol: SASL_PLAINTEXT
            sasl.mechanism: "${env:KPASS}"
            sasl.username: u
            sasl.password: "${env:KPASS}"
        """)
        let secret = "Sup3r-Secret-Mechanism"
        let (run, _) = try await SecureCluster.run(job, environment: ["KPASS": secret])
        let validate = try await SluiceBinary.run(["validate", job], environment: ["KPASS": secret])
        #expect(run.status == 2 && validate.status == 2, "\(run.stderr)\n\(validate.stderr)")
        for text in [run.stdout, run.stderr, validate.stdout, validate.stderr] {
            #expect(!text.lowercased().contains(secret.lowercased()), "\(text)")
        }
        let line = "\(job):source.kafkaConfig.sasl.mechanism: kafkaConfig sasl.mechanism is not a SASL mechanism"
        #expect(run.stderr.contains(line) && validate.stderr.contains(line), "\(run.stderr)\n\(validate.stderr)")
    }
}
