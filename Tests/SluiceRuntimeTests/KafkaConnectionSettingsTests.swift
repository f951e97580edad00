import Foundation
import Testing
import SluiceCore
import SluiceJob
import SluiceKafka
import SluiceTestSupport
@testable import SluiceRuntime

/// Secret references and connection settings resolved at the edge, the one place that reads the
/// environment and files for them.
@Suite struct KafkaConnectionSettingsTests {
    @Test func secretReferences() throws {
        let dir = try TemporaryDirectory(prefix: "sluice-secrets")
        try "from-file\n".write(toFile: dir.file("pw.txt"), atomically: true, encoding: .utf8)
        let secrets = SecretResolver(environment: ["PW": "from-env"], relativeTo: dir.path)
        #expect(try secrets.resolve(.env("PW")).reveal() == "from-env")
        #expect(try secrets.resolve(.file("pw.txt")).reveal() == "from-file")
        #expect(try secrets.resolve(.literal("x")).reveal() == "x")
        let missing = try #require(throws: SluiceError.self) { try secrets.resolve(.env("NOT_SET")) }
        #expect(missing.message.contains("NOT_SET") && missing.kind == .invalidInput)
        #expect(secrets.resolveIfAvailable(.file("nope.txt")) == nil)
        #expect(secrets.path("/abs/x") == "/abs/x" && secrets.path("x") == dir.file("x"))
    }

    static func job(_ dir: TemporaryDirectory, source: String, name: String = "job.yaml") throws -> LoadedJob {
        let yaml = """
        source:
          bootstrapServers: "h:9093"
          topic: t
          begin: { earliest: true }
          end: { latest: true }
        \(source)
        columns: [__value__]
        destination: { path: w.db, table: t, columns: [v] }
        """
        return try JobLoader.parse(data: Data(yaml.utf8), fileName: dir.file(name), directory: dir.path)
    }

    @Test func theSecurityBlockResolvedWithPathsRelativeToTheJob() throws {
        let dir = try TemporaryDirectory(prefix: "sluice-settings")
        try "pem".write(toFile: dir.file("ca.pem"), atomically: true, encoding: .utf8)
        let job = try Self.job(dir, source: """
          security: { protocol: SASL_SSL, mechanism: PLAIN, username: "${env:USER_REF}", password: "${env:PW}", caFile: ca.pem }
          kafkaConfig: { fetch.min.bytes: "5" }
        """)
        let settings = try KafkaConnectionSettings.resolve(job, secrets: SecretResolver(environment: ["PW": "pw", "USER_REF": "alice"],
                                                                                        relativeTo: dir.path))
        let byKey = Dictionary(uniqueKeysWithValues: settings.map { ($0.key, $0.value) })
        #expect(byKey["ssl.ca.location"] == .text(dir.file("ca.pem")))
        #expect(byKey["sasl.password"] == .secret(Secret("pw")))
        // A reference is a secret whichever key holds it.
        #expect(byKey["sasl.username"] == .secret(Secret("alice")))
        #expect(byKey["fetch.min.bytes"] == .text("5"))

        let missing = try Self.job(dir, source: "  security: { protocol: SSL, caFile: nowhere.pem }")
        let error = try #require(throws: JobFileError.self) {
            try KafkaConnectionSettings.resolve(missing, secrets: SecretResolver(relativeTo: dir.path))
        }
        #expect(error.diagnostics.map(\.path) == ["source.security.caFile"])
        #expect(error.diagnostics.first?.message.contains("no such file \(dir.file("nowhere.pem"))") == true)
    }

    @Test func theJaasLoginFileIsReadAndItsPasswordIsSecret() throws {
        let dir = try TemporaryDirectory(prefix: "sluice-settings")
        try #"KafkaClient { org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="in-file"; };"#
            .write(toFile: dir.file("jaas.conf"), atomically: true, encoding: .utf8)
        let job = try Self.job(dir, source: "  kafkaConfig: { security.protocol: SASL_PLAINTEXT, java.security.auth.login.config: jaas.conf }")
        let settings = try KafkaConnectionSettings.resolve(job, secrets: SecretResolver(relativeTo: dir.path))
        #expect(settings.first { $0.key == "java.security.auth.login.config" }?.value.isSecretValue == true)
        #expect(KafkaSource.checkSettings(settings).problems.isEmpty)
    }

    @Test("validate and a run refuse the same settings with the same lines")
    func validateSaysWhatARunSays() throws {
        let dir = try TemporaryDirectory(prefix: "sluice-settings")
        let job = try Self.job(dir, source: """
          kafkaConfig:
            bootstrap.servers: "x:1"
            ssl.truststore.location: /etc/kafka/truststore.jks
            no.such.property: "1"
            sasl.password: "${env:NOT_SET_HERE}"
            key.deserializer: org.apache.kafka.common.serialization.StringDeserializer
        """)
        let secrets = SecretResolver(environment: [:], relativeTo: dir.path)
        let validated = KafkaConnectionSettings.validate(job, secrets: secrets)
        let errors = validated.filter { $0.severity == .error }
        #expect(Set(errors.map(\.path)) == ["source.kafkaConfig.bootstrap.servers", "source.kafkaConfig.ssl.truststore.location",
                                            "source.kafkaConfig.no.such.property"], "\(validated)")
        #expect(validated.contains { $0.severity == .warning && $0.message.contains("key.deserializer") })
        // A run also needs the secret; with it, it refuses the same three, saying the same.
        let ran = try #require(throws: JobFileError.self) {
            try KafkaConnectionSettings.resolve(job, secrets: SecretResolver(environment: ["NOT_SET_HERE": "a-secret"], relativeTo: dir.path))
        }
        #expect(ran.diagnostics == errors)
        let unresolved = try #require(throws: JobFileError.self) { try KafkaConnectionSettings.resolve(job, secrets: secrets) }
        #expect(unresolved.diagnostics.contains { $0.path == "source.kafkaConfig.sasl.password" && $0.message.contains("NOT_SET_HERE is not set") })
    }

    @Test func dataWorksPathsNameTheReaderStep() throws {
        let dir = try TemporaryDirectory(prefix: "sluice-settings")
        let json = """
        {"type":"job","steps":[{"stepType":"odps","category":"writer","parameter":{"datasource":"o","table":"t","column":["v"],"truncate":true}},
         {"stepType":"kafka","category":"reader","parameter":{"server":"h:9092","topic":"t","column":["__value__"],
          "beginOffset":"0","endOffset":"seekToEnd","kafkaConfig":{"ssl.keystore.type":"JKS"}}}]}
        """
        let job = try JobLoader.parse(data: Data(json.utf8), fileName: dir.file("dw.json"), directory: dir.path)
        let problems = KafkaConnectionSettings.validate(job, secrets: SecretResolver(relativeTo: dir.path))
        #expect(problems.map(\.path) == ["steps[1].parameter.kafkaConfig.ssl.keystore.type"], "\(problems)")
    }
}

extension KafkaSetting.Value {
    var isSecretValue: Bool { if case .secret = self { true } else { false } }
}
