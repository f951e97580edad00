import Crypto
import Foundation
import NIOCore
import SluiceCore

extension KafkaErrorCode {
    static let unsupportedSaslMechanism = KafkaErrorCode(rawValue: 33)
    static let saslAuthenticationFailed = KafkaErrorCode(rawValue: 58)
}

/// The SASL users, ready to verify: PLAIN passwords as SHA-256 digests (compared in constant time),
/// SCRAM passwords as salted keys computed once at start (4096 iterations, as Kafka's default).
final class SaslCredentials: Sendable {
    /// The enabled mechanisms, in the order of `DevKafkaSaslMechanism.allCases`.
    let mechanisms: [DevKafkaSaslMechanism]
    private let plain: [String: [UInt8]]
    private let scram: [DevKafkaSaslMechanism: [String: ScramCredential]]
    /// Keys the decoy salts of unknown SCRAM users (random per process).
    private let decoyKey: [UInt8]
    private let iterations: Int
    private let makeNonce: @Sendable () -> String

    static let scramIterations = 4096

    init(users: [DevKafkaSaslUser], iterations: Int = SaslCredentials.scramIterations,
         makeSalt: (DevKafkaSaslUser) -> [UInt8] = { _ in randomBytes(16) },
         makeNonce: @escaping @Sendable () -> String = { Data(randomBytes(24)).base64EncodedString() }) throws {
        var plain: [String: [UInt8]] = [:]
        var scram: [DevKafkaSaslMechanism: [String: ScramCredential]] = [:]
        for user in users {
            switch user.mechanism {
            case .plain:
                guard plain[user.name] == nil else { throw Self.duplicate(user) }
                plain[user.name] = Array(SHA256.hash(data: Array(user.password.utf8)))
            case .scramSHA256, .scramSHA512:
                guard scram[user.mechanism]?[user.name] == nil else { throw Self.duplicate(user) }
                do {
                    scram[user.mechanism, default: [:]][user.name] =
                        try ScramCredential(password: user.password, salt: makeSalt(user), iterations: iterations,
                                            hash: ScramHash(user.mechanism))
                } catch {
                    throw SluiceError(.failed, "cannot derive the \(user.mechanism.rawValue) key of user '\(user.name)': \(error)")
                }
            }
        }
        self.mechanisms = DevKafkaSaslMechanism.allCases.filter { $0 == .plain ? !plain.isEmpty : scram[$0] != nil }
        self.plain = plain
        self.scram = scram
        self.decoyKey = randomBytes(32)
        self.iterations = iterations
        self.makeNonce = makeNonce
    }

    private static func duplicate(_ user: DevKafkaSaslUser) -> SluiceError {
        SluiceError.invalid("\(user.mechanism.flag) names user '\(user.name)' twice",
                            hint: "give each user of a mechanism once")
    }

    /// Whether PLAIN credentials match, in time independent of where they differ.
    func verifyPlain(user: String, password: [UInt8]) -> Bool {
        let given = Array(SHA256.hash(data: password))
        let expected = plain[user]
        return constantTimeEqual(given, expected ?? [UInt8](repeating: 0, count: given.count)) && expected != nil
    }

    func scramExchange(_ mechanism: DevKafkaSaslMechanism) -> ScramServerExchange {
        let hash = ScramHash(mechanism)
        let users = scram[mechanism] ?? [:]
        let decoyKey = decoyKey, iterations = iterations
        return ScramServerExchange(
            hash: hash, lookup: { users[$0] },
            decoy: { name in
                let salt = Array(hash.hmac(key: decoyKey, Array("salt \(name)".utf8)).prefix(16))
                return ScramCredential(salt: salt, iterations: iterations, storedKey: randomBytes(hash.outputSize),
                                       serverKey: randomBytes(hash.outputSize))
            },
            serverNonce: makeNonce)
    }
}

func randomBytes(_ count: Int) -> [UInt8] {
    var generator = SystemRandomNumberGenerator()
    return (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
}

/// What a connection on a SASL listener does with a frame while its client is not authenticated.
enum SaslAction {
    /// An ApiVersions request: the broker answers it as usual.
    case pass
    /// Send this Kafka response body with the request's correlation id.
    case respond(correlationId: Int32, body: ByteBuffer, then: SaslNext)
    /// Send this SASL token as a size-prefixed frame without a Kafka header (after SaslHandshake v0).
    case token([UInt8], then: SaslNext)
    /// Close the connection now.
    case close(String)
}

enum SaslNext: Equatable {
    case proceed
    case authenticated(principal: String, mechanism: DevKafkaSaslMechanism)
    /// Close once the response is written.
    case close(String)
}

/// One connection's SASL state (Kafka's SaslServerAuthenticator): ApiVersions and SaslHandshake are
/// the only requests before authentication; SaslHandshake v1 is followed by SaslAuthenticate
/// requests, v0 by raw size-prefixed tokens. Confined to the connection's event loop.
final class SaslAuthenticator {
    private enum Phase {
        case handshake
        case plain(framed: Bool)
        case scram(ScramServerExchange, mechanism: DevKafkaSaslMechanism, framed: Bool)
        case authenticated
        case failed
    }

    let credentials: SaslCredentials
    let version: KafkaVersion
    private var phase = Phase.handshake

    /// Before authentication, frames above Kafka's `sasl.server.max.receive.size` (512 KiB) close
    /// the connection, so an unauthenticated client cannot make the broker buffer 100 MiB.
    static let maxUnauthenticatedFrame = 524_288

    init(credentials: SaslCredentials, version: KafkaVersion) {
        self.credentials = credentials
        self.version = version
    }

    var isAuthenticated: Bool { if case .authenticated = phase { true } else { false } }

    func receive(_ frame: ByteBuffer) -> SaslAction {
        switch phase {
        case .handshake:
            return handshake(frame)
        case .plain(let framed):
            return framed ? authenticateRequest(frame) : rawToken(frame)
        case .scram(_, _, let framed):
            return framed ? authenticateRequest(frame) : rawToken(frame)
        case .authenticated:
            return .pass
        case .failed:
            return .close("request after a failed SASL authentication")
        }
    }

    private func header(_ body: inout ByteBuffer) throws -> RequestHeader {
        RequestHeader(apiKey: try body.rInt16(), apiVersion: try body.rInt16(), correlationId: try body.rInt32(),
                      clientId: try body.rNullableString())
    }

    private func handshake(_ frame: ByteBuffer) -> SaslAction {
        var body = frame
        guard let header = try? header(&body) else { return .close("unreadable request header before SASL authentication") }
        switch header.apiKey {
        case 18:
            return .pass
        case 17:
            guard version.supports(key: 17, version: header.apiVersion) else {
                return .close("SaslHandshake v\(header.apiVersion) is not supported by Kafka \(version.rawValue)")
            }
            guard let name = try? body.rString() else { return .close("unreadable SaslHandshake request") }
            var out = ByteBuffer()
            let enabled = credentials.mechanisms
            guard let mechanism = DevKafkaSaslMechanism(rawValue: name), enabled.contains(mechanism) else {
                out.wError(.unsupportedSaslMechanism)
                out.wArray(enabled) { $0.wString($1.rawValue) }
                phase = .failed
                return .respond(correlationId: header.correlationId, body: out,
                                then: .close("SASL mechanism '\(name)' is not enabled (enabled: \(enabled.map(\.rawValue).joined(separator: ", ")))"))
            }
            let framed = header.apiVersion >= 1
            phase = mechanism == .plain ? .plain(framed: framed)
                : .scram(credentials.scramExchange(mechanism), mechanism: mechanism, framed: framed)
            out.wError(.none)
            out.wArray(enabled) { $0.wString($1.rawValue) }
            return .respond(correlationId: header.correlationId, body: out, then: .proceed)
        default:
            return .close("API \(header.apiKey) before SASL authentication (only ApiVersions and SaslHandshake are allowed)")
        }
    }

    /// SaslAuthenticate (v0: error, message, bytes; v1 adds session_lifetime_ms, 0: no re-authentication).
    private func authenticateRequest(_ frame: ByteBuffer) -> SaslAction {
        var body = frame
        guard let header = try? header(&body) else { return .close("unreadable request header during SASL authentication") }
        guard header.apiKey == 36 else {
            return .close("API \(header.apiKey) during SASL authentication (only SaslAuthenticate is allowed)")
        }
        guard version.supports(key: 36, version: header.apiVersion) else {
            return .close("SaslAuthenticate v\(header.apiVersion) is not supported by Kafka \(version.rawValue)")
        }
        guard let token = try? body.rBytes() else { return .close("unreadable SaslAuthenticate request") }
        let (step, mechanism) = evaluate(Array(token.readableBytesView))
        var out = ByteBuffer()
        let next: SaslNext
        switch step {
        case .challenge(let bytes):
            out.wError(.none); out.wNullableString(nil); out.wNullableBytes(ByteBuffer(bytes: bytes))
            next = .proceed
        case .success(let final, let user):
            out.wError(.none); out.wNullableString(nil); out.wNullableBytes(ByteBuffer(bytes: final))
            next = .authenticated(principal: "User:\(user)", mechanism: mechanism)
        case .failure(let reason):
            out.wError(.saslAuthenticationFailed)
            out.wNullableString(mechanism == .plain ? "Authentication failed: Invalid username or password"
                : "Authentication failed during authentication due to invalid credentials with SASL mechanism \(mechanism.rawValue)")
            out.wNullableBytes(ByteBuffer())
            next = .close("SASL \(mechanism.rawValue) authentication failed: \(reason)")
        }
        if header.apiVersion >= 1 { out.wInt64(0) }
        return .respond(correlationId: header.correlationId, body: out, then: next)
    }

    /// A raw token after SaslHandshake v0: the answer is a raw token; a refusal can only close.
    private func rawToken(_ frame: ByteBuffer) -> SaslAction {
        let (step, mechanism) = evaluate(Array(frame.readableBytesView))
        switch step {
        case .challenge(let bytes):
            return .token(bytes, then: .proceed)
        case .success(let final, let user):
            return .token(final, then: .authenticated(principal: "User:\(user)", mechanism: mechanism))
        case .failure(let reason):
            return .close("SASL \(mechanism.rawValue) authentication failed: \(reason)")
        }
    }

    private func evaluate(_ token: [UInt8]) -> (SaslStep, DevKafkaSaslMechanism) {
        switch phase {
        case .plain:
            let step = plain(token)
            phase = Self.after(step) ?? phase
            return (step, .plain)
        case .scram(var exchange, let mechanism, let framed):
            let step = exchange.receive(token)
            phase = Self.after(step) ?? .scram(exchange, mechanism: mechanism, framed: framed)
            return (step, mechanism)
        default:
            phase = .failed
            return (.failure(reason: "SASL token outside an exchange"), .plain)
        }
    }

    private static func after(_ step: SaslStep) -> Phase? {
        switch step {
        case .challenge: nil
        case .success: .authenticated
        case .failure: .failed
        }
    }

    /// RFC 4616: `[authzid] NUL authcid NUL passwd`; an authorization id must be the user itself.
    private func plain(_ token: [UInt8]) -> SaslStep {
        let parts = token.split(separator: 0, maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3 else { return .failure(reason: "PLAIN token is not authzid NUL user NUL password") }
        let user = String(decoding: parts[1], as: UTF8.self)
        guard !user.isEmpty else { return .failure(reason: "PLAIN token has no user name") }
        guard parts[0].isEmpty || Array(parts[0]) == Array(parts[1]) else {
            return .failure(reason: "PLAIN authorization id differs from user '\(user)'")
        }
        guard credentials.verifyPlain(user: user, password: Array(parts[2])) else {
            return .failure(reason: "wrong password or unknown user '\(user)'")
        }
        return .success(final: [], user: user)
    }
}
