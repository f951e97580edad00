import Foundation
import SluiceCore

/// Translates a job's connection settings (`kafkaConfig` with Java client property names, as
/// DataWorks users have them, and the `security:` block's properties) into librdkafka properties.
/// Values are already resolved; a secret value never appears in an error or a note.
public enum KafkaConfigTranslation {
    /// The librdkafka properties to set, in order, and notes for the user (ignored keys).
    public struct Result: Sendable, Equatable {
        public var properties: [KafkaSetting]
        public var notes: [String]
        /// `group.id` given in kafkaConfig (used when the job has no `groupId`).
        public var groupId: String?

        /// The value of `key` as librdkafka gets it (for tests), nil when it is not set.
        public func value(_ key: String) -> String? { properties.last { $0.key == key }?.value.revealed }
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
        "sasl.client.callback.handler.class", "interceptor.classes", "metric.reporters", "client.dns.lookup",
        "ssl.keymanager.algorithm", "ssl.trustmanager.algorithm", "ssl.secure.random.implementation",
        "ssl.protocol", "ssl.enabled.protocols", "ssl.provider",
    ]
    /// Java name → librdkafka name, for properties whose meaning is the same.
    static let renamed: [String: String] = [
        "fetch.max.wait.ms": "fetch.wait.max.ms",
        "sasl.mechanism": "sasl.mechanisms",
    ]
    /// The SASL mechanisms librdkafka implements.
    static let mechanisms = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "GSSAPI", "OAUTHBEARER"]

    /// Translates `entries`; throws `KafkaSettingsError` with every problem found.
    public static func translate(_ entries: [KafkaSetting]) throws -> Result {
        let (result, problems) = translateCollecting(entries)
        guard problems.isEmpty else { throw KafkaSettingsError(problems: problems) }
        return result
    }

    /// The translation of the entries it could translate, and the problems with the others.
    static func translateCollecting(_ entries: [KafkaSetting]) -> (Result, [KafkaSettingsError.Problem]) {
        var t = Translation(entries: entries)
        for entry in entries { t.add(entry) }
        t.finish()
        return (Result(properties: t.properties, notes: t.notes, groupId: t.groupId), t.problems)
    }

    /// The login-module line of a JAAS login file's `KafkaClient { … };` section (the file
    /// `java.security.auth.login.config` names), as `sasl.jaas.config` holds it.
    static func kafkaClientSection(_ file: String) -> String? {
        guard let name = file.range(of: "KafkaClient"),
              let open = file[name.upperBound...].firstIndex(of: "{"),
              let close = file[open...].firstIndex(of: "}") else { return nil }
        let body = file[file.index(after: open)..<close].trimmingCharacters(in: .whitespacesAndNewlines)
        return body.isEmpty ? nil : body
    }
}

/// The state of one translation.
private struct Translation {
    var properties: [KafkaSetting] = []
    var notes: [String] = []
    var problems: [KafkaSettingsError.Problem] = []
    var groupId: String?
    /// The JAAS configuration: the value, the key it came from.
    var jaas: (value: KafkaSetting.Value, key: String)?
    var mechanism: (value: KafkaSetting.Value, key: String)?
    /// `ssl.truststore.type` (Java's default is JKS).
    let trustStoreType: String
    let hasJaasConfig: Bool

    init(entries: [KafkaSetting]) {
        let type = entries.last { $0.key.trimmingCharacters(in: .whitespaces) == "ssl.truststore.type" }
        trustStoreType = type.map { $0.value.isSecret ? "" : $0.value.revealed.uppercased() } ?? "JKS"
        hasJaasConfig = entries.contains { $0.key.trimmingCharacters(in: .whitespaces) == "sasl.jaas.config" }
    }

    mutating func problem(_ key: String?, _ message: String, hint: String? = nil) {
        problems.append(.init(key: key, error: SluiceError.invalid(message, hint: hint)))
    }

    /// `value` as text for a message: secrets are not shown.
    func shown(_ value: KafkaSetting.Value) -> String { value.isSecret ? "(a secret value)" : "'\(value.revealed)'" }

    mutating func add(_ entry: KafkaSetting) {
        let key = entry.key.trimmingCharacters(in: .whitespaces)
        let value = entry.value
        switch key {
        case "bootstrap.servers", "metadata.broker.list":
            problem(key, "kafkaConfig must not set \(key)",
                    hint: "put the brokers in the source's bootstrap servers (DataWorks: server/datasource)")
        case "group.id":
            groupId = value.revealed
        case _ where KafkaConfigTranslation.controlled.contains(key):
            notes.append("kafkaConfig \(key) is ignored: Sluice reads by offsets it plans itself and never auto-commits")
        case _ where KafkaConfigTranslation.javaOnly.contains(key):
            notes.append("kafkaConfig \(key) is a Java client setting with no effect on Sluice")
        case "sasl.jaas.config":
            jaas = (value, key)
        case "java.security.auth.login.config":
            loginFile(value)
        case "sasl.mechanism", "sasl.mechanisms":
            mechanism(value, key)
        case "ssl.truststore.location", "ssl.truststore.password", "ssl.truststore.type":
            trustStore(key, value)
        case "ssl.keystore.type":
            keyStoreType(value)
        case "ssl.endpoint.identification.algorithm":
            switch value.isSecret ? "?" : value.revealed.lowercased() {
            case "", "none": properties.append(KafkaSetting(key, "none"))
            case "https": properties.append(KafkaSetting(key, "https"))
            default:
                problem(key, "kafkaConfig ssl.endpoint.identification.algorithm must be https or empty/none, not \(shown(value))")
            }
        default:
            properties.append(KafkaSetting(key: KafkaConfigTranslation.renamed[key] ?? key, value: value))
        }
    }

    mutating func loginFile(_ value: KafkaSetting.Value) {
        if hasJaasConfig {
            notes.append("kafkaConfig java.security.auth.login.config is ignored: sasl.jaas.config is given and takes precedence, as in Java")
            return
        }
        if case .unresolved = value { jaas = (value, "java.security.auth.login.config"); return }
        guard let section = KafkaConfigTranslation.kafkaClientSection(value.revealed) else {
            problem("java.security.auth.login.config", "the JAAS login file of kafkaConfig java.security.auth.login.config has no KafkaClient { … }; section",
                    hint: "write `KafkaClient { org.apache.kafka.common.security.plain.PlainLoginModule required username=\"…\" password=\"…\"; };`, or set sasl.jaas.config instead")
            return
        }
        jaas = (.secret(Secret(section)), "java.security.auth.login.config")
    }

    mutating func mechanism(_ value: KafkaSetting.Value, _ key: String) {
        mechanism = (value, key)
        if case .text(let text) = value, !KafkaConfigTranslation.mechanisms.contains(text.uppercased()) {
            problem(key, "kafkaConfig \(key) '\(text)' is not a SASL mechanism librdkafka supports (\(KafkaConfigTranslation.mechanisms.joined(separator: ", ")))")
            return
        }
        if case .secret(let s) = value, !KafkaConfigTranslation.mechanisms.contains(s.reveal().uppercased()) {
            problem(key, "kafkaConfig \(key) is not a SASL mechanism librdkafka supports (\(KafkaConfigTranslation.mechanisms.joined(separator: ", "))); the value comes from a secret reference and is not shown")
            return
        }
        let upper: KafkaSetting.Value = switch value {
        case .text(let t): .text(t.uppercased())
        case .secret(let s): .secret(Secret(s.reveal().uppercased()))
        case .unresolved: .unresolved
        }
        properties.append(KafkaSetting(key: "sasl.mechanisms", value: upper))
    }

    mutating func trustStore(_ key: String, _ value: KafkaSetting.Value) {
        guard trustStoreType == "PEM" else {
            if key == "ssl.truststore.location" {
                problem(key, "kafkaConfig \(key): librdkafka cannot read a Java trust store (\(trustStoreType.isEmpty ? "JKS" : trustStoreType))",
                        hint: "export the CA certificate as PEM (keytool -exportcert -rfc -keystore truststore.jks -alias CARoot > ca.pem) and set ssl.ca.location: ca.pem instead of ssl.truststore.*")
            } else if key == "ssl.truststore.password" {
                notes.append("kafkaConfig ssl.truststore.password is ignored: it opens a Java trust store, which ssl.ca.location replaces")
            }
            return
        }
        switch key {
        case "ssl.truststore.location": properties.append(KafkaSetting(key: "ssl.ca.location", value: value))
        case "ssl.truststore.password": notes.append("kafkaConfig ssl.truststore.password is ignored: a PEM trust store has no password")
        default: break
        }
    }

    mutating func keyStoreType(_ value: KafkaSetting.Value) {
        let type = value.isSecret ? "" : value.revealed.uppercased()
        if type != "PKCS12" {
            problem("ssl.keystore.type", "kafkaConfig ssl.keystore.type \(shown(value)) is not supported: librdkafka reads PKCS#12 key stores",
                    hint: "use a PKCS#12 keystore (ssl.keystore.location/ssl.keystore.password), or PEM files with ssl.certificate.location and ssl.key.location")
        }
    }

    /// Turns the JAAS configuration into librdkafka's user name and password.
    mutating func finish() {
        guard let (value, key) = jaas else { return }
        guard case .secret(let secret) = value else {
            // Unresolved (validate without the secret): librdkafka's names stand in for it.
            if mechanism == nil { properties.append(KafkaSetting(key: "sasl.mechanisms", value: .unresolved)) }
            properties += [KafkaSetting(key: "sasl.username", value: .unresolved), KafkaSetting(key: "sasl.password", value: .unresolved)]
            return
        }
        let parsed: (module: String, options: [String: String])
        do { parsed = try KafkaConfigTranslation.parseJaas(secret.reveal(), key: key) } catch let e as SluiceError {
            problems.append(.init(key: key, error: e))
            return
        } catch { return }
        guard let user = parsed.options["username"], let password = parsed.options["password"] else {
            problem(key, "kafkaConfig \(key) needs username and password in its login module options")
            return
        }
        let given = mechanism.flatMap { m -> String? in m.value.isSecret ? nil : m.value.revealed.uppercased() }
        if parsed.module.hasSuffix("PlainLoginModule") {
            if mechanism == nil { properties.append(KafkaSetting("sasl.mechanisms", "PLAIN")) }
            else if let given, given != "PLAIN" {
                problem(key, "kafkaConfig \(key) uses PlainLoginModule but sasl.mechanism is \(given)", hint: "set sasl.mechanism: PLAIN")
            }
        } else if mechanism == nil || (given != nil && given != "SCRAM-SHA-256" && given != "SCRAM-SHA-512") {
            // (A mechanism from a secret reference is not compared: librdkafka checks it.)
            problem(key, "kafkaConfig \(key) uses ScramLoginModule but sasl.mechanism is not SCRAM-SHA-256 or SCRAM-SHA-512",
                    hint: "set sasl.mechanism: SCRAM-SHA-256 (or SCRAM-SHA-512)")
        }
        properties.append(KafkaSetting("sasl.username", secret: Secret(user)))
        properties.append(KafkaSetting("sasl.password", secret: Secret(password)))
    }
}

extension KafkaConfigTranslation {
    /// Parses `org.apache…PlainLoginModule required username="u" password="p";`. Errors never include
    /// the text (it holds a password). `key` names the setting in messages.
    static func parseJaas(_ text: String, key: String = "sasl.jaas.config") throws -> (module: String, options: [String: String]) {
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
            throw SluiceError.invalid("kafkaConfig \(key): only PlainLoginModule and ScramLoginModule are supported (found \(module.split(separator: ".").last.map(String.init) ?? "none"))",
                                      hint: "for Kerberos or OAuth use librdkafka's sasl.kerberos.* or sasl.oauthbearer.* properties")
        }
        guard ["required", "requisite", "sufficient", "optional"].contains(flag) else {
            throw SluiceError.invalid("kafkaConfig \(key) is malformed: expected `required` after the login module")
        }
        var options: [String: String] = [:]
        while true {
            skipSpace()
            if s.isEmpty { break }
            let name = word()
            skipSpace()
            guard s.first == "=" else {
                throw SluiceError.invalid("kafkaConfig \(key) is malformed near option \(name)")
            }
            s = s.dropFirst()
            skipSpace()
            guard let value = quotedOrBare(&s) else {
                throw SluiceError.invalid("kafkaConfig \(key) is malformed: unterminated quote in option \(name)")
            }
            options[name] = value
        }
        return (module, options)
    }

    /// A `"quoted"` (with `\` escapes) or bare option value; nil for an unterminated quote.
    private static func quotedOrBare(_ s: inout Substring) -> String? {
        var v = ""
        guard s.first == "\"" else {
            while let c = s.first, !c.isWhitespace { v.append(c); s = s.dropFirst() }
            return v
        }
        s = s.dropFirst()
        while let c = s.first {
            s = s.dropFirst()
            if c == "\\", let n = s.first { v.append(n); s = s.dropFirst(); continue }
            if c == "\"" { return v }
            v.append(c)
        }
        return nil
    }
}
