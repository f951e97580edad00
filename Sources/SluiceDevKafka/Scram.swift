import Crypto
import _CryptoExtras
import Foundation

/// The hash function under a SCRAM mechanism (RFC 5802; SHA-256 is RFC 7677, SHA-512 is what
/// Kafka adds). SHA-1 is here only for RFC 5802's test vector: Kafka has no SCRAM-SHA-1.
enum ScramHash: Sendable {
    case sha1, sha256, sha512

    init(_ mechanism: DevKafkaSaslMechanism) {
        switch mechanism {
        case .scramSHA512: self = .sha512
        default: self = .sha256
        }
    }

    var outputSize: Int {
        switch self {
        case .sha1: Insecure.SHA1.byteCount
        case .sha256: SHA256.byteCount
        case .sha512: SHA512.byteCount
        }
    }

    func hash(_ data: [UInt8]) -> [UInt8] {
        switch self {
        case .sha1: Array(Insecure.SHA1.hash(data: data))
        case .sha256: Array(SHA256.hash(data: data))
        case .sha512: Array(SHA512.hash(data: data))
        }
    }

    func hmac(key: [UInt8], _ data: [UInt8]) -> [UInt8] {
        let key = SymmetricKey(data: key)
        switch self {
        case .sha1: return Array(HMAC<Insecure.SHA1>.authenticationCode(for: data, using: key))
        case .sha256: return Array(HMAC<SHA256>.authenticationCode(for: data, using: key))
        case .sha512: return Array(HMAC<SHA512>.authenticationCode(for: data, using: key))
        }
    }

    /// Hi(password, salt, i) of RFC 5802: PBKDF2 with this hash's HMAC, one block.
    func saltedPassword(_ password: [UInt8], salt: [UInt8], iterations: Int) throws -> [UInt8] {
        let function: KDF.Insecure.PBKDF2.HashFunction = switch self {
        case .sha1: .insecureSHA1
        case .sha256: .sha256
        case .sha512: .sha512
        }
        let key = try KDF.Insecure.PBKDF2.deriveKey(from: password, salt: salt, using: function,
                                                   outputByteCount: outputSize, unsafeUncheckedRounds: iterations)
        return key.withUnsafeBytes { Array($0) }
    }
}

/// What the server keeps of a SCRAM password (RFC 5802 §3): the salt, the iteration count, StoredKey
/// and ServerKey. The password itself is not kept.
struct ScramCredential: Sendable {
    let salt: [UInt8]
    let iterations: Int
    let storedKey: [UInt8]
    let serverKey: [UInt8]

    init(password: String, salt: [UInt8], iterations: Int, hash: ScramHash) throws {
        // Kafka (and librdkafka) use the UTF-8 bytes of the password without SASLprep.
        let salted = try hash.saltedPassword(Array(password.utf8), salt: salt, iterations: iterations)
        self.salt = salt
        self.iterations = iterations
        self.storedKey = hash.hash(hash.hmac(key: salted, Array("Client Key".utf8)))
        self.serverKey = hash.hmac(key: salted, Array("Server Key".utf8))
    }

    init(salt: [UInt8], iterations: Int, storedKey: [UInt8], serverKey: [UInt8]) {
        self.salt = salt
        self.iterations = iterations
        self.storedKey = storedKey
        self.serverKey = serverKey
    }
}

/// One mechanism step's result.
enum SaslStep: Equatable {
    /// Send this challenge; the exchange goes on.
    case challenge([UInt8])
    /// Authenticated as `user`; send `final` (possibly empty) to the client.
    case success(final: [UInt8], user: String)
    /// Refused. `reason` is for the broker's log and never holds a password.
    case failure(reason: String)
}

/// The server side of one SCRAM exchange (RFC 5802 §5): client-first → server-first,
/// client-final → server-final. Channel binding is not offered (gs2 flag `n` or `y`).
struct ScramServerExchange {
    let hash: ScramHash
    /// The credential of a user, nil when there is no such user.
    let lookup: (String) -> ScramCredential?
    /// A credential that can never verify, with a salt stable per user name, so that an unknown user
    /// gets the same exchange as a wrong password.
    let decoy: (String) -> ScramCredential
    let serverNonce: () -> String

    private enum State {
        case awaitingClientFirst
        case awaitingClientFinal(user: String, known: Bool, credential: ScramCredential, gs2Header: String,
                                 clientFirstBare: String, serverFirst: String, nonce: String)
        case finished
    }
    private var state = State.awaitingClientFirst

    init(hash: ScramHash, lookup: @escaping (String) -> ScramCredential?, decoy: @escaping (String) -> ScramCredential,
         serverNonce: @escaping () -> String) {
        self.hash = hash
        self.lookup = lookup
        self.decoy = decoy
        self.serverNonce = serverNonce
    }

    mutating func receive(_ message: [UInt8]) -> SaslStep {
        let current = state
        state = .finished
        guard let text = String(validating: message, as: UTF8.self) else {
            return .failure(reason: "SCRAM message is not UTF-8")
        }
        switch current {
        case .awaitingClientFirst:
            return clientFirst(text)
        case let .awaitingClientFinal(user, known, credential, gs2Header, clientFirstBare, serverFirst, nonce):
            return clientFinal(text, user: user, known: known, credential: credential, gs2Header: gs2Header,
                               clientFirstBare: clientFirstBare, serverFirst: serverFirst, nonce: nonce)
        case .finished:
            return .failure(reason: "SCRAM message after the exchange ended")
        }
    }

    /// `gs2-header client-first-bare`, e.g. `n,,n=user,r=NONCE`.
    private mutating func clientFirst(_ text: String) -> SaslStep {
        let parts = text.split(separator: ",", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3 else { return .failure(reason: "SCRAM client-first message is malformed") }
        switch parts[0] {
        case "n", "y": break
        default:
            return .failure(reason: parts[0].hasPrefix("p=") ? "SCRAM channel binding is not supported"
                                                              : "SCRAM client-first message has a bad gs2 header")
        }
        let bare = parts[2]
        let attributes = bare.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard attributes.count >= 2, attributes[0].hasPrefix("n="), attributes[1].hasPrefix("r="),
              let user = Self.decodeName(String(attributes[0].dropFirst(2))), !user.isEmpty else {
            return .failure(reason: "SCRAM client-first message needs n=USER,r=NONCE first")
        }
        let clientNonce = String(attributes[1].dropFirst(2))
        guard !clientNonce.isEmpty, clientNonce.unicodeScalars.allSatisfy({ (0x21...0x7e).contains($0.value) }) else {
            return .failure(reason: "SCRAM client nonce is empty or not printable")
        }
        if !parts[1].isEmpty {
            guard parts[1].hasPrefix("a="), Self.decodeName(String(parts[1].dropFirst(2))) == user else {
                return .failure(reason: "SCRAM authorization id differs from the user name")
            }
        }
        if attributes.dropFirst(2).contains(where: { $0 == "tokenauth=true" }) {
            return .failure(reason: "SCRAM delegation-token authentication is not supported")
        }
        let found = lookup(user)
        let credential = found ?? decoy(user)
        let nonce = clientNonce + serverNonce()
        let serverFirst = "r=\(nonce),s=\(Data(credential.salt).base64EncodedString()),i=\(credential.iterations)"
        state = .awaitingClientFinal(user: user, known: found != nil, credential: credential, gs2Header: parts[0] + "," + parts[1] + ",",
                                     clientFirstBare: bare, serverFirst: serverFirst, nonce: nonce)
        return .challenge(Array(serverFirst.utf8))
    }

    /// `c=BASE64(gs2-header),r=NONCE[,extensions],p=BASE64(ClientProof)`.
    private func clientFinal(_ text: String, user: String, known: Bool, credential: ScramCredential, gs2Header: String,
                             clientFirstBare: String, serverFirst: String, nonce: String) -> SaslStep {
        guard let proofRange = text.range(of: ",p=", options: .backwards) else {
            return .failure(reason: "SCRAM client-final message has no proof")
        }
        let withoutProof = String(text[..<proofRange.lowerBound])
        let attributes = withoutProof.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard attributes.count >= 2, attributes[0].hasPrefix("c="), attributes[1].hasPrefix("r="),
              let binding = Data(base64Encoded: String(attributes[0].dropFirst(2))),
              let proof = Data(base64Encoded: String(text[proofRange.upperBound...])) else {
            return .failure(reason: "SCRAM client-final message is malformed")
        }
        guard binding == Data(gs2Header.utf8) else {
            return .failure(reason: "SCRAM channel binding does not match the client-first gs2 header")
        }
        // RFC 5802 wants the nonce itself; librdkafka before 2.6.1 (kcat's 2.0.2 among them) sends the
        // client nonce once more in front of it. Like Kafka 3.8.1 to 3.9, accept a nonce that ends with
        // the server's (its random part still binds the proof to this exchange).
        guard attributes[1].dropFirst(2).hasSuffix(nonce) else { return .failure(reason: "SCRAM nonce does not match") }
        guard proof.count == hash.outputSize else { return .failure(reason: "SCRAM proof has the wrong length") }
        let authMessage = Array("\(clientFirstBare),\(serverFirst),\(withoutProof)".utf8)
        let clientSignature = hash.hmac(key: credential.storedKey, authMessage)
        let clientKey = zip(proof, clientSignature).map { $0 ^ $1 }
        guard constantTimeEqual(hash.hash(clientKey), credential.storedKey), known else {
            return .failure(reason: known ? "wrong password for user '\(user)'" : "unknown user '\(user)'")
        }
        let serverSignature = hash.hmac(key: credential.serverKey, authMessage)
        return .success(final: Array("v=\(Data(serverSignature).base64EncodedString())".utf8), user: user)
    }

    /// A SCRAM saslname: `=2C` is `,` and `=3D` is `=`; any other `=` is invalid.
    static func decodeName(_ name: String) -> String? {
        var out = ""
        var rest = Substring(name)
        while let eq = rest.firstIndex(of: "=") {
            out += rest[..<eq]
            let code = rest[rest.index(after: eq)...].prefix(2)
            switch code {
            case "2C": out += ","
            case "3D": out += "="
            default: return nil
            }
            rest = rest[rest.index(eq, offsetBy: 3)...]
        }
        return out + rest
    }
}

/// Compares two byte strings in time that depends only on their lengths.
func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var difference: UInt8 = 0
    for (x, y) in zip(a, b) { difference |= x ^ y }
    return difference == 0
}
