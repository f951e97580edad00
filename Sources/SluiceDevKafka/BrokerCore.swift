import Synchronization
import NIOConcurrencyHelpers
import NIOCore
import SluiceCore

/// The parsed request header (v0–v2: only these fields are read, as Kafka 0.10.2 and 2.2 do).
struct RequestHeader {
    var apiKey: Int16
    var apiVersion: Int16
    var correlationId: Int32
    var clientId: String?
}

/// What a connection does with a request.
enum Outcome {
    /// Send this response body.
    case respond(ByteBuffer)
    /// acks=0 produce: nothing goes back.
    case noResponse
    /// Close the connection (what Kafka does for unknown APIs, unsupported versions, bad requests).
    case close(String)
    /// A fetch that may wait for data.
    case fetch(FetchPlan)
    /// A response that another client's request completes (group joins and syncs).
    case deferred(@Sendable (@escaping @Sendable (ByteBuffer) -> Void) -> Void)
}

struct FetchPartition {
    var partition: Int32
    var offset: Int64
    var maxBytes: Int32
}

struct FetchPlan {
    var version: Int16
    var maxWaitMs: Int32
    var minBytes: Int32
    var maxBytes: Int32
    var topics: [(name: String, partitions: [FetchPartition])]
    var forcedError: KafkaErrorCode?
}

/// An injected failure for one API.
struct InjectedFailure {
    var remaining: Int
    var code: KafkaErrorCode
}

/// The broker's state and request handlers. All state is guarded by `lock`; handlers run on the
/// connections' event loops and never block.
final class BrokerCore: @unchecked Sendable {
    let config: DevKafkaConfiguration
    let lock = NIOLock()
    let nodeId: Int32 = 1
    let clusterId = "sluice-dev-kafka"

    // guarded by lock
    var topics: [String: TopicState] = [:]
    var committed: [String: [String: [Int32: (offset: Int64, metadata: String?, epoch: Int32)]]] = [:]
    var groups: [String: Group] = [:]
    var waiters: [Int: @Sendable () -> Void] = [:]
    var nextWaiterId = 0
    var failures: [Int16: InjectedFailure] = [:]
    var responseDelay: TimeAmount = .zero
    var apiDelays: [Int16: TimeAmount] = [:]
    var nextProducerId: Int64 = 1000
    let scheduler: EventLoopGroup
    var persistence: Persistence?
    var sessionReaper: RepeatedTask?

    init(config: DevKafkaConfiguration, scheduler: EventLoopGroup) throws {
        self.config = config
        self.scheduler = scheduler
        if let dir = config.dataDirectory {
            let store = try Persistence(directory: dir, version: config.version)
            for topic in try store.load() { topics[topic.name] = topic }
            committed = try store.loadOffsets()
            persistence = store
        }
        for t in config.topics where topics[t.name] == nil {
            try createTopicLocked(t)
        }
    }

    var now: Int64 { config.clock() }

    func createTopicLocked(_ t: DevKafkaTopic) throws {
        try persistence?.createTopic(t)
        topics[t.name] = TopicState(name: t.name, partitions: t.partitions, logAppendTime: t.logAppendTime)
    }

    // MARK: dispatch

    /// Answers one request that arrived through `endpoint` (whose address Metadata and
    /// FindCoordinator advertise).
    func handle(_ header: RequestHeader, _ body: inout ByteBuffer, via endpoint: ListenerEndpoint) throws -> Outcome {
        let version = config.version
        if header.apiKey == 18 && !version.supports(key: 18, version: header.apiVersion) {
            // A v0 body: UNSUPPORTED_VERSION and an empty array, whatever version was asked.
            var out = ByteBuffer()
            out.wError(.unsupportedVersion)
            out.wInt32(0)
            return .respond(out)
        }
        guard version.supports(key: header.apiKey, version: header.apiVersion) else {
            return .close("API \(header.apiKey) v\(header.apiVersion) is not supported by Kafka \(version.rawValue)")
        }
        let forced: KafkaErrorCode? = lock.withLock {
            guard var f = failures[header.apiKey], f.remaining > 0 else { return nil }
            f.remaining -= 1
            failures[header.apiKey] = f.remaining > 0 ? f : nil
            return f.code
        }
        let v = header.apiVersion
        switch header.apiKey {
        case 0: return try produce(v, &body, forced)
        case 1: return try fetchPlan(v, &body, forced)
        case 2: return try listOffsets(v, &body, forced)
        case 3: return try metadata(v, &body, forced, endpoint)
        case 8: return try offsetCommit(v, &body, forced)
        case 9: return try offsetFetch(v, &body, forced)
        case 10: return try findCoordinator(v, &body, forced, endpoint)
        case 11: return try joinGroup(v, &body, forced, clientId: header.clientId ?? "")
        case 12: return try heartbeat(v, &body, forced)
        case 13: return try leaveGroup(v, &body, forced)
        case 14: return try syncGroup(v, &body, forced)
        case 15: return try describeGroups(v, &body, forced)
        case 16: return try listGroups(v, &body, forced)
        case 18: return apiVersionsResponse(v, forced)
        case 19: return try createTopics(v, &body, forced)
        case 20: return try deleteTopics(v, &body, forced)
        case 21: return try deleteRecords(v, &body, forced)
        case 22: return try initProducerId(v, &body, forced)
        case 23: return try offsetForLeaderEpoch(v, &body, forced)
        default:
            if let outcome = try handleExtra(header.apiKey, v, &body, forced) { return outcome }
            return .close("API \(header.apiKey) is not served by sluice dev-kafka")
        }
    }

    // MARK: ApiVersions

    func apiVersionsResponse(_ v: Int16, _ forced: KafkaErrorCode?) -> Outcome {
        var out = ByteBuffer()
        out.wError(forced ?? .none)
        out.wArray(config.version.apiVersions) { b, e in b.wInt16(e.key); b.wInt16(e.min); b.wInt16(e.max) }
        if v >= 1 { out.wInt32(0) }
        return .respond(out)
    }

    // MARK: Metadata

    func metadata(_ v: Int16, _ body: inout ByteBuffer, _ forced: KafkaErrorCode?, _ endpoint: ListenerEndpoint) throws -> Outcome {
        let requested: [String]? = v == 0 ? try body.rArray { try $0.rString() } : try body.rNullableArray { try $0.rString() }
        let allowAuto = v >= 4 ? try body.rBool() : true
        let all = requested == nil || (v == 0 && requested!.isEmpty)
        var out = ByteBuffer()
        if v >= 3 { out.wInt32(0) }
        out.wInt32(1)
        out.wInt32(nodeId)
        out.wString(endpoint.advertisedHost)
        out.wInt32(endpoint.advertisedPort)
        if v >= 1 { out.wNullableString(nil) }
        if v >= 2 { out.wNullableString(clusterId) }
        if v >= 1 { out.wInt32(nodeId) }
        try lock.withLock {
            let names = all ? topics.keys.sorted() : requested!
            out.wInt32(Int32(names.count))
            for name in names {
                var error = forced ?? .none
                var topic = topics[name]
                if topic == nil && error == .none {
                    if !DevKafkaTopic.isValidName(name) {
                        error = .invalidTopic
                    } else if config.autoCreateTopics && allowAuto {
                        try createTopicLocked(DevKafkaTopic(name: name, partitions: config.defaultPartitions))
                        error = .leaderNotAvailable
                        topic = nil
                    } else {
                        error = .unknownTopicOrPartition
                    }
                }
                out.wError(error)
                out.wString(name)
                if v >= 1 { out.wBool(false) }
                let count = error == .none ? topic?.partitions.count ?? 0 : 0
                out.wInt32(Int32(count))
                for p in 0..<count {
                    out.wError(.none)
                    out.wInt32(Int32(p))
                    out.wInt32(nodeId)
                    if v >= 7 { out.wInt32(0) }
                    out.wInt32(1); out.wInt32(nodeId)
                    out.wInt32(1); out.wInt32(nodeId)
                    if v >= 5 { out.wInt32(0) }
                }
            }
        }
        return .respond(out)
    }

    // MARK: Produce

    func produce(_ v: Int16, _ body: inout ByteBuffer, _ forced: KafkaErrorCode?) throws -> Outcome {
        if v >= 3 { _ = try body.rNullableString() }
        let acks = try body.rInt16()
        _ = try body.rInt32()
        let request = try body.rArray { b in
            (try b.rString(), try b.rArray { b in (try b.rInt32(), try b.rNullableBytes()) })
        }
        var anyError = false
        var results: [(String, [(Int32, KafkaErrorCode, Int64, Int64, Int64)])] = []
        var appended = false
        lock.withLock {
            let appendTime = now
            for (name, partitions) in request {
                var rs: [(Int32, KafkaErrorCode, Int64, Int64, Int64)] = []
                for (p, records) in partitions {
                    var code = forced ?? .none
                    var base: Int64 = -1
                    var logAppend: Int64 = -1
                    var start: Int64 = -1
                    if code == .none, acks != 0 && acks != 1 && acks != -1 { code = .invalidRequiredAcks }
                    if code == .none {
                        if let topic = topics[name], Int(p) >= 0, Int(p) < topic.partitions.count {
                            let log = topic.partitions[Int(p)]
                            do {
                                let chunks = try ingest(records ?? ByteBuffer(), version: v, base: log.logEndOffset,
                                                        logAppendTime: topic.logAppendTime ? appendTime : nil)
                                for chunk in chunks {
                                    try persistence?.append(chunk, topic: name, partition: Int(p))
                                    log.append(chunk, now: appendTime)
                                }
                                base = chunks[0].baseOffset
                                if topic.logAppendTime { logAppend = appendTime }
                                appended = true
                            } catch let r as ProduceRejection {
                                code = r.code
                            } catch {
                                code = .corruptMessage
                            }
                            start = log.logStartOffset
                        } else {
                            code = .unknownTopicOrPartition
                        }
                    }
                    if code != .none { anyError = true }
                    rs.append((p, code, base, logAppend, start))
                }
                results.append((name, rs))
            }
        }
        if appended { wakeWaiters() }
        if acks == 0 {
            return anyError ? .close("acks=0 produce failed") : .noResponse
        }
        var out = ByteBuffer()
        out.wArray(results) { b, t in
            b.wString(t.0)
            b.wArray(t.1) { b, r in
                b.wInt32(r.0)
                b.wError(r.1)
                b.wInt64(r.2)
                if v >= 2 { b.wInt64(r.3) }
                if v >= 5 { b.wInt64(r.4) }
            }
        }
        if v >= 1 { out.wInt32(0) }
        return .respond(out)
    }

    /// Validates and converts a produced record set into the chunks to append, all or nothing.
    func ingest(_ records: ByteBuffer, version v: Int16, base: Int64, logAppendTime: Int64?) throws -> [Chunk] {
        guard records.readableBytes >= 17 else {
            throw ProduceRejection(code: .corruptMessage, reason: "record set too short")
        }
        let magic = records.getInteger(at: records.readerIndex + 16, as: Int8.self)!
        switch config.version {
        case .v0_10_2:
            guard magic <= 1 else { throw ProduceRejection(code: .corruptMessage, reason: "unknown magic \(magic)") }
            return [try RecordFormat.ingestV1(records, baseOffset: base, logAppendTime: logAppendTime)]
        case .v2_2:
            if magic == 2 {
                let length = records.getInteger(at: records.readerIndex + 8, as: Int32.self)!
                if v >= 3 && Int(length) + 12 != records.readableBytes {
                    throw ProduceRejection(code: .invalidRecord, reason: "Produce v3+ must carry exactly one record batch")
                }
                // Produce v0–v2 may carry several batches.
                var rest = records
                var chunks: [Chunk] = []
                var next = base
                while rest.readableBytes > 0 {
                    guard rest.readableBytes >= 17, let n = rest.getInteger(at: rest.readerIndex + 8, as: Int32.self),
                          n >= 0, Int(n) + 12 <= rest.readableBytes,
                          rest.getInteger(at: rest.readerIndex + 16, as: Int8.self) == 2 else {
                        throw ProduceRejection(code: .corruptMessage, reason: "truncated or mixed record batches")
                    }
                    let chunk = try RecordFormat.ingestV2(rest.readSlice(length: Int(n) + 12)!, baseOffset: next,
                                                          logAppendTime: logAppendTime, allowZstd: v >= 7)
                    next = chunk.lastOffset + 1
                    chunks.append(chunk)
                }
                return chunks
            }
            guard v < 3, magic <= 1 else {
                throw ProduceRejection(code: .invalidRecord, reason: "Produce v3+ must carry one batch v2")
            }
            return [try RecordFormat.convertToV2(records, baseOffset: base, logAppendTime: logAppendTime)]
        }
    }

    // MARK: Fetch

    func fetchPlan(_ v: Int16, _ body: inout ByteBuffer, _ forced: KafkaErrorCode?) throws -> Outcome {
        _ = try body.rInt32()
        let maxWait = try body.rInt32()
        let minBytes = try body.rInt32()
        let maxBytes = v >= 3 ? try body.rInt32() : Int32.max
        if v >= 4 { _ = try body.rInt8() }
        if v >= 7 { _ = try body.rInt32(); _ = try body.rInt32() }
        let topics = try body.rArray { b in
            (name: try b.rString(), partitions: try b.rArray { b in
                let p = try b.rInt32()
                if v >= 9 { _ = try b.rInt32() }
                let offset = try b.rInt64()
                if v >= 5 { _ = try b.rInt64() }
                return FetchPartition(partition: p, offset: offset, maxBytes: try b.rInt32())
            })
        }
        if v >= 7 { _ = try body.rArray { b in (try b.rString(), try b.rArray { try $0.rInt32() }) } }
        return .fetch(FetchPlan(version: v, maxWaitMs: maxWait, minBytes: minBytes, maxBytes: maxBytes,
                                topics: topics, forcedError: forced))
    }

    /// Builds the fetch response now. Returns whether it should be sent (enough bytes or an error);
    /// when not, and `waiter` is given, registers it to be called on the next append.
    func evaluateFetch(_ plan: FetchPlan, waiter: (@Sendable () -> Void)?) -> (ByteBuffer, Bool, Int?) {
        let v = plan.version
        var out = ByteBuffer()
        var budget = FetchBudget(remaining: Int(plan.maxBytes))
        var anyError = false
        var waiterId: Int? = nil
        lock.withLock {
            if v >= 1 { out.wInt32(0) }
            if v >= 7 { out.wError(.none); out.wInt32(0) }
            out.wInt32(Int32(plan.topics.count))
            for t in plan.topics {
                out.wString(t.name)
                out.wInt32(Int32(t.partitions.count))
                for fp in t.partitions {
                    var answer = fetchPartition(t.name, fp, version: v, forced: plan.forcedError, budget: &budget)
                    if answer.code != .none { anyError = true }
                    answer.write(into: &out, version: v)
                }
            }
            let ready = plan.maxWaitMs <= 0 || budget.total >= Int(plan.minBytes) || anyError
            if !ready, let waiter {
                nextWaiterId += 1
                waiters[nextWaiterId] = waiter
                waiterId = nextWaiterId
            }
        }
        let ready = plan.maxWaitMs <= 0 || budget.total >= Int(plan.minBytes) || anyError
        return (out, ready, waiterId)
    }

    /// The bytes a fetch may still return, and what it returns so far.
    struct FetchBudget {
        var remaining: Int
        var total = 0

        mutating func spend(_ n: Int) {
            remaining -= n
            total += n
        }
    }

    /// One partition's part of a fetch answer.
    struct PartitionFetch {
        var partition: Int32
        var code: KafkaErrorCode
        var highWatermark: Int64 = -1
        var logStart: Int64 = -1
        /// Stored batches as they are, or records converted down to an older message format.
        var slices: [ByteBuffer] = []
        var converted: ByteBuffer?

        mutating func write(into out: inout ByteBuffer, version v: Int16) {
            out.wInt32(partition)
            out.wError(code)
            out.wInt64(highWatermark)
            if v >= 4 { out.wInt64(highWatermark) }
            if v >= 5 { out.wInt64(logStart) }
            if v >= 4 { out.wInt32(-1) }  // aborted_transactions: null
            if var c = converted {
                out.wInt32(Int32(c.readableBytes))
                out.writeBuffer(&c)
            } else {
                out.wInt32(Int32(slices.reduce(0) { $0 + $1.readableBytes }))
                for s in slices { out.writeImmutableBuffer(s) }
            }
        }
    }

    /// Reads one requested partition within the budget (called with the lock held).
    private func fetchPartition(_ topicName: String, _ fp: FetchPartition, version v: Int16, forced: KafkaErrorCode?,
                                budget: inout FetchBudget) -> PartitionFetch {
        var answer = PartitionFetch(partition: fp.partition, code: forced ?? .none)
        guard answer.code == .none else { return answer }
        guard let topic = topics[topicName], fp.partition >= 0, Int(fp.partition) < topic.partitions.count else {
            answer.code = .unknownTopicOrPartition
            return answer
        }
        let log = topic.partitions[Int(fp.partition)]
        answer.highWatermark = log.highWatermark
        answer.logStart = log.logStartOffset
        if fp.offset < log.logStartOffset || fp.offset > log.logEndOffset {
            answer.code = .offsetOutOfRange
            return answer
        }
        guard fp.offset < log.highWatermark else { return answer }
        let limit = min(Int(fp.maxBytes), max(budget.remaining, 0))
        let downMagic: Int8? = config.version == .v2_2 ? (v < 2 ? 0 : v < 4 ? 1 : nil) : (v < 2 ? 0 : nil)
        if let magic = downMagic {
            var buf = ByteBuffer()
            var i = log.chunkIndex(for: fp.offset)
            while i < log.chunks.count && buf.readableBytes < limit {
                RecordFormat.downConvert(log.chunks[i], from: fp.offset, magic: magic, into: &buf)
                i += 1
            }
            if buf.readableBytes > limit { buf.moveWriterIndex(to: buf.readerIndex + limit) }
            answer.converted = buf
            budget.spend(buf.readableBytes)
        } else {
            answer.slices = log.read(from: fp.offset, maxBytes: limit, minOneBatch: budget.total == 0 && v >= 3)
            if v < 10 && answer.slices.contains(where: { Self.isZstd($0) }) {
                answer.slices = []
                answer.code = .unsupportedCompressionType
            }
            budget.spend(answer.slices.reduce(0) { $0 + $1.readableBytes })
        }
        return answer
    }

    static func isZstd(_ slice: ByteBuffer) -> Bool {
        guard let magic = slice.getInteger(at: slice.readerIndex + 16, as: Int8.self), magic == 2,
              let attributes = slice.getInteger(at: slice.readerIndex + 21, as: Int16.self) else { return false }
        return attributes & 7 == 4
    }

    func removeWaiter(_ id: Int) {
        lock.withLockVoid { waiters[id] = nil }
    }

    func wakeWaiters() {
        let all: [@Sendable () -> Void] = lock.withLock {
            let w = Array(waiters.values)
            waiters.removeAll()
            return w
        }
        for w in all { w() }
    }

    // MARK: ListOffsets

    func listOffsets(_ v: Int16, _ body: inout ByteBuffer, _ forced: KafkaErrorCode?) throws -> Outcome {
        _ = try body.rInt32()
        if v >= 2 { _ = try body.rInt8() }
        let request = try body.rArray { b in
            (try b.rString(), try b.rArray { b in
                let p = try b.rInt32()
                if v >= 4 { _ = try b.rInt32() }
                let ts = try b.rInt64()
                let maxNum = v == 0 ? try b.rInt32() : 1
                return (p, ts, maxNum)
            })
        }
        var out = ByteBuffer()
        if v >= 2 { out.wInt32(0) }
        lock.withLockVoid {
            out.wArray(request) { b, t in
                b.wString(t.0)
                b.wArray(t.1) { b, r in
                    let (p, target, maxNum) = r
                    b.wInt32(p)
                    var code = forced ?? .none
                    var log: PartitionLog? = nil
                    if code == .none {
                        if let topic = topics[t.0], p >= 0, Int(p) < topic.partitions.count {
                            log = topic.partitions[Int(p)]
                        } else {
                            code = .unknownTopicOrPartition
                        }
                    }
                    guard let log, code == .none else {
                        b.wError(code)
                        if v == 0 { b.wInt32(0) } else { b.wInt64(-1); b.wInt64(-1); if v >= 4 { b.wInt32(-1) } }
                        return
                    }
                    b.wError(.none)
                    if v == 0 {
                        var offsets: [Int64] = []
                        if target == -1 { offsets = [log.logEndOffset] }
                        else if target == -2 { offsets = [log.logStartOffset] }
                        else if log.lastAppendTime >= 0 && log.lastAppendTime <= target { offsets = [log.logEndOffset] }
                        else if target >= 0 { offsets = [log.logStartOffset] }
                        b.wArray(Array(offsets.prefix(Int(max(maxNum, 0))))) { $0.wInt64($1) }
                        return
                    }
                    var ts: Int64 = -1
                    var offset: Int64 = -1
                    if target == -1 {
                        offset = log.highWatermark
                    } else if target == -2 {
                        offset = log.logStartOffset
                    } else if let hit = log.offset(forTimestamp: target), hit.offset < log.highWatermark {
                        (offset, ts) = hit
                    }
                    b.wInt64(ts)
                    b.wInt64(offset)
                    if v >= 4 { b.wInt32(offset >= 0 ? 0 : -1) }
                }
            }
        }
        return .respond(out)
    }

    // MARK: OffsetForLeaderEpoch (one epoch, 0: its end is the log end)

    func offsetForLeaderEpoch(_ v: Int16, _ body: inout ByteBuffer, _ forced: KafkaErrorCode?) throws -> Outcome {
        let request = try body.rArray { b in
            (try b.rString(), try b.rArray { b in
                let p = try b.rInt32()
                if v >= 2 { _ = try b.rInt32() }
                return (p, try b.rInt32())
            })
        }
        var out = ByteBuffer()
        if v >= 2 { out.wInt32(0) }
        lock.withLockVoid {
            out.wArray(request) { b, t in
                b.wString(t.0)
                b.wArray(t.1) { b, r in
                    var code = forced ?? .none
                    var end: Int64 = -1
                    if code == .none {
                        if let topic = topics[t.0], r.0 >= 0, Int(r.0) < topic.partitions.count {
                            end = r.1 > 0 ? -1 : topic.partitions[Int(r.0)].logEndOffset
                        } else {
                            code = .unknownTopicOrPartition
                        }
                    }
                    b.wError(code)
                    b.wInt32(r.0)
                    if v >= 1 { b.wInt32(code == .none && r.1 <= 0 ? 0 : -1) }
                    b.wInt64(end)
                }
            }
        }
        return .respond(out)
    }

    // MARK: CreateTopics / DeleteTopics / DeleteRecords

    func createTopics(_ v: Int16, _ body: inout ByteBuffer, _ forced: KafkaErrorCode?) throws -> Outcome {
        let request = try body.rArray { b in
            let name = try b.rString()
            let partitions = try b.rInt32()
            let replication = try b.rInt16()
            let assignments = try b.rArray { b in (try b.rInt32(), try b.rArray { try $0.rInt32() }) }
            let configs = try b.rArray { b in (try b.rString(), try b.rNullableString()) }
            return (name, partitions, replication, assignments, configs)
        }
        _ = try body.rInt32()
        let validateOnly = v >= 1 ? try body.rBool() : false
        var results: [(String, KafkaErrorCode, String?)] = []
        lock.withLockVoid {
            for (name, partitions, replication, assignments, configs) in request {
                var code = forced ?? .none
                var message: String? = nil
                let count = assignments.isEmpty ? Int(partitions) : assignments.count
                var logAppend = false
                for (k, value) in configs where k == "message.timestamp.type" {
                    logAppend = value == "LogAppendTime"
                }
                if code != .none {
                } else if topics[name] != nil {
                    code = .topicAlreadyExists; message = "Topic '\(name)' already exists."
                } else if !DevKafkaTopic.isValidName(name) {
                    code = .invalidTopic; message = "Topic name '\(name)' is illegal"
                } else if count < 1 || count > 10_000 {
                    code = .invalidPartitions
                    message = count < 1 ? "Number of partitions must be larger than 0." : "sluice dev-kafka allows at most 10000 partitions."
                } else if assignments.isEmpty && replication != 1 && replication != -1 {
                    code = .invalidReplicationFactor
                    message = "Replication factor: \(replication) larger than available brokers: 1."
                } else if !validateOnly {
                    do { try createTopicLocked(DevKafkaTopic(name: name, partitions: count, logAppendTime: logAppend)) }
                    catch { code = .unknownServerError; message = "\(error)" }
                }
                results.append((name, code, message))
            }
        }
        var out = ByteBuffer()
        if v >= 2 { out.wInt32(0) }
        out.wArray(results) { b, r in
            b.wString(r.0); b.wError(r.1)
            if v >= 1 { b.wNullableString(r.2) }
        }
        return .respond(out)
    }

    func deleteTopics(_ v: Int16, _ body: inout ByteBuffer, _ forced: KafkaErrorCode?) throws -> Outcome {
        let names = try body.rArray { try $0.rString() }
        _ = try body.rInt32()
        var out = ByteBuffer()
        if v >= 1 { out.wInt32(0) }
        lock.withLockVoid {
            out.wArray(names) { b, name in
                b.wString(name)
                if let forced { b.wError(forced); return }
                if topics.removeValue(forKey: name) != nil {
                    try? persistence?.deleteTopic(name)
                    b.wError(.none)
                } else {
                    b.wError(.unknownTopicOrPartition)
                }
            }
        }
        return .respond(out)
    }

    func deleteRecords(_ v: Int16, _ body: inout ByteBuffer, _ forced: KafkaErrorCode?) throws -> Outcome {
        let request = try body.rArray { b in
            (try b.rString(), try b.rArray { b in (try b.rInt32(), try b.rInt64()) })
        }
        _ = try body.rInt32()
        var out = ByteBuffer()
        out.wInt32(0)
        lock.withLockVoid {
            out.wArray(request) { b, t in
                b.wString(t.0)
                b.wArray(t.1) { b, r in
                    b.wInt32(r.0)
                    guard forced == nil, let topic = topics[t.0], r.0 >= 0, Int(r.0) < topic.partitions.count else {
                        b.wInt64(-1); b.wError(forced ?? .unknownTopicOrPartition); return
                    }
                    let log = topic.partitions[Int(r.0)]
                    let target = r.1 == -1 ? log.highWatermark : r.1
                    guard target >= 0, target <= log.highWatermark else {
                        b.wInt64(-1); b.wError(.offsetOutOfRange); return
                    }
                    log.deleteRecords(before: target)
                    try? persistence?.setLogStart(topic: t.0, partition: Int(r.0), offset: log.logStartOffset)
                    b.wInt64(log.logStartOffset); b.wError(.none)
                }
            }
        }
        return .respond(out)
    }

    func initProducerId(_ v: Int16, _ body: inout ByteBuffer, _ forced: KafkaErrorCode?) throws -> Outcome {
        let transactionalId = try body.rNullableString()
        _ = try body.rInt32()
        let id: Int64 = lock.withLock { nextProducerId += 1; return nextProducerId }
        // Idempotent producers get an id; transactions are not supported.
        let forced = forced ?? (transactionalId != nil ? .transactionalIdAuthorizationFailed : nil)
        var out = ByteBuffer()
        out.wInt32(0)
        out.wError(forced ?? .none)
        out.wInt64(forced == nil ? id : -1)
        out.wInt16(forced == nil ? 0 : -1)
        return .respond(out)
    }

    // MARK: FindCoordinator / offsets

    func findCoordinator(_ v: Int16, _ body: inout ByteBuffer, _ forced: KafkaErrorCode?, _ endpoint: ListenerEndpoint) throws -> Outcome {
        _ = try body.rString()
        if v >= 1 { _ = try body.rInt8() }
        var out = ByteBuffer()
        if v >= 1 { out.wInt32(0) }
        out.wError(forced ?? .none)
        if v >= 1 { out.wNullableString(forced == nil ? nil : "injected failure") }
        out.wInt32(forced == nil ? nodeId : -1)
        out.wString(forced == nil ? endpoint.advertisedHost : "")
        out.wInt32(forced == nil ? endpoint.advertisedPort : -1)
        return .respond(out)
    }

    func offsetCommit(_ v: Int16, _ body: inout ByteBuffer, _ forced: KafkaErrorCode?) throws -> Outcome {
        let group = try body.rString()
        var generation: Int32 = -1
        var member = ""
        if v >= 1 { generation = try body.rInt32(); member = try body.rString() }
        if v >= 2 && v <= 4 { _ = try body.rInt64() }
        let request = try body.rArray { b in
            (try b.rString(), try b.rArray { b in
                let p = try b.rInt32()
                let offset = try b.rInt64()
                let epoch = v >= 6 ? try b.rInt32() : -1
                if v == 1 { _ = try b.rInt64() }
                return (p, offset, epoch, try b.rNullableString())
            })
        }
        var out = ByteBuffer()
        if v >= 3 { out.wInt32(0) }
        lock.withLockVoid {
            var groupError = forced
            if groupError == nil, let g = groups[group], !g.members.isEmpty || generation >= 0 {
                if g.members[member] == nil { groupError = .unknownMemberId }
                else if g.generation != generation { groupError = .illegalGeneration }
            } else if groupError == nil && generation >= 0 && groups[group] == nil {
                groupError = .unknownMemberId
            }
            out.wArray(request) { b, t in
                b.wString(t.0)
                b.wArray(t.1) { b, r in
                    b.wInt32(r.0)
                    var code = groupError ?? .none
                    if code == .none, topics[t.0] == nil || r.0 < 0 || Int(r.0) >= topics[t.0]!.partitions.count {
                        code = .unknownTopicOrPartition
                    }
                    if code == .none {
                        committed[group, default: [:]][t.0, default: [:]][r.0] = (r.1, r.3, r.2)
                        try? persistence?.saveOffsets(committed)
                    }
                    b.wError(code)
                }
            }
        }
        return .respond(out)
    }

    func offsetFetch(_ v: Int16, _ body: inout ByteBuffer, _ forced: KafkaErrorCode?) throws -> Outcome {
        let group = try body.rString()
        let request: [(String, [Int32])]? = v >= 2
            ? try body.rNullableArray { b in (try b.rString(), try b.rArray { try $0.rInt32() }) }
            : try body.rArray { b in (try b.rString(), try b.rArray { try $0.rInt32() }) }
        var out = ByteBuffer()
        if v >= 3 { out.wInt32(0) }
        lock.withLockVoid {
            let stored = committed[group] ?? [:]
            let wanted = request ?? stored.keys.sorted().map { ($0, stored[$0]!.keys.sorted()) }
            out.wArray(wanted) { b, t in
                b.wString(t.0)
                b.wArray(t.1) { b, p in
                    b.wInt32(p)
                    let c = forced == nil ? stored[t.0]?[p] : nil
                    b.wInt64(c?.offset ?? -1)
                    if v >= 5 { b.wInt32(c?.epoch ?? -1) }
                    b.wNullableString(c?.metadata ?? "")
                    b.wError(v < 2 ? (forced ?? .none) : .none)
                }
            }
            if v >= 2 { out.wError(forced ?? .none) }
        }
        return .respond(out)
    }
}
