import Foundation
import NIOSSL
import SluiceCore

/// Kafka's security protocols: how a listener's connections are carried (TCP or TLS) and whether
/// clients must authenticate with SASL first.
public enum DevKafkaSecurityProtocol: String, Sendable, CaseIterable, Hashable {
    case plaintext = "PLAINTEXT"
    case ssl = "SSL"
    case saslPlaintext = "SASL_PLAINTEXT"
    case saslSSL = "SASL_SSL"

    /// Connections are TLS (SSL, SASL_SSL).
    public var usesTLS: Bool { self == .ssl || self == .saslSSL }
    /// Clients authenticate with SASL before any other request (SASL_PLAINTEXT, SASL_SSL).
    public var usesSASL: Bool { self == .saslPlaintext || self == .saslSSL }
}

/// One listening socket: `NAME://host:port`, e.g. `SASL_SSL://127.0.0.1:9094` (port 0 picks a free one).
public struct DevKafkaListener: Sendable, Hashable, CustomStringConvertible {
    public var securityProtocol: DevKafkaSecurityProtocol
    public var host: String
    public var port: Int

    public init(_ securityProtocol: DevKafkaSecurityProtocol, host: String = "127.0.0.1", port: Int = 0) {
        self.securityProtocol = securityProtocol
        self.host = host
        self.port = port
    }

    /// Parses `NAME://HOST:PORT`; `[::1]` brackets an IPv6 address; an empty host is `defaultHost`.
    public init(parsing spec: String, defaultHost: String) throws {
        let hint = "e.g. --listener SASL_SSL://127.0.0.1:9094; NAME is one of "
            + DevKafkaSecurityProtocol.allCases.map(\.rawValue).joined(separator: ", ")
        guard let separator = spec.range(of: "://") else {
            throw SluiceError.invalid("listener '\(spec)' is not NAME://HOST:PORT", hint: hint)
        }
        guard let proto = DevKafkaSecurityProtocol(rawValue: spec[..<separator.lowerBound].uppercased()) else {
            throw SluiceError.invalid("listener '\(spec)': '\(spec[..<separator.lowerBound])' is not a security protocol", hint: hint)
        }
        let address = spec[separator.upperBound...]
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]),
              (0...65535).contains(port) else {
            throw SluiceError.invalid("listener '\(spec)' has no port from 0 to 65535", hint: hint)
        }
        var host = String(address[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.contains("/") && (!host.contains(":") || address.hasPrefix("[")) else {
            throw SluiceError.invalid("listener '\(spec)': host '\(host)' is not a host name or address",
                                      hint: "write IPv6 addresses in brackets, e.g. PLAINTEXT://[::1]:9092")
        }
        self.init(proto, host: host.isEmpty ? defaultHost : host, port: port)
    }

    public var description: String {
        "\(securityProtocol.rawValue)://\(host.contains(":") ? "[\(host)]" : host):\(port)"
    }

    /// Whether `host` binds every interface (0.0.0.0, ::), which clients cannot connect to.
    var bindsEveryInterface: Bool { host == "0.0.0.0" || host == "::" || host == "[::]" }
}

/// SASL mechanisms the broker can enable.
public enum DevKafkaSaslMechanism: String, Sendable, CaseIterable, Hashable {
    case plain = "PLAIN"
    case scramSHA256 = "SCRAM-SHA-256"
    case scramSHA512 = "SCRAM-SHA-512"

    /// The command-line flag that adds a user of this mechanism.
    public var flag: String {
        switch self {
        case .plain: "--sasl-plain"
        case .scramSHA256: "--sasl-scram-sha-256"
        case .scramSHA512: "--sasl-scram-sha-512"
        }
    }
}

/// A SASL user: its own principal (`User:NAME`), for one mechanism. The password never appears in
/// the description, debug output or reflection.
public struct DevKafkaSaslUser: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var mechanism: DevKafkaSaslMechanism
    public var name: String
    public var password: String

    public init(mechanism: DevKafkaSaslMechanism, name: String, password: String) {
        self.mechanism = mechanism
        self.name = name
        self.password = password
    }

    /// Parses `USER:PASSWORD`, `USER:env:VARIABLE` (the password is that environment variable) or
    /// `USER:file:PATH` (the file's content, without one trailing newline). Errors name the user and
    /// the variable or file, never the password.
    public init(parsing spec: String, mechanism: DevKafkaSaslMechanism,
                environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        let flag = mechanism.flag
        guard let colon = spec.firstIndex(of: ":"), colon != spec.startIndex else {
            throw SluiceError.invalid("\(flag) needs USER:PASSWORD, USER:env:VARIABLE or USER:file:PATH",
                                      hint: "e.g. \(flag) alice:env:ALICE_PASSWORD keeps the password out of ps")
        }
        let name = String(spec[..<colon])
        let secret = String(spec[spec.index(after: colon)...])
        let password: String
        if secret.hasPrefix("env:") {
            let variable = String(secret.dropFirst(4))
            guard let value = environment[variable], !value.isEmpty else {
                throw SluiceError.invalid("\(flag) user '\(name)': environment variable '\(variable)' is not set or empty",
                                          hint: "export \(variable) before starting dev-kafka")
            }
            password = value
        } else if secret.hasPrefix("file:") {
            let path = String(secret.dropFirst(5))
            guard let data = FileManager.default.contents(atPath: path) else {
                throw SluiceError.invalid("\(flag) user '\(name)': cannot read password file '\(path)'",
                                          hint: "give a readable file holding the password on one line")
            }
            var text = String(decoding: data, as: UTF8.self)
            // "\r\n" is one Character in Swift.
            if text.hasSuffix("\r\n") || text.hasSuffix("\n") { text.removeLast() }
            password = text
        } else {
            password = secret
        }
        guard !password.isEmpty else {
            throw SluiceError.invalid("\(flag) user '\(name)' has an empty password")
        }
        guard !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw SluiceError.invalid("\(flag): user names cannot contain control characters")
        }
        self.init(mechanism: mechanism, name: name, password: password)
    }

    public var description: String { "\(name) (\(mechanism.rawValue))" }
    public var debugDescription: String { "DevKafkaSaslUser(\(description), password: <redacted>)" }
    public var customMirror: Mirror {
        Mirror(self, children: ["mechanism": mechanism, "name": name, "password": "<redacted>"])
    }
}

/// The broker's TLS identity: PEM files for its certificate (chain) and private key, and optionally
/// the CA whose certificates clients must present (mutual TLS).
public struct DevKafkaTLS: Sendable, Hashable {
    public var certificateFile: String
    public var privateKeyFile: String
    /// When set, clients must present a certificate signed by this CA (PEM, may hold several).
    public var clientCAFile: String?

    public init(certificateFile: String, privateKeyFile: String, clientCAFile: String? = nil) {
        self.certificateFile = certificateFile
        self.privateKeyFile = privateKeyFile
        self.clientCAFile = clientCAFile
    }

    /// Loads the files into a server context (TLS 1.2 and later). Errors are invalid input (exit 2)
    /// and say which file is wrong.
    func makeContext() throws -> (context: NIOSSLContext, warnings: [String]) {
        for (flag, file) in [("--tls-cert", certificateFile), ("--tls-key", privateKeyFile), ("--tls-ca", clientCAFile)] {
            if let file, !FileManager.default.isReadableFile(atPath: file) {
                throw SluiceError.invalid("\(flag) '\(file)' does not exist or cannot be read", hint: "give the path of a PEM file")
            }
        }
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificateFile)
        } catch {
            throw SluiceError.invalid("cannot read the certificate in --tls-cert '\(certificateFile)': \(error)",
                                      hint: "give a PEM file holding the server certificate, then any intermediates")
        }
        guard let leaf = chain.first else {
            throw SluiceError.invalid("--tls-cert '\(certificateFile)' holds no PEM certificate")
        }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: privateKeyFile, format: .pem)
        } catch {
            throw SluiceError.invalid("cannot read the private key in --tls-key '\(privateKeyFile)': \(error)",
                                      hint: "give an unencrypted PEM private key (openssl pkey -in KEY -out PLAIN.pem)")
        }
        var config: TLSConfiguration
        if let clientCAFile {
            let roots: [NIOSSLCertificate]
            do {
                roots = try NIOSSLCertificate.fromPEMFile(clientCAFile)
            } catch {
                throw SluiceError.invalid("cannot read the CA certificates in --tls-ca '\(clientCAFile)': \(error)",
                                          hint: "give a PEM file with the CA that signs the client certificates")
            }
            guard !roots.isEmpty else { throw SluiceError.invalid("--tls-ca '\(clientCAFile)' holds no PEM certificate") }
            config = .makeServerConfigurationWithMTLS(certificateChain: chain.map { .certificate($0) },
                                                      privateKey: .privateKey(key), trustRoots: .certificates(roots))
            config.sendCANameList = true
        } else {
            config = .makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        }
        config.minimumTLSVersion = .tlsv12
        let context: NIOSSLContext
        do {
            context = try NIOSSLContext(configuration: config)
        } catch {
            throw SluiceError.invalid("--tls-cert '\(certificateFile)' and --tls-key '\(privateKeyFile)' cannot be used together: \(error)",
                                      hint: "the private key must be the one the certificate was issued for")
        }
        var warnings: [String] = []
        let now = time_t(Date().timeIntervalSince1970)
        if leaf.notValidAfter < now {
            warnings.append("the --tls-cert certificate expired on \(Date(timeIntervalSince1970: TimeInterval(leaf.notValidAfter))); clients will refuse it")
        } else if leaf.notValidBefore > now {
            warnings.append("the --tls-cert certificate is not valid before \(Date(timeIntervalSince1970: TimeInterval(leaf.notValidBefore))); clients will refuse it")
        }
        return (context, warnings)
    }
}

/// The machine's host name: what a broker bound to every interface advertises by default (as
/// Kafka does without advertised.listeners).
func machineHostName() -> String {
    var buffer = [CChar](repeating: 0, count: 256)
    guard gethostname(&buffer, buffer.count - 1) == 0 else { return "127.0.0.1" }
    let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return name.isEmpty ? "127.0.0.1" : name
}
