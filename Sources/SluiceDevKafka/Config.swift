import SluiceCore

/// The Kafka release whose wire behaviour the broker imitates.
public enum KafkaVersion: String, Sendable, CaseIterable {
    /// Kafka 2.2: 44 APIs, record batches v2 with headers.
    case v2_2 = "2.2"
    /// Kafka 0.10.2: 21 APIs, message format v1 (timestamps, no headers).
    case v0_10_2 = "0.10.2"

    /// (api key, min version, max version), as the release advertises them in ApiVersions.
    var apiVersions: [(key: Int16, min: Int16, max: Int16)] {
        switch self {
        case .v0_10_2:
            return [(0, 0, 2), (1, 0, 3), (2, 0, 1), (3, 0, 2), (4, 0, 0), (5, 0, 0), (6, 0, 3), (7, 1, 1),
                    (8, 0, 2), (9, 0, 2), (10, 0, 0), (11, 0, 1), (12, 0, 0), (13, 0, 0), (14, 0, 0),
                    (15, 0, 0), (16, 0, 0), (17, 0, 0), (18, 0, 0), (19, 0, 1), (20, 0, 0)]
        case .v2_2:
            let max: [Int16] = [7, 10, 5, 7, 2, 1, 5, 2, 6, 5, 2, 4, 2, 2, 2, 2, 2, 1, 2, 3, 3, 1, 1, 2, 1, 1, 1,
                                0, 2, 1, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0]
            return max.enumerated().map { (Int16($0.offset), 0, $0.element) } + [(43, 0, 0)]
        }
    }

    func supports(key: Int16, version: Int16) -> Bool {
        guard let entry = apiVersions.first(where: { $0.key == key }) else { return false }
        return version >= entry.min && version <= entry.max
    }

    /// The magic of the stored log.
    var logMagic: Int8 { self == .v2_2 ? 2 : 1 }
}

/// A topic the broker starts with.
public struct DevKafkaTopic: Sendable, Hashable {
    public var name: String
    public var partitions: Int
    /// Records carry the broker's append time instead of the producer's (Kafka's
    /// `message.timestamp.type=LogAppendTime`).
    public var logAppendTime: Bool

    public init(name: String, partitions: Int = 1, logAppendTime: Bool = false) {
        self.name = name
        self.partitions = partitions
        self.logAppendTime = logAppendTime
    }

    /// Parses `NAME[:PARTITIONS[:createtime|logappendtime]]`, e.g. `events:3:logappendtime`.
    public init(parsing spec: String) throws {
        let parts = spec.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard let name = parts.first, DevKafkaTopic.isValidName(name), parts.count <= 3 else {
            throw SluiceError(.invalidInput, "topic spec '\(spec)' is not NAME[:PARTITIONS[:createtime|logappendtime]]",
                              hint: "topic names use letters, digits, '.', '_' and '-', e.g. --topic events:3")
        }
        var partitions = 1
        if parts.count >= 2 {
            guard let n = Int(parts[1]), n >= 1, n <= 10_000 else {
                throw SluiceError(.invalidInput, "topic spec '\(spec)': partition count '\(parts[1])' is not a number from 1 to 10000",
                                  hint: "e.g. --topic events:3")
            }
            partitions = n
        }
        var logAppendTime = false
        if parts.count == 3 {
            switch parts[2].lowercased() {
            case "logappendtime": logAppendTime = true
            case "createtime": logAppendTime = false
            default:
                throw SluiceError(.invalidInput, "topic spec '\(spec)': timestamp type '\(parts[2])' is not createtime or logappendtime",
                                  hint: "e.g. --topic events:3:logappendtime")
            }
        }
        self.init(name: name, partitions: partitions, logAppendTime: logAppendTime)
    }

    static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 249 && name != "." && name != ".."
            && name.unicodeScalars.allSatisfy { ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) || "._-".unicodeScalars.contains($0) }
    }
}

/// How the broker starts.
public struct DevKafkaConfiguration: Sendable {
    /// The address and port of the default PLAINTEXT listener, used when `listeners` is empty.
    public var host: String
    public var port: Int
    /// The listening sockets; empty means one PLAINTEXT listener on `host:port`.
    public var listeners: [DevKafkaListener]
    /// The host Metadata and FindCoordinator answers name; nil: each listener's bind host, or the
    /// machine's host name for a listener bound to every interface (0.0.0.0, ::), as Kafka does.
    public var advertisedHost: String?
    /// The certificate and key of SSL and SASL_SSL listeners, and the CA of mutual TLS.
    public var tls: DevKafkaTLS?
    /// The users SASL_PLAINTEXT and SASL_SSL listeners accept (at least one is needed for those).
    public var saslUsers: [DevKafkaSaslUser]
    public var version: KafkaVersion
    public var topics: [DevKafkaTopic]
    /// Metadata requests for unknown topics create them (with `defaultPartitions`).
    public var autoCreateTopics: Bool
    public var defaultPartitions: Int
    /// Where to persist topics and records; nil keeps everything in memory.
    public var dataDirectory: String?
    /// The broker's clock in milliseconds since the epoch (LogAppendTime, append times). Tests
    /// inject one; the default is the system clock.
    public var clock: @Sendable () -> Int64
    /// Receives one line per closed connection with the reason (bad requests, unsupported APIs).
    public var log: (@Sendable (String) -> Void)?

    public init(host: String = "127.0.0.1", port: Int = 0, version: KafkaVersion = .v2_2,
                topics: [DevKafkaTopic] = [], autoCreateTopics: Bool = false, defaultPartitions: Int = 1,
                dataDirectory: String? = nil, clock: (@Sendable () -> Int64)? = nil,
                log: (@Sendable (String) -> Void)? = nil, listeners: [DevKafkaListener] = [],
                advertisedHost: String? = nil, tls: DevKafkaTLS? = nil, saslUsers: [DevKafkaSaslUser] = []) {
        self.log = log
        self.host = host
        self.port = port
        self.listeners = listeners
        self.advertisedHost = advertisedHost
        self.tls = tls
        self.saslUsers = saslUsers
        self.version = version
        self.topics = topics
        self.autoCreateTopics = autoCreateTopics
        self.defaultPartitions = defaultPartitions
        self.dataDirectory = dataDirectory
        self.clock = clock ?? DevKafkaConfiguration.systemClock
    }

    /// `listeners`, or the default PLAINTEXT listener on `host:port`.
    public var effectiveListeners: [DevKafkaListener] {
        listeners.isEmpty ? [DevKafkaListener(.plaintext, host: host, port: port)] : listeners
    }

    /// The host advertised for clients of `listener`.
    func advertisedHost(for listener: DevKafkaListener) -> String {
        if let advertisedHost { return advertisedHost }
        return listener.bindsEveryInterface ? machineHostName() : listener.host
    }

    public static let systemClock: @Sendable () -> Int64 = {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
