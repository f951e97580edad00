import Synchronization
import NIOCore
import NIOPosix
import NIOSSL
import SluiceCore

/// A listener once bound: what clients are told to connect to.
public struct DevKafkaBoundListener: Sendable, Hashable, CustomStringConvertible {
    public let securityProtocol: DevKafkaSecurityProtocol
    /// The address the socket is bound to.
    public let bindHost: String
    /// The host Metadata and FindCoordinator advertise for this listener.
    public let host: String
    /// The bound port (the chosen one for port 0).
    public let port: Int

    /// `host:port` (IPv6 hosts in brackets), for `bootstrap.servers`.
    public var address: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    public var description: String { "\(securityProtocol.rawValue) \(address)" }
}

/// One listener's settings as its connections see them: the address to advertise, the TLS context
/// and the SASL users.
final class ListenerEndpoint: Sendable {
    let listener: DevKafkaListener
    let advertisedHost: String
    let tls: NIOSSLContext?
    let sasl: SaslCredentials?
    /// Set once the socket is bound (connections may arrive just before).
    private let port = Mutex<Int32>(0)

    init(listener: DevKafkaListener, advertisedHost: String, tls: NIOSSLContext?, sasl: SaslCredentials?) {
        self.listener = listener
        self.advertisedHost = advertisedHost
        self.tls = tls
        self.sasl = sasl
    }

    var advertisedPort: Int32 { port.withLock { $0 } }
    func bound(port: Int) { self.port.withLock { $0 = Int32(port) } }

    var bound: DevKafkaBoundListener {
        DevKafkaBoundListener(securityProtocol: listener.securityProtocol, bindHost: listener.host,
                              host: advertisedHost, port: Int(advertisedPort))
    }

    /// Checks the security settings against the listeners and builds one endpoint per listener. TLS
    /// and SASL settings nothing uses are refused, so a typo cannot leave a broker open by mistake.
    static func make(_ config: DevKafkaConfiguration) throws -> (endpoints: [ListenerEndpoint], warnings: [String]) {
        let listeners = config.effectiveListeners
        let tlsListeners = listeners.filter(\.securityProtocol.usesTLS)
        let saslListeners = listeners.filter(\.securityProtocol.usesSASL)
        for listener in listeners where !(0...65535).contains(listener.port) {
            throw SluiceError.invalid("listener \(listener): the port must be 0…65535")
        }
        if let first = tlsListeners.first, config.tls == nil {
            throw SluiceError.invalid("listener \(first) needs a certificate", hint: "give --tls-cert FILE and --tls-key FILE (PEM)")
        }
        if config.tls != nil && tlsListeners.isEmpty {
            throw SluiceError.invalid("--tls-cert and --tls-key are given but no listener uses TLS",
                                      hint: "add --listener SSL://127.0.0.1:9093 or --listener SASL_SSL://127.0.0.1:9094")
        }
        if let first = saslListeners.first, config.saslUsers.isEmpty {
            throw SluiceError.invalid("listener \(first) needs at least one SASL user",
                                      hint: "give --sasl-plain, --sasl-scram-sha-256 or --sasl-scram-sha-512 USER:env:VARIABLE")
        }
        if !config.saslUsers.isEmpty && saslListeners.isEmpty {
            throw SluiceError.invalid("SASL users are given but no listener uses SASL",
                                      hint: "add --listener SASL_PLAINTEXT://127.0.0.1:9095 or --listener SASL_SSL://127.0.0.1:9094")
        }
        let (context, warnings) = try tlsListeners.isEmpty ? (nil, []) : config.tls!.makeContext()
        let credentials = saslListeners.isEmpty ? nil : try SaslCredentials(users: config.saslUsers)
        let endpoints = listeners.map { listener in
            ListenerEndpoint(listener: listener, advertisedHost: config.advertisedHost(for: listener),
                             tls: listener.securityProtocol.usesTLS ? context : nil,
                             sasl: listener.securityProtocol.usesSASL ? credentials : nil)
        }
        return (endpoints, warnings)
    }
}

extension DevKafkaBroker {
    /// A listener's connections: TLS first on SSL and SASL_SSL listeners, then Kafka frames, then the
    /// connection (which runs the SASL exchange on SASL listeners before serving requests).
    static func makeBootstrap(group: EventLoopGroup, core: BrokerCore, registry: ConnectionRegistry,
                              endpoint: ListenerEndpoint) -> ServerBootstrap {
        ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    if let tls = endpoint.tls {
                        try pipeline.addHandler(NIOSSLServerHandler(context: tls))
                    }
                    let authenticator = endpoint.sasl.map { SaslAuthenticator(credentials: $0, version: core.config.version) }
                    try pipeline.addHandler(ByteToMessageHandler(KafkaFrameDecoder(authenticator: authenticator)))
                    try pipeline.addHandler(KafkaConnectionHandler(core: core, registry: registry, endpoint: endpoint,
                                                                   authenticator: authenticator))
                }
            }
    }
}
