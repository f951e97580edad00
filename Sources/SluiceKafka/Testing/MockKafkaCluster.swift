import CRdKafka
internal import CRdKafkaMock
import Dispatch
import SluiceCore
import Synchronization

/// librdkafka's in-process mock cluster, for tests that need a broker to misbehave on cue: real TCP
/// listeners on 127.0.0.1 that any Kafka client (a `KafkaSource`, a `KafkaProducer`, kcat) can use
/// through `bootstrapServers`. It auto-creates any topic asked for, and answers offsets-for-times
/// with −1, so tests of time lookups run against `sluice dev-kafka` instead.
///
/// The mock's C API (`rdkafka_mock.h`) stays out of the production shim: only this file imports it,
/// through the `CRdKafkaMock` system-library module.
///
/// A broker is never taken down: librdkafka 2.0's `rd_kafka_mock_broker_set_down` closes the
/// listener and re-binds its port at once, and aborts the whole process when another test took the
/// port meanwhile (this failed a CI run). `silenceBroker` gives it an hour of round-trip time instead.
///
/// The methods that talk to the cluster wait for its thread to apply them, so they run on a dedicated
/// serial queue, never on the cooperative pool (the handles, `UnsafeHandle`s, are used only there).
@_spi(Testing) public final class MockKafkaCluster: Sendable {
    /// A Kafka protocol error the mock cluster can answer with.
    public struct ResponseError: Sendable, Hashable, CustomStringConvertible {
        let code: Int32

        public static let unknownTopicOrPartition = ResponseError(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
        public static let notLeaderForPartition = ResponseError(RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION)
        public static let topicAuthorizationFailed = ResponseError(RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED)

        private init(_ error: rd_kafka_resp_err_t) { code = error.rawValue }

        var error: rd_kafka_resp_err_t { rd_kafka_resp_err_t(code) }

        public var description: String { String(cString: rd_kafka_err2name(error)) }
    }

    /// A Kafka request type (its API key), for injected request errors.
    public enum Request: Int16, Sendable {
        case fetch = 1
        case listOffsets = 2
        case metadata = 3
    }

    /// `host:port[,host:port…]` of the brokers.
    public let bootstrapServers: String
    private let host: UnsafeHandle
    private let cluster: UnsafeHandle
    private let queue = DispatchQueue(label: "sluice.kafka.mock")
    private let silenced = Mutex(false)

    /// Starts a cluster of `brokers` brokers, numbered from 1.
    public init(brokers: Int = 1) throws {
        guard let conf = rd_kafka_conf_new() else {
            throw SluiceError(.kafka, "librdkafka could not allocate a configuration for the mock cluster")
        }
        var errstr = [CChar](repeating: 0, count: 512)
        _ = rd_kafka_conf_set(conf, "log_level", "0", &errstr, errstr.count)
        guard let rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, &errstr, errstr.count) else {
            rd_kafka_conf_destroy(conf)
            throw SluiceError(.kafka, "cannot create the mock cluster's client: \(cString(errstr))")
        }
        guard let mc = rd_kafka_mock_cluster_new(rk, Int32(brokers)) else {
            rd_kafka_destroy(rk)
            throw SluiceError(.kafka, "cannot create a mock cluster of \(brokers) brokers")
        }
        host = UnsafeHandle(pointer: rk)
        cluster = UnsafeHandle(pointer: mc)
        bootstrapServers = String(cString: rd_kafka_mock_cluster_bootstraps(mc))
    }

    deinit {
        let host = host, cluster = cluster
        queue.async {
            rd_kafka_mock_cluster_destroy(cluster.pointer)
            rd_kafka_destroy(host.pointer)
        }
    }

    /// Creates `topic` with `partitions` partitions (replication factor 1).
    public func createTopic(_ topic: String, partitions: Int) async throws {
        let cluster = cluster
        let err = await run { rd_kafka_mock_topic_create(cluster.pointer, topic, Int32(partitions), 1) }
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw SluiceError(.kafka, "the mock cluster cannot create topic \(topic): \(String(cString: rd_kafka_err2name(err)))")
        }
    }

    /// Every request about `topic` (metadata included) is answered with `error` from now on.
    public func setTopicError(_ topic: String, _ error: ResponseError) async {
        let cluster = cluster
        await run { rd_kafka_mock_topic_set_error(cluster.pointer, topic, error.error) }
    }

    /// The next `count` requests of type `request`, to any broker, are answered with `error`.
    public func failRequests(_ request: Request, with error: ResponseError, count: Int) async {
        let cluster = cluster
        await run {
            let errors = [rd_kafka_resp_err_t](repeating: error.error, count: count)
            rd_kafka_mock_push_request_errors_array(cluster.pointer, request.rawValue, errors.count, errors)
        }
    }

    /// Makes broker `id` stop answering: it keeps accepting connections and requests but delays every
    /// response by an hour. (Never `rd_kafka_mock_broker_set_down`: see the type's comment.)
    public func silenceBroker(_ id: Int32) async throws {
        silenced.withLock { $0 = true }
        let cluster = cluster
        let err = await run { rd_kafka_mock_broker_set_rtt(cluster.pointer, id, 3_600_000) }
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw SluiceError(.kafka, "the mock cluster cannot silence broker \(id): \(String(cString: rd_kafka_err2name(err)))")
        }
    }

    /// Whether `silenceBroker` was called.
    public var isSilent: Bool { silenced.withLock { $0 } }

    private func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: body()) }
        }
    }
}
