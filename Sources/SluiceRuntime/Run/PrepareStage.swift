import Foundation
import SluiceCore
import SluiceScheduling
import SluiceJob
import SluiceMapping
import SluiceLedger

/// The instance a run is about: its evaluation context, resolved parameters and bounds, the
/// destination partition, and the report it fills in as it goes.
struct ResolvedRun: Sendable {
    var context: EvaluationContext
    var resolved: ResolvedJobInstance
    var partition: PartitionSpec
    var report: RunReport

    var scheduledAt: Date { Date(timeIntervalSince1970: Double(context.scheduledTime)) }
}

/// Stage 1 of a run: resolves the instance, takes the ledger and the run lock, settles an earlier
/// attempt that ended without recording its outcome, and starts the attempt.
struct PrepareStage {
    let runner: InstanceRunner
    var spec: JobSpec { runner.job.spec }
    var options: RunOptions { runner.options }

    /// What the stage hands on: the started attempt, or the report of an earlier attempt it settled
    /// (then nothing is to run).
    enum Outcome {
        case started(ledger: any Ledger, lock: any HeldRunLock, instance: InstanceRecord)
        case settled(RunReport)
    }

    /// The resolved instance and its report skeleton. Pure: no I/O.
    func resolve() throws -> ResolvedRun {
        let (context, resolved) = try runner.resolve()
        let partition = try PartitionSpec(parsing: resolved.partition)
        let zone = context.zone
        var report = RunReport(
            instanceId: nil, job: spec.name, status: "planned", scheduledTime: zone.iso8601(context.scheduledTime),
            businessDate: context.businessDate.compact,
            parameters: Dictionary(resolved.parameters.pairs.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a }),
            windowStart: nil, windowEnd: nil, windowMode: spec.source.windowMode.rawValue, topic: spec.source.topic,
            destination: "\(spec.destination.kind.typeName):\(spec.destination.table)", partition: partition.description,
            replayedPlan: false, plan: [], records: RunReport.Counts(), seconds: 0, error: nil)
        if case .instant(let ms) = resolved.begin { report.windowStart = zone.iso8601(millis: ms) }
        if case .instant(let ms) = resolved.end { report.windowEnd = zone.iso8601(millis: ms) }
        return ResolvedRun(context: context, resolved: resolved, partition: partition, report: report)
    }

    /// Opens the ledger, takes the run lock of the job's partition and starts the attempt, after
    /// settling the instance's previous attempt when that is all there is to do.
    func start(_ run: ResolvedRun, sink: any Sink) async throws -> Outcome {
        let ledger = try await Ledgers.open(runner.ledgerLocation, origin: .thisProcess(launchedBy: options.launchedBy))
        let lock: any HeldRunLock
        do {
            let known = try await ledger.instance(job: spec.name, scheduledAt: run.scheduledAt)
            lock = try await ledger.runLocks.acquire(job: spec.name, partition: lockKey(run),
                                                     instanceId: known.map { String($0.id) }, wait: options.waitForLock)
        } catch {
            await ledger.close()
            throw error
        }
        do {
            let current = try await ledger.instance(job: spec.name, scheduledAt: run.scheduledAt)
            let earlier: (record: InstanceRecord, note: String)?
            do {
                earlier = try await current.asyncMap { try await settleEarlierAttempt($0, ledger: ledger, sink: sink) } ?? nil
            } catch let error as SluiceError where error.kind == .invalidInput || error.kind == .state {
                throw error
            } catch {
                // The destination could not be asked about the earlier attempt: a failure of this one
                // (the catch below lets go of the lock and the ledger).
                throw SettlementFailed(error: error)
            }
            if let settled = earlier {
                var report = run.report
                report.instanceId = settled.record.id
                report.status = settled.record.status.rawValue
                report.records = RunReport.Counts(instance: settled.record.counts)
                report.settled = settled.note
                await lock.release()
                await ledger.close()
                return .settled(report)
            }
            // A stored plan is replayed only while the job gives the instance the same window: the
            // ledger records the window about to be written.
            if let current, !options.replan, let stored = try await ledger.plan(id: current.id) {
                let changes = PlanReplay.changes(stored: stored, now: run, source: spec.source)
                if !changes.isEmpty { throw PlanReplay.refusal(instance: current.id, job: spec.name, changes: changes) }
            }
            return .started(ledger: ledger, lock: lock, instance: try await startAttempt(run, ledger: ledger))
        } catch {
            await lock.release()
            await ledger.close()
            throw error
        }
    }

    /// The earlier attempt could not be settled because the destination failed: recorded as a
    /// failure of this attempt (`InstanceRunner.recordFailureBeforeStart`).
    struct SettlementFailed: Error {
        var error: any Error
    }

    /// Starts the instance's attempt (the scheduler's numbered one, or the next).
    func startAttempt(_ run: ResolvedRun, ledger: any Ledger) async throws -> InstanceRecord {
        let described = NewInstance(
            job: spec.name, scheduledAt: run.scheduledAt, businessDate: run.context.businessDate.compact,
            parameters: run.report.parameters, windowStart: run.resolved.begin.date, windowEnd: run.resolved.end.date,
            partition: run.partition.description)
        if let attempt = options.attempt {
            return try await ledger.startAttempt(described, number: attempt)
        }
        return try await ledger.startAttempt(described)
    }

    /// What the run lock of the instance is held on besides the job: a sync's partition (two runs
    /// never write one partition at once), an SQL node's scheduled time (its instances are apart).
    func lockKey(_ run: ResolvedRun) -> String {
        spec.task == .sync ? run.partition.description : "scheduled \(run.context.scheduledTime)"
    }

    /// Opens the ledger, takes the run lock and starts an attempt, with nothing to settle or replay:
    /// an SQL node's run, or a failure that came before the run could start (`wait: false`). The
    /// caller releases and closes.
    func startAlone(_ run: ResolvedRun, wait: Bool) async throws -> (any Ledger, any HeldRunLock, InstanceRecord) {
        let ledger = try await Ledgers.open(runner.ledgerLocation, origin: .thisProcess(launchedBy: options.launchedBy))
        do {
            let known = try await ledger.instance(job: spec.name, scheduledAt: run.scheduledAt)
            let lock = try await ledger.runLocks.acquire(job: spec.name, partition: lockKey(run),
                                                         instanceId: known.map { String($0.id) }, wait: wait)
            do {
                return (ledger, lock, try await startAttempt(run, ledger: ledger))
            } catch {
                await lock.release()
                throw error
            }
        } catch {
            await ledger.close()
            throw error
        }
    }

    /// Settles the instance's last attempt when it ended without recording its outcome (see
    /// `CommitSettlement`), and refuses what would add an instance's rows twice to a destination
    /// that cannot replace them. Returns the settled instance when nothing is to run.
    func settleEarlierAttempt(_ current: InstanceRecord, ledger: any Ledger, sink: any Sink) async throws
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

    /// Checks the destination table (before any record is read) and compiles the field program.
    func checkDestination(sink: any Sink, partition: PartitionSpec) async throws -> FieldProgram {
        let columns = try await destinationColumns(sink: sink)
        try await sink.prepare(columns: columns.mapped, partitionKeys: partition.keys)
        let avro = try AvroSchemaSettings.providers(runner.job, secrets: SecretResolver(relativeTo: runner.job.directory))
        return try FieldProgram(table: columns.table, mapping: spec.mapping, options: FieldProgramOptions(job: spec, fallbackZone: SchedulingZone.machine.timeZone),
                                avro: avro.value, avroKey: avro.key)
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
}

extension Optional {
    /// `map` with an async transform.
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let self else { return nil }
        return try await transform(self)
    }
}
