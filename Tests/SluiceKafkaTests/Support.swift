import CRdKafka
import Foundation
import SluiceCore
import SluiceTestSupport
import Synchronization
@testable import SluiceKafka

/// librdkafka's in-process mock cluster (real TCP listeners on 127.0.0.1). It answers offsets-for-times
/// with −1, so tests of time lookups run against `sluice dev-kafka` instead.
final class MockCluster: @unchecked Sendable {
    let host: OpaquePointer
    let cluster: OpaquePointer
    let bootstrap: String

    init(brokers: Int32 = 1) throws {
        let conf = rd_kafka_conf_new()!
        var errstr = [CChar](repeating: 0, count: 512)
        _ = rd_kafka_conf_set(conf, "log_level", "0", &errstr, errstr.count)
        guard let rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, &errstr, errstr.count) else {
            throw SluiceError(.failed, "cannot create the mock host")
        }
        host = rk
        guard let mc = rd_kafka_mock_cluster_new(rk, brokers) else {
            throw SluiceError(.failed, "cannot create the mock cluster")
        }
        cluster = mc
        bootstrap = String(cString: rd_kafka_mock_cluster_bootstraps(mc))
    }

    deinit {
        rd_kafka_mock_cluster_destroy(cluster)
        rd_kafka_destroy(host)
    }

    func createTopic(_ name: String, partitions: Int32) {
        _ = rd_kafka_mock_topic_create(cluster, name, partitions, 1)
    }

    func setTopicError(_ topic: String, _ error: rd_kafka_resp_err_t) {
        rd_kafka_mock_topic_set_error(cluster, topic, error)
    }

    private let silent = Mutex(false)
    var isSilent: Bool { silent.withLock { $0 } }

    /// Makes broker `id` stop answering: it keeps accepting connections and requests but delays every
    /// response by an hour. (librdkafka 2.0's `rd_kafka_mock_broker_set_down` closes the listener and
    /// re-binds its port at once, and aborts the whole process when another test took the port meanwhile.)
    func silenceBroker(_ id: Int32) {
        silent.withLock { $0 = true }
        _ = rd_kafka_mock_broker_set_rtt(cluster, id, 3_600_000)
    }

    /// The next `count` requests of `apiKey` (1 = Fetch) fail with `error`.
    func pushRequestErrors(apiKey: Int16, _ error: rd_kafka_resp_err_t, count: Int) {
        let errors = [rd_kafka_resp_err_t](repeating: error, count: count)
        rd_kafka_mock_push_request_errors_array(cluster, apiKey, errors.count, errors)
    }
}

/// A record to produce in tests.
struct TestRecord {
    var partition: Int32
    var key: [UInt8]?
    var value: [UInt8]?
    var timestamp: Int64 = 0
    var headers: [KafkaHeader] = []
}

/// A synchronous librdkafka producer for tests.
final class TestProducer: @unchecked Sendable {
    let rk: OpaquePointer

    init(bootstrap: String) throws {
        let conf = rd_kafka_conf_new()!
        var errstr = [CChar](repeating: 0, count: 512)
        for (k, v) in [("bootstrap.servers", bootstrap), ("linger.ms", "5"), ("log_level", "0"),
                       ("enable.idempotence", "false")] {
            _ = rd_kafka_conf_set(conf, k, v, &errstr, errstr.count)
        }
        guard let rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, &errstr, errstr.count) else {
            throw SluiceError(.failed, "cannot create a test producer")
        }
        self.rk = rk
    }

    deinit { rd_kafka_destroy(rk) }

    func send(topic: String, _ r: TestRecord) throws {
        var vus = [rd_kafka_vu_t](repeating: rd_kafka_vu_t(), count: 6 + r.headers.count)
        let topicC = strdup(topic)!
        defer { free(topicC) }
        var owned: [UnsafeMutableRawPointer] = []
        defer { owned.forEach { free($0) } }
        func copy(_ bytes: [UInt8]?) -> UnsafeMutableRawPointer? {
            guard let bytes else { return nil }
            let p = malloc(max(bytes.count, 1))!
            bytes.withUnsafeBytes { if $0.count > 0 { p.copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
            owned.append(p)
            return p
        }
        vus[0].vtype = RD_KAFKA_VTYPE_TOPIC; vus[0].u.cstr = UnsafePointer(topicC)
        vus[1].vtype = RD_KAFKA_VTYPE_PARTITION; vus[1].u.i32 = r.partition
        vus[2].vtype = RD_KAFKA_VTYPE_MSGFLAGS; vus[2].u.i = RD_KAFKA_MSG_F_COPY
        vus[3].vtype = RD_KAFKA_VTYPE_VALUE; vus[3].u.mem.ptr = copy(r.value); vus[3].u.mem.size = r.value?.count ?? 0
        vus[4].vtype = RD_KAFKA_VTYPE_KEY; vus[4].u.mem.ptr = copy(r.key); vus[4].u.mem.size = r.key?.count ?? 0
        vus[5].vtype = RD_KAFKA_VTYPE_TIMESTAMP; vus[5].u.i64 = r.timestamp
        var names: [UnsafeMutablePointer<CChar>] = []
        defer { names.forEach { free($0) } }
        for (i, h) in r.headers.enumerated() {
            let n = strdup(h.name)!
            names.append(n)
            vus[6 + i].vtype = RD_KAFKA_VTYPE_HEADER
            vus[6 + i].u.header.name = UnsafePointer(n)
            vus[6 + i].u.header.val = UnsafeRawPointer(copy(h.value))
            vus[6 + i].u.header.size = h.value.map { $0.count } ?? -1
        }
        while true {
            guard let err = rd_kafka_produceva(rk, vus, vus.count) else { break }
            let code = rd_kafka_error_code(err)
            rd_kafka_error_destroy(err)
            if code == RD_KAFKA_RESP_ERR__QUEUE_FULL { rd_kafka_poll(rk, 10); continue }
            throw SluiceError(.failed, "produce failed: \(String(cString: rd_kafka_err2str(code)))")
        }
        rd_kafka_poll(rk, 0)
    }

    func flush() throws {
        let err = rd_kafka_flush(rk, 30_000)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw SluiceError(.failed, "flush failed: \(String(cString: rd_kafka_err2str(err)))")
        }
    }
}

/// A clock that moves only when told to.
final class ManualClock: Clock, @unchecked Sendable {
    struct Instant: InstantProtocol {
        var offset: Duration
        func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
        func duration(to other: Instant) -> Duration { other.offset - offset }
        static func < (a: Instant, b: Instant) -> Bool { a.offset < b.offset }
    }
    private let current = Mutex(Instant(offset: .zero))
    var now: Instant { current.withLock { $0 } }
    var minimumResolution: Duration { .zero }
    func advance(by d: Duration) { current.withLock { $0 = $0.advanced(by: d) } }
    func sleep(until deadline: Instant, tolerance: Duration?) async throws {
        while now < deadline { try await Task.sleep(for: .milliseconds(1)) }
    }
}

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

func uniqueTopic(_ prefix: String = "t") -> String { "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())" }

/// Records collected from a read, copied out of the batches.
final class Collected: @unchecked Sendable {
    var records: [OwnedRecord] = []
    var batches = 0
    var texts: [Value] = []
}

/// Runs a program to completion (never blocking the cooperative pool).
func run(_ executable: String, _ arguments: [String]) async throws -> ProcessResult {
    try await Subprocess.run(executable, arguments)
}

/// Finds a program on PATH.
func which(_ name: String) -> String? { Subprocess.which(name) }
