import Foundation
import SluiceCore
import SluiceKafka
import SluiceMaxCompute
import SluiceWarehouse

/// How to run one instance of a job.
public struct RunOptions: Sendable {
    /// The scheduled time (epoch seconds); nil = now.
    public var scheduledTime: Int64?
    /// Overrides the business date (backfill: `${…}` sees it, `$[…]` the scheduled time).
    public var businessDate: CivilDate?
    /// Plan and print, write nothing (not even the ledger).
    public var dryRun = false
    /// Plan again instead of replaying the instance's stored plan.
    public var replan = false
    /// Create the destination table when it does not exist.
    public var createTable = false
    /// Wait for another run of the same job and partition instead of failing.
    public var waitForLock = false
    /// In contiguous mode, let this instance take the offsets of earlier instances that have not run.
    public var allowGap = false
    /// The ledger directory; nil = `.sluice/` next to the job file.
    public var stateDirectory: String?
    public var showProgress = true
    /// How long a write waits for a locked destination (SQLite warehouse); nil = the sink's default (600 s).
    public var destinationLockTimeout: Double?
    /// Rows per batch handed to the destination.
    public var batchRows = 8192
    /// Run only as this attempt of the instance (the scheduler's claim): refused, changing nothing,
    /// when another process has made that attempt already.
    public var attempt: Int?
    /// Rerun an append instance whose rows are committed already into a destination that cannot
    /// replace them (MaxCompute): its rows are then added a second time.
    public var allowDuplicateAppend = false

    public init() {}
}

/// What a run did: the JSON of `sluice run --json` and the summary printed at the end.
public struct RunReport: Sendable, Codable {
    public struct Partition: Sendable, Codable {
        public var partition: Int32
        public var fromOffset: Int64
        public var toOffset: Int64
        public var lowWatermark: Int64
        public var highWatermark: Int64
        public var read: Int64?
        public var late: Int64?
        public var early: Int64?
        public var skipped: Int64?
        /// The offset after the last record read (past `toOffset` under idle completion).
        public var readEnd: Int64?
    }
    public struct Counts: Sendable, Codable {
        public var read: Int64 = 0
        public var written: Int64 = 0
        public var dirty: Int64 = 0
        public var late: Int64 = 0
        public var early: Int64 = 0
        public var skipped: Int64 = 0
        /// Values that `overLengthRule` truncated, set to NULL or kept whole.
        public var overLength: Int64 = 0
    }

    public var instanceId: Int64?
    public var job: String
    public var status: String
    public var scheduledTime: String
    public var businessDate: String
    public var parameters: [String: String]
    public var windowStart: String?
    public var windowEnd: String?
    public var windowMode: String
    public var topic: String
    public var destination: String
    public var partition: String
    public var replayedPlan: Bool
    public var plan: [Partition]
    public var records: Counts
    public var seconds: Double
    /// Where the time went, in seconds: start-up (ledger, instance, destination check, plan), reading
    /// with mapping and writing, the destination's commit, and the ledger's record of the outcome.
    public var phases: Phases?
    public var error: String?
    /// Set when the run found the instance's previous attempt committed to the destination but
    /// unrecorded (its process was killed): it recorded that attempt as succeeded and wrote nothing.
    public var settled: String?

    /// The phases of a run, in seconds (absent when the run did not get that far).
    public struct Phases: Sendable, Codable {
        /// Kafka client, ledger, run lock, instance row.
        public var setup: Double?
        /// The destination's table check (`prepare`) and the field program.
        public var destination: Double?
        /// Planning (or replaying) the window and storing the plan.
        public var plan: Double?
        /// Opening the partition for writing (an overwrite deletes the old rows here). It runs while
        /// the first records are read, so it overlaps `read`.
        public var open: Double?
        /// Reading, mapping and writing the records.
        public var read: Double?
        /// The destination's commit.
        public var commit: Double?
        /// Recording the outcome in the ledger and committing group offsets.
        public var finish: Double?
    }
}

/// Runs one instance: resolve parameters, plan and store the plan, read, map, write, commit, record
/// the outcome, commit group offsets. A failed run leaves the destination as it was.
public struct InstanceRunner: Sendable {
    public let job: LoadedJob
    public let options: RunOptions

    public init(job: LoadedJob, options: RunOptions = RunOptions()) {
        self.job = job
        self.options = options
    }

    var spec: JobSpec { job.spec }

    /// The resolved instance: parameters, window bounds, destination partition.
    public func resolve() throws -> (context: EvaluationContext, instance: ResolvedJobInstance) {
        let compiled = try CompiledJobParameters(job: spec)
        let now = Int64(Date().timeIntervalSince1970)
        let context = EvaluationContext(scheduledTime: options.scheduledTime ?? now, zone: compiled.zone,
                                        businessDate: options.businessDate, jobId: spec.name, nodeId: spec.name)
        return (context, try compiled.resolve(context))
    }

    /// The ledger directory of this job: `--state-dir`, else `.sluice/` next to the job file.
    public var stateDirectory: String {
        options.stateDirectory ?? (job.directory as NSString).appendingPathComponent(".sluice")
    }

    /// Runs the instance. Throws `SluiceError` (kind decides the exit code) after recording the
    /// failure in the ledger; the report of a successful run is returned.
    public func run() async throws -> RunReport {
        let started = ContinuousClock.now
        var lap = Stopwatch(started)
        var phases = RunReport.Phases()
        let (context, resolved) = try resolve()
        let partitionSpec = try PartitionSpec(parsing: resolved.partition)
        let zone = context.zone
        var report = RunReport(
            instanceId: nil, job: spec.name, status: "planned", scheduledTime: zone.iso8601(context.scheduledTime),
            businessDate: context.businessDate.compact,
            parameters: Dictionary(resolved.parameters.pairs.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a }),
            windowStart: nil, windowEnd: nil, windowMode: spec.source.windowMode.rawValue, topic: spec.source.topic,
            destination: "\(spec.destination.kind.typeName):\(spec.destination.table)", partition: partitionSpec.description,
            replayedPlan: false, plan: [], records: RunReport.Counts(), seconds: 0, error: nil)
        if case .instant(let ms) = resolved.begin { report.windowStart = zone.iso8601(millis: ms) }
        if case .instant(let ms) = resolved.end { report.windowEnd = zone.iso8601(millis: ms) }

        let source = try KafkaSource(spec: spec.source, secretsDirectory: job.directory)
        let sink = try SinkFactory.make(job: job, createTable: options.createTable,
                                        lockTimeoutSeconds: options.destinationLockTimeout)
        var readOptions = ReadOptions(completion: spec.source.completion, skipExceedRecord: spec.source.skipExceedRecord,
                                      autoOffsetReset: spec.source.autoOffsetReset)

        if options.dryRun {
            let plan = try await source.plan(begin: try planBegin(resolved.begin, previous: nil), end: planEnd(resolved.end),
                                             partitions: spec.source.partitions, autoOffsetReset: spec.source.autoOffsetReset)
            report.plan = plan.partitions.map(Self.partitionReport)
            report.seconds = started.duration(to: .now).seconds
            return report
        }

        let ledger = try await Ledger.open(stateDirectory: stateDirectory)
        let scheduledAt = Date(timeIntervalSince1970: Double(context.scheduledTime))
        let known = try await ledger.instance(job: spec.name, scheduledAt: scheduledAt)
        let lock = try await RunLock.acquire(stateDirectory: stateDirectory, job: spec.name,
                                             partition: partitionSpec.description, instanceId: known.map { String($0.id) },
                                             wait: options.waitForLock)
        defer { lock.release() }
        if let current = try await ledger.instance(job: spec.name, scheduledAt: scheduledAt),
           let settled = try await settleEarlierAttempt(current, ledger: ledger, sink: sink) {
            report.instanceId = settled.record.id
            report.status = settled.record.status.rawValue
            report.records = RunReport.Counts(instance: settled.record.counts)
            report.settled = settled.note
            report.seconds = started.duration(to: .now).seconds
            await ledger.close()
            return report
        }
        let described = NewInstance(
            job: spec.name, scheduledAt: scheduledAt,
            businessDate: context.businessDate.compact, parameters: report.parameters,
            windowStart: resolved.begin.date, windowEnd: resolved.end.date, partition: partitionSpec.description)
        let instance = if let attempt = options.attempt {
            try await ledger.startAttempt(described, number: attempt)
        } else {
            try await ledger.startAttempt(described)
        }
        report.instanceId = instance.id
        phases.setup = lap.next()
        let progress = RunProgress(enabled: options.showProgress && isatty(STDERR_FILENO) != 0)
        var writer: (any PartitionWriter)?
        // The partition being opened while the first records are read (see below).
        var opening: Task<(writer: any PartitionWriter, seconds: Double), any Error>?
        // The batch being written while the next is read (see below).
        var pendingWrite: Task<Void, any Error>?
        // Past this point the rows are in the destination, whatever happens to the ledger.
        var destinationCommitted = false
        do {
            // The destination is checked before any record is read.
            let columns = try await destinationColumns(sink: sink)
            try await sink.prepare(columns: columns.mapped, partitionKeys: partitionSpec.keys)
            let program = try FieldProgram(table: columns.table, mapping: spec.mapping, options: FieldProgramOptions(job: spec))
            phases.destination = lap.next()

            // The plan: replayed when stored, else computed and stored before reading.
            var plan: WindowPlan
            if !options.replan, let stored = try await ledger.plan(id: instance.id) {
                plan = stored.windowPlan
                report.replayedPlan = true
                // A run that read past its planned end (idle completion) is replayed up to where it
                // actually stopped, by position, so the rerun writes the same records.
                if !stored.readEnds.isEmpty {
                    for i in plan.partitions.indices {
                        if let end = stored.readEnds[plan.partitions[i].partition] {
                            plan.partitions[i].toOffset = max(plan.partitions[i].toOffset, end)
                        }
                    }
                    readOptions.completion = .endOffset
                }
            } else {
                let previous = try await contiguousStart(ledger: ledger, context: context)
                plan = try await source.plan(begin: try planBegin(resolved.begin, previous: previous), end: planEnd(resolved.end),
                                             partitions: spec.source.partitions, autoOffsetReset: spec.source.autoOffsetReset)
                // A contiguous plan starts at offsets, but its window is still the time bounds: records
                // before the start are counted late, at or after the end early.
                if plan.startMillis == nil, case .instant(let ms) = resolved.begin { plan.startMillis = ms }
                if plan.endMillis == nil, case .instant(let ms) = resolved.end { plan.endMillis = ms }
                try await ledger.storePlan(id: instance.id, plan: plan, windowMode: spec.source.windowMode)
            }
            FaultInjection.reach("after-plan")
            report.plan = plan.partitions.map(Self.partitionReport)
            progress.planned(plan.partitions.map { ($0.partition, $0.fromOffset, $0.toOffset) })
            phases.plan = lap.next()

            let provenance = WriteProvenance(job: spec.name, instanceId: String(instance.id), attempt: instance.attempts,
                                             ledgerId: ledger.id, windowStartMillis: plan.startMillis, windowEndMillis: plan.endMillis,
                                             topic: plan.topic,
                                             offsets: plan.partitions.map { PartitionOffsets(partition: $0.partition, from: $0.fromOffset, to: $0.toOffset) })
            // The partition is opened while the first records are read and mapped: opening an
            // overwrite deletes the partition's old rows in the write transaction, which takes a while
            // for a large partition. The first write waits for it.
            let writeMode = spec.destination.writeMode, writeColumns = program.columns
            let openTask = Task { () -> (writer: any PartitionWriter, seconds: Double) in
                let started = ContinuousClock.now
                let w = try await sink.open(partition: partitionSpec, mode: writeMode, columns: writeColumns,
                                            provenance: provenance)
                return (w, started.duration(to: .now).seconds)
            }
            opening = openTask
            var dirty = DirtyCollector(limit: spec.settings.errorLimit)
            var rows = RowBatch(columns: program.columns, reservingRows: options.batchRows)
            let batchRows = options.batchRows
            let instanceId = instance.id
            // Rows handed to the writer: what the commit record says the attempt writes.
            var handed: Int64 = 0
            // One batch is written while the next is read and mapped: the destination's work (SQLite
            // runs on its own queue) overlaps reading instead of adding to it. At most two batches
            // are in memory, so memory stays bounded by the batch size.
            let summary = try await source.read(plan, options: readOptions) { batch in
                progress.advance(by: batch)
                do {
                    try await program.runSplit(batch, into: &rows, dirty: &dirty)
                } catch {
                    _ = try await ledger.addDirtyRecords(id: instanceId, dirty.takeRecords().map(Self.ledgerRecord))
                    throw error
                }
                let kept = dirty.takeRecords()
                if !kept.isEmpty { _ = try await ledger.addDirtyRecords(id: instanceId, kept.map(Self.ledgerRecord)) }
                if rows.rowCount >= batchRows {
                    if let previous = pendingWrite {
                        pendingWrite = nil
                        try await previous.value
                    }
                    let full = rows
                    // The next batch's arena starts at the size this one reached.
                    rows = RowBatch(columns: program.columns, reservingRows: batchRows, bytes: full.arenaBytes)
                    handed += Int64(full.rowCount)
                    pendingWrite = Task { try await openTask.value.writer.write(full) }
                }
            }
            if let previous = pendingWrite {
                pendingWrite = nil
                try await previous.value
            }
            let (openWriter, openSeconds) = try await openTask.value
            writer = openWriter
            opening = nil
            phases.open = openSeconds
            FaultInjection.reach("after-open")
            if rows.rowCount > 0 {
                handed += Int64(rows.rowCount)
                try await openWriter.write(rows)
            }
            phases.read = lap.next()
            try dirty.finish()
            progress.finish()

            report.plan = summary.plan.partitions.map { p in
                var r = Self.partitionReport(p)
                if let s = summary.partitions.first(where: { $0.partition == p.partition }) {
                    r.read = s.delivered
                    r.late = s.late
                    r.early = s.exceeding
                    r.skipped = s.skipped
                    r.readEnd = s.position
                }
                return r
            }
            report.records.read = summary.delivered + summary.skipped
            report.records.dirty = Int64(dirty.dirtyCount)
            report.records.overLength = Int64(dirty.overLengthCount)
            report.records.late = summary.late
            report.records.early = summary.exceeding
            report.records.skipped = summary.skipped

            // The commit record goes to the ledger before the destination commits: a run killed
            // between the two is settled from the destination by the next run or the scheduler.
            let readEnds = summary.partitions.reduce(into: [Int32: Int64]()) { $0[$1.partition] = $1.position }
            var counts = report.records.ledgerCounts
            counts.written = handed
            try await ledger.prepareCommit(CommitRecord(
                instanceId: instance.id, attempt: instance.attempts, mode: writeMode, destination: report.destination,
                partition: partitionSpec.description, token: openWriter.commitToken, counts: counts, readEnds: readEnds))
            FaultInjection.reach("before-commit")
            let committed = try await openWriter.commit(WriteOutcome(
                read: counts.read, dirty: counts.dirty, late: counts.late, early: counts.early, skipped: counts.skipped,
                readEnds: summary.plan.partitions.map {
                    PartitionOffsets(partition: $0.partition, from: $0.fromOffset, to: readEnds[$0.partition] ?? $0.toOffset)
                }))
            writer = nil
            destinationCommitted = true
            FaultInjection.reach("after-commit")
            phases.commit = lap.next()
            report.records.written = committed.rowsWritten
            report.status = "succeeded"
            report.seconds = started.duration(to: .now).seconds
            try await ledger.finishCommitted(id: instance.id, attempt: instance.attempts, counts: report.records.ledgerCounts,
                                             readEnds: readEnds)
            FaultInjection.reach("after-finish")
            do {
                try await source.commitGroupOffsets(summary.plan)
            } catch {
                try? await ledger.appendLog(id: instance.id, level: .warning,
                                            "group offsets not committed to \(spec.source.groupId ?? ""): \(error)")
            }
            await ledger.close()
            phases.finish = lap.next()
            report.phases = phases
            return report
        } catch {
            progress.finish()
            if let pendingWrite { _ = try? await pendingWrite.value }
            if writer == nil, let opening { writer = try? await opening.value.writer }
            if let writer { await writer.abort() }
            let message = (error as? SluiceError)?.description ?? "\(error)"
            report.status = "failed"
            report.error = message
            report.phases = phases
            if destinationCommitted {
                // The rows are committed: the attempt stays unsettled, and the next run or the
                // scheduler records it as succeeded from the destination.
                try? await ledger.appendLog(id: instance.id, level: .error,
                                            "the destination committed but the ledger could not record it: \(message)")
            } else {
                _ = try? await ledger.finish(id: instance.id, status: .failed, counts: report.records.ledgerCounts, error: message)
                try? await ledger.appendLog(id: instance.id, level: .error, message)
            }
            await ledger.close()
            throw RunFailure(report: report, error: error as? SluiceError ?? SluiceError(.failed, message))
        }
    }

    /// Before a new attempt: settles the instance's last attempt when it ended without recording its
    /// outcome (see `CommitSettlement`), and refuses what would add an instance's rows twice to a
    /// destination that cannot replace them. Returns the settled instance when nothing is to run.
    func settleEarlierAttempt(_ current: InstanceRecord, ledger: Ledger, sink: any Sink) async throws
        -> (record: InstanceRecord, note: String)? {
        let appendOnce = spec.destination.writeMode == .append && !sink.replacesEarlierAppends && !options.allowDuplicateAppend
        switch try await CommitSettlement.settle(current, ledger: ledger, sink: sink) {
        case .settled(let record, let note):
            return (record, note)
        case .unknown(let why) where appendOnce:
            throw SluiceError(.state, "instance \(current.id) of \(spec.name): cannot tell whether attempt \(current.attempts) committed its append: \(why)",
                              hint: "check the partition; then `sluice instance set-success \(current.id)` if its rows are there, or run again with --allow-duplicate-append")
        case .unknown, .notCommitted, .nothingToSettle:
            break
        }
        if appendOnce, try await CommitSettlement.hasCommittedAppend(current, ledger: ledger) {
            throw SluiceError.invalid("instance \(current.id) of \(spec.name) has already appended its rows to \(spec.destination.kind.typeName) table \(spec.destination.table), which cannot remove them: running it again would add them twice",
                                      hint: "pass --allow-duplicate-append to append them again anyway, or use writeMode: overwrite")
        }
        return nil
    }

    /// The table's columns (all of them: unmapped ones get NULL) and the mapped ones, in order.
    func destinationColumns(sink: any Sink) async throws -> (table: [ColumnSpec], mapped: [ColumnSpec]) {
        let existing = try await sink.tableColumns()
        var mapping = spec.mapping
        if spec.destination.columns == ["*"] {
            guard let existing else {
                throw SluiceError(.destination, "destination table \(spec.destination.table) does not exist, and `column: [\"*\"]` needs its columns",
                                  hint: "create it first (sluice ddl JOB --apply) or list the columns")
            }
            guard existing.count >= mapping.count else {
                throw SluiceError.invalid("\(mapping.count) source fields for the \(existing.count) columns of \(spec.destination.table)")
            }
            for i in mapping.indices { mapping[i].to = existing[i].name }
        }
        let mapped = mapping.map { m -> ColumnSpec in
            let name = m.to ?? ""
            if let c = existing?.first(where: { $0.name.lowercased() == name.lowercased() }) { return c }
            return ColumnSpec(name: name, type: spec.destination.columnTypes[name] ?? TableDDL.defaultType(forSourceField: m.from))
        }
        return (existing ?? mapped, mapped)
    }

    /// In contiguous mode, the previous successful instance's end offsets (and a gap check).
    func contiguousStart(ledger: Ledger, context: EvaluationContext) async throws -> [Int32: Int64]? {
        guard spec.source.windowMode == .contiguous else { return nil }
        guard let (previous, ends) = try await ledger.previousSuccessfulEnd(job: spec.name, before: context.scheduledDate) else { return nil }
        if !options.allowGap, let schedule = spec.schedule {
            let calendar = try InstanceCalendar(schedule, zone: context.zone)
            let from = Int64(previous.scheduledAt.timeIntervalSince1970) + 1
            let missing = calendar.instances(from: from, to: context.scheduledTime).filter { !$0.isDryRun }
            if !missing.isEmpty {
                let names = missing.prefix(5).map { context.zone.iso8601($0.scheduledTime) }.joined(separator: ", ")
                throw SluiceError(.state,
                    "contiguous window gap: \(missing.count) earlier instance(s) of \(spec.name) have not succeeded (\(names)\(missing.count > 5 ? ", …" : "")); their records would land in this partition",
                    hint: "run them first (sluice run --at …), or pass --allow-gap to take their records into this instance")
            }
        }
        return ends.isEmpty ? nil : ends
    }

    func planBegin(_ bound: ResolvedBound, previous: [Int32: Int64]?) throws -> PlanBegin {
        if let previous { return .offsets(previous) }
        switch bound {
        case .instant(let ms): return .timestampMillis(ms)
        case .offset(let o): return .offset(o)
        case .earliest: return .earliest
        case .latest: return .latest
        case .groupOffset: return .groupOffset
        }
    }

    func planEnd(_ bound: ResolvedBound) throws -> PlanEnd {
        switch bound {
        case .instant(let ms): return .timestampMillis(ms)
        case .offset(let o): return .offset(o)
        case .latest: return .latest
        case .earliest, .groupOffset:
            throw SluiceError.invalid("a window cannot end at \(bound)")
        }
    }

    static func ledgerRecord(_ d: DirtyRecord) -> LedgerDirtyRecord {
        LedgerDirtyRecord(partition: d.partition, offset: d.offset, timestampMillis: d.timestamp, column: d.column,
                          reason: d.reason.description, key: d.key, value: d.value)
    }

    static func partitionReport(_ p: PartitionPlan) -> RunReport.Partition {
        RunReport.Partition(partition: p.partition, fromOffset: p.fromOffset, toOffset: p.toOffset,
                            lowWatermark: p.lowWatermark, highWatermark: p.highWatermark)
    }
}

/// A run that failed: the report (with the error) and the error that decides the exit code.
public struct RunFailure: Error, CustomStringConvertible, Sendable {
    public var report: RunReport
    public var error: SluiceError
    public var description: String { error.description }
}

extension ResolvedBound {
    var date: Date? {
        if case .instant(let ms) = self { return Date(timeIntervalSince1970: Double(ms) / 1000) }
        return nil
    }
}

extension RunReport.Counts {
    init(instance k: InstanceCounts) {
        self.init(read: k.read, written: k.written, dirty: k.dirty, late: k.late, early: k.early, skipped: k.skipped)
    }

    var ledgerCounts: InstanceCounts {
        InstanceCounts(read: read, written: written, dirty: dirty, late: late, early: early, skipped: skipped)
    }
}

/// Successive laps of a run, in seconds.
struct Stopwatch {
    private var last: ContinuousClock.Instant

    init(_ start: ContinuousClock.Instant) { last = start }

    /// The seconds since the previous lap (or the start).
    mutating func next() -> Double {
        let now = ContinuousClock.now
        defer { last = now }
        return last.duration(to: now).seconds
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
