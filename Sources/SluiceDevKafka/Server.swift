import Synchronization
import NIOCore
import NIOPosix
import SluiceCore
import Logging
import ServiceLifecycle
import UnixSignals

/// Splits the byte stream into Kafka request frames (int32 size, then the request). A negative
/// size or one above `socket.request.max.bytes` (100 MiB) closes the connection, as Kafka does;
/// on a SASL listener, so does one above 512 KiB before the client has authenticated.
struct KafkaFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer
    static let maxRequestSize = 104_857_600
    /// The connection's SASL state, on SASL listeners.
    var authenticator: SaslAuthenticator? = nil

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let size = buffer.getInteger(at: buffer.readerIndex, as: Int32.self) else { return .needMoreData }
        if let authenticator, !authenticator.isAuthenticated, Int(size) > SaslAuthenticator.maxUnauthenticatedFrame {
            throw WireError("frame of \(size) bytes before SASL authentication (at most \(SaslAuthenticator.maxUnauthenticatedFrame))")
        }
        guard size >= 0, Int(size) <= Self.maxRequestSize else {
            throw WireError("request size \(size) is out of range")
        }
        guard buffer.readableBytes >= 4 + Int(size) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 4)
        context.fireChannelRead(Self.wrapInboundOut(buffer.readSlice(length: Int(size))!))
        return .continue
    }
}

/// One client connection: requests are handled one at a time, in order (Kafka mutes a connection
/// while its request is in flight), and pipelined requests wait in a queue.
final class KafkaConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let core: BrokerCore
    let registry: ConnectionRegistry
    /// The listener the connection came through: its advertised address goes into Metadata.
    let endpoint: ListenerEndpoint
    /// The SASL exchange, on SASL listeners; requests are served once it has authenticated the client.
    let authenticator: SaslAuthenticator?
    var queue = CircularBuffer<ByteBuffer>()
    var busy = false
    /// The API of the request in flight (one at a time per connection).
    var currentApiKey: Int16 = -1
    var context: ChannelHandlerContext?
    /// Set by `close`: what the connection does after it (a TLS peer's unclean shutdown) is not logged.
    var closing = false
    var pendingFetch: (plan: FetchPlan, correlationId: Int32, deadline: NIODeadline, timer: Scheduled<Void>?, waiter: Int?)?

    init(core: BrokerCore, registry: ConnectionRegistry, endpoint: ListenerEndpoint, authenticator: SaslAuthenticator? = nil) {
        self.core = core
        self.registry = registry
        self.endpoint = endpoint
        self.authenticator = authenticator
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) {
        if let w = pendingFetch?.waiter { core.removeWaiter(w) }
        pendingFetch?.timer?.cancel()
        pendingFetch = nil
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        registry.add(context.channel)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        registry.remove(context.channel)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        close(context, "\(error)")
    }

    /// Closes the connection, after writing `last` when given, `delay` after it is written.
    func close(_ context: ChannelHandlerContext, _ reason: String, after last: ByteBuffer? = nil, delay: TimeAmount = .zero) {
        if closing { return }
        closing = true
        if let log = core.config.log {
            log("closing connection from \(context.remoteAddress.map { "\($0)" } ?? "?"): \(reason)")
        }
        guard let last else {
            context.close(promise: nil)
            return
        }
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(last)).whenComplete { _ in
            if delay > .zero {
                channel.eventLoop.scheduleTask(in: delay) { channel.close(promise: nil) }
            } else {
                channel.close(promise: nil)
            }
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        queue.append(unwrapInboundIn(data))
        processNext()
    }

    func processNext() {
        guard let context else { return }
        while !busy, let frame = queue.popFirst() {
            busy = true
            if let authenticator, !authenticator.isAuthenticated, !authenticate(frame, authenticator, context) {
                continue
            }
            var body = frame
            let header: RequestHeader
            do {
                // Request header v2 (flexible versions) adds tagged fields; nothing after the client id is read.
                header = RequestHeader(apiKey: try body.rInt16(), apiVersion: try body.rInt16(),
                                       correlationId: try body.rInt32(), clientId: try body.rNullableString())
            } catch {
                close(context, "unreadable request header: \(error)")
                return
            }
            currentApiKey = header.apiKey
            let outcome: Outcome
            do {
                outcome = try core.handle(header, &body, via: endpoint)
            } catch {
                close(context, "bad request (API \(header.apiKey) v\(header.apiVersion)): \(error)")
                return
            }
            switch outcome {
            case .respond(let response):
                send(response, correlationId: header.correlationId)
            case .noResponse:
                busy = false
            case .close(let reason):
                close(context, reason)
                return
            case .fetch(let plan):
                let wait = Int64(max(plan.maxWaitMs, 0))
                pendingFetch = (plan, header.correlationId, .now() + .milliseconds(wait), nil, nil)
                if wait > 0 {
                    let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
                    pendingFetch?.timer = context.eventLoop.scheduleTask(in: .milliseconds(wait)) {
                        loopBound.value.retryFetch(final: true)
                    }
                }
                retryFetch(final: false)
            case .deferred(let start):
                let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
                let loop = context.eventLoop
                let correlationId = header.correlationId
                start { response in
                    loop.execute { loopBound.value.send(response, correlationId: correlationId) }
                }
            }
        }
    }

    /// Runs a frame through the SASL exchange and answers it (a response, a raw token, or closing).
    /// Returns true when the broker should answer it as any request (ApiVersions).
    func authenticate(_ frame: ByteBuffer, _ authenticator: SaslAuthenticator, _ context: ChannelHandlerContext) -> Bool {
        var out = context.channel.allocator.buffer(capacity: 64)
        let next: SaslNext
        switch authenticator.receive(frame) {
        case .pass:
            return true
        case .close(let reason):
            close(context, reason)
            return false
        case .respond(let correlationId, let body, let then):
            out.wInt32(Int32(4 + body.readableBytes))
            out.wInt32(correlationId)
            out.writeImmutableBuffer(body)
            next = then
        case .token(let bytes, let then):
            out.wInt32(Int32(bytes.count))
            out.writeBytes(bytes)
            next = then
        }
        switch next {
        case .proceed:
            write(out)
        case .authenticated(let principal, let mechanism):
            core.config.log?("\(context.remoteAddress.map { "\($0)" } ?? "?") authenticated as \(principal) with \(mechanism.rawValue) on \(endpoint.listener.securityProtocol.rawValue)")
            write(out)
        case .close(let reason):
            // Kafka 2.2 closes a connection that failed authentication 100 ms after its answer
            // (connection.failed.authentication.delay.ms); 0.10.2 closes it at once.
            close(context, reason, after: out, delay: core.config.version == .v2_2 ? .milliseconds(100) : .zero)
        }
        return false
    }

    /// Answers the pending fetch if it has enough bytes, an error, or its wait is over; otherwise
    /// waits for the next append.
    func retryFetch(final: Bool) {
        guard let context, let pending = pendingFetch else { return }
        if let w = pending.waiter { core.removeWaiter(w) }
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let loop = context.eventLoop
        let (response, ready, waiter) = core.evaluateFetch(pending.plan, waiter: final ? nil : { @Sendable in
            loop.execute { loopBound.value.retryFetch(final: false) }
        })
        if ready || final || NIODeadline.now() >= pending.deadline {
            if let waiter { core.removeWaiter(waiter) }
            pending.timer?.cancel()
            pendingFetch = nil
            send(response, correlationId: pending.correlationId)
        } else {
            pendingFetch?.waiter = waiter
        }
    }

    func send(_ body: ByteBuffer, correlationId: Int32) {
        guard let context else { return }
        let apiKey = currentApiKey
        let delay = core.lock.withLock { core.apiDelays[apiKey] ?? core.responseDelay }
        var frame = context.channel.allocator.buffer(capacity: 8 + body.readableBytes)
        frame.wInt32(Int32(4 + body.readableBytes))
        frame.wInt32(correlationId)
        frame.writeImmutableBuffer(body)
        if delay > .zero {
            let frame = frame
            let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
            context.eventLoop.scheduleTask(in: delay) { loopBound.value.write(frame) }
        } else {
            write(frame)
        }
    }

    func write(_ frame: ByteBuffer) {
        guard let context else { return }
        context.writeAndFlush(wrapOutboundOut(frame), promise: nil)
        busy = false
        processNext()
    }
}

/// The open client connections, so that faults can drop them all.
final class ConnectionRegistry: Sendable {
    private let channels = Mutex<[ObjectIdentifier: Channel]>([:])
    private let refuseUntil = Mutex<NIODeadline?>(nil)

    func add(_ channel: Channel) {
        if let until = refuseUntil.withLock({ $0 }), NIODeadline.now() < until {
            channel.close(promise: nil)
            return
        }
        channels.withLock { $0[ObjectIdentifier(channel)] = channel }
    }
    func remove(_ channel: Channel) {
        _ = channels.withLock { $0.removeValue(forKey: ObjectIdentifier(channel)) }
    }
    func closeAll() -> Int {
        let all = channels.withLock { c -> [Channel] in
            let all = Array(c.values)
            c.removeAll()
            return all
        }
        for c in all { c.close(promise: nil) }
        return all.count
    }
    var count: Int { channels.withLock { $0.count } }
    func refuse(for duration: TimeAmount) {
        refuseUntil.withLock { $0 = .now() + duration }
    }
}

/// Compression for batches produced through the Swift API.
public enum DevKafkaCompression: Int8, Sendable, CaseIterable {
    case none = 0, gzip = 1, snappy = 2, lz4 = 3, zstd = 4
}

/// A Kafka-protocol development broker: one node, topics in memory, the wire behaviour of Kafka
/// 2.2 or 0.10.2, and fault injection for reliability tests.
///
/// ```swift
/// let broker = try await DevKafkaBroker.start(version: .v2_2, topics: [DevKafkaTopic(name: "events", partitions: 3)])
/// defer { Task { try? await broker.shutdown() } }
/// // bootstrap.servers = broker.bootstrapServers
/// ```
public final class DevKafkaBroker: Sendable {
    /// The address clients connect to (the first listener's advertised host).
    public let host: String
    /// The first listener's bound port (the chosen one when started with port 0).
    public let port: Int
    /// Every listener, in the order configured; the first is `host:port`.
    public let listeners: [DevKafkaBoundListener]
    /// Problems worth telling the operator that do not stop the broker (an expired certificate).
    public let warnings: [String]
    public let version: KafkaVersion
    let core: BrokerCore
    let registry: ConnectionRegistry
    let endpoints: [ListenerEndpoint]
    let group: EventLoopGroup
    let ownsGroup: Bool
    /// The listening sockets, one per endpoint (nil during an outage), and whether the broker was shut down.
    let listener: Mutex<(channels: [Channel?], shutDown: Bool, outage: Int)>
    /// Completed by `shutdown()`.
    let lifetime: EventLoopPromise<Void>

    /// `host:port`, for `bootstrap.servers` / `-b`.
    public var bootstrapServers: String { listeners[0].address }

    init(core: BrokerCore, registry: ConnectionRegistry, endpoints: [ListenerEndpoint], channels: [Channel],
         warnings: [String], group: EventLoopGroup, ownsGroup: Bool) {
        self.core = core
        self.registry = registry
        self.endpoints = endpoints
        self.listener = Mutex((channels, false, 0))
        self.lifetime = group.next().makePromise()
        self.group = group
        self.ownsGroup = ownsGroup
        self.listeners = endpoints.map(\.bound)
        self.host = listeners[0].host
        self.port = listeners[0].port
        self.warnings = warnings
        self.version = core.config.version
    }

    /// Starts a broker listening on `host:port` (0 picks a free port).
    public static func start(host: String = "127.0.0.1", port: Int = 0, version: KafkaVersion = .v2_2,
                             topics: [DevKafkaTopic] = [], autoCreateTopics: Bool = false,
                             clock: (@Sendable () -> Int64)? = nil) async throws -> DevKafkaBroker {
        try await start(DevKafkaConfiguration(host: host, port: port, version: version, topics: topics,
                                              autoCreateTopics: autoCreateTopics, clock: clock))
    }

    /// Starts a broker with a full configuration: its listeners are bound in order, and an invalid
    /// security setup (a TLS listener without a certificate, a SASL listener without users, files
    /// that cannot be read) throws invalid input before anything listens.
    public static func start(_ config: DevKafkaConfiguration, eventLoopGroup: EventLoopGroup? = nil) async throws -> DevKafkaBroker {
        // Reading the certificate files and deriving the SCRAM keys (PBKDF2) happen off the cooperative pool.
        let (endpoints, warnings) = try await NIOThreadPool.singleton.runIfActive { try ListenerEndpoint.make(config) }
        let group = eventLoopGroup ?? MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let core: BrokerCore
        do {
            core = try BrokerCore(config: config, scheduler: group)
        } catch {
            if eventLoopGroup == nil { try? await group.shutdownGracefully() }
            throw error
        }
        let registry = ConnectionRegistry()
        var channels: [Channel] = []
        for endpoint in endpoints {
            let listener = endpoint.listener
            do {
                let channel = try await makeBootstrap(group: group, core: core, registry: registry, endpoint: endpoint)
                    .bind(host: listener.host, port: listener.port).get()
                endpoint.bound(port: channel.localAddress?.port ?? listener.port)
                channels.append(channel)
            } catch {
                for channel in channels { try? await channel.close().get() }
                if eventLoopGroup == nil { try? await group.shutdownGracefully() }
                throw SluiceError(.failed, "dev-kafka cannot listen on \(listener): \(error)",
                                  hint: "pick another port, or 0 for a free one")
            }
        }
        let reaper = group.next().scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { [core] _ in
            core.expireMembers()
        }
        core.lock.withLockVoid { core.sessionReaper = reaper }
        return DevKafkaBroker(core: core, registry: registry, endpoints: endpoints, channels: channels, warnings: warnings,
                              group: group, ownsGroup: eventLoopGroup == nil)
    }

    /// Stops listening, closes every connection and, when the broker made it, its event loop.
    public func shutdown() async throws {
        let channels: [Channel] = listener.withLock { state in
            if state.shutDown { return [] }
            state.shutDown = true
            defer { state.channels = state.channels.map { _ in nil } }
            return state.channels.compactMap { $0 }
        }
        core.lock.withLock { core.sessionReaper }?.cancel()
        for channel in channels { try? await channel.close().get() }
        _ = registry.closeAll()
        lifetime.succeed(())
        if ownsGroup { try await group.shutdownGracefully() }
    }

    /// Completes when the broker is shut down.
    public func waitUntilClosed() async throws {
        try await lifetime.futureResult.get()
    }

    /// An outage: every connection is dropped and every listener refuses connections (ECONNREFUSED)
    /// for `milliseconds`, then the broker listens again on the same ports with its data intact.
    /// A new outage replaces the current one (`outage(milliseconds: 0)` ends it).
    public func outage(milliseconds: Int64) async {
        let (channels, round): ([Channel], Int) = listener.withLock { state in
            state.outage += 1
            defer { state.channels = state.channels.map { _ in nil } }
            return (state.channels.compactMap { $0 }, state.outage)
        }
        for channel in channels { try? await channel.close().get() }
        _ = registry.closeAll()
        for index in endpoints.indices {
            scheduleRelisten(index, round: round, after: .milliseconds(max(0, milliseconds)), attempts: 100)
        }
    }

    /// Whether the listeners accept connections (false during an outage and after shutdown).
    public var isListening: Bool { listener.withLock { $0.channels.allSatisfy { $0 != nil } } }

    private func scheduleRelisten(_ index: Int, round: Int, after delay: TimeAmount, attempts: Int) {
        group.next().scheduleTask(in: delay) { [self] in
            guard listener.withLock({ !$0.shutDown && $0.outage == round && $0.channels[index] == nil }) else { return }
            let endpoint = endpoints[index]
            let port = listeners[index].port
            Self.makeBootstrap(group: group, core: core, registry: registry, endpoint: endpoint)
                .bind(host: endpoint.listener.host, port: port).whenComplete { [self] result in
                switch result {
                case .success(let channel):
                    let keep = listener.withLock { state -> Bool in
                        guard !state.shutDown && state.outage == round else { return false }
                        state.channels[index] = channel
                        return true
                    }
                    if !keep { channel.close(promise: nil) }
                case .failure(let error):
                    core.config.log?("cannot listen again on port \(port): \(error)")
                    if attempts > 0 { scheduleRelisten(index, round: round, after: .milliseconds(100), attempts: attempts - 1) }
                }
            }
        }
    }

    // MARK: topics and records

    /// Creates a topic; throws when it exists.
    public func createTopic(_ topic: DevKafkaTopic) throws {
        try core.lock.withLock {
            guard core.topics[topic.name] == nil else {
                throw SluiceError(.invalidInput, "topic '\(topic.name)' already exists")
            }
            try core.createTopicLocked(topic)
        }
    }

    /// Appends records to one partition, as a producer would (CreateTime: each record's `timestamp`;
    /// LogAppendTime topics use the broker's clock), in batches under Kafka's `message.max.bytes`
    /// (uncompressed size), compressed with `compression` (Kafka 0.10.2: not zstd; its wrapper messages
    /// carry the compressed records). Returns the first assigned offset (the log end offset when
    /// `records` is empty).
    @discardableResult
    public func produce(topic: String, partition: Int32, records: [OwnedRecord],
                        compression: DevKafkaCompression = .none) throws -> Int64 {
        let codec = CompressionCodec(rawValue: compression.rawValue)!
        if codec == .zstd && version == .v0_10_2 {
            throw SluiceError(.invalidInput, "Kafka 0.10.2 has no zstd compression", hint: "use gzip, snappy or lz4")
        }
        if records.isEmpty {
            // Nothing to append: the offset the next record would get.
            guard let end = watermarks(topic: topic, partition: partition)?.high else {
                throw SluiceError(.invalidInput, "topic '\(topic)' has no partition \(partition)")
            }
            return end
        }
        let decoded = records.map { r in
            DecodedRecord(offset: 0, timestamp: r.timestamp, key: r.key.map { ByteBuffer(bytes: $0) },
                          value: r.value.map { ByteBuffer(bytes: $0) },
                          headers: r.headers.map { ($0.name, $0.value.map { ByteBuffer(bytes: $0) }) })
        }
        var groups: [[DecodedRecord]] = [[]]
        var size = 0
        for r in decoded {
            let n = 32 + (r.key?.readableBytes ?? 0) + (r.value?.readableBytes ?? 0)
                + r.headers.reduce(0) { $0 + 16 + $1.0.utf8.count + ($1.1?.readableBytes ?? 0) }
            if size + n > 900_000 && !groups[groups.count - 1].isEmpty {
                groups.append([])
                size = 0
            }
            groups[groups.count - 1].append(r)
            size += n
        }
        let base: Int64 = try core.lock.withLock {
            guard let t = core.topics[topic], partition >= 0, Int(partition) < t.partitions.count else {
                throw SluiceError(.invalidInput, "topic '\(topic)' has no partition \(partition)")
            }
            let log = t.partitions[Int(partition)]
            let first = log.logEndOffset
            let now = core.now
            for group in groups {
                let chunk: Chunk
                do {
                    if core.config.version == .v2_2 {
                        chunk = try RecordFormat.ingestV2(RecordFormat.encodeV2(baseOffset: 0, records: group, codec: codec),
                                                          baseOffset: log.logEndOffset, logAppendTime: t.logAppendTime ? now : nil,
                                                          allowZstd: true)
                    } else {
                        var set = ByteBuffer()
                        for (i, r) in group.enumerated() {
                            RecordFormat.encodeMessage(offset: Int64(i), magic: 1, attributes: 0, timestamp: r.timestamp,
                                                       key: r.key, value: r.value, into: &set)
                        }
                        if codec != .none {
                            let inner = try Codecs.compress(codec, Array(set.readableBytesView))
                            set.clear()
                            RecordFormat.encodeMessage(offset: Int64(group.count - 1), magic: 1, attributes: codec.rawValue,
                                                       timestamp: group.map(\.timestamp).max() ?? -1, key: nil,
                                                       value: ByteBuffer(bytes: inner), into: &set)
                        }
                        chunk = try RecordFormat.ingestV1(set, baseOffset: log.logEndOffset, logAppendTime: t.logAppendTime ? now : nil)
                    }
                } catch let r as ProduceRejection {
                    throw SluiceError(.invalidInput, "produce to \(topic)/\(partition) was refused: \(r.reason)")
                } catch {
                    throw SluiceError(.failed, "produce to \(topic)/\(partition) failed: \(error)")
                }
                try core.persistence?.append(chunk, topic: topic, partition: Int(partition))
                log.append(chunk, now: now)
            }
            return first
        }
        core.wakeWaiters()
        return base
    }

    /// The log start offset and the high watermark of a partition.
    public func watermarks(topic: String, partition: Int32) -> (low: Int64, high: Int64)? {
        core.lock.withLock {
            guard let t = core.topics[topic], partition >= 0, Int(partition) < t.partitions.count else { return nil }
            let log = t.partitions[Int(partition)]
            return (log.logStartOffset, log.highWatermark)
        }
    }

    /// The records of a partition from `offset` on, as consumers read them (timestamps of
    /// LogAppendTime topics are the append times; 0.10.2 records have no headers).
    public func records(topic: String, partition: Int32, from offset: Int64 = 0) throws -> [OwnedRecord] {
        let (chunks, logAppend, start) = try core.lock.withLock {
            guard let t = core.topics[topic], partition >= 0, Int(partition) < t.partitions.count else {
                throw SluiceError(.invalidInput, "topic '\(topic)' has no partition \(partition)")
            }
            let log = t.partitions[Int(partition)]
            return (Array(log.chunks[log.chunkIndex(for: offset)...]), t.logAppendTime, log.logStartOffset)
        }
        let type: TimestampType = logAppend ? .logAppendTime : .createTime
        return chunks.flatMap(RecordFormat.decode).filter { $0.offset >= max(offset, start) }.map { r in
            OwnedRecord(partition: partition, offset: r.offset, timestamp: r.timestamp, timestampType: type,
                        key: r.key.map { Array($0.readableBytesView) }, value: r.value.map { Array($0.readableBytesView) },
                        headers: r.headers.map { KafkaHeader(name: $0.0, value: $0.1.map { Array($0.readableBytesView) }) })
        }
    }

    /// Kafka's offset for a timestamp: the lowest offset whose record timestamp is ≥ `timestamp`,
    /// with that timestamp, or nil (Kafka answers -1) when no record qualifies.
    public func offset(forTimestamp timestamp: Int64, topic: String, partition: Int32) -> (offset: Int64, timestamp: Int64)? {
        core.lock.withLock {
            guard let t = core.topics[topic], partition >= 0, Int(partition) < t.partitions.count else { return nil }
            return t.partitions[Int(partition)].offset(forTimestamp: timestamp)
        }
    }

    /// The offset a group committed for a partition, if any.
    public func committedOffset(group: String, topic: String, partition: Int32) -> Int64? {
        core.lock.withLock { core.committed[group]?[topic]?[partition]?.offset }
    }

    // MARK: fault injection

    /// Closes every client connection now.
    @discardableResult
    public func dropAllConnections() -> Int { registry.closeAll() }

    /// The next `count` requests of API `apiKey` (0 Produce, 1 Fetch, 2 ListOffsets, 3 Metadata, …)
    /// are answered with `errorCode` (e.g. 6 NOT_LEADER_FOR_PARTITION, 7 REQUEST_TIMED_OUT) in every
    /// partition / top-level error field, without doing their work.
    public func failNextRequests(apiKey: Int16, count: Int, errorCode: Int16) {
        let code = KafkaErrorCode(rawValue: errorCode)
        core.lock.withLockVoid {
            core.failures[apiKey] = count > 0 ? InjectedFailure(remaining: count, code: code) : nil
        }
    }

    /// Responses wait `milliseconds` before they are sent: every response, or only those of API
    /// `apiKey` (which then overrides the general delay). 0 turns the delay off.
    public func delayResponses(milliseconds: Int64, apiKey: Int16? = nil) {
        core.lock.withLockVoid {
            let amount = TimeAmount.milliseconds(max(0, milliseconds))
            if let apiKey {
                core.apiDelays[apiKey] = milliseconds > 0 ? amount : nil
            } else {
                core.responseDelay = amount
            }
        }
    }

    /// New connections are closed at once for `milliseconds`.
    public func refuseConnections(milliseconds: Int64) {
        registry.refuse(for: .milliseconds(milliseconds))
    }

    /// Retention: records before `offset` are deleted; the log start offset moves there.
    public func deleteRecords(topic: String, partition: Int32, before offset: Int64) throws {
        try core.lock.withLock {
            guard let t = core.topics[topic], partition >= 0, Int(partition) < t.partitions.count else {
                throw SluiceError(.invalidInput, "topic '\(topic)' has no partition \(partition)")
            }
            let log = t.partitions[Int(partition)]
            log.deleteRecords(before: offset)
            try core.persistence?.setLogStart(topic: topic, partition: Int(partition), offset: log.logStartOffset)
        }
    }

    /// The number of open client connections.
    public var connectionCount: Int { registry.count }
}

/// The broker as a service of ServiceLifecycle: it serves until a graceful shutdown (SIGTERM or
/// SIGINT through the service group), then closes its listeners and connections. Its state is in
/// memory (or already written through to `--data-dir`), so a shutdown loses nothing.
public struct DevKafkaService: Service {
    public let broker: DevKafkaBroker

    public init(broker: DevKafkaBroker) { self.broker = broker }

    public func run() async throws {
        let broker = self.broker
        try await withGracefulShutdownHandler {
            try await broker.waitUntilClosed()
        } onGracefulShutdown: {
            Task { try? await broker.shutdown() }
        }
    }

    /// Serves until SIGTERM or SIGINT, then shuts the broker down.
    public func serve(logger: Logger) async throws {
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: [.init(service: self)],
                                                                           gracefulShutdownSignals: [.sigterm, .sigint],
                                                                           logger: logger))
        try await group.run()
        try await broker.shutdown()
    }
}
