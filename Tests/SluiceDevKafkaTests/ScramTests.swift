import Foundation
import SluiceCore
import Testing
@testable import SluiceDevKafka

/// The server side of SCRAM against the RFCs' example exchanges (user "user", password "pencil").
@Suite("SCRAM server")
struct ScramTests {
    /// An exchange with the RFC's salt and server nonce, for user "user" with password "pencil".
    static func exchange(_ hash: ScramHash, salt: String, serverNonce: String, password: String = "pencil") throws -> ScramServerExchange {
        let credential = try ScramCredential(password: password, salt: Array(try #require(Data(base64Encoded: salt))),
                                             iterations: 4096, hash: hash)
        return ScramServerExchange(hash: hash, lookup: { $0 == "user" ? credential : nil },
                                   decoy: { _ in ScramCredential(salt: [1, 2, 3], iterations: 4096, storedKey: [], serverKey: []) },
                                   serverNonce: { serverNonce })
    }

    static func step(_ exchange: inout ScramServerExchange, _ message: String) -> SaslStep {
        exchange.receive(Array(message.utf8))
    }

    @Test("RFC 7677 SCRAM-SHA-256: the server-first message and the server signature of the example")
    func rfc7677() throws {
        var exchange = try Self.exchange(.sha256, salt: "W22ZaJ0SNY7soEsUEjb6gQ==", serverNonce: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0")
        #expect(Self.step(&exchange, "n,,n=user,r=rOprNGfwEbeRWgbNEkqO")
            == .challenge(Array("r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096".utf8)))
        #expect(Self.step(&exchange, "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
            == .success(final: Array("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=".utf8), user: "user"))
        // The exchange is over.
        #expect(Self.step(&exchange, "n,,n=user,r=x") == .failure(reason: "SCRAM message after the exchange ended"))
    }

    @Test("RFC 5802 SCRAM-SHA-1: the same structure with SHA-1")
    func rfc5802() throws {
        var exchange = try Self.exchange(.sha1, salt: "QSXCR+Q6sek8bf92", serverNonce: "3rfcNHYJY1ZVvWVs7j")
        #expect(Self.step(&exchange, "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL")
            == .challenge(Array("r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096".utf8)))
        #expect(Self.step(&exchange, "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=")
            == .success(final: Array("v=rmF9pqV8S7suAoZWja4dJRkFsKQ=".utf8), user: "user"))
    }

    @Test("the RFC 7677 client's proof fails against another password")
    func wrongPassword() throws {
        var exchange = try Self.exchange(.sha256, salt: "W22ZaJ0SNY7soEsUEjb6gQ==", serverNonce: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
                                         password: "pencil2")
        _ = Self.step(&exchange, "n,,n=user,r=rOprNGfwEbeRWgbNEkqO")
        #expect(Self.step(&exchange, "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
            == .failure(reason: "wrong password for user 'user'"))
    }

    @Test("an unknown user gets a server-first message with a decoy salt and fails at the proof")
    func unknownUser() throws {
        var exchange = try Self.exchange(.sha256, salt: "W22ZaJ0SNY7soEsUEjb6gQ==", serverNonce: "SERVER")
        #expect(Self.step(&exchange, "n,,n=nobody,r=CLIENT") == .challenge(Array("r=CLIENTSERVER,s=AQID,i=4096".utf8)))
        let proof = Data(repeating: 7, count: 32).base64EncodedString()
        #expect(Self.step(&exchange, "c=biws,r=CLIENTSERVER,p=\(proof)") == .failure(reason: "unknown user 'nobody'"))
    }

    @Test("malformed and mismatched messages are refused", arguments: [
        ("p=tls-unique,,n=user,r=abc", "SCRAM channel binding is not supported"),
        ("x,,n=user,r=abc", "SCRAM client-first message has a bad gs2 header"),
        ("n,,m=ext,n=user,r=abc", "SCRAM client-first message needs n=USER,r=NONCE first"),
        ("n,,n=us=er,r=abc", "SCRAM client-first message needs n=USER,r=NONCE first"),
        ("n,,n=user,r=", "SCRAM client nonce is empty or not printable"),
        ("n,a=admin,n=user,r=abc", "SCRAM authorization id differs from the user name"),
        ("n,,n=user,r=abc,tokenauth=true", "SCRAM delegation-token authentication is not supported"),
        ("n,,n=user", "SCRAM client-first message needs n=USER,r=NONCE first"),
        ("n", "SCRAM client-first message is malformed"),
    ])
    func malformedFirst(message: String, reason: String) throws {
        var exchange = try Self.exchange(.sha256, salt: "W22ZaJ0SNY7soEsUEjb6gQ==", serverNonce: "S")
        #expect(Self.step(&exchange, message) == .failure(reason: reason))
    }

    @Test("client-final: a changed nonce, gs2 header or proof length is refused", arguments: [
        ("c=biws,r=abcX,p=AAAA", "SCRAM nonce does not match"),
        ("c=eSws,r=abcS,p=AAAA", "SCRAM channel binding does not match the client-first gs2 header"),
        ("c=biws,r=abcS,p=AAAA", "SCRAM proof has the wrong length"),
        ("c=biws,r=abcS", "SCRAM client-final message has no proof"),
    ])
    func malformedFinal(message: String, reason: String) throws {
        var exchange = try Self.exchange(.sha256, salt: "W22ZaJ0SNY7soEsUEjb6gQ==", serverNonce: "S")
        #expect(Self.step(&exchange, "n,,n=user,r=abc") != .failure(reason: ""))
        #expect(Self.step(&exchange, message) == .failure(reason: reason))
    }

    @Test("librdkafka before 2.6.1 repeats its nonce in client-final: accepted when it ends with the exchange's nonce")
    func repeatedClientNonce() throws {
        let hash = ScramHash.sha256
        var exchange = try Self.exchange(hash, salt: "W22ZaJ0SNY7soEsUEjb6gQ==", serverNonce: "SRV")
        let serverFirst = "r=CLISRV,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
        #expect(Self.step(&exchange, "n,,n=user,r=CLI") == .challenge(Array(serverFirst.utf8)))
        // The client side of RFC 5802, over the message librdkafka 2.0.2 sends.
        let withoutProof = "c=biws,r=CLICLISRV"
        let salted = try hash.saltedPassword(Array("pencil".utf8), salt: Array(try #require(Data(base64Encoded: "W22ZaJ0SNY7soEsUEjb6gQ=="))),
                                             iterations: 4096)
        let clientKey = hash.hmac(key: salted, Array("Client Key".utf8))
        let authMessage = Array("n=user,r=CLI,\(serverFirst),\(withoutProof)".utf8)
        let proof = zip(clientKey, hash.hmac(key: hash.hash(clientKey), authMessage)).map { $0 ^ $1 }
        let serverSignature = hash.hmac(key: hash.hmac(key: salted, Array("Server Key".utf8)), authMessage)
        #expect(Self.step(&exchange, "\(withoutProof),p=\(Data(proof).base64EncodedString())")
            == .success(final: Array("v=\(Data(serverSignature).base64EncodedString())".utf8), user: "user"))

        var other = try Self.exchange(hash, salt: "W22ZaJ0SNY7soEsUEjb6gQ==", serverNonce: "SRV")
        _ = Self.step(&other, "n,,n=user,r=CLI")
        #expect(Self.step(&other, "c=biws,r=CLISRVCLI,p=\(Data(proof).base64EncodedString())") == .failure(reason: "SCRAM nonce does not match"))
    }

    @Test("user names: =2C and =3D decode, other escapes are invalid")
    func names() {
        #expect(ScramServerExchange.decodeName("a=2Cb=3Dc") == "a,b=c")
        #expect(ScramServerExchange.decodeName("plain") == "plain")
        #expect(ScramServerExchange.decodeName("bad=2") == nil)
        #expect(ScramServerExchange.decodeName("bad=41") == nil)
    }
}
