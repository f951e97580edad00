import Foundation
import SluiceCore
import Testing
import SluiceTestSupport
@testable import SluiceDevKafka

/// One user per mechanism, each its own principal.
let securityUsers = [
    DevKafkaSaslUser(mechanism: .plain, name: "plain-user", password: "plain-secret"),
    DevKafkaSaslUser(mechanism: .scramSHA256, name: "scram256-user", password: "scram256 secret"),
    DevKafkaSaslUser(mechanism: .scramSHA512, name: "scram512-user", password: "scram512-secret:with=odd,chars"),
]

let clientLibraries = ["kcat", "confluent", "kafka-python"]

/// SASL_SSL settings for the user of `mechanism` (with another password when given).
func saslSSL(_ mechanism: DevKafkaSaslMechanism, _ certificates: TestCertificates, password: String? = nil,
             ca: String? = nil) -> ClientSecurity {
    let user = securityUsers.first { $0.mechanism == mechanism }!
    return ClientSecurity(protocolName: "SASL_SSL", mechanism: mechanism.rawValue, username: user.name,
                          password: password ?? user.password, ca: ca ?? certificates.ca)
}

/// A broker whose first listener is PLAINTEXT and whose others are `listeners`: clients of the
/// secure listeners only work when Metadata advertises the listener they came through.
func startSecureBroker(_ certificates: TestCertificates, _ listeners: [DevKafkaSecurityProtocol],
                       version: KafkaVersion = .v2_2, certificate: String? = nil, mutual: Bool = false) async throws -> DevKafkaBroker {
    let usesTLS = listeners.contains { $0.usesTLS }
    return try await DevKafkaBroker.start(DevKafkaConfiguration(
        version: version, topics: [DevKafkaTopic(name: "events")],
        listeners: [DevKafkaListener(.plaintext)] + listeners.map { DevKafkaListener($0) },
        tls: usesTLS ? certificates.tls(certificate: certificate, mutual: mutual) : nil,
        saslUsers: listeners.contains { $0.usesSASL } ? securityUsers : []))
}

extension DevKafkaBroker {
    func address(_ securityProtocol: DevKafkaSecurityProtocol) throws -> String {
        try #require(listeners.first { $0.securityProtocol == securityProtocol }).address
    }
}

/// Produces three records with kcat and reads them back; returns kcat's output lines.
func kcatRoundTrip(_ bootstrap: String, _ security: ClientSecurity) async throws -> [String] {
    let kcat = try #require(which("kcat"), "kcat is not installed (scripts/install-deps)")
    let produced = try await run(kcat, ["-b", bootstrap] + security.kcatArguments + ["-P", "-t", "events", "-p", "0", "-K", ":"],
                                 stdin: "k0:v0\nk1:v1\nk2:v2\n", limit: 60)
    #expect(produced.status == 0, "\(produced.stderr)")
    let consumed = try await run(kcat, ["-b", bootstrap] + security.kcatArguments + ["-C", "-t", "events", "-p", "0", "-o", "beginning",
                                                                                     "-e", "-q", "-f", "%o|%k|%s\n"], limit: 60)
    #expect(consumed.status == 0, "\(consumed.stderr)")
    return consumed.stdout.split(separator: "\n").map(String.init)
}

/// Produces, consumes and commits through `library`; checks the records and the commit.
func roundTrip(_ library: String, _ broker: DevKafkaBroker, through listener: DevKafkaSecurityProtocol,
               _ security: ClientSecurity) async throws {
    let bootstrap = try broker.address(listener)
    if library == "kcat" {
        #expect(try await kcatRoundTrip(bootstrap, security) == ["0|k0|v0", "1|k1|v1", "2|k2|v2"])
    } else {
        let json = try await runSecureClient(library, bootstrap, topic: "events", security: security)
        #expect(json["error"] == nil, "\(json)")
        #expect((json["records"] as? [[Any]])?.map { "\($0[0])|\($0[1])|\($0[2])" } == ["0|k0|v0", "1|k1|v1", "2|k2|v2"])
        #expect(json["committed"] as? Int == 3)
        let group = library == "confluent" ? "secure-confluent" : "secure-kafka-python"
        #expect(broker.committedOffset(group: group, topic: "events", partition: 0) == 3)
    }
    #expect(try broker.records(topic: "events", partition: 0).map { String(decoding: $0.value ?? [], as: UTF8.self) } == ["v0", "v1", "v2"])
}

/// Tries to produce through `library` and expects it to give up with an error of `kind`
/// ("authentication" or "ssl") within `seconds`; kcat's error text must contain one of `kcatText`.
func expectRefused(_ library: String, _ bootstrap: String, _ security: ClientSecurity, kind: String, kcatText: [String],
                   seconds: Double = 10) async throws {
    let started = Date()
    if library == "kcat" {
        let kcat = try #require(which("kcat"))
        // A producer ends as soon as its only broker is down (kcat -L would wait out its metadata timeout).
        let result = try await run(kcat, ["-b", bootstrap] + security.kcatArguments + ["-P", "-t", "events"], stdin: "x\n", limit: 60)
        #expect(result.status != 0)
        #expect(kcatText.contains { result.stderr.contains($0) }, "kcat stderr: \(result.stderr)")
        #expect(Date().timeIntervalSince(started) < seconds)
    } else {
        let json = try await runSecureClient(library, bootstrap, topic: "events", security: security)
        #expect(json["error"] as? String == kind, "\(json)")
        #expect((json["seconds"] as? Double ?? 99) < seconds, "\(json)")
    }
}

@Suite("Security: clients we did not write, over TLS and SASL")
struct SecurityClientTests {
    static let saslCases = clientLibraries.flatMap { library in DevKafkaSaslMechanism.allCases.map { (library, $0) } }

    @Test("SASL_SSL: produce, consume and commit with each mechanism", arguments: saslCases)
    func saslSSLRoundTrip(library: String, mechanism: DevKafkaSaslMechanism) async throws {
        let certificates = try await TestCertificates.make()
        defer { certificates.remove() }
        let broker = try await startSecureBroker(certificates, [.saslSSL])
        defer { Task { try? await broker.shutdown() } }
        try await roundTrip(library, broker, through: .saslSSL, saslSSL(mechanism, certificates))
    }

    @Test("a wrong password: an authentication error, at once", arguments: saslCases)
    func wrongPassword(library: String, mechanism: DevKafkaSaslMechanism) async throws {
        let certificates = try await TestCertificates.make()
        defer { certificates.remove() }
        let broker = try await startSecureBroker(certificates, [.saslSSL])
        defer { Task { try? await broker.shutdown() } }
        try await expectRefused(library, try broker.address(.saslSSL), saslSSL(mechanism, certificates, password: "not-the-password"),
                                kind: "authentication", kcatText: ["Authentication failed"])
        #expect(try broker.records(topic: "events", partition: 0).isEmpty)
    }

    @Test("SASL_SSL on the 0.10.2 personality: SaslHandshake v0 and raw SASL tokens",
          arguments: clientLibraries.flatMap { library in [DevKafkaSaslMechanism.plain, .scramSHA256].map { (library, $0) } })
    func oldPersonality(library: String, mechanism: DevKafkaSaslMechanism) async throws {
        let certificates = try await TestCertificates.make()
        defer { certificates.remove() }
        let broker = try await startSecureBroker(certificates, [.saslSSL], version: .v0_10_2)
        defer { Task { try? await broker.shutdown() } }
        try await roundTrip(library, broker, through: .saslSSL, saslSSL(mechanism, certificates))
    }

    @Test("mutual TLS: a client certificate signed by --tls-ca is accepted", arguments: clientLibraries)
    func mutualTLS(library: String) async throws {
        let certificates = try await TestCertificates.make()
        defer { certificates.remove() }
        let broker = try await startSecureBroker(certificates, [.ssl], mutual: true)
        defer { Task { try? await broker.shutdown() } }
        try await roundTrip(library, broker, through: .ssl, ClientSecurity(protocolName: "SSL", ca: certificates.ca,
                                                                           cert: certificates.clientCert, key: certificates.clientKey))
    }

    @Test("mutual TLS: no client certificate, or one from another CA, is refused",
          arguments: clientLibraries.flatMap { library in [false, true].map { (library, $0) } })
    func mutualTLSRefused(library: String, untrusted: Bool) async throws {
        let certificates = try await TestCertificates.make()
        defer { certificates.remove() }
        let broker = try await startSecureBroker(certificates, [.ssl], mutual: true)
        defer { Task { try? await broker.shutdown() } }
        var security = ClientSecurity(protocolName: "SSL", ca: certificates.ca)
        if untrusted { (security.cert, security.key) = (certificates.untrustedClientCert, certificates.untrustedClientKey) }
        try await expectRefused(library, try broker.address(.ssl), security, kind: "ssl",
                                kcatText: ["SSL handshake failed", "certificate required", "alert", "Disconnected"])
        #expect(try broker.records(topic: "events", partition: 0).isEmpty)
    }

    static let untrustedServers = ["another CA", "expired", "wrong host name"]

    @Test("a server certificate the client cannot trust is refused by the client",
          arguments: clientLibraries.flatMap { library in untrustedServers.map { (library, $0) } })
    func untrustedServer(library: String, problem: String) async throws {
        let certificates = try await TestCertificates.make()
        defer { certificates.remove() }
        let certificate = problem == "expired" ? certificates.expiredCert : problem == "wrong host name" ? certificates.wrongHostCert : nil
        let broker = try await startSecureBroker(certificates, [.saslSSL], certificate: certificate)
        defer { Task { try? await broker.shutdown() } }
        #expect(broker.warnings.isEmpty == (problem != "expired"), "\(broker.warnings)")
        let ca = problem == "another CA" ? certificates.otherCA : certificates.ca
        try await expectRefused(library, try broker.address(.saslSSL), saslSSL(.scramSHA256, certificates, ca: ca), kind: "ssl",
                                kcatText: ["certificate verify failed", "SSL handshake failed"])
    }

    @Test("a frame other than ApiVersions or SaslHandshake before authentication: the connection is closed unanswered",
          arguments: [DevKafkaSecurityProtocol.saslSSL, .saslPlaintext])
    func frameBeforeAuthentication(listener: DevKafkaSecurityProtocol) async throws {
        let certificates = try await TestCertificates.make()
        defer { certificates.remove() }
        let broker = try await startSecureBroker(certificates, [listener])
        defer { Task { try? await broker.shutdown() } }
        let refused = try await runSecureClient("raw-metadata", try broker.address(listener), topic: "events",
                                                security: ClientSecurity(protocolName: listener.rawValue, ca: certificates.ca))
        #expect(refused["closed"] as? Bool == true)
        #expect(refused["answer_bytes"] as? Int == 0)
        // The same request on the PLAINTEXT listener is answered.
        let answered = try await runSecureClient("raw-metadata", try broker.address(.plaintext), topic: "events",
                                                 security: ClientSecurity(protocolName: "PLAINTEXT"))
        #expect(answered["closed"] as? Bool == false)
        #expect((answered["answer_bytes"] as? Int ?? 0) > 0)
    }

    @Test("four listeners: Metadata through each advertises that listener's port; after an outage all listen again")
    func advertisedPerListener() async throws {
        let kcat = try #require(which("kcat"))
        let certificates = try await TestCertificates.make()
        defer { certificates.remove() }
        let broker = try await startSecureBroker(certificates, [.ssl, .saslPlaintext, .saslSSL])
        defer { Task { try? await broker.shutdown() } }
        #expect(broker.listeners.map(\.securityProtocol) == [.plaintext, .ssl, .saslPlaintext, .saslSSL])
        #expect(Set(broker.listeners.map(\.port)).count == 4)
        let scram = saslSSL(.scramSHA512, certificates)
        let settings: [DevKafkaSecurityProtocol: ClientSecurity] = [
            .plaintext: ClientSecurity(protocolName: "PLAINTEXT"),
            .ssl: ClientSecurity(protocolName: "SSL", ca: certificates.ca),
            .saslPlaintext: ClientSecurity(protocolName: "SASL_PLAINTEXT", mechanism: scram.mechanism, username: scram.username,
                                           password: scram.password),
            .saslSSL: scram,
        ]
        for listener in broker.listeners {
            let security = try #require(settings[listener.securityProtocol])
            let list = try await run(kcat, ["-b", listener.address] + security.kcatArguments + ["-L", "-m", "10"])
            #expect(list.status == 0, "\(listener): \(list.stderr)")
            #expect(list.stdout.contains("broker 1 at 127.0.0.1:\(listener.port)"), "\(listener): \(list.stdout)")
        }
        // An outage closes every listener; they all listen again on their ports, with their security.
        await broker.outage(milliseconds: 200)
        #expect(!broker.isListening)
        for _ in 0..<100 where !broker.isListening { try await Task.sleep(for: .milliseconds(50)) }
        #expect(broker.isListening)
        let again = try await run(kcat, ["-b", try broker.address(.saslSSL)] + scram.kcatArguments + ["-L", "-m", "10"])
        #expect(again.stdout.contains("broker 1 at \(try broker.address(.saslSSL))"), "\(again.stdout) \(again.stderr)")
    }
}
