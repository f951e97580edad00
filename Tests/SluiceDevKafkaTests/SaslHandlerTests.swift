import Foundation
import NIOCore
import NIOEmbedded
import SluiceCore
import Testing
@testable import SluiceDevKafka

/// RFC 7677's example: user "user", password "pencil", this salt and server nonce.
let rfcSalt = Array(Data(base64Encoded: "W22ZaJ0SNY7soEsUEjb6gQ==")!)
let rfcServerNonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
let rfcClientFirst = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
let rfcServerFirst = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
let rfcClientFinal = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
let rfcServerFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

/// One SASL_PLAINTEXT connection on an EmbeddedChannel: the frame decoder and the connection
/// handler as the broker wires them, advertising broker.test:9094.
struct SaslChannel {
    let channel: EmbeddedChannel

    init(version: KafkaVersion = .v2_2) throws {
        let loop = EmbeddedEventLoop()
        let core = try BrokerCore(config: DevKafkaConfiguration(version: version, topics: [DevKafkaTopic(name: "events")]),
                                  scheduler: loop)
        let users = [DevKafkaSaslUser(mechanism: .plain, name: "alice", password: "alice-secret"),
                     DevKafkaSaslUser(mechanism: .scramSHA256, name: "user", password: "pencil")]
        let credentials = try SaslCredentials(users: users, makeSalt: { _ in rfcSalt }, makeNonce: { rfcServerNonce })
        let endpoint = ListenerEndpoint(listener: DevKafkaListener(.saslPlaintext, port: 9094), advertisedHost: "broker.test",
                                        tls: nil, sasl: credentials)
        endpoint.bound(port: 9094)
        let authenticator = SaslAuthenticator(credentials: credentials, version: version)
        channel = EmbeddedChannel(loop: loop)
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(KafkaFrameDecoder(authenticator: authenticator)))
        try channel.pipeline.syncOperations.addHandler(KafkaConnectionHandler(core: core, registry: ConnectionRegistry(),
                                                                              endpoint: endpoint, authenticator: authenticator))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 40000)).wait()
    }

    var isOpen: Bool { channel.isActive }

    /// Lets `milliseconds` pass on the connection's clock (Kafka 2.2 closes a connection that failed
    /// authentication 100 ms after its answer).
    func elapse(_ milliseconds: Int64 = 100) {
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(milliseconds))
    }

    /// Sends a request and returns the response (correlation id, body), nil when none came.
    func request(_ key: Int16, _ version: Int16, _ body: ByteBuffer, correlation: Int32 = 1) throws -> (Int32, ByteBuffer)? {
        try send(WireConnection.frame(key: key, version: version, correlation: correlation, body: body))
        guard var frame = try response() else { return nil }
        return (try frame.rInt32(), frame)
    }

    /// Sends a raw SASL token (after SaslHandshake v0) and returns the raw answer, nil when none came.
    func token(_ bytes: [UInt8]) throws -> [UInt8]? {
        var frame = ByteBuffer()
        frame.wInt32(Int32(bytes.count))
        frame.writeBytes(bytes)
        try send(frame)
        return try response().map { Array($0.readableBytesView) }
    }

    func send(_ frame: ByteBuffer) throws {
        do {
            try channel.writeInbound(frame)
        } catch is ChannelError {
            // Writing to a connection the broker has closed.
        }
        channel.embeddedEventLoop.run()
    }

    /// The next frame written back, without its size.
    func response() throws -> ByteBuffer? {
        guard var frame = try channel.readOutbound(as: ByteBuffer.self) else { return nil }
        let size = try frame.rInt32()
        #expect(Int(size) == frame.readableBytes)
        return frame
    }
}

func handshake(_ mechanism: String) -> ByteBuffer { body { $0.wString(mechanism) } }
func authenticate(_ token: [UInt8]) -> ByteBuffer { body { $0.wNullableBytes(ByteBuffer(bytes: token)) } }
func plainToken(_ user: String, _ password: String) -> [UInt8] { [0] + Array(user.utf8) + [0] + Array(password.utf8) }

/// (error, mechanisms) of a SaslHandshake response.
func parseHandshake(_ response: ByteBuffer) throws -> (Int16, [String]) {
    var r = response
    return (try r.rInt16(), try r.rArray { try $0.rString() })
}

/// (error, message, bytes, session lifetime) of a SaslAuthenticate response.
func parseAuthenticate(_ response: ByteBuffer, version: Int16) throws -> (Int16, String?, String, Int64?) {
    var r = response
    let error = try r.rInt16()
    let message = try r.rNullableString()
    let bytes = String(decoding: try r.rBytes().readableBytesView, as: UTF8.self)
    let lifetime = version >= 1 ? try r.rInt64() : nil
    #expect(r.readableBytes == 0)
    return (error, message, bytes, lifetime)
}

/// The advertised broker (host, port) of a Metadata v1 response.
func advertisedBroker(_ response: ByteBuffer) throws -> (String, Int32) {
    var r = response
    let brokers = try r.rArray { b in
        _ = try b.rInt32()
        let host = try b.rString(), port = try b.rInt32()
        _ = try b.rNullableString()
        return (host, port)
    }
    return try #require(brokers.first)
}

@Suite("SASL on a connection (EmbeddedChannel)")
struct SaslHandlerTests {
    @Test("PLAIN with SaslHandshake v1 and SaslAuthenticate v1, then Metadata advertises the listener")
    func plainV1() throws {
        let c = try SaslChannel()
        var versions = try #require(try c.request(18, 1, ByteBuffer())).1
        #expect(try versions.rInt16() == 0)
        let entries = try versions.rArray { b in (try b.rInt16(), try b.rInt16(), try b.rInt16()) }
        #expect(entries.first { $0.0 == 17 }?.2 == 1)
        #expect(entries.first { $0.0 == 36 }?.2 == 1)

        let (id, shake) = try #require(try c.request(17, 1, handshake("PLAIN"), correlation: 5))
        #expect(id == 5)
        #expect(try parseHandshake(shake) == (0, ["PLAIN", "SCRAM-SHA-256"]))
        let auth = try #require(try c.request(36, 1, authenticate(plainToken("alice", "alice-secret")))).1
        #expect(try parseAuthenticate(auth, version: 1) == (0, nil, "", 0))
        let metadata = try #require(try c.request(3, 1, metadataV1(["events"]))).1
        #expect(try advertisedBroker(metadata) == ("broker.test", 9094))
        #expect(try parseMetadataV1(metadata).map(\.0) == ["events"])
        #expect(c.isOpen)
    }

    @Test("a wrong PLAIN password or an unknown user: SASL_AUTHENTICATION_FAILED with a message, then the connection closes",
          arguments: [("alice", "wrong"), ("mallory", "alice-secret"), ("alice", "")])
    func plainWrongPassword(user: String, password: String) throws {
        let c = try SaslChannel()
        _ = try c.request(17, 1, handshake("PLAIN"))
        let auth = try #require(try c.request(36, 0, authenticate(plainToken(user, password)))).1
        #expect(try parseAuthenticate(auth, version: 0) == (58, "Authentication failed: Invalid username or password", "", nil))
        c.elapse(99)
        #expect(c.isOpen, "closed 100 ms after the answer")
        #expect(try c.request(3, 1, metadataV1(nil)) == nil, "nothing more is answered")
        c.elapse(1)
        #expect(!c.isOpen)
    }

    @Test("an authorization id other than the user is refused")
    func plainAuthorizationId() throws {
        let c = try SaslChannel()
        _ = try c.request(17, 1, handshake("PLAIN"))
        let token = Array("admin".utf8) + plainToken("alice", "alice-secret")
        #expect(try parseAuthenticate(try #require(try c.request(36, 1, authenticate(token))).1, version: 1).0 == 58)
        c.elapse()
        #expect(!c.isOpen)
    }

    @Test("an unsupported mechanism: UNSUPPORTED_SASL_MECHANISM with the enabled ones, then the connection closes")
    func unsupportedMechanism() throws {
        let c = try SaslChannel()
        let shake = try #require(try c.request(17, 1, handshake("GSSAPI"))).1
        #expect(try parseHandshake(shake) == (33, ["PLAIN", "SCRAM-SHA-256"]))
        c.elapse()
        #expect(!c.isOpen)
    }

    @Test("a request other than ApiVersions and SaslHandshake before authentication closes the connection without an answer")
    func requestBeforeAuthentication() throws {
        for prelude in [false, true] {
            let c = try SaslChannel()
            if prelude { #expect(try parseHandshake(try #require(try c.request(17, 1, handshake("PLAIN"))).1).0 == 0) }
            #expect(try c.request(3, 1, metadataV1(["events"])) == nil)
            #expect(!c.isOpen, "Metadata \(prelude ? "after the handshake" : "first") must close")
        }
    }

    @Test("SaslAuthenticate before SaslHandshake closes the connection")
    func authenticateFirst() throws {
        let c = try SaslChannel()
        #expect(try c.request(36, 1, authenticate(plainToken("alice", "alice-secret"))) == nil)
        #expect(!c.isOpen)
    }

    @Test("a frame over 512 KiB before authentication closes the connection")
    func oversizedBeforeAuthentication() throws {
        let c = try SaslChannel()
        var frame = ByteBuffer()
        frame.wInt32(600_000)
        frame.writeBytes([UInt8](repeating: 0, count: 64))
        try c.send(frame)
        #expect(!c.isOpen)
    }

    @Test("ApiVersions v3 before authentication gets the v0 fallback body, as without SASL")
    func apiVersionsFallback() throws {
        let c = try SaslChannel()
        let v3 = body { b in b.writeBytes([6] + Array("sluice".utf8) + [4] + Array("1.0".utf8) + [0]) }
        try c.send(WireConnection.frame(key: 18, version: 3, correlation: 9, body: v3, flexibleHeader: true))
        var answer = try #require(try c.response())
        #expect(try answer.rInt32() == 9)
        #expect(Array(answer.readableBytesView) == [0x00, 0x23, 0x00, 0x00, 0x00, 0x00])
        #expect(c.isOpen)
    }

    @Test("SCRAM-SHA-256 through SaslAuthenticate: RFC 7677's exchange, byte for byte", arguments: [Int16(0), 1])
    func scramFramed(version: Int16) throws {
        let c = try SaslChannel()
        #expect(try parseHandshake(try #require(try c.request(17, 1, handshake("SCRAM-SHA-256"))).1).0 == 0)
        let first = try #require(try c.request(36, version, authenticate(Array(rfcClientFirst.utf8)))).1
        #expect(try parseAuthenticate(first, version: version) == (0, nil, rfcServerFirst, version >= 1 ? 0 : nil))
        let final = try #require(try c.request(36, version, authenticate(Array(rfcClientFinal.utf8)))).1
        #expect(try parseAuthenticate(final, version: version) == (0, nil, rfcServerFinal, version >= 1 ? 0 : nil))
        #expect(try advertisedBroker(try #require(try c.request(3, 1, metadataV1(nil))).1) == ("broker.test", 9094))
    }

    @Test("SCRAM with a wrong proof: SASL_AUTHENTICATION_FAILED naming the mechanism, then the connection closes")
    func scramWrongProof() throws {
        let c = try SaslChannel()
        _ = try c.request(17, 1, handshake("SCRAM-SHA-256"))
        _ = try c.request(36, 1, authenticate(Array(rfcClientFirst.utf8)))
        let forged = rfcClientFinal.replacingOccurrences(of: "p=dHzb", with: "p=dHzc")
        let final = try #require(try c.request(36, 1, authenticate(Array(forged.utf8)))).1
        #expect(try parseAuthenticate(final, version: 1)
            == (58, "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-256", "", 0))
        c.elapse()
        #expect(!c.isOpen)
    }

    @Test("SaslHandshake v0 (Kafka 0.10.2 and 2.2): SCRAM tokens travel as raw size-prefixed frames",
          arguments: KafkaVersion.allCases)
    func scramRaw(version: KafkaVersion) throws {
        let c = try SaslChannel(version: version)
        #expect(try parseHandshake(try #require(try c.request(17, 0, handshake("SCRAM-SHA-256"))).1).0 == 0)
        #expect(try c.token(Array(rfcClientFirst.utf8)) == Array(rfcServerFirst.utf8))
        #expect(try c.token(Array(rfcClientFinal.utf8)) == Array(rfcServerFinal.utf8))
        let metadata = try #require(try c.request(3, 1, metadataV1(["events"]))).1
        #expect(try parseMetadataV1(metadata).map(\.0) == ["events"])
    }

    @Test("SaslHandshake v0 with PLAIN: an empty token answers success; a wrong password closes without an answer")
    func plainRaw() throws {
        let good = try SaslChannel(version: .v0_10_2)
        _ = try good.request(17, 0, handshake("PLAIN"))
        #expect(try good.token(plainToken("alice", "alice-secret")) == [])
        #expect(try good.request(3, 0, body { $0.wInt32(0) }) != nil)

        let bad = try SaslChannel(version: .v0_10_2)
        _ = try bad.request(17, 0, handshake("PLAIN"))
        #expect(try bad.token(plainToken("alice", "nope")) == nil)
        #expect(!bad.isOpen)
    }

    @Test("Kafka 0.10.2 has SaslHandshake v0 only and no SaslAuthenticate: other versions close the connection")
    func oldPersonality() throws {
        let v1 = try SaslChannel(version: .v0_10_2)
        #expect(try v1.request(17, 1, handshake("PLAIN")) == nil)
        #expect(!v1.isOpen)
        let authenticateAfterV0 = try SaslChannel(version: .v0_10_2)
        _ = try authenticateAfterV0.request(17, 0, handshake("PLAIN"))
        // After a v0 handshake the next frame is a raw token: a SaslAuthenticate request is read as one and fails.
        #expect(try authenticateAfterV0.token(Array(WireConnection.frame(key: 36, version: 0, correlation: 2,
                                                                         body: authenticate(plainToken("alice", "alice-secret"))).readableBytesView.dropFirst(4))) == nil)
        #expect(!authenticateAfterV0.isOpen)
    }

    @Test("after authentication, SaslHandshake is answered ILLEGAL_SASL_STATE as on a plaintext listener")
    func handshakeAfterAuthentication() throws {
        let c = try SaslChannel()
        _ = try c.request(17, 1, handshake("PLAIN"))
        _ = try c.request(36, 1, authenticate(plainToken("alice", "alice-secret")))
        #expect(try parseHandshake(try #require(try c.request(17, 1, handshake("PLAIN"))).1).0 == 34)
        #expect(c.isOpen)
    }
}
