import CRdKafka
import Foundation
import Synchronization
import SluiceCore

/// A librdkafka producer for the demo, benchmarks and tests: records with keys, headers and explicit
/// timestamps. Delivery failures are collected and reported by `flush`.
///
/// The methods block (librdkafka queue-full waits, flush); call them from a thread of your own or
/// through the `async` wrappers, which run on a dedicated queue, never on the cooperative pool.
///
/// `@unchecked Sendable`: its stored properties are immutable, and the librdkafka producer handle is
/// thread-safe (librdkafka documents `rd_kafka_produce*`, `poll` and `flush` as callable from any thread).
public final class KafkaProducer: @unchecked Sendable {
    private let handle: OpaquePointer
    private let queue = DispatchQueue(label: "sluice.kafka.producer")
    private let delivery = DeliveryState()
    private let servers: String

    /// - Parameters:
    ///   - bootstrapServers: `host:port[,host:port…]`.
    ///   - config: extra librdkafka properties (e.g. `compression.codec`, `linger.ms`).
    public init(bootstrapServers: String, config: [String: String] = [:]) throws {
        servers = bootstrapServers
        guard let conf = rd_kafka_conf_new() else { throw SluiceError(.kafka, "librdkafka: cannot create a configuration") }
        var settings: [String: String] = ["bootstrap.servers": bootstrapServers, "linger.ms": "5",
                                          "queue.buffering.max.messages": "1000000",
                                          "message.timeout.ms": "30000"]
        settings.merge(config) { _, new in new }
        var errbuf = [CChar](repeating: 0, count: 512)
        for (key, value) in settings {
            if rd_kafka_conf_set(conf, key, value, &errbuf, errbuf.count) != RD_KAFKA_CONF_OK {
                rd_kafka_conf_destroy(conf)
                let message = cString(errbuf)
                throw SluiceError.invalid("producer property \(key): \(message)")
            }
        }
        rd_kafka_conf_set_dr_msg_cb(conf) { _, message, opaque in
            guard let message, let opaque else { return }
            let state = Unmanaged<DeliveryState>.fromOpaque(opaque).takeUnretainedValue()
            if message.pointee.err != RD_KAFKA_RESP_ERR_NO_ERROR {
                state.record(String(cString: rd_kafka_err2str(message.pointee.err)), partition: message.pointee.partition)
            }
        }
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(delivery).toOpaque())
        guard let rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, &errbuf, errbuf.count) else {
            throw SluiceError(.kafka, "cannot create a Kafka producer for \(bootstrapServers): \(cString(errbuf))")
        }
        handle = rk
    }

    deinit {
        rd_kafka_destroy(handle)
    }

    /// Queues one record. `partition` nil lets librdkafka's partitioner choose (by key);
    /// `timestamp` nil means "now" (CreateTime set by the client).
    public func send(topic: String, partition: Int32? = nil, key: [UInt8]?, value: [UInt8]?,
                     headers: [KafkaHeader] = [], timestamp: Int64? = nil) throws {
        while true {
            let err = produce(topic: topic, partition: partition, key: key, value: value, headers: headers,
                              timestamp: timestamp)
            if err == RD_KAFKA_RESP_ERR_NO_ERROR { break }
            if err == RD_KAFKA_RESP_ERR__QUEUE_FULL {
                rd_kafka_poll(handle, 100)
                continue
            }
            throw SluiceError(.kafka, "cannot produce to \(topic) on \(servers): \(String(cString: rd_kafka_err2str(err)))")
        }
        rd_kafka_poll(handle, 0)
    }

    private func produce(topic: String, partition: Int32?, key: [UInt8]?, value: [UInt8]?,
                         headers: [KafkaHeader], timestamp: Int64?) -> rd_kafka_resp_err_t {
        topic.withCString { topicPtr -> rd_kafka_resp_err_t in
            var hdrs: OpaquePointer?
            if !headers.isEmpty {
                hdrs = rd_kafka_headers_new(headers.count)
                for h in headers {
                    if let v = h.value {
                        v.withUnsafeBytes { _ = rd_kafka_header_add(hdrs, h.name, -1, $0.baseAddress, $0.count) }
                    } else {
                        _ = rd_kafka_header_add(hdrs, h.name, -1, nil, 0)
                    }
                }
            }
            var vus: [rd_kafka_vu_t] = []
            var vu = rd_kafka_vu_t()
            vu.vtype = RD_KAFKA_VTYPE_TOPIC
            vu.u.cstr = topicPtr
            vus.append(vu)
            vu = rd_kafka_vu_t()
            vu.vtype = RD_KAFKA_VTYPE_PARTITION
            vu.u.i32 = partition ?? RD_KAFKA_PARTITION_UA
            vus.append(vu)
            vu = rd_kafka_vu_t()
            vu.vtype = RD_KAFKA_VTYPE_MSGFLAGS
            vu.u.i = RD_KAFKA_MSG_F_COPY
            vus.append(vu)
            if let timestamp {
                vu = rd_kafka_vu_t()
                vu.vtype = RD_KAFKA_VTYPE_TIMESTAMP
                vu.u.i64 = timestamp
                vus.append(vu)
            }
            if let hdrs {
                vu = rd_kafka_vu_t()
                vu.vtype = RD_KAFKA_VTYPE_HEADERS
                vu.u.headers = hdrs
                vus.append(vu)
            }
            let keyBytes = key ?? []
            let valueBytes = value ?? []
            let err = keyBytes.withUnsafeBytes { k in
                valueBytes.withUnsafeBytes { v -> rd_kafka_resp_err_t in
                    var all = vus
                    if key != nil {
                        var kv = rd_kafka_vu_t()
                        kv.vtype = RD_KAFKA_VTYPE_KEY
                        kv.u.mem.ptr = UnsafeMutableRawPointer(mutating: k.baseAddress)
                        kv.u.mem.size = k.count
                        all.append(kv)
                    }
                    if value != nil {
                        var vv = rd_kafka_vu_t()
                        vv.vtype = RD_KAFKA_VTYPE_VALUE
                        vv.u.mem.ptr = UnsafeMutableRawPointer(mutating: v.baseAddress)
                        vv.u.mem.size = v.count
                        all.append(vv)
                    }
                    guard let error = rd_kafka_produceva(handle, all, all.count) else { return RD_KAFKA_RESP_ERR_NO_ERROR }
                    let code = rd_kafka_error_code(error)
                    rd_kafka_error_destroy(error)
                    return code
                }
            }
            // On success librdkafka owns the headers; on failure they are ours to free.
            if err != RD_KAFKA_RESP_ERR_NO_ERROR, let hdrs { rd_kafka_headers_destroy(hdrs) }
            return err
        }
    }

    /// Waits until every queued record is delivered (or `timeoutSeconds` passed) and throws if any
    /// delivery failed.
    public func flush(timeoutSeconds: Double = 60) throws {
        let err = rd_kafka_flush(handle, Int32(timeoutSeconds * 1000))
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw SluiceError(.kafka, "records not delivered to \(servers) within \(Int(timeoutSeconds))s: \(String(cString: rd_kafka_err2str(err)))",
                              hint: "is the broker running and reachable?")
        }
        let (count, first) = delivery.summary
        if count > 0 {
            throw SluiceError(.kafka, "\(count) records were not delivered to \(servers); first: \(first ?? "")")
        }
    }

    /// Runs `body` with this producer on the producer's own queue, off the cooperative pool.
    public func perform<T: Sendable>(_ body: @escaping @Sendable (KafkaProducer) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(with: Result { try body(self) })
            }
        }
    }
}

/// Delivery failures, shared with librdkafka's delivery callback through the configuration opaque.
private final class DeliveryState: Sendable {
    private let state = Mutex<(count: Int, first: String?)>((0, nil))

    func record(_ message: String, partition: Int32) {
        state.withLock { s in
            s.count += 1
            if s.first == nil { s.first = "partition \(partition): \(message)" }
        }
    }

    var summary: (count: Int, first: String?) { state.withLock { $0 } }
}

