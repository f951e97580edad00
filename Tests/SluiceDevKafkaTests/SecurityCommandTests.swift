import Foundation
import SluiceCore
import SluiceTestSupport
import Testing
@testable import SluiceDevKafka

/// A /proc file, read to its end with read(2) (their size is 0 to stat, and Foundation may stop at a page).
func readProcFile(_ path: String) throws -> String {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { throw ScriptFailure(description: "cannot open \(path): errno \(errno)") }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = read(fd, &buffer, buffer.count)
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { break }
        bytes += buffer[0..<n]
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// The IPv4 addresses listening on `port` (from /proc/net/tcp), e.g. ["127.0.0.1"].
func listeningAddresses(port: Int) throws -> [String] {
    let table = try readProcFile("/proc/net/tcp")
    return table.split(separator: "\n").dropFirst().compactMap { line -> String? in
        let fields = line.split(separator: " ")
        guard fields.count > 3, fields[3] == "0A" else { return nil }  // LISTEN
        let local = fields[1].split(separator: ":")
        guard local.count == 2, Int(local[1], radix: 16) == port, let ip = UInt32(local[0], radix: 16) else { return nil }
        return (0..<4).map { String((ip >> (8 * $0)) & 0xff) }.joined(separator: ".")
    }
}

@Suite("sluice dev-kafka security flags")
struct SecurityCommandTests {
    @Test("listeners, TLS and SASL users from the environment and a file: one ready line, the others on standard error, no password in the process's arguments")
    func listenersAndSecrets() async throws {
        let kcat = try #require(which("kcat"))
        let certificates = try await TestCertificates.make()
        defer { certificates.remove() }
        let passwordFile = certificates.path("bob.password")
        try "bob-file-secret\n".write(toFile: passwordFile, atomically: true, encoding: .utf8)
        let broker = try DevKafkaProcess(launching: [
            "--listener", "PLAINTEXT://127.0.0.1:0", "--listener", "SASL_SSL://127.0.0.1:0", "--listener", "SSL://:0",
            "--tls-cert", certificates.serverCert, "--tls-key", certificates.serverKey,
            "--sasl-scram-sha-512", "alice:env:DK_TEST_ALICE_PASSWORD", "--sasl-plain", "bob:file:\(passwordFile)",
            "--admin-port", "0", "--topic", "events",
        ], environment: ["DK_TEST_ALICE_PASSWORD": "alice-env-secret"])
        let ready = try await broker.readyAddress()
        #expect(ready.hasPrefix("127.0.0.1:"))
        let info = await broker.errorLines(count: 3, timeout: .seconds(10))
        #expect(info.count == 3, "\(info)")
        let saslLine = try #require(info.first { $0.hasPrefix("listener SASL_SSL 127.0.0.1:") }, "\(info)")
        #expect(info.contains { $0.hasPrefix("listener SSL 127.0.0.1:") }, "an empty host binds --host")
        #expect(info.contains { $0.hasPrefix("admin 127.0.0.1:") })
        let saslAddress = String(saslLine.dropFirst("listener SASL_SSL ".count))

        let alice = ClientSecurity(protocolName: "SASL_SSL", mechanism: "SCRAM-SHA-512", username: "alice",
                                   password: "alice-env-secret", ca: certificates.ca)
        let list = try await run(kcat, ["-b", saslAddress] + alice.kcatArguments + ["-L", "-m", "10"])
        #expect(list.status == 0, "\(list.stderr)")
        #expect(list.stdout.contains("broker 1 at \(saslAddress)"), "\(list.stdout)")
        let bob = ClientSecurity(protocolName: "SASL_SSL", mechanism: "PLAIN", username: "bob", password: "bob-file-secret",
                                 ca: certificates.ca)
        #expect(try await kcatRoundTrip(saslAddress, bob) == ["0|k0|v0", "1|k1|v1", "2|k2|v2"])

        let commandLine = try readProcFile("/proc/\(broker.process.pid)/cmdline")
        #expect(commandLine.contains("alice:env:DK_TEST_ALICE_PASSWORD"))
        #expect(!commandLine.contains("alice-env-secret") && !commandLine.contains("bob-file-secret"))
        #expect(await broker.stop() == 0)
    }

    @Test("--host 0.0.0.0: Metadata advertises the machine's host name (or --advertised-host); the admin port stays on loopback")
    func everyInterface() async throws {
        let kcat = try #require(which("kcat"))
        for advertised in [nil, "127.0.0.1"] {
            let broker = try DevKafkaProcess(launching: ["--host", "0.0.0.0", "--port", "0", "--admin-port", "0"]
                                                   + (advertised.map { ["--advertised-host", $0] } ?? []))
            let ready = try await broker.readyAddress()
            let host = advertised ?? machineHostName()
            #expect(ready.hasPrefix("\(host):"), "\(ready)")
            let port = try #require(Int(ready.split(separator: ":").last ?? ""))
            let admin = try #require(await broker.errorLines(count: 1).first)
            #expect(admin.hasPrefix("admin 127.0.0.1:"))
            let adminPort = try #require(Int(admin.split(separator: ":").last ?? ""))
            #expect(try listeningAddresses(port: port) == ["0.0.0.0"])
            #expect(try listeningAddresses(port: adminPort) == ["127.0.0.1"])
            let list = try await run(kcat, ["-b", "127.0.0.1:\(port)", "-L", "-m", "10"])
            #expect(list.stdout.contains("broker 1 at \(host):\(port)"), "\(list.stdout) \(list.stderr)")
            #expect(await broker.stop() == 0)
        }
    }

    static let invalid: [[String]] = [
        ["--sasl-plain", "bob:pw-SECRET-1"],
        ["--listener", "SASL_SSL://127.0.0.1:0", "--sasl-plain", "bob:pw-SECRET-1"],
        ["--listener", "SASL_PLAINTEXT://127.0.0.1:0"],
        ["--listener", "KERBEROS://127.0.0.1:0"],
        ["--listener", "PLAINTEXT://127.0.0.1"],
        ["--listener", "PLAINTEXT://::1:0"],
        ["--listener", "PLAINTEXT://127.0.0.1:0", "--port", "9092"],
        ["--listener", "SASL_PLAINTEXT://127.0.0.1:0", "--sasl-plain", "bob:env:SLUICE_TEST_UNSET_VARIABLE"],
        ["--listener", "SASL_PLAINTEXT://127.0.0.1:0", "--sasl-plain", "bob:file:/nonexistent/password"],
        ["--listener", "SASL_PLAINTEXT://127.0.0.1:0", "--sasl-plain", "bob:"],
        ["--listener", "SASL_PLAINTEXT://127.0.0.1:0", "--sasl-scram-sha-256", "pw-SECRET-1"],
        ["--listener", "SASL_PLAINTEXT://127.0.0.1:0", "--sasl-plain", "bob:pw-SECRET-1", "--sasl-plain", "bob:pw-SECRET-2"],
        ["--listener", "SSL://127.0.0.1:0", "--tls-cert", "/nonexistent/server.pem", "--tls-key", "/nonexistent/server.key"],
        ["--listener", "SSL://127.0.0.1:0", "--tls-cert", "/nonexistent/server.pem"],
        ["--tls-ca", "/nonexistent/ca.pem"],
    ]

    @Test("invalid security flags exit 2 with a reason, and never print a password", arguments: invalid)
    func invalidFlags(arguments: [String]) async throws {
        let result = try await run(sluiceBinary, ["dev-kafka"] + arguments)
        #expect(result.status == 2, "\(result.stderr)")
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.hasPrefix("sluice dev-kafka: ") || result.stderr.contains("Error:"), "\(result.stderr)")
        #expect(!result.stderr.contains("pw-SECRET"), "\(result.stderr)")
    }

    @Test("a key that is not the certificate's, or a certificate file that is not PEM, exits 2 naming the file")
    func mismatchedKey() async throws {
        let certificates = try await TestCertificates.make()
        defer { certificates.remove() }
        for (cert, key, named) in [(certificates.serverCert, certificates.clientKey, certificates.clientKey),
                                   (certificates.serverKey, certificates.serverKey, certificates.serverKey)] {
            let result = try await run(sluiceBinary, ["dev-kafka", "--listener", "SSL://127.0.0.1:0", "--tls-cert", cert, "--tls-key", key])
            #expect(result.status == 2, "\(result.stderr)")
            #expect(result.stderr.contains(named), "\(result.stderr)")
        }
    }
}

@Suite("Security settings")
struct SecurityConfigTests {
    @Test("USER:PASSWORD, USER:env:VARIABLE and USER:file:PATH")
    func secrets() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-password-\(UUID().uuidString)")
        try "from-file\r\n".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let env = ["PW": "from-env"]
        #expect(try DevKafkaSaslUser(parsing: "alice:lit:er:al", mechanism: .plain, environment: env).password == "lit:er:al")
        #expect(try DevKafkaSaslUser(parsing: "alice:env:PW", mechanism: .scramSHA256, environment: env).password == "from-env")
        let fromFile = try DevKafkaSaslUser(parsing: "alice:file:\(file.path)", mechanism: .scramSHA512, environment: env)
        #expect(fromFile.password == "from-file")
        #expect(fromFile.name == "alice")
        #expect(fromFile.mechanism == .scramSHA512)
    }

    @Test("a user prints without its password")
    func redacted() {
        let user = DevKafkaSaslUser(mechanism: .plain, name: "alice", password: "hunter2-secret")
        var dumped = ""
        dump(user, to: &dumped)
        for text in ["\(user)", String(reflecting: user), dumped, "\([user])"] {
            #expect(!text.contains("hunter2-secret"), "\(text)")
            #expect(text.contains("alice"))
        }
    }

    @Test("errors name the user and the variable or file, not the password", arguments: [
        ("alice:env:MISSING", "environment variable 'MISSING'"), ("alice:file:/nonexistent/pw", "'/nonexistent/pw'"),
        ("alice:", "empty password"), (":secret-pw", "USER:PASSWORD"), ("secret-pw", "USER:PASSWORD"),
    ])
    func secretErrors(spec: String, message: String) {
        do {
            _ = try DevKafkaSaslUser(parsing: spec, mechanism: .plain, environment: [:])
            Issue.record("'\(spec)' was accepted")
        } catch let error as SluiceError {
            #expect(error.exitCode == 2)
            #expect(error.description.contains(message), "\(error)")
            #expect(!error.description.contains("secret-pw"), "\(error)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test("listeners: NAME://HOST:PORT, bracketed IPv6, an empty host is the default host")
    func listeners() throws {
        #expect(try DevKafkaListener(parsing: "sasl_ssl://10.0.0.1:9094", defaultHost: "127.0.0.1")
            == DevKafkaListener(.saslSSL, host: "10.0.0.1", port: 9094))
        #expect(try DevKafkaListener(parsing: "SSL://:0", defaultHost: "192.168.1.2") == DevKafkaListener(.ssl, host: "192.168.1.2", port: 0))
        let v6 = try DevKafkaListener(parsing: "PLAINTEXT://[::1]:9092", defaultHost: "127.0.0.1")
        #expect(v6 == DevKafkaListener(.plaintext, host: "::1", port: 9092))
        #expect(v6.description == "PLAINTEXT://[::1]:9092")
        for bad in ["PLAINTEXT:127.0.0.1:9092", "TLS://127.0.0.1:9092", "SSL://127.0.0.1:70000", "SSL://127.0.0.1:x", "SSL://::1:9092"] {
            #expect(throws: SluiceError.self, "\(bad)") { try DevKafkaListener(parsing: bad, defaultHost: "127.0.0.1") }
        }
    }

    @Test("advertised host: --advertised-host, else the bind host, else the machine's name for 0.0.0.0 and ::")
    func advertisedHost() {
        var config = DevKafkaConfiguration()
        #expect(config.advertisedHost(for: DevKafkaListener(.plaintext, host: "10.1.2.3")) == "10.1.2.3")
        #expect(config.advertisedHost(for: DevKafkaListener(.plaintext, host: "0.0.0.0")) == machineHostName())
        #expect(config.advertisedHost(for: DevKafkaListener(.plaintext, host: "::")) == machineHostName())
        config.advertisedHost = "kafka.example"
        #expect(config.advertisedHost(for: DevKafkaListener(.plaintext, host: "0.0.0.0")) == "kafka.example")
    }

    @Test("security settings nothing uses, or listeners without them, are refused before anything listens")
    func unusedSettings() async throws {
        let tls = DevKafkaTLS(certificateFile: "/nonexistent.pem", privateKeyFile: "/nonexistent.key")
        let user = DevKafkaSaslUser(mechanism: .plain, name: "u", password: "p")
        for config in [DevKafkaConfiguration(tls: tls), DevKafkaConfiguration(saslUsers: [user]),
                       DevKafkaConfiguration(listeners: [DevKafkaListener(.ssl)]),
                       DevKafkaConfiguration(listeners: [DevKafkaListener(.saslPlaintext)])] {
            await #expect(throws: SluiceError.self) { _ = try await DevKafkaBroker.start(config) }
        }
    }
}
