import Foundation
import SluiceCore
import SluiceScheduling
import SluiceJob
import SluiceLedger

/// Stage 2 of a run: the instance's plan. A stored plan is replayed as it is (up to where its read
/// stopped, when that went past the planned end); otherwise the window is planned, from the previous
/// instance's end offsets in `contiguous` mode, and stored before any record is read. (A stored plan
/// for another window than the job's now was refused before the attempt began: `PlanReplay`.)
struct PlanStage<Source: WindowSource> {
    let runner: InstanceRunner
    let source: Source
    var spec: JobSpec { runner.job.spec }

    /// The plan, the window to read, whether it was replayed, and the read's options.
    struct Planned {
        var plan: InstancePlan
        var window: WindowPlan
        var replayed: Bool
        var readOptions: ReadOptions
    }

    func plan(_ run: ResolvedRun, ledger: Ledger, instance: InstanceRecord) async throws -> Planned {
        var readOptions = ReadOptions(spec: spec.source)
        if !runner.options.replan, let stored = try await ledger.plan(id: instance.id) {
            // Replayed by position: a read that went on past its planned end (idle completion) is
            // read again up to where it stopped, so the rerun writes the same records.
            if !stored.readEnds.isEmpty { readOptions.completion = .endOffset }
            return Planned(plan: stored, window: stored.replayWindow, replayed: true, readOptions: readOptions)
        }
        let previous = try await contiguousStart(ledger: ledger, context: run.context)
        var window = try await planWindow(run.resolved, previous: previous)
        // A contiguous plan starts at offsets, but its window is still the time bounds: records
        // before the start are counted late, at or after the end early.
        if window.startMillis == nil, case .instant(let ms) = run.resolved.begin { window.startMillis = ms }
        if window.endMillis == nil, case .instant(let ms) = run.resolved.end { window.endMillis = ms }
        let plan = InstancePlan(job: spec.name, scheduledTime: run.context.scheduledTime,
                                businessDate: run.context.businessDate.compact, parameters: run.report.parameters,
                                partition: run.partition.description, windowMode: spec.source.windowMode, window: window,
                                begin: run.resolved.begin.planText, end: run.resolved.end.planText)
        try await ledger.storePlan(id: instance.id, plan: plan)
        return Planned(plan: plan, window: window, replayed: false, readOptions: readOptions)
    }

    /// Plans the window of `resolved` (from `previous` end offsets when given).
    func planWindow(_ resolved: ResolvedJobInstance, previous: [Int32: Int64]?) async throws -> WindowPlan {
        try await source.plan(begin: try planBegin(resolved.begin, previous: previous), end: try planEnd(resolved.end),
                              partitions: spec.source.partitions, autoOffsetReset: spec.source.autoOffsetReset,
                              plannedAtMillis: Int64(Date().timeIntervalSince1970 * 1000))
    }

    /// In contiguous mode, the previous successful instance's end offsets (and a gap check).
    func contiguousStart(ledger: Ledger, context: EvaluationContext) async throws -> [Int32: Int64]? {
        guard spec.source.windowMode == .contiguous else { return nil }
        guard let (previous, ends) = try await ledger.previousSuccessfulEnd(job: spec.name, before: context.scheduledDate) else { return nil }
        if !runner.options.allowGap, let schedule = spec.schedule {
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
}
