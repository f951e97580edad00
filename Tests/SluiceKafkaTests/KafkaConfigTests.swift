import Foundation
import SluiceCore
import Testing
@testable import SluiceKafka
import SluiceJob

@Suite struct KafkaConfigTests {
    func translate(_ pairs: [(String, String)]) throws -> KafkaConfigTranslation.Result {
        try KafkaConfigTranslation.translate(pairs.map { (key: $0.0, value: $0.1) })
    }

    @Test func plainJaasBecomesUsernameAndPassword() throws {
        let r = try translate([
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.jaas.config", #"org.apache.kafka.common.security.plain.PlainLoginModule required username="alice" password="s3cr\"et";"#),
        ])
        let d = Dictionary(uniqueKeysWithValues: r.properties.map { ($0.key, $0.value) })
        #expect(d["sasl.username"] == "alice")
        #expect(d["sasl.password"] == #"s3cr"et"#)
        #expect(d["sasl.mechanisms"] == "PLAIN")
        #expect(d["security.protocol"] == "SASL_PLAINTEXT")
        #expect(d["sasl.jaas.config"] == nil)
    }

    @Test func scramNeedsAMechanism() throws {
        let jaas = "org.apache.kafka.common.security.scram.ScramLoginModule required username=bob password=pw;"
        let r = try translate([("sasl.mechanism", "SCRAM-SHA-512"), ("sasl.jaas.config", jaas)])
        let d = Dictionary(uniqueKeysWithValues: r.properties.map { ($0.key, $0.value) })
        #expect(d["sasl.mechanisms"] == "SCRAM-SHA-512")
        #expect(d["sasl.username"] == "bob" && d["sasl.password"] == "pw")
        #expect(throws: SluiceError.self) { try translate([("sasl.jaas.config", jaas)]) }
    }

    @Test func errorsNeverContainTheSecret() throws {
        let bad = #"org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="topsecret"#
        do {
            _ = try translate([("sasl.jaas.config", bad)])
            Issue.record("expected an error")
        } catch let e as SluiceError {
            #expect(!e.description.contains("topsecret"))
        }
        do {
            _ = try translate([("sasl.jaas.config", "com.sun.security.auth.module.Krb5LoginModule required keyTab=\"topsecret\";")])
            Issue.record("expected an error")
        } catch let e as SluiceError {
            #expect(!e.description.contains("topsecret"))
            #expect(e.hint?.contains("sasl.kerberos") == true)
        }
        // librdkafka rejects the value: the message names the key only.
        do {
            _ = try KafkaSource(bootstrapServers: ["127.0.0.1:1"], topic: "t",
                                kafkaConfig: [KafkaConfigEntry(key: "sasl.password", value: .env("PW")),
                                              KafkaConfigEntry(key: "ssl.key.password", value: .literal("topsecret")),
                                              KafkaConfigEntry(key: "socket.timeout.ms", value: .literal("topsecret"))],
                                environment: ["PW": "hunter2"])
            Issue.record("expected an error")
        } catch let e as SluiceError {
            #expect(!e.description.contains("hunter2"))
            #expect(e.description.contains("socket.timeout.ms"))
        }
    }

    @Test func javaTrustStoreIsRejectedWithAnAlternative() throws {
        do {
            _ = try translate([("ssl.truststore.location", "/etc/kafka/truststore.jks")])
            Issue.record("expected an error")
        } catch let e as SluiceError {
            #expect(e.kind == .invalidInput)
            #expect(e.hint?.contains("ssl.ca.location") == true)
        }
    }

    @Test func endpointIdentificationAndRenames() throws {
        let r = try translate([("ssl.endpoint.identification.algorithm", ""), ("fetch.max.wait.ms", "100"),
                               ("key.deserializer", "org.apache.kafka.common.serialization.StringDeserializer"),
                               ("enable.auto.commit", "true"), ("group.id", "g1")])
        let d = Dictionary(uniqueKeysWithValues: r.properties.map { ($0.key, $0.value) })
        #expect(d["ssl.endpoint.identification.algorithm"] == "none")
        #expect(d["fetch.wait.max.ms"] == "100")
        #expect(d["enable.auto.commit"] == nil && d["key.deserializer"] == nil && d["group.id"] == nil)
        #expect(r.notes.count == 2)
        #expect(r.groupId == "g1")
        let https = try translate([("ssl.endpoint.identification.algorithm", "HTTPS")])
        #expect(https.properties.first?.value == "https")
        #expect(throws: SluiceError.self) { try translate([("ssl.endpoint.identification.algorithm", "ldap")]) }
        #expect(throws: SluiceError.self) { try translate([("bootstrap.servers", "x:1")]) }
    }

    @Test func unknownPropertiesAreInvalidInput() throws {
        do {
            _ = try KafkaSource(bootstrapServers: ["127.0.0.1:1"], topic: "t",
                                kafkaConfig: [KafkaConfigEntry(key: "no.such.property", value: .literal("1"))])
            Issue.record("expected an error")
        } catch let e as SluiceError {
            #expect(e.kind == .invalidInput)
            #expect(e.message.contains("no.such.property"))
        }
        let source = try KafkaSource(bootstrapServers: ["127.0.0.1:1"], topic: "t",
                                     kafkaConfig: [KafkaConfigEntry(key: "group.id", value: .literal("from-config"))])
        #expect(source.groupId == "from-config")
    }
}
