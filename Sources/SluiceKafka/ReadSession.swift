import CRdKafka
import SluiceCore

/// What one consume step found (handed from the client's queue to the reading task).
struct StepResult: Sendable {
    /// Records to deliver (may be empty).
    var buffer: MessageBuffer
    /// A record (delivered or skipped) arrived.
    var sawRecord: Bool
    /// A not-finished partition made progress (a record or an end-of-log event).
    var progressed: Bool
    /// Every partition reached its planned end.
    var plannedEndReached: Bool
    /// Every partition is at the end of its log (for `alsoStopAtLatest`).
    var allAtLogEnd: Bool
}

/// The state of one read; used only on the client's queue.
final class ReadSession: @unchecked Sendable {
    struct PartitionState {
        var partition: Int32
        var from: Int64
        var to: Int64
        var position: Int64
        var reachedEnd: Bool
        var atLogEnd = false
        var stats: PartitionReadStats
    }

    let client: RdKafkaClient
    let plan: WindowPlan
    let options: ReadOptions
    let idle: Bool
    let queue: OpaquePointer
    let buffer: MessageBuffer
    /// Per-partition state, in plan order. Raw storage: the per-record loop then pays no dynamic
    /// exclusivity checks for class-stored arrays.
    let states: UnsafeMutableBufferPointer<PartitionState>
    /// partition id → index in `states`, −1 when not planned.
    let slot: UnsafeMutableBufferPointer<Int>
    var remaining: Int
    /// The consumer queue filled up to librdkafka's prefetch limit since the last wake-up, so its
    /// fetchers may be waiting (see `Prefetch`).
    var fetchersMayWait = false
    /// Records consumed and their value bytes: the average record size, to estimate the queue's bytes.
    var consumedRecords = 0
    var consumedValueBytes = 0

    init(client: RdKafkaClient, plan: WindowPlan, options: ReadOptions) throws {
        self.client = client
        self.plan = plan
        self.options = options
        if case .idle = options.completion { idle = true } else { idle = false }
        guard let q = rd_kafka_queue_get_consumer(client.handle) else {
            throw SluiceError(.kafka, "the Kafka consumer has no queue")
        }
        queue = q
        buffer = MessageBuffer(capacity: options.maxBatchSize)
        let initial = plan.partitions.map {
            PartitionState(partition: $0.partition, from: $0.fromOffset, to: $0.toOffset,
                           position: $0.fromOffset, reachedEnd: $0.isEmpty,
                           stats: PartitionReadStats(partition: $0.partition, position: $0.fromOffset))
        }
        states = .allocate(capacity: initial.count)
        _ = states.initialize(from: initial)
        let maxId = Int(plan.partitions.map(\.partition).max() ?? 0)
        slot = .allocate(capacity: maxId + 1)
        slot.initialize(repeating: -1)
        for (i, s) in initial.enumerated() { slot[Int(s.partition)] = i }
        remaining = states.filter { !$0.reachedEnd }.count
    }

    deinit {
        buffer.release()
        rd_kafka_queue_destroy(queue)
        states.deallocate()
        slot.deallocate()
    }

    /// Assigns the partitions that have something to read (all of them under `idle`).
    func start() throws {
        let toAssign = states.filter { idle || !$0.reachedEnd }.map { (partition: $0.partition, offset: $0.from) }
        if !toAssign.isEmpty { try client.assign(topic: plan.topic, offsets: toAssign) }
    }

    func stop() {
        buffer.release()
        client.unassign()
    }

    private func markReachedEnd(_ i: Int) {
        guard !states[i].reachedEnd else { return }
        states[i].reachedEnd = true
        remaining -= 1
        if !idle { client.pause(topic: plan.topic, partition: states[i].partition) }
    }

    /// What the messages of one step did to the read.
    struct StepTally {
        var kept = 0
        var sawRecord = false
        var progressed = false
        var failure: SluiceError?
    }

    /// Consumes up to one batch (waiting at most `timeoutMs`), filters it to the plan and counts it.
    func step(timeoutMs: Int32) throws -> StepResult {
        buffer.release()
        // The queue only grows between steps (this read is its only consumer), so its length now is
        // the most it held since the last step.
        let queuedBefore = Int(rd_kafka_queue_length(queue))
        let n = try consume(timeoutMs: timeoutMs)
        var tally = StepTally()
        for i in 0..<n {
            let m = buffer.messages[i].unsafelyUnwrapped
            buffer.messages[i] = nil
            if tally.failure == nil, admit(m, into: &tally) {
                buffer.messages[tally.kept] = m
                tally.kept += 1
            } else {
                rd_kafka_message_destroy(m)
            }
        }
        buffer.count = tally.kept
        if let failure = tally.failure {
            buffer.release()
            throw failure
        }
        wakeFetchersIfDrained(queuedBefore: queuedBefore)
        return StepResult(buffer: buffer, sawRecord: tally.sawRecord, progressed: tally.progressed,
                          plannedEndReached: remaining == 0,
                          allAtLogEnd: states.allSatisfy(\.atLogEnd))
    }

    /// Takes what is queued without waiting; only when nothing is, waits for one message (a batch
    /// call with a timeout would wait to fill the whole batch), then takes what followed it.
    private func consume(timeoutMs: Int32) throws -> Int {
        var n = rd_kafka_consume_batch_queue(queue, 0, buffer.messages, buffer.capacity)
        if n == 0 && timeoutMs > 0 {
            n = rd_kafka_consume_batch_queue(queue, timeoutMs, buffer.messages, 1)
            if n == 1 && buffer.capacity > 1 {
                let more = rd_kafka_consume_batch_queue(queue, 0, buffer.messages + 1, buffer.capacity - 1)
                if more > 0 { n += more }
            }
        }
        if n < 0 {
            throw SluiceError(.kafka, "reading topic \(plan.topic) from \(client.bootstrap) failed: \(client.describe(rd_kafka_last_error()))")
        }
        return n
    }

    /// Accounts one consumed message against the plan: true when it is delivered (kept), false when
    /// it is dropped (an event, outside the plan, a record skipped as exceeding the window, or an
    /// error, which goes into `tally.failure`).
    @inline(__always)
    private func admit(_ m: UnsafeMutablePointer<rd_kafka_message_t>, into tally: inout StepTally) -> Bool {
        let p = m.pointee.partition
        let idx = (p >= 0 && Int(p) < slot.count) ? slot[Int(p)] : -1
        let err = m.pointee.err
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            event(m, err: err, index: idx, into: &tally)
            return false
        }
        guard idx >= 0 else { return false }
        let off = m.pointee.offset
        if off < states[idx].position || (!idle && states[idx].reachedEnd) { return false }
        if !idle && off >= states[idx].to {
            states[idx].position = states[idx].to
            tally.progressed = true
            markReachedEnd(idx)
            return false
        }
        tally.sawRecord = true
        tally.progressed = true
        consumedRecords += 1
        consumedValueBytes += m.pointee.len
        let ts = rd_kafka_message_timestamp(m, nil)
        if plan.isByTime && ts < 0 {
            tally.failure = SluiceError(.kafka,
                "topic \(plan.topic) partition \(p) offset \(off) has no timestamp, but the window is by time",
                hint: "time windows need a broker ≥ 0.10 with message format ≥ 0.10 (log.message.format.version) and timestamps on the records; use begin/end offsets for this topic otherwise")
            return false
        }
        states[idx].position = off + 1
        states[idx].atLogEnd = false
        return deliver(timestamp: ts, index: idx)
    }

    /// Counts a record in the window's statistics; false when it is skipped (`skipExceedRecord`).
    @inline(__always)
    private func deliver(timestamp ts: Int64, index idx: Int) -> Bool {
        if let s = plan.startMillis, ts < s { states[idx].stats.late += 1 }
        var skip = false
        if let e = plan.endMillis, ts >= e {
            states[idx].stats.exceeding += 1
            if options.skipExceedRecord { states[idx].stats.skipped += 1; skip = true }
        }
        if states[idx].position >= states[idx].to { markReachedEnd(idx) }
        if !skip { states[idx].stats.delivered += 1 }
        return !skip
    }

    /// An event message: the end of a partition's log, or an error (kept in `tally.failure`).
    private func event(_ m: UnsafeMutablePointer<rd_kafka_message_t>, err: rd_kafka_resp_err_t, index idx: Int,
                       into tally: inout StepTally) {
        guard err == RD_KAFKA_RESP_ERR__PARTITION_EOF, idx >= 0 else {
            tally.failure = consumeError(m, index: idx)
            return
        }
        let off = m.pointee.offset
        if off > states[idx].position { states[idx].position = off }
        states[idx].atLogEnd = true
        if !states[idx].reachedEnd { tally.progressed = true }
        if off >= states[idx].to { markReachedEnd(idx) }
    }

    /// Wakes librdkafka's fetchers once the queue, after having reached a prefetch limit, is down to
    /// half of both limits (see `Prefetch`). The queue's bytes are estimated from the records seen.
    private func wakeFetchersIfDrained(queuedBefore: Int) {
        let limits = client.prefetch
        let averageBytes = consumedRecords > 0 ? Double(consumedValueBytes) / Double(consumedRecords) : 0
        if queuedBefore >= limits.messages * 9 / 10 || Double(queuedBefore) * averageBytes >= Double(limits.valueBytes) * 0.75 {
            fetchersMayWait = true
        }
        guard fetchersMayWait else { return }
        let queued = Int(rd_kafka_queue_length(queue))
        guard queued <= limits.messages / 2, Double(queued) * averageBytes <= Double(limits.valueBytes) / 2 else { return }
        let unfinished = states.filter { idle || !$0.reachedEnd }.map(\.partition)
        if client.wakeFetchers(topic: plan.topic, partitions: unfinished) { fetchersMayWait = false }
    }

    /// The error for a consumer error message; nil for errors librdkafka recovers from by itself.
    private func consumeError(_ m: UnsafeMutablePointer<rd_kafka_message_t>, index idx: Int) -> SluiceError? {
        let err = m.pointee.err
        let p = m.pointee.partition
        let position = idx >= 0 ? states[idx].position : m.pointee.offset
        let reason = rd_kafka_message_errstr(m).map { String(cString: $0) } ?? client.describe(err)
        switch err {
        case RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET, RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE:
            var detail = ""
            if let w = try? client.watermarks(topic: plan.topic, partition: p) {
                detail = idx >= 0 && position < w.low
                    ? ": offsets \(position)..<\(min(w.low, states[idx].to)) were deleted by retention (the log now starts at \(w.low))"
                    : " (the log now holds \(w.low)..<\(w.high))"
            }
            return SluiceError(.kafka, "topic \(plan.topic) partition \(p): offset \(position) is no longer in the log\(detail)",
                               hint: "the data of this window is gone from Kafka; rerun with autoOffsetReset: earliest to read what is retained")
        case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC, RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION,
             RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED,
             RD_KAFKA_RESP_ERR__AUTHENTICATION, RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED, RD_KAFKA_RESP_ERR__FATAL:
            let e = client.requestError(err, what: "read", topic: plan.topic, partition: p >= 0 ? p : nil)
            return SluiceError(.kafka, "\(e.message) (stopped at offset \(position)): \(reason)", hint: e.hint)
        default:
            // Transport errors, leader changes and the like: librdkafka retries; a stall fails the read.
            client.events.error(err, "partition \(p): \(reason)")
            return nil
        }
    }

    /// Explains why unfinished partitions make no progress.
    func stallError(after: Duration) -> SluiceError {
        let stuck = states.filter { !$0.reachedEnd }
        var lines: [String] = []
        for s in stuck {
            do {
                let w = try client.cachedWatermarks(topic: plan.topic, partition: s.partition)
                    ?? client.watermarks(topic: plan.topic, partition: s.partition)
                if w.high < s.to {
                    return SluiceError(.kafka,
                        "topic \(plan.topic) partition \(s.partition): the log ends at \(w.high), before the planned end \(s.to) (read up to \(s.position))",
                        hint: "the topic was truncated or recreated since the window was planned; plan the instance again")
                }
                lines.append("partition \(s.partition) at offset \(s.position) of \(s.to)")
            } catch let e as SluiceError {
                return SluiceError(.kafka, "reading topic \(plan.topic) partition \(s.partition) stopped at offset \(s.position) (planned end \(s.to)): \(e.message)",
                                   hint: e.hint)
            } catch {
                lines.append("partition \(s.partition) at offset \(s.position) of \(s.to)")
            }
        }
        let last = client.events.lastError.map { "; last error: \($0)" } ?? ""
        return SluiceError(.kafka,
            "reading topic \(plan.topic) from \(client.bootstrap) made no progress for \(after): \(lines.joined(separator: ", "))\(last)",
            hint: "check the brokers' health and the partitions' leaders; the instance can be rerun")
    }

    func summary() -> ReadSummary {
        var out = plan
        var stats: [PartitionReadStats] = []
        for (i, s) in states.enumerated() {
            var st = s.stats
            if idle {
                st.position = max(s.position, s.from)
                out.partitions[i].toOffset = max(s.to, st.position)
            } else {
                st.position = min(max(s.position, s.from), s.to)
            }
            stats.append(st)
        }
        return ReadSummary(plan: out, partitions: stats)
    }
}
