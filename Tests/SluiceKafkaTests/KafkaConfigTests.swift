import Foundation
import SluiceCore
import Testing
@testable import SluiceKafka
import SluiceJob

@Suite struct KafkaConfigTests {
    func translate(_ pairs: [(String, String)]) throws -> KafkaConfigTranslation.Result {
        try KafkaConfigTranslation.translate(pairs.map { SecretKeys.isSecret($0.0) ? KafkaSetting($0.0, secret: Secret($0.1)) : KafkaSetting($0.0, $0.1) })
    }

    /// The messages of a translation that must fail.
    func problems(_ settings: [KafkaSetting]) -> [SluiceError] {
        do {
            _ = try KafkaConfigTranslation.translate(settings)
            Issue.record("expected an error")
            return []
        } catch let e as KafkaSettingsError {
            return e.problems.map(\.error)
        } catch {
            Issue.record("unexpected \(error)")
            return []
        }
    }

    @Test func plainJaasBecomesUsernameAndPassword() throws {
        let r = try translate([
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.jaas.config", #"org.apache.kafka.common.security.plain.PlainLoginModule required username="alice" password="s3cr\"et";"#),
        ])
        #expect(r.value("sasl.username") == "alice")
        #expect(r.value("sasl.password") == #"s3cr"et"#)
        #expect(r.value("sasl.mechanisms") == "PLAIN")
        #expect(r.value("security.protocol") == "SASL_PLAINTEXT")
        #expect(r.value("sasl.jaas.config") == nil)
        // What came out of the JAAS text is secret too.
        #expect(r.properties.filter { $0.key.hasPrefix("sasl.user") || $0.key == "sasl.password" }.allSatisfy { $0.value.isSecret })
    }

    @Test func scramNeedsAMechanism() throws {
        let jaas = "org.apache.kafka.common.security.scram.ScramLoginModule required username=bob password=pw;"
        let r = try translate([("sasl.mechanism", "scram-sha-512"), ("sasl.jaas.config", jaas)])
        #expect(r.value("sasl.mechanisms") == "SCRAM-SHA-512")
        #expect(r.value("sasl.username") == "bob" && r.value("sasl.password") == "pw")
        #expect(problems([KafkaSetting("sasl.jaas.config", secret: Secret(jaas))]).first?.message.contains("ScramLoginModule") == true)
    }

    @Test func theJaasLoginFileOfJavaClients() throws {
        let file = """
        KafkaClient {
          org.apache.kafka.common.security.plain.PlainLoginModule required
          username="alikafka_user"
          password="file-secret";
        };
        """
        let r = try KafkaConfigTranslation.translate([KafkaSetting("java.security.auth.login.config", secret: Secret(file)),
                                                       KafkaSetting("sasl.mechanism", "PLAIN")])
        #expect(r.value("sasl.username") == "alikafka_user" && r.value("sasl.password") == "file-secret")
        #expect(r.value("java.security.auth.login.config") == nil)
        let missing = problems([KafkaSetting("java.security.auth.login.config", secret: Secret("Server { x required; };"))])
        #expect(missing.first?.message.contains("KafkaClient") == true)
        // sasl.jaas.config wins, as in Java.
        let both = try KafkaConfigTranslation.translate([
            KafkaSetting("java.security.auth.login.config", secret: Secret(file)),
            KafkaSetting("sasl.jaas.config", secret: Secret(#"org.apache.kafka.common.security.plain.PlainLoginModule required username="u2" password="p2";"#)),
        ])
        #expect(both.value("sasl.username") == "u2" && both.notes.contains { $0.contains("takes precedence") })
    }

    @Test func errorsNeverContainTheSecret() throws {
        let bad = #"org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="topsecret"#
        for e in problems([KafkaSetting("sasl.jaas.config", secret: Secret(bad))]) {
            #expect(!e.description.contains("topsecret"))
        }
        let krb = problems([KafkaSetting("sasl.jaas.config", secret: Secret("com.sun.security.auth.module.Krb5LoginModule required keyTab=\"topsecret\";"))])
        #expect(krb.count == 1 && !krb[0].description.contains("topsecret") && krb[0].hint?.contains("sasl.kerberos") == true)
        // librdkafka rejects the values: a secret value is not shown, a plain one is.
        do {
            _ = try KafkaSource(bootstrapServers: ["127.0.0.1:1"], topic: "t",
                                settings: [KafkaSetting("sasl.password", secret: Secret("hunter2")),
                                           KafkaSetting("socket.timeout.ms", secret: Secret("topsecret")),
                                           KafkaSetting("fetch.min.bytes", "many")])
            Issue.record("expected an error")
        } catch let e as KafkaSettingsError {
            #expect(!e.description.contains("hunter2") && !e.description.contains("topsecret"))
            #expect(e.problems.map(\.key) == ["socket.timeout.ms", "fetch.min.bytes"])
            #expect(e.description.contains("kafkaConfig fetch.min.bytes: Invalid value"))
        }
    }

    @Test("a resolved reference is never printed, whichever key holds it")
    func referencesInKeysThatAreNotSecret() throws {
        // The issue's case: sasl.mechanism: "${env:KPASS}" — librdkafka would say "Unsupported SASL mechanism: <value>".
        let value = "Sup3r-Secret-Value"
        for (key, setting) in [("sasl.mechanism", KafkaSetting("sasl.mechanism", secret: Secret(value))),
                               ("security.protocol", KafkaSetting("security.protocol", secret: Secret(value))),
                               ("ssl.endpoint.identification.algorithm", KafkaSetting("ssl.endpoint.identification.algorithm", secret: Secret(value)))] {
            do {
                _ = try KafkaSource(bootstrapServers: ["127.0.0.1:1"], topic: "t", settings: [setting])
                Issue.record("expected an error for \(key)")
            } catch {
                let text = "\(error)"
                #expect(!text.lowercased().contains(value.lowercased()), "\(text)")
                #expect(text.contains(key), "\(text)")
            }
            #expect(!KafkaSource.checkSettings([setting]).problems.isEmpty)
        }
    }

    @Test func scrubberRemovesEverySecretWhateverItsCase() {
        let s = SecretScrubber(["hunter2", "hunter22", ""])
        #expect(s.scrub("a HUNTER22 b hunter2 c") == "a ****** b ****** c")
        #expect(s.scrub("xhunter2x") == "x******x")
        // A value of fewer than four characters is taken out where it stands alone, not out of words.
        let short = SecretScrubber(["x", "ab"])
        #expect(short.scrub("export x, AB; abc (x)") == "export ******, ******; abc (******)")
        let e = s.scrub(SluiceError(.kafka, "x hunter2", hint: "y Hunter2", context: ["k": "hunter2"]))
        #expect(e.message == "x ******" && e.hint == "y ******" && e.context["k"] == "******")
    }

    @Test func javaTrustStores() throws {
        let jks = problems([KafkaSetting("ssl.truststore.location", "/etc/kafka/truststore.jks"),
                            KafkaSetting("ssl.truststore.password", secret: Secret("KafkaOnsClient"))])
        #expect(jks.count == 1 && jks[0].kind == .invalidInput && jks[0].hint?.contains("ssl.ca.location") == true)
        // A PEM trust store is a CA file: it maps to ssl.ca.location.
        let pem = try KafkaConfigTranslation.translate([KafkaSetting("ssl.truststore.type", "PEM"),
                                                        KafkaSetting("ssl.truststore.location", "/etc/kafka/ca.pem"),
                                                        KafkaSetting("ssl.truststore.password", secret: Secret("x"))])
        #expect(pem.value("ssl.ca.location") == "/etc/kafka/ca.pem" && pem.properties.count == 1 && pem.notes.count == 1)
        #expect(problems([KafkaSetting("ssl.keystore.type", "JKS")]).first?.hint?.contains("PKCS#12") == true)
    }

    @Test func endpointIdentificationAndRenames() throws {
        let r = try translate([("ssl.endpoint.identification.algorithm", ""), ("fetch.max.wait.ms", "100"),
                               ("key.deserializer", "org.apache.kafka.common.serialization.StringDeserializer"),
                               ("enable.auto.commit", "true"), ("group.id", "g1")])
        #expect(r.value("ssl.endpoint.identification.algorithm") == "none")
        #expect(r.value("fetch.wait.max.ms") == "100")
        #expect(r.value("enable.auto.commit") == nil && r.value("key.deserializer") == nil && r.value("group.id") == nil)
        #expect(r.notes.count == 2)
        #expect(r.groupId == "g1")
        #expect(try translate([("ssl.endpoint.identification.algorithm", "HTTPS")]).value("ssl.endpoint.identification.algorithm") == "https")
        #expect(problems([KafkaSetting("ssl.endpoint.identification.algorithm", "ldap")]).count == 1)
        #expect(problems([KafkaSetting("bootstrap.servers", "x:1")]).first?.message == "kafkaConfig must not set bootstrap.servers")
        #expect(problems([KafkaSetting("sasl.mechanism", "SCRAM-SHA-1")]).first?.message.contains("SCRAM-SHA-1") == true)
    }

    @Test func everyProblemAtOnceAndUnknownProperties() throws {
        let e = KafkaSource.checkSettings([KafkaSetting("no.such.property", "1"), KafkaSetting("bootstrap.servers", "x:1"),
                                           KafkaSetting("ssl.truststore.location", "t.jks")])
        #expect(Set(e.problems.compactMap(\.key)) == ["no.such.property", "bootstrap.servers", "ssl.truststore.location"])
        // An unresolved value (validate without the secret) has its key checked only.
        #expect(KafkaSource.checkSettings([KafkaSetting(key: "sasl.password", value: .unresolved)]).problems.isEmpty)
        #expect(KafkaSource.checkSettings([KafkaSetting(key: "sasl.passwrd", value: .unresolved)]).problems.map(\.key) == ["sasl.passwrd"])
        let source = try KafkaSource(bootstrapServers: ["127.0.0.1:1"], topic: "t", settings: [KafkaSetting("group.id", "from-config")])
        #expect(source.groupId == "from-config")
    }

    @Test func securityFailuresFromLibrdkafkaLines() throws {
        let auth = try #require(SecurityFailure(logLine: "[thrd:sasl_ssl://127.0.0.1:9094/bootstrap]: sasl_ssl://127.0.0.1:9094/bootstrap: SASL authentication error: Authentication failed: Invalid username or password (after 5ms in state AUTH_REQ)", bootstrap: "127.0.0.1:9094"))
        #expect(auth.error.message.contains("Invalid username or password") && !auth.error.message.contains("after 5ms"))
        #expect(auth.error.exitCode == 1 && !auth.error.isRetriable)
        let tls = try #require(SecurityFailure(logLine: "ssl://h:1/bootstrap: SSL handshake failed: error:0A00045C:SSL routines::tlsv13 alert certificate required: SSL alert number 116 (after 2ms in state SSL_HANDSHAKE)", bootstrap: "h:1"))
        #expect(tls.error.message.contains("client certificate"))
        #expect(SecurityFailure(logLine: "Connect to ipv4#127.0.0.1:1 failed: Connection refused", bootstrap: "h:1") == nil)
        #expect(SecurityFailure(x509Error: 10, broker: "ssl://127.0.0.1:9093/0", bootstrap: "x").error.message.contains("expired"))
        #expect(SecurityFailure(x509Error: 62, broker: "sasl_ssl://localhost:9093/bootstrap", bootstrap: "x").error.message.contains("host localhost"))
        #expect(SecurityFailure(x509Error: 20, broker: "[::1]:9093", bootstrap: "x").error.message.contains("not signed by a CA"))
        #expect(SecurityFailure.host(of: "sasl_ssl://[::1]:9094/bootstrap") == "::1")
        #expect(SecurityFailure.address(of: "sasl_ssl://127.0.0.1:9094/bootstrap") == "127.0.0.1:9094")
        let mechanism = try #require(SecurityFailure(logLine: "sasl_ssl://127.0.0.1:9094/bootstrap: SASL SCRAM-SHA-512 mechanism handshake failed: Broker: Unsupported SASL mechanism: broker's supported mechanisms: PLAIN (after 1ms in state AUTH_HANDSHAKE)", bootstrap: "127.0.0.1:9094"))
        #expect(mechanism.error.message.contains("the mechanism SCRAM-SHA-512 the job asks for (they enable PLAIN)"), "\(mechanism.error.message)")
    }
}
