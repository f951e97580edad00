import CRdKafka
import Foundation
import SluiceCore
import Synchronization
import SluiceJob

/// A Kafka topic as a source of windows: plans a window, reads exactly it, and commits its end offsets
/// to the consumer group. Wraps one librdkafka consumer whose blocking calls all run on a dedicated
/// queue, never on the cooperative pool.
///
/// Typical use by the runner (the application resolves the job's secret references first):
/// ```swift
/// let source = try KafkaSource(spec: job.source, settings: resolvedSettings)
/// let plan = try await source.plan(begin: .timestampMillis(s), end: .timestampMillis(e))
/// // store the plan, then
/// let summary = try await source.read(plan, options: ReadOptions(completion: job.source.completion)) { batch in
///     try await pipeline.consume(batch)          // batch valid only inside the closure
/// }
/// // after the destination committed:
/// try await source.commitGroupOffsets(summary.plan)
/// ```
///
/// No resolved secret leaves it: every error it throws, its notes and librdkafka's log lines have the
/// secret values of its settings replaced by `******`, whichever key held them.
public final class KafkaSource: WindowSource {
    public let topic: String
    public let bootstrapServers: [String]
    /// The consumer group end offsets are committed to; nil = never commit.
    public let groupId: String?
    /// Remarks about the kafkaConfig (ignored Java settings); for `validate` output. No secrets.
    public let notes: [String]
    let client: RdKafkaClient
    let scrubber: SecretScrubber
    /// One read at a time: a read owns the consumer's assignment.
    let reading = Mutex(false)

    /// - Parameters:
    ///   - settings: connection properties with their values resolved (secrets as `Secret`), passed
    ///     to librdkafka after translation of Java-style keys (`sasl.jaas.config`,
    ///     `ssl.endpoint.identification.algorithm`, …).
    ///   - requestTimeout: the bound on each metadata/offsets request (unreachable brokers fail in this time).
    public init(bootstrapServers: [String], topic: String, groupId: String? = nil,
                settings: [KafkaSetting] = [], requestTimeout: Duration = .seconds(15)) throws {
        guard !bootstrapServers.isEmpty else {
            throw SluiceError.invalid("no Kafka bootstrap servers given for topic \(topic)")
        }
        guard !topic.isEmpty else { throw SluiceError.invalid("no Kafka topic given") }
        let scrubber = SecretScrubber(settings: settings)
        do {
            let translated = try KafkaConfigTranslation.translate(settings)
            self.topic = topic
            self.bootstrapServers = bootstrapServers
            let group = groupId ?? translated.groupId
            self.groupId = group
            self.notes = translated.notes.map(scrubber.scrub)
            self.scrubber = SecretScrubber(scrubber.secrets + translated.properties.compactMap {
                if case .secret(let s) = $0.value { s.reveal() } else { nil }
            })
            client = try RdKafkaClient(bootstrapServers: bootstrapServers,
                                       groupId: group ?? "sluice-reader-\(UUID().uuidString.lowercased())",
                                       properties: translated.properties, scrubber: self.scrubber, timeout: requestTimeout)
        } catch {
            throw scrubber.scrub(error)
        }
    }

    /// A source for a job's Kafka settings: `settings` are the job's `security` block and
    /// `kafkaConfig`, resolved by the application.
    public convenience init(spec: KafkaSourceSpec, settings: [KafkaSetting], requestTimeout: Duration = .seconds(15)) throws {
        try self.init(bootstrapServers: spec.bootstrapServers, topic: spec.topic, groupId: spec.groupId,
                      settings: settings, requestTimeout: requestTimeout)
    }

    /// Runs `body`; an error it throws leaves with the secrets scrubbed out.
    func guarded<T>(_ body: () async throws -> T) async throws -> T {
        do { return try await body() } catch { throw scrubber.scrub(error) }
    }

    /// librdkafka's recent log lines (at most 50; no secrets), for `--verbose` output and bug reports.
    public var recentClientLogs: [String] { client.events.recentLogs }

    /// The topic's partition ids.
    public func partitions() async throws -> [Int32] {
        let client = client, topic = topic
        return try await guarded { try await client.run { try client.partitions(topic: topic) } }
    }

    /// The end offset (high watermark) of each of the topic's partitions: what a consumer that has
    /// read everything has reached. Consumer lag is this minus the offsets read.
    public func endOffsets() async throws -> [Int32: Int64] {
        let client = client, topic = topic
        return try await client.run {
            let partitions = try client.partitions(topic: topic)
            return try client.watermarks(topic: topic, partitions: partitions).mapValues(\.high)
        }
    }

    /// Plans a window: per partition `[fromOffset, toOffset)` with Kafka's offsets-for-times semantics
    /// (see `WindowPlanner`). `partitions` selects a subset (a partition the topic lacks is an error).
    public func plan(begin: PlanBegin, end: PlanEnd, partitions subset: [Int32]? = nil,
                     autoOffsetReset: AutoOffsetReset = .none,
                     plannedAtMillis: Int64 = Int64(Date().timeIntervalSince1970 * 1000)) async throws -> WindowPlan {
        if case .groupOffset = begin, groupId == nil {
            throw SluiceError.invalid("begin: groupOffset needs a groupId", hint: "set the source's groupId")
        }
        let client = client, topic = topic, groupId = groupId
        return try await guarded { try await client.run {
            let all = try client.partitions(topic: topic)
            var selected = all
            if let subset {
                let missing = subset.filter { !all.contains($0) }
                if !missing.isEmpty {
                    throw SluiceError(.kafka,
                        "topic \(topic) has no partition \(missing.map(String.init).joined(separator: ", ")) (it has \(all.count) partitions: \(all.first ?? 0)–\(all.last ?? 0))",
                        hint: "fix the source's partitions list")
                }
                selected = Array(Set(subset)).sorted()
            }
            let before = try client.watermarks(topic: topic, partitions: selected)
            var startLookup: [Int32: Int64] = [:], endLookup: [Int32: Int64] = [:]
            if case .timestampMillis(let s) = begin {
                startLookup = try client.offsetsForTimes(topic: topic, partitions: selected, millis: s)
            }
            if case .timestampMillis(let e) = end {
                endLookup = try client.offsetsForTimes(topic: topic, partitions: selected, millis: e)
            }
            var committed: [Int32: Int64?] = [:]
            if case .groupOffset = begin { committed = try client.committed(topic: topic, partitions: selected) }
            let after = try client.watermarks(topic: topic, partitions: selected)
            let facts = selected.map { p in
                PartitionFacts(partition: p, lowWatermark: after[p]!.low, highWatermark: after[p]!.high,
                               startLookup: startLookup[p], endLookup: endLookup[p],
                               committedOffset: committed[p] ?? nil, startFallback: before[p]!.high)
            }
            return try WindowPlanner.plan(topic: topic, begin: begin, end: end,
                                          topicPartitionCount: Int32(all.count), facts: facts,
                                          autoOffsetReset: autoOffsetReset, groupId: groupId,
                                          plannedAtMillis: plannedAtMillis)
        } }
    }

    /// Plans an instance of a job's source. `startMillis`/`endMillis` are the job's `time` or
    /// `timestampMillis` bounds resolved to epoch ms (required when the bound is one of those).
    /// Under `windowMode: contiguous`, `previousEndOffsets` (the last successful instance's
    /// `plan.endOffsets`) replaces the begin bound; nil (a first instance) keeps it.
    public func plan(for spec: KafkaSourceSpec, startMillis: Int64?, endMillis: Int64?,
                     previousEndOffsets: [Int32: Int64]? = nil,
                     plannedAtMillis: Int64 = Int64(Date().timeIntervalSince1970 * 1000)) async throws -> WindowPlan {
        var begin = try PlanBegin(spec.begin) { _ in
            guard let startMillis else { throw SluiceError.invalid("the window start of topic \(topic) was not resolved to a time") }
            return startMillis
        }
        if spec.windowMode == .contiguous, let previousEndOffsets { begin = .offsets(previousEndOffsets) }
        let end = try PlanEnd(spec.end) { _ in
            guard let endMillis else { throw SluiceError.invalid("the window end of topic \(topic) was not resolved to a time") }
            return endMillis
        }
        return try await plan(begin: begin, end: end, partitions: spec.partitions,
                              autoOffsetReset: spec.autoOffsetReset, plannedAtMillis: plannedAtMillis)
    }

    /// Reads the plan and hands the records to `deliver` in batches, in order per partition.
    ///
    /// Completion is by position: a partition is done when its position reaches `toOffset` (a record
    /// at or after it, or the end of the log there), so gaps, transaction markers and empty partitions
    /// end cleanly; records beyond `toOffset` are not delivered. Under `.idle(seconds, alsoStopAtLatest)`
    /// the read goes on past the planned end until no record arrived for `seconds` on `clock` (or, with
    /// `alsoStopAtLatest`, every partition is at its log end), and the returned plan is extended to
    /// the offsets actually read.
    ///
    /// The batch passed to `deliver` is valid only until the closure returns.
    /// Fails (without having delivered anything beyond the plan) on retention loss, a changed topic,
    /// authorization errors, a record without timestamp in a time window, or no progress for
    /// `options.stallTimeout`.
    public func read<C: Clock>(_ plan: WindowPlan, options: ReadOptions = ReadOptions(), clock: C,
                               deliver: (KafkaRecordBatch) async throws -> Void) async throws -> ReadSummary
    where C.Duration == Duration {
        try await guarded { try await readPlan(plan, options: options, clock: clock, deliver: deliver) }
    }

    private func readPlan<C: Clock>(_ plan: WindowPlan, options: ReadOptions, clock: C,
                                    deliver: (KafkaRecordBatch) async throws -> Void) async throws -> ReadSummary
    where C.Duration == Duration {
        guard plan.topic == topic else {
            throw SluiceError(.failed, "the plan is for topic \(plan.topic), this source reads \(topic)")
        }
        guard reading.withLock({ (busy: inout Bool) -> Bool in defer { busy = true }; return !busy }) else {
            throw SluiceError(.failed, "a read of topic \(topic) is already running on this source",
                              hint: "use one KafkaSource per concurrent read")
        }
        defer { reading.withLock { $0 = false } }
        let client = client, topic = topic
        let checked = try await client.run {
            let all = try client.partitions(topic: topic)
            let missing = plan.partitions.map(\.partition).filter { !all.contains($0) }
            if !missing.isEmpty || (options.failOnNewPartitions && all.count > Int(plan.topicPartitionCount)) {
                throw SluiceError(.kafka,
                    "topic \(topic) has \(all.count) partitions now, \(plan.topicPartitionCount) when the window was planned",
                    hint: missing.isEmpty ? "plan the instance again so the new partitions are read" : "the topic was recreated; plan the instance again")
            }
            let wm = try client.watermarks(topic: topic, partitions: plan.partitions.map(\.partition))
            return try WindowPlanner.revalidate(plan, watermarks: wm, autoOffsetReset: options.autoOffsetReset)
        }
        let session = try await client.run { () -> ReadSession in
            let s = try ReadSession(client: client, plan: checked, options: options)
            try s.start()
            return s
        }
        do {
            var idleSeconds: Double?
            var alsoStopAtLatest = false
            if case .idle(let s, let l) = options.completion { idleSeconds = s; alsoStopAtLatest = l }
            var lastRecord = clock.now
            var lastProgress = clock.now
            let first = try await client.run { try session.step(timeoutMs: 0) }
            var result = first
            while true {
                let now = clock.now
                if result.sawRecord { lastRecord = now }
                if result.progressed || result.plannedEndReached { lastProgress = now }
                if result.buffer.count > 0 {
                    try await deliver(KafkaRecordBatch(buffer: result.buffer))
                    result.buffer.release()
                    // Time spent by the caller is not a stall of the read.
                    lastProgress = clock.now
                }
                if result.plannedEndReached {
                    guard let idleSeconds else { break }
                    if alsoStopAtLatest && result.allAtLogEnd { break }
                    if lastRecord.duration(to: clock.now) >= .milliseconds(Int64(idleSeconds * 1000)) { break }
                } else if lastProgress.duration(to: clock.now) >= options.stallTimeout {
                    let after = options.stallTimeout
                    throw try await client.run { session.stallError(after: after) }
                }
                try Task.checkCancellation()
                // A connection to another broker may be refused mid-read (its certificate, say).
                if let fatal = client.events.fatal { throw fatal }
                result = try await client.run { try session.step(timeoutMs: 100) }
            }
            return try await client.run {
                let summary = session.summary()
                session.stop()
                return summary
            }
        } catch {
            _ = try? await client.run { session.stop() }
            throw error
        }
    }

    /// `read` with the continuous clock.
    public func read(_ plan: WindowPlan, options: ReadOptions = ReadOptions(),
                     deliver: (KafkaRecordBatch) async throws -> Void) async throws -> ReadSummary {
        try await read(plan, options: options, clock: ContinuousClock(), deliver: deliver)
    }

    /// Commits each partition's `toOffset` to the consumer group, so lag monitors show progress. Call it
    /// only after the destination committed; the group is never the source of truth. A no-op when the
    /// source has no `groupId`.
    public func commitGroupOffsets(_ plan: WindowPlan) async throws {
        guard groupId != nil else { return }
        let client = client, topic = topic
        let offsets = plan.partitions.map { (partition: $0.partition, offset: $0.toOffset) }
        guard !offsets.isEmpty else { return }
        try await guarded { try await client.run { try client.commit(topic: topic, offsets: offsets) } }
    }

    /// The group's committed offsets for the given partitions (nil where none).
    public func committedOffsets(partitions: [Int32]) async throws -> [Int32: Int64?] {
        let client = client, topic = topic
        return try await guarded { try await client.run { try client.committed(topic: topic, partitions: partitions) } }
    }
}
