import Foundation

/// Certificates made with `openssl` for one test, in a temporary directory: a CA, a server
/// certificate for localhost and 127.0.0.1, a client certificate, an expired server certificate,
/// one for the wrong host name, and a second CA with a client certificate the first does not trust.
public struct TestCertificates: Sendable {
    public let directory: URL

    public func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
    public var ca: String { path("ca.pem") }
    public var serverCert: String { path("server.pem") }
    public var serverKey: String { path("server.key") }
    public var clientCert: String { path("client.pem") }
    public var clientKey: String { path("client.key") }
    public var expiredCert: String { path("expired.pem") }
    public var wrongHostCert: String { path("wronghost.pem") }
    public var otherCA: String { path("other-ca.pem") }
    public var untrustedClientCert: String { path("untrusted-client.pem") }
    public var untrustedClientKey: String { path("untrusted-client.key") }

    public static func make() async throws -> TestCertificates {
        guard let openssl = Subprocess.which("openssl") else {
            throw FixtureError("openssl is not installed (scripts/install-deps)")
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let certificates = TestCertificates(directory: directory)
        func path(_ name: String) -> String { certificates.path(name) }
        func openSSL(_ arguments: [String]) async throws {
            let result = try await Subprocess.run(openssl, arguments, timeout: .seconds(120))
            guard result.status == 0 else {
                throw FixtureError("openssl \(arguments.joined(separator: " ")) exited \(result.status): \(result.stderr)")
            }
        }
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        for (name, subject) in [("ca", "Sluice Test CA"), ("other-ca", "Untrusted Test CA")] {
            try await openSSL(["req", "-x509"] + ec + ["-keyout", path("\(name).key"), "-out", path("\(name).pem"), "-days", "30",
                                                     "-subj", "/CN=\(subject)", "-addext", "basicConstraints=critical,CA:TRUE",
                                                     "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        }
        try "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n".write(toFile: path("server.ext"), atomically: true, encoding: .utf8)
        try "subjectAltName=DNS:wrong.example\nextendedKeyUsage=serverAuth\n".write(toFile: path("wronghost.ext"), atomically: true, encoding: .utf8)
        try "extendedKeyUsage=clientAuth\n".write(toFile: path("client.ext"), atomically: true, encoding: .utf8)
        // (key and request, issuing CA, certificate, extensions, days; -1 gives a certificate that has expired)
        let issued: [(String, String, String, String, String)] = [
            ("server", "ca", "server", "server", "30"), ("server", "ca", "expired", "server", "-1"),
            ("server", "ca", "wronghost", "wronghost", "30"), ("client", "ca", "client", "client", "30"),
            ("untrusted-client", "other-ca", "untrusted-client", "client", "30"),
        ]
        for (serial, (key, issuer, name, extensions, days)) in issued.enumerated() {
            if !FileManager.default.fileExists(atPath: path("\(key).csr")) {
                try await openSSL(["req"] + ec + ["-keyout", path("\(key).key"), "-out", path("\(key).csr"), "-subj", "/CN=\(key)"])
            }
            try await openSSL(["x509", "-req", "-in", path("\(key).csr"), "-CA", path("\(issuer).pem"), "-CAkey", path("\(issuer).key"),
                               "-set_serial", "\(serial + 2)", "-out", path("\(name).pem"), "-days", days,
                               "-extfile", path("\(extensions).ext")])
        }
        return certificates
    }

    public func remove() { try? FileManager.default.removeItem(at: directory) }
}

/// What a client needs to connect: the security protocol, SASL credentials and TLS files.
public struct ClientSecurity: Sendable {
    public var protocolName: String
    public var mechanism: String?
    public var username: String?
    public var password: String?
    public var ca: String?
    public var cert: String?
    public var key: String?

    public init(protocolName: String, mechanism: String? = nil, username: String? = nil, password: String? = nil,
                ca: String? = nil, cert: String? = nil, key: String? = nil) {
        self.protocolName = protocolName
        self.mechanism = mechanism
        self.username = username
        self.password = password
        self.ca = ca
        self.cert = cert
        self.key = key
    }

    /// The settings secure_client.py reads from its environment.
    public var environment: [String: String] {
        var env = ["SECURITY_PROTOCOL": protocolName]
        if let mechanism, let username, let password {
            env["SASL_MECHANISM"] = mechanism; env["SASL_USERNAME"] = username; env["SASL_PASSWORD"] = password
        }
        if let ca { env["SSL_CA"] = ca }
        if let cert, let key { env["SSL_CERT"] = cert; env["SSL_KEY"] = key }
        return env
    }

    /// kcat's -X settings (librdkafka's names, as a user writes them).
    public var kcatArguments: [String] {
        var x = ["security.protocol=\(protocolName)"]
        if let mechanism, let username, let password {
            x += ["sasl.mechanisms=\(mechanism)", "sasl.username=\(username)", "sasl.password=\(password)"]
        }
        if let ca { x.append("ssl.ca.location=\(ca)") }
        if let cert, let key { x += ["ssl.certificate.location=\(cert)", "ssl.key.location=\(key)"] }
        return x.flatMap { ["-X", $0] }
    }
}
