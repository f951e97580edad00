import SluiceCore

/// The native `security:` block of a Kafka source: how to connect to a secured cluster, in Sluice's
/// words. It stands for librdkafka properties (`properties`), the same ones `kafkaConfig` can set,
/// so both forms take one path to the client.
///
/// ```yaml
/// security:
///   protocol: SASL_SSL                      # PLAINTEXT | SSL | SASL_PLAINTEXT | SASL_SSL
///   mechanism: SCRAM-SHA-256                # PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512
///   username: alice
///   password: "${env:KAFKA_PASSWORD}"
///   caFile: ca.pem                          # relative to the job file
///   certificateFile: client.pem             # mutual TLS, with keyFile
///   keyFile: client.key
///   verifyHostName: true
/// ```
public struct KafkaSecuritySpec: Sendable, Equatable {
    public enum SecurityProtocol: String, Sendable, Hashable, CaseIterable {
        case plaintext = "PLAINTEXT", ssl = "SSL", saslPlaintext = "SASL_PLAINTEXT", saslSSL = "SASL_SSL"
        public var usesTLS: Bool { self == .ssl || self == .saslSSL }
        public var usesSASL: Bool { self == .saslPlaintext || self == .saslSSL }
    }

    public enum Mechanism: String, Sendable, Hashable, CaseIterable {
        case plain = "PLAIN", scramSHA256 = "SCRAM-SHA-256", scramSHA512 = "SCRAM-SHA-512"
    }

    public var securityProtocol: SecurityProtocol
    public var mechanism: Mechanism?
    public var username: SecretValue?
    public var password: SecretValue?
    /// PEM CA certificate(s) the brokers' certificates must be signed by; nil = the system's CAs.
    public var caFile: String?
    /// PEM client certificate and key, for mutual TLS.
    public var certificateFile: String?
    public var keyFile: String?
    public var keyPassword: SecretValue?
    /// Check the broker's host name against its certificate (librdkafka
    /// `ssl.endpoint.identification.algorithm`: `https`, or `none` when false).
    public var verifyHostName: Bool

    public init(securityProtocol: SecurityProtocol, mechanism: Mechanism? = nil, username: SecretValue? = nil,
                password: SecretValue? = nil, caFile: String? = nil, certificateFile: String? = nil,
                keyFile: String? = nil, keyPassword: SecretValue? = nil, verifyHostName: Bool = true) {
        self.securityProtocol = securityProtocol
        self.mechanism = mechanism
        self.username = username
        self.password = password
        self.caFile = caFile
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.keyPassword = keyPassword
        self.verifyHostName = verifyHostName
    }

    /// The librdkafka properties the block stands for, each with the block's field it came from.
    public var properties: [(field: String, entry: KafkaConfigEntry)] {
        var out: [(field: String, entry: KafkaConfigEntry)] = [
            ("protocol", KafkaConfigEntry(key: "security.protocol", value: .literal(securityProtocol.rawValue)))
        ]
        if let mechanism { out.append(("mechanism", KafkaConfigEntry(key: "sasl.mechanisms", value: .literal(mechanism.rawValue)))) }
        if let username { out.append(("username", KafkaConfigEntry(key: "sasl.username", value: username))) }
        if let password { out.append(("password", KafkaConfigEntry(key: "sasl.password", value: password))) }
        if let caFile { out.append(("caFile", KafkaConfigEntry(key: "ssl.ca.location", value: .literal(caFile)))) }
        if let certificateFile {
            out.append(("certificateFile", KafkaConfigEntry(key: "ssl.certificate.location", value: .literal(certificateFile))))
        }
        if let keyFile { out.append(("keyFile", KafkaConfigEntry(key: "ssl.key.location", value: .literal(keyFile)))) }
        if let keyPassword { out.append(("keyPassword", KafkaConfigEntry(key: "ssl.key.password", value: keyPassword))) }
        if securityProtocol.usesTLS {
            out.append(("verifyHostName", KafkaConfigEntry(key: "ssl.endpoint.identification.algorithm",
                                                           value: .literal(verifyHostName ? "https" : "none"))))
        }
        return out
    }

    /// kafkaConfig keys (Java and librdkafka names) that say what the block says; a job gives each
    /// in one place only.
    static let overlappingConfigKeys: Set<String> = [
        "security.protocol", "sasl.mechanism", "sasl.mechanisms", "sasl.username", "sasl.password", "sasl.jaas.config",
        "java.security.auth.login.config", "ssl.ca.location", "ssl.truststore.location", "ssl.truststore.password",
        "ssl.truststore.type", "ssl.certificate.location", "ssl.key.location", "ssl.key.password",
        "ssl.keystore.location", "ssl.keystore.password", "ssl.endpoint.identification.algorithm",
    ]

    static let keys = ["protocol", "mechanism", "username", "password", "caFile", "certificateFile", "keyFile",
                       "keyPassword", "verifyHostName"]
}

extension SluiceJobReader {
    /// `headerEncoding` (default UTF-8), checked to be a charset this system decodes.
    func headerEncoding(_ m: MapView) -> String {
        guard let name = m.string("headerEncoding") else { return "UTF-8" }
        if TextEncoding.isUTF8(name) { return "UTF-8" }
        guard TextEncoding.isSupported(name) else {
            reader.error(m.path("headerEncoding"), "'\(name)' is not an encoding this system can decode (e.g. UTF-8, GBK, GB18030, UTF-16, ISO-8859-1)")
            return "UTF-8"
        }
        return name
    }

    /// Reads `source.security`, checking it against itself and against `kafkaConfig`.
    func security(_ m: MapView, kafkaConfig: [KafkaConfigEntry], kafkaConfigPath: String) -> KafkaSecuritySpec? {
        let proto = m.choice("protocol", KafkaSecuritySpec.SecurityProtocol.self)
        if !m.has("protocol") {
            reader.error(m.path, "missing `protocol`: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL", line: m.line)
        }
        let mechanism = self.mechanism(m)
        let secret = { (key: String) in m.string(key).map { SecretValue(parsing: $0) } }
        let spec = KafkaSecuritySpec(
            securityProtocol: proto ?? .plaintext, mechanism: mechanism, username: secret("username"),
            password: secret("password"), caFile: m.string("caFile"), certificateFile: m.string("certificateFile"),
            keyFile: m.string("keyFile"), keyPassword: secret("keyPassword"), verifyHostName: m.bool("verifyHostName") ?? true)
        m.finish(known: KafkaSecuritySpec.keys)
        guard let proto else { return nil }
        checkSecurity(spec, proto, m)
        for entry in kafkaConfig where KafkaSecuritySpec.overlappingConfigKeys.contains(entry.key) {
            reader.error(DocReader.join(kafkaConfigPath, entry.key),
                         "kafkaConfig \(entry.key) says what source.security says; give the connection's security in one place (the security block, or kafkaConfig)")
        }
        return spec
    }

    private func mechanism(_ m: MapView) -> KafkaSecuritySpec.Mechanism? {
        guard let text = m.string("mechanism") else { return nil }
        let key = text.trimmingCharacters(in: .whitespaces).uppercased()
        if let v = KafkaSecuritySpec.Mechanism(rawValue: key) { return v }
        let names = KafkaSecuritySpec.Mechanism.allCases.map(\.rawValue)
        if ["GSSAPI", "OAUTHBEARER"].contains(key) {
            reader.error(m.path("mechanism"), "\(key) is not one of \(names.joined(separator: ", ")) here; for Kerberos or OAuth leave out the security block and set librdkafka's sasl.* properties in kafkaConfig")
        } else {
            reader.error(m.path("mechanism"), "'\(text)' is not a SASL mechanism: use \(names.joined(separator: ", "))" + didYouMean(key, names))
        }
        return nil
    }

    private func checkSecurity(_ s: KafkaSecuritySpec, _ proto: KafkaSecuritySpec.SecurityProtocol, _ m: MapView) {
        let name = proto.rawValue
        if proto.usesSASL {
            for key in ["mechanism", "username", "password"] where !m.has(key) {
                reader.error(m.path, "missing `\(key)`: protocol \(name) authenticates with SASL (mechanism, username, password)", line: m.line)
            }
        } else {
            for key in ["mechanism", "username", "password"] where m.has(key) {
                reader.error(m.path(key), "`\(key)` applies to SASL_PLAINTEXT and SASL_SSL, not \(name)")
            }
        }
        if !proto.usesTLS {
            for key in ["caFile", "certificateFile", "keyFile", "keyPassword", "verifyHostName"] where m.has(key) {
                reader.error(m.path(key), "`\(key)` applies to SSL and SASL_SSL, not \(name) (which does not use TLS)")
            }
        }
        if m.has("certificateFile") != m.has("keyFile") {
            let missing = m.has("certificateFile") ? "keyFile" : "certificateFile"
            reader.error(m.path, "missing `\(missing)`: mutual TLS takes a client certificate (certificateFile) and its private key (keyFile)", line: m.line)
        }
        if m.has("keyPassword") && !m.has("keyFile") {
            reader.error(m.path("keyPassword"), "`keyPassword` decrypts keyFile, which is not given")
        }
        for (key, value) in [("password", s.password), ("keyPassword", s.keyPassword)] {
            if let value, !value.isReference {
                reader.warning(m.path(key), "a literal secret in the job file; use \"${env:NAME}\" or \"${file:PATH}\" so it is not shared with the file")
            }
        }
    }
}
