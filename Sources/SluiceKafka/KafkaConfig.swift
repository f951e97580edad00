import Foundation
import SluiceCore

/// Translates a job's `kafkaConfig` (Java client property names, as DataWorks users have them) into
/// librdkafka properties. Values are already resolved secrets: nothing here ever puts a value into an
/// error or a note.
public enum KafkaConfigTranslation {
    /// The librdkafka properties to set, in order, and notes for the user (ignored keys).
    public struct Result: Sendable, Equatable {
        public var properties: [(key: String, value: String)]
        public var notes: [String]
        /// `group.id` given in kafkaConfig (used when the job has no `groupId`).
        public var groupId: String?

        public static func == (a: Result, b: Result) -> Bool {
            a.properties.map(\.key) == b.properties.map(\.key) && a.properties.map(\.value) == b.properties.map(\.value)
                && a.notes == b.notes && a.groupId == b.groupId
        }
    }

    /// Properties Sluice sets itself; a value in kafkaConfig is ignored with a note.
    static let controlled: Set<String> = [
        "enable.auto.commit", "enable.auto.offset.store", "auto.offset.reset", "enable.partition.eof",
        "auto.commit.interval.ms", "auto.commit.enable",
    ]
    /// Java client properties that have no librdkafka meaning for Sluice's reader.
    static let javaOnly: Set<String> = [
        "key.deserializer", "value.deserializer", "max.poll.records", "default.api.timeout.ms",
        "partition.assignment.strategy", "exclude.internal.topics", "sasl.login.class",
        "sasl.client.callback.handler.class", "interceptor.classes", "metric.reporters",
    ]
    /// Java name → librdkafka name, for properties whose meaning is the same.
    static let renamed: [String: String] = [
        "fetch.max.wait.ms": "fetch.wait.max.ms",
        "sasl.mechanism": "sasl.mechanisms",
        "max.partition.fetch.bytes": "max.partition.fetch.bytes",
        "reconnect.backoff.max.ms": "reconnect.backoff.max.ms",
    ]

    public static func translate(_ entries: [(key: String, value: String)]) throws -> Result {
        var props: [(key: String, value: String)] = []
        var notes: [String] = []
        var groupId: String?
        var jaas: (module: String, options: [String: String])?
        var mechanism: String?
        for (rawKey, value) in entries {
            let key = rawKey.trimmingCharacters(in: .whitespaces)
            switch key {
            case "bootstrap.servers", "metadata.broker.list":
                throw SluiceError.invalid("kafkaConfig must not set \(key)",
                                          hint: "put the brokers in the source's bootstrap servers (DataWorks: server/datasource)")
            case "group.id":
                groupId = value
            case _ where controlled.contains(key):
                notes.append("kafkaConfig \(key) is ignored: Sluice reads by offsets it plans itself and never auto-commits")
            case _ where javaOnly.contains(key):
                notes.append("kafkaConfig \(key) is a Java client setting with no effect on Sluice")
            case "sasl.jaas.config":
                jaas = try parseJaas(value)
            case "sasl.mechanism", "sasl.mechanisms":
                mechanism = value.uppercased()
                props.append(("sasl.mechanisms", value))
            case "ssl.truststore.location", "ssl.truststore.password", "ssl.truststore.type":
                throw SluiceError.invalid("kafkaConfig \(key) is a Java trust store setting that librdkafka cannot use",
                                          hint: "export the CA certificate as PEM (keytool -exportcert -rfc -keystore truststore.jks -alias CARoot > ca.pem) and set ssl.ca.location: ca.pem")
            case "ssl.keystore.type":
                if value.uppercased() != "PKCS12" {
                    throw SluiceError.invalid("kafkaConfig ssl.keystore.type \(value) is not supported",
                                              hint: "use a PKCS#12 keystore (ssl.keystore.location/ssl.keystore.password), or PEM files with ssl.certificate.location and ssl.key.location")
                }
            case "ssl.endpoint.identification.algorithm":
                switch value.lowercased() {
                case "", "none": props.append((key, "none"))
                case "https": props.append((key, "https"))
                default:
                    throw SluiceError.invalid("kafkaConfig ssl.endpoint.identification.algorithm must be https or empty/none")
                }
            default:
                props.append((renamed[key] ?? key, value))
            }
        }
        if let jaas {
            guard let user = jaas.options["username"], let password = jaas.options["password"] else {
                throw SluiceError.invalid("kafkaConfig sasl.jaas.config needs username and password")
            }
            if jaas.module.hasSuffix("PlainLoginModule") {
                if mechanism == nil { props.append(("sasl.mechanisms", "PLAIN")) }
                else if mechanism != "PLAIN" {
                    throw SluiceError.invalid("kafkaConfig sasl.jaas.config uses PlainLoginModule but sasl.mechanism is \(mechanism!)",
                                              hint: "set sasl.mechanism: PLAIN")
                }
            } else if jaas.module.hasSuffix("ScramLoginModule") {
                guard let m = mechanism, m == "SCRAM-SHA-256" || m == "SCRAM-SHA-512" else {
                    throw SluiceError.invalid("kafkaConfig sasl.jaas.config uses ScramLoginModule but sasl.mechanism is not SCRAM-SHA-256 or SCRAM-SHA-512",
                                              hint: "set sasl.mechanism: SCRAM-SHA-256 (or SCRAM-SHA-512)")
                }
            }
            props.append(("sasl.username", user))
            props.append(("sasl.password", password))
        }
        return Result(properties: props, notes: notes, groupId: groupId)
    }

    /// Parses `org.apache…PlainLoginModule required username="u" password="p";`. Errors never include
    /// the text (it holds a password).
    static func parseJaas(_ text: String) throws -> (module: String, options: [String: String]) {
        var s = Substring(text.trimmingCharacters(in: .whitespacesAndNewlines))
        if s.hasSuffix(";") { s = s.dropLast() }
        func skipSpace() { while let c = s.first, c.isWhitespace { s = s.dropFirst() } }
        func word() -> String {
            skipSpace()
            var w = ""
            while let c = s.first, !c.isWhitespace, c != "=" { w.append(c); s = s.dropFirst() }
            return w
        }
        let module = word()
        let flag = word()
        guard module.hasSuffix("PlainLoginModule") || module.hasSuffix("ScramLoginModule") else {
            throw SluiceError.invalid("kafkaConfig sasl.jaas.config: only PlainLoginModule and ScramLoginModule are supported (found \(module.split(separator: ".").last.map(String.init) ?? "none"))",
                                      hint: "for Kerberos or OAuth use librdkafka's sasl.kerberos.* or sasl.oauthbearer.* properties")
        }
        guard ["required", "requisite", "sufficient", "optional"].contains(flag) else {
            throw SluiceError.invalid("kafkaConfig sasl.jaas.config is malformed: expected `required` after the login module")
        }
        var options: [String: String] = [:]
        while true {
            skipSpace()
            if s.isEmpty { break }
            let name = word()
            skipSpace()
            guard s.first == "=" else {
                throw SluiceError.invalid("kafkaConfig sasl.jaas.config is malformed near option \(name)")
            }
            s = s.dropFirst()
            skipSpace()
            var v = ""
            if s.first == "\"" {
                s = s.dropFirst()
                var closed = false
                while let c = s.first {
                    s = s.dropFirst()
                    if c == "\\", let n = s.first { v.append(n); s = s.dropFirst(); continue }
                    if c == "\"" { closed = true; break }
                    v.append(c)
                }
                guard closed else {
                    throw SluiceError.invalid("kafkaConfig sasl.jaas.config is malformed: unterminated quote in option \(name)")
                }
            } else {
                while let c = s.first, !c.isWhitespace { v.append(c); s = s.dropFirst() }
            }
            options[name] = v
        }
        return (module, options)
    }
}
