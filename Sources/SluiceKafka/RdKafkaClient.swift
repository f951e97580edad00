import CRdKafka
import Dispatch
import Foundation
import SluiceCore
import Synchronization

/// librdkafka's log lines and error callbacks, kept (bounded) to explain failures, with every
/// resolved secret scrubbed out as they arrive; and the first failure no retry can mend (a refused
/// password, a certificate the client does not trust), which ends the requests waiting on it.
final class ClientEvents: Sendable {
    private struct State {
        var lines: [String] = []
        var lastError: String?
        var fatal: SluiceError?
    }
    private let state = Mutex(State())
    let scrubber: SecretScrubber
    let bootstrap: String

    init(scrubber: SecretScrubber = SecretScrubber([]), bootstrap: String = "") {
        self.scrubber = scrubber
        self.bootstrap = bootstrap
    }

    /// A log line; called on librdkafka's threads as it happens.
    func log(level: Int32, facility: String, _ text: String) {
        let line = scrubber.scrub("\(facility) \(text)")
        let failure = level <= 3 ? SecurityFailure(logLine: scrubber.scrub(text), bootstrap: bootstrap) : nil
        state.withLock { s in
            s.lines.append(line)
            if s.lines.count > 50 { s.lines.removeFirst(s.lines.count - 50) }
            if s.fatal == nil, let failure { s.fatal = failure.error }
        }
    }

    func error(_ code: rd_kafka_resp_err_t, _ reason: String) {
        let text = scrubber.scrub("\(String(cString: rd_kafka_err2name(code))): \(reason)")
        let failure = (code == RD_KAFKA_RESP_ERR__AUTHENTICATION || code == RD_KAFKA_RESP_ERR__SSL)
            ? SecurityFailure(logLine: scrubber.scrub(reason), bootstrap: bootstrap) : nil
        state.withLock { s in
            s.lastError = text
            if s.fatal == nil, let failure { s.fatal = failure.error }
        }
    }

    /// OpenSSL refused a broker's certificate (`x509Error`, an X509_V_ERR code).
    func certificateRejected(x509Error: Int32, broker: String) {
        let failure = SecurityFailure(x509Error: x509Error, broker: scrubber.scrub(broker), bootstrap: bootstrap)
        state.withLock { s in if s.fatal == nil { s.fatal = failure.error } }
    }

    var lastError: String? { state.withLock { $0.lastError } }

    /// The failure that no retry mends, once one happened.
    var fatal: SluiceError? { state.withLock { $0.fatal } }

    var recentLogs: [String] { state.withLock { $0.lines } }
}

/// The text of a NUL-terminated C string buffer.
func cString(_ buffer: [CChar]) -> String {
    buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
}

/// A pointer that is only used on the client's queue.
struct UnsafeHandle: @unchecked Sendable {
    let pointer: OpaquePointer
}

/// How much librdkafka prefetches, and the wake-up of its fetchers.
///
/// librdkafka 2.0 stops fetching while the consumer queue holds `queued.min.messages` records or
/// `queued.max.messages.kbytes` of values, and looks again only at its broker thread's next wake-up:
/// up to a second later when nothing else happens. A reader slower than the brokers (mapping and a
/// database insert cost more than fetching) would stall for up to a second each time the queue fills.
/// Any request to a broker wakes its thread, so the read sends one cheap request (ListOffsets for the
/// unfinished partitions, answered from the broker's index) when it has drained a full queue to half:
/// fetching resumes at once, and a small prefetch costs no speed.
struct Prefetch: Sendable, Equatable {
    /// `queued.min.messages`: the records after which librdkafka stops fetching.
    var messages: Int
    /// `queued.max.messages.kbytes` in bytes: the record values after which it stops fetching.
    var valueBytes: Int

    /// Sluice's defaults: about 30 MB of memory with 200-byte values (librdkafka's own, 100,000
    /// records and 64 MiB, took about 170 MB more).
    static let defaultMessages = 50_000
    static let defaultKiB = 16_384

    /// The limits in effect with `properties` (the job's kafkaConfig) over Sluice's defaults.
    init(properties: [KafkaSetting]) {
        messages = properties.last(where: { $0.key == "queued.min.messages" }).flatMap { Int($0.value.revealed) } ?? Self.defaultMessages
        let kib = properties.last(where: { $0.key == "queued.max.messages.kbytes" }).flatMap { Int($0.value.revealed) } ?? Self.defaultKiB
        valueBytes = kib * 1024
    }
}

/// One librdkafka consumer handle. Every blocking librdkafka call runs on `queue` (a dedicated serial
/// dispatch queue), never on the cooperative pool; all mutable state is confined to it.
final class RdKafkaClient: @unchecked Sendable {
    let handle: OpaquePointer
    let queue: DispatchQueue
    let events: ClientEvents
    let bootstrap: String
    let timeoutMs: Int32
    let groupId: String
    let prefetch: Prefetch
    /// Where wake-up requests run (they wait for their answer), one at a time.
    private let wakeQueue: DispatchQueue
    private let waking = Atomic<Bool>(false)
    /// Wake-up requests sent (for tests).
    let wakeUps = Atomic<Int>(0)

    /// - Parameters:
    ///   - properties: the translated settings; secret values reach librdkafka and nothing else.
    ///   - scrubber: takes the resolved secrets out of every message librdkafka gives.
    init(bootstrapServers: [String], groupId: String, properties: [KafkaSetting],
         scrubber: SecretScrubber = SecretScrubber([]), timeout: Duration) throws {
        bootstrap = bootstrapServers.joined(separator: ",")
        self.groupId = groupId
        let (sec, atto) = timeout.components
        timeoutMs = Int32(clamping: sec * 1000 + atto / 1_000_000_000_000_000)
        events = ClientEvents(scrubber: scrubber, bootstrap: bootstrap)
        queue = DispatchQueue(label: "sluice.kafka.\(groupId)")
        wakeQueue = DispatchQueue(label: "sluice.kafka.wake.\(groupId)")
        prefetch = Prefetch(properties: properties)

        guard let conf = rd_kafka_conf_new() else {
            throw SluiceError(.kafka, "librdkafka could not allocate a configuration")
        }
        var ownsConf = true
        defer { if ownsConf { rd_kafka_conf_destroy(conf) } }
        let settings = Self.baseSettings(bootstrap: bootstrap, groupId: groupId, timeoutMs: timeoutMs, properties: properties)
        var problems: [KafkaSettingsError.Problem] = []
        for setting in settings + properties {
            if let problem = Self.set(conf, setting) { problems.append(problem) }
        }
        guard problems.isEmpty else { throw scrubber.scrub(KafkaSettingsError(problems: problems)) }
        Self.installCallbacks(conf, events: events)
        var errstr = [CChar](repeating: 0, count: 512)
        guard let rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, &errstr, errstr.count) else {
            throw SluiceError.invalid("the Kafka settings for \(bootstrap) are not valid: \(scrubber.scrub(cString(errstr)))",
                                      hint: "check the source's security and kafkaConfig settings")
        }
        ownsConf = false  // rd_kafka_new took it
        handle = rk
        // Errors and logs are then served by the consume calls on our queue.
        rd_kafka_poll_set_consumer(rk)
    }

    deinit {
        let h = UnsafeHandle(pointer: handle)
        let events = self.events
        queue.async {
            _ = rd_kafka_consumer_close(h.pointer)
            rd_kafka_destroy(h.pointer)
            withExtendedLifetime(events) {}
        }
    }

    /// What Sluice sets itself, before the job's properties.
    static func baseSettings(bootstrap: String, groupId: String, timeoutMs: Int32, properties: [KafkaSetting]) -> [KafkaSetting] {
        var base: [KafkaSetting] = [
            KafkaSetting("bootstrap.servers", bootstrap),
            KafkaSetting("group.id", groupId),
            KafkaSetting("client.id", "sluice"),
            KafkaSetting("enable.auto.commit", "false"),
            KafkaSetting("enable.auto.offset.store", "false"),
            KafkaSetting("enable.partition.eof", "true"),
            KafkaSetting("auto.offset.reset", "error"),
            KafkaSetting("allow.auto.create.topics", "false"),
        ]
        // Some librdkafka calls (watermarks, commits) wait for their request to finish whatever their
        // timeout argument says; the socket timeout bounds them.
        if !properties.contains(where: { $0.key == "socket.timeout.ms" }) {
            base.append(KafkaSetting("socket.timeout.ms", String(max(1500, timeoutMs))))
        }
        // A small prefetch (see `Prefetch`): the read wakes the fetchers when it has drained the queue.
        if !properties.contains(where: { $0.key == "queued.min.messages" }) {
            base.append(KafkaSetting("queued.min.messages", String(Prefetch.defaultMessages)))
        }
        if !properties.contains(where: { $0.key == "queued.max.messages.kbytes" }) {
            base.append(KafkaSetting("queued.max.messages.kbytes", String(Prefetch.defaultKiB)))
        }
        return base
    }

    /// Log lines, errors and broker certificate checks go to `events`. The log callback runs on
    /// librdkafka's threads as lines happen (errors wait for a poll), so it is what notices a
    /// refused password or certificate while a request waits.
    static func installCallbacks(_ conf: OpaquePointer, events: ClientEvents) {
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(events).toOpaque())
        rd_kafka_conf_set_log_cb(conf) { rk, level, fac, buf in
            guard let rk, let opaque = rd_kafka_opaque(rk) else { return }
            let events = Unmanaged<ClientEvents>.fromOpaque(opaque).takeUnretainedValue()
            events.log(level: level, facility: fac.map { String(cString: $0) } ?? "", buf.map { String(cString: $0) } ?? "")
        }
        rd_kafka_conf_set_error_cb(conf) { rk, err, reason, _ in
            guard let rk, let opaque = rd_kafka_opaque(rk) else { return }
            let events = Unmanaged<ClientEvents>.fromOpaque(opaque).takeUnretainedValue()
            events.error(rd_kafka_resp_err_t(err), reason.map { String(cString: $0) } ?? "")
        }
        // OpenSSL's verdict on each certificate of the broker's chain, unchanged; a refusal is recorded
        // with its reason (expired, another host, an unknown CA), which librdkafka's message leaves out.
        _ = rd_kafka_conf_set_ssl_cert_verify_cb(conf) { _, broker, _, x509Error, _, _, _, errstr, errstrSize, opaque in
            guard let x509Error, x509Error.pointee != 0 else { return 1 }
            if let opaque {
                let events = Unmanaged<ClientEvents>.fromOpaque(opaque).takeUnretainedValue()
                events.certificateRejected(x509Error: x509Error.pointee, broker: broker.map { String(cString: $0) } ?? "")
            }
            if let errstr, errstrSize > 0 {
                let text = Array("X.509 error \(x509Error.pointee)".utf8CString.prefix(errstrSize - 1)) + [0]
                text.withUnsafeBufferPointer { errstr.update(from: $0.baseAddress!, count: $0.count) }
            }
            return 0
        }
    }

    /// Sets one property; the problem when librdkafka refuses it. An `.unresolved` value (validate
    /// without the secret) only has its name checked.
    static func set(_ conf: OpaquePointer, _ setting: KafkaSetting) -> KafkaSettingsError.Problem? {
        let key = setting.key
        var errstr = [CChar](repeating: 0, count: 512)
        var r = rd_kafka_conf_set(conf, key, setting.value.revealed, &errstr, errstr.count)
        if case .unresolved = setting.value, r == RD_KAFKA_CONF_INVALID { r = RD_KAFKA_CONF_OK }  // the name is known
        switch r {
        case RD_KAFKA_CONF_OK: return nil
        case RD_KAFKA_CONF_UNKNOWN:
            return .init(key: key, error: SluiceError.invalid("kafkaConfig \(key) is not a librdkafka property",
                                                              hint: "see https://github.com/confluentinc/librdkafka/blob/v2.0.2/CONFIGURATION.md"))
        default:
            if setting.value.isSecret {
                return .init(key: key, error: SluiceError.invalid("kafkaConfig \(key) has an invalid value (not shown: it is a secret)"))
            }
            return .init(key: key, error: SluiceError.invalid("kafkaConfig \(key): \(cString(errstr))"))
        }
    }

    /// What librdkafka refuses of `properties`, without creating a client: names, and values where
    /// librdkafka checks them when they are set.
    static func problems(_ properties: [KafkaSetting]) -> [KafkaSettingsError.Problem] {
        guard let conf = rd_kafka_conf_new() else { return [] }
        defer { rd_kafka_conf_destroy(conf) }
        return properties.compactMap { set(conf, $0) }
    }

    /// Runs `body` on the client's queue.
    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (cont: CheckedContinuation<T, Error>) in
            queue.async { cont.resume(with: Result(catching: body)) }
        }
    }

    // MARK: Calls below run on `queue`.

    func describe(_ err: rd_kafka_resp_err_t) -> String {
        "\(String(cString: rd_kafka_err2name(err))) (\(String(cString: rd_kafka_err2str(err))))"
    }

    /// An error for a failed request: unreachable brokers are named as such.
    func requestError(_ err: rd_kafka_resp_err_t, what: String, topic: String, partition: Int32? = nil) -> SluiceError {
        let place = partition.map { "topic \(topic) partition \($0)" } ?? "topic \(topic)"
        // A refused password or certificate is why a request timed out or lost its connection.
        if let fatal = events.fatal { return fatal }
        switch err {
        case RD_KAFKA_RESP_ERR__TRANSPORT, RD_KAFKA_RESP_ERR__TIMED_OUT, RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN,
             RD_KAFKA_RESP_ERR__RESOLVE, RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
            let last = events.lastError.map { "; last error: \($0)" } ?? ""
            return SluiceError(.kafka,
                "cannot reach the Kafka brokers \(bootstrap) to \(what) of \(place) within \(timeoutMs / 1000) s\(last)",
                hint: "check that the bootstrap servers are right and reachable, and security.protocol/SASL settings in kafkaConfig")
        case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
            return SluiceError(.kafka, "topic \(topic) does not exist on \(bootstrap)",
                               hint: "check the topic name")
        case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
            return SluiceError(.kafka, "\(place) does not exist on \(bootstrap)")
        case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
            return SluiceError(.kafka, "not authorized to read topic \(topic) on \(bootstrap)",
                               hint: "grant the user Read and Describe on the topic")
        case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
            return SluiceError(.kafka, "not authorized to use consumer group \(groupId) on \(bootstrap)",
                               hint: "grant the user Read on the group, or change groupId")
        case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED, RD_KAFKA_RESP_ERR__AUTHENTICATION:
            return SluiceError(.kafka, "authentication to \(bootstrap) failed",
                               hint: "check the SASL user and password in kafkaConfig")
        default:
            return SluiceError(.kafka, "cannot \(what) of \(place) on \(bootstrap): \(describe(err))")
        }
    }

    /// The topic's partition ids, sorted.
    func partitions(topic: String) throws -> [Int32] {
        guard let rkt = rd_kafka_topic_new(handle, topic, nil) else {
            throw SluiceError(.kafka, "cannot open topic \(topic)")
        }
        defer { rd_kafka_topic_destroy(rkt) }
        var attempt = 0
        while true {
            let md = try metadata(topic: rkt, name: topic)
            defer { rd_kafka_metadata_destroy(md) }
            let topics = UnsafeBufferPointer(start: md.pointee.topics, count: Int(md.pointee.topic_cnt))
            guard let t = topics.first(where: { String(cString: $0.topic) == topic }) else {
                throw SluiceError(.kafka, "topic \(topic) does not exist on \(bootstrap)", hint: "check the topic name")
            }
            if t.err == RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE && attempt < 5 {
                attempt += 1
                Thread.sleep(forTimeInterval: 0.2 * Double(attempt))
                continue
            }
            if t.err != RD_KAFKA_RESP_ERR_NO_ERROR {
                throw requestError(t.err, what: "read the metadata", topic: topic)
            }
            let parts = UnsafeBufferPointer(start: t.partitions, count: Int(t.partition_cnt))
            return parts.map(\.id).sorted()
        }
    }

    /// The topic's metadata, asked in slices of at most 250 ms until `timeoutMs` has passed, so that a
    /// refused password or certificate (`events.fatal`) ends the wait at once. The caller destroys it.
    func metadata(topic rkt: OpaquePointer, name topic: String) throws -> UnsafePointer<rd_kafka_metadata> {
        let deadline = ContinuousClock.now.advanced(by: .milliseconds(Int64(timeoutMs)))
        while true {
            if let fatal = events.fatal { throw fatal }
            let left = ContinuousClock.now.duration(to: deadline)
            let slice = Int32(clamping: min(250, max(1, left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000)))
            var md: UnsafePointer<rd_kafka_metadata>?
            let err = rd_kafka_metadata(handle, 0, rkt, &md, slice)
            if err == RD_KAFKA_RESP_ERR_NO_ERROR, let md { return md }
            let waiting = err == RD_KAFKA_RESP_ERR__TIMED_OUT || err == RD_KAFKA_RESP_ERR__TRANSPORT
                || err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN
            if !waiting || ContinuousClock.now >= deadline {
                throw requestError(err, what: "read the metadata", topic: topic)
            }
            // ALL_BROKERS_DOWN returns at once: do not spin.
            if err != RD_KAFKA_RESP_ERR__TIMED_OUT { Thread.sleep(forTimeInterval: 0.05) }
        }
    }

    /// Low and high watermarks, by ListOffsets with the special times −2 (earliest) and −1 (latest).
    /// (`rd_kafka_query_watermark_offsets` waits for its request whatever its timeout says.)
    func watermarks(topic: String, partitions: [Int32]) throws -> [Int32: (low: Int64, high: Int64)] {
        let low = try offsetsForTimes(topic: topic, partitions: partitions, millis: -2, what: "read the log start offsets")
        let high = try offsetsForTimes(topic: topic, partitions: partitions, millis: -1, what: "read the high watermarks")
        var out: [Int32: (low: Int64, high: Int64)] = [:]
        for p in partitions {
            guard let l = low[p], let h = high[p] else {
                throw SluiceError(.kafka, "the brokers \(bootstrap) did not answer for topic \(topic) partition \(p)")
            }
            out[p] = (l, h)
        }
        return out
    }

    func watermarks(topic: String, partition: Int32) throws -> (low: Int64, high: Int64) {
        try watermarks(topic: topic, partitions: [partition])[partition]!
    }

    /// The watermarks last seen in fetch responses, without a request; nil when none was seen.
    func cachedWatermarks(topic: String, partition: Int32) -> (low: Int64, high: Int64)? {
        var low: Int64 = -1, high: Int64 = -1
        let err = rd_kafka_get_watermark_offsets(handle, topic, partition, &low, &high)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, high >= 0 else { return nil }
        return (low, high)
    }

    /// Errors a request may succeed after (leader moves, timeouts, a coordinator loading).
    static let retriable: Set<Int32> = [
        RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,
        RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
        RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS, RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
        RD_KAFKA_RESP_ERR_UNKNOWN_LEADER_EPOCH, RD_KAFKA_RESP_ERR_FENCED_LEADER_EPOCH,
        RD_KAFKA_RESP_ERR_OFFSET_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
        RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION, RD_KAFKA_RESP_ERR__TRANSPORT,
    ].reduce(into: []) { $0.insert($1.rawValue) }

    /// Runs `body` until it returns an error that is not retriable, at most 6 times with backoff.
    func retrying<T>(_ body: () -> (T?, rd_kafka_resp_err_t)) -> (T?, rd_kafka_resp_err_t) {
        var attempt = 0
        while true {
            let r = body()
            if r.1 == RD_KAFKA_RESP_ERR_NO_ERROR || !Self.retriable.contains(r.1.rawValue) || attempt >= 5
                || events.fatal != nil {
                return r
            }
            events.error(r.1, "retrying")
            attempt += 1
            Thread.sleep(forTimeInterval: 0.1 * Double(attempt))
        }
    }

    /// Offsets-for-times: partition → lowest offset whose timestamp ≥ `millis`, or −1 when none.
    /// −1 and −2 give the high watermark and the log start. Retriable errors are retried.
    func offsetsForTimes(topic: String, partitions: [Int32], millis: Int64,
                         what: String? = nil) throws -> [Int32: Int64] {
        let what = what ?? "look up offsets for time \(millis)"
        var failedPartition: Int32?
        let (answer, err) = retrying { () -> ([Int32: Int64]?, rd_kafka_resp_err_t) in
            failedPartition = nil
            do {
                return (try offsetsForTimesOnce(topic: topic, partitions: partitions, millis: millis), RD_KAFKA_RESP_ERR_NO_ERROR)
            } catch let e as PartitionRequestError {
                failedPartition = e.partition
                return (nil, e.code)
            } catch {
                return (nil, RD_KAFKA_RESP_ERR__FAIL)
            }
        }
        guard let answer else {
            throw requestError(err, what: what, topic: topic, partition: failedPartition)
        }
        return answer
    }

    struct PartitionRequestError: Error {
        var code: rd_kafka_resp_err_t
        var partition: Int32?
    }

    private func offsetsForTimesOnce(topic: String, partitions: [Int32], millis: Int64) throws -> [Int32: Int64] {
        let list = rd_kafka_topic_partition_list_new(Int32(partitions.count))!
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for p in partitions { rd_kafka_topic_partition_list_add(list, topic, p).pointee.offset = millis }
        let err = rd_kafka_offsets_for_times(handle, list, Int32(timeoutMs))
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw PartitionRequestError(code: err) }
        var out: [Int32: Int64] = [:]
        for e in UnsafeBufferPointer(start: list.pointee.elems, count: Int(list.pointee.cnt)) {
            if e.err != RD_KAFKA_RESP_ERR_NO_ERROR { throw PartitionRequestError(code: e.err, partition: e.partition) }
            out[e.partition] = e.offset
        }
        return out
    }

    /// The group's committed offsets; nil where it has none.
    func committed(topic: String, partitions: [Int32]) throws -> [Int32: Int64?] {
        let list = rd_kafka_topic_partition_list_new(Int32(partitions.count))!
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for p in partitions { rd_kafka_topic_partition_list_add(list, topic, p) }
        let (_, err) = retrying { () -> (Bool?, rd_kafka_resp_err_t) in
            let e = rd_kafka_committed(handle, list, Int32(timeoutMs))
            return (true, e)
        }
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw requestError(err, what: "read the committed offsets of group \(groupId)", topic: topic)
        }
        var out: [Int32: Int64?] = [:]
        for e in UnsafeBufferPointer(start: list.pointee.elems, count: Int(list.pointee.cnt)) {
            if e.err != RD_KAFKA_RESP_ERR_NO_ERROR {
                throw requestError(e.err, what: "read the committed offset of group \(groupId)", topic: topic, partition: e.partition)
            }
            out[e.partition] = e.offset >= 0 ? e.offset : nil
        }
        return out
    }

    func commit(topic: String, offsets: [(partition: Int32, offset: Int64)]) throws {
        let list = rd_kafka_topic_partition_list_new(Int32(offsets.count))!
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for (p, o) in offsets { rd_kafka_topic_partition_list_add(list, topic, p).pointee.offset = o }
        let (_, err) = retrying { () -> (Bool?, rd_kafka_resp_err_t) in (true, rd_kafka_commit(handle, list, 0)) }
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw requestError(err, what: "commit the end offsets for group \(groupId)", topic: topic)
        }
        for e in UnsafeBufferPointer(start: list.pointee.elems, count: Int(list.pointee.cnt))
        where e.err != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw requestError(e.err, what: "commit the end offset for group \(groupId)", topic: topic, partition: e.partition)
        }
    }

    func assign(topic: String, offsets: [(partition: Int32, offset: Int64)]) throws {
        let list = rd_kafka_topic_partition_list_new(Int32(max(offsets.count, 1)))!
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for (p, o) in offsets { rd_kafka_topic_partition_list_add(list, topic, p).pointee.offset = o }
        // A partition paused by an earlier read of this handle stays paused across assignments.
        _ = rd_kafka_resume_partitions(handle, list)
        let err = rd_kafka_assign(handle, list)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw requestError(err, what: "assign the planned partitions", topic: topic)
        }
    }

    /// Wakes the broker threads that lead `partitions` (see `Prefetch`) by a ListOffsets request for
    /// their latest offsets, sent from a queue of its own so the read goes on meanwhile. At most one
    /// is in flight; its answer and errors do not matter. Returns false when none was sent (one is
    /// still in flight).
    @discardableResult
    func wakeFetchers(topic: String, partitions: [Int32]) -> Bool {
        guard !partitions.isEmpty else { return true }
        guard waking.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else {
            return false
        }
        let wait = min(timeoutMs, 5_000)
        wakeUps.add(1, ordering: .relaxed)
        wakeQueue.async { [self] in
            defer { waking.store(false, ordering: .releasing) }
            let list = rd_kafka_topic_partition_list_new(Int32(partitions.count))!
            defer { rd_kafka_topic_partition_list_destroy(list) }
            for p in partitions { rd_kafka_topic_partition_list_add(list, topic, p).pointee.offset = -1 }
            _ = rd_kafka_offsets_for_times(handle, list, wait)
        }
        return true
    }

    func unassign() {
        _ = rd_kafka_assign(handle, nil)
    }

    func pause(topic: String, partition: Int32) {
        let list = rd_kafka_topic_partition_list_new(1)!
        defer { rd_kafka_topic_partition_list_destroy(list) }
        rd_kafka_topic_partition_list_add(list, topic, partition)
        _ = rd_kafka_pause_partitions(handle, list)
    }
}
