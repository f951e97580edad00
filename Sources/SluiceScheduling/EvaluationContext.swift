import Foundation
import SluiceCore

/// Everything an expression can depend on: the instance's scheduled time in its scheduling zone, the
/// business date, and ids. Build one per instance; the wall-clock fields are computed once here so that
/// evaluating a parameter set does not repeat them.
public struct EvaluationContext: Sendable {
    public let zone: SchedulingZone
    /// The scheduled time (DataWorks cyctime), whole seconds since the Unix epoch.
    public let scheduledTime: Int64
    /// The scheduled time on the wall clock of `zone`.
    public let scheduledLocal: CivilDateTime
    /// The business date (DataWorks bizdate): by default the scheduled date − 1 day.
    public let businessDate: CivilDate
    /// Values of `$jobid`, `$nodeid`, `$taskid` (empty unless the caller sets them).
    public var jobId: String
    public var nodeId: String
    public var taskId: String

    /// A regular instance. `businessDate` overrides the default scheduled date − 1.
    public init(scheduledTime: Int64, zone: SchedulingZone, businessDate: CivilDate? = nil,
                jobId: String = "", nodeId: String = "", taskId: String = "") {
        self.zone = zone
        self.scheduledTime = scheduledTime
        let localSeconds = scheduledTime + Int64(zone.secondsFromGMT(at: scheduledTime))
        let day = localSeconds >= 0 ? localSeconds / 86_400 : (localSeconds - 86_399) / 86_400
        self.scheduledLocal = CivilDateTime(date: CivilDate(dayNumber: day), secondOfDay: Int(localSeconds - day * 86_400))
        self.businessDate = businessDate ?? CivilDate(dayNumber: day - 1)
        self.jobId = jobId
        self.nodeId = nodeId
        self.taskId = taskId
    }

    /// A regular instance scheduled at a wall-clock time in `zone` (DST rules of `SchedulingZone.instant(for:)`).
    public init(scheduledLocal: CivilDateTime, zone: SchedulingZone, businessDate: CivilDate? = nil,
                jobId: String = "", nodeId: String = "", taskId: String = "") {
        self.init(scheduledTime: zone.instant(for: scheduledLocal), zone: zone, businessDate: businessDate,
                  jobId: jobId, nodeId: nodeId, taskId: taskId)
    }

    /// Backfill semantics: business date `businessDate` runs on the next day at `secondOfDay`, so
    /// `${...}` sees D and `$[...]` sees D + 1 at the instance's time of day.
    public static func backfill(businessDate: CivilDate, secondOfDay: Int, zone: SchedulingZone,
                                jobId: String = "", nodeId: String = "", taskId: String = "") -> EvaluationContext {
        let wall = CivilDateTime(date: businessDate.adding(days: 1), secondOfDay: secondOfDay)
        return EvaluationContext(scheduledLocal: wall, zone: zone, businessDate: businessDate,
                                 jobId: jobId, nodeId: nodeId, taskId: taskId)
    }

    public var scheduledDate: Date { Date(timeIntervalSince1970: Double(scheduledTime)) }

    /// `$bizmonth`: the business date's month, or the month before it when that is the scheduled month.
    var businessMonth: CivilDate {
        let b = businessDate
        if b.year == scheduledLocal.date.year && b.month == scheduledLocal.date.month {
            return CivilDate(year: b.year, month: b.month, day: 1).adding(months: -1)
        }
        return b
    }
}

extension ExpressionPart {
    /// Upper bound of the bytes this part writes.
    @inline(__always)
    func maxWidth(_ context: EvaluationContext, _ values: UnsafeBufferPointer<String>) -> Int {
        switch self {
        case .literal(let bytes): bytes.count
        case .scheduled(let f, _, _), .addMonths(let f, _), .business(let f, _, _): f.maxWidth
        case .builtin(let b):
            switch b {
            case .bizdate, .gmtdate: 15
            case .cyctime: 21
            case .bizmonth: 13
            case .jobid: context.jobId.utf8.count
            case .nodeid: context.nodeId.utf8.count
            case .taskid: context.taskId.utf8.count
            }
        case .reference(let i): values[i].utf8.count
        }
    }

    @inline(__always)
    func write(_ context: EvaluationContext, _ values: UnsafeBufferPointer<String>, into w: inout ByteWriter) {
        switch self {
        case .literal(let bytes):
            bytes.withUnsafeBufferPointer { w.bytes($0) }
        case .scheduled(let format, let days, let seconds):
            let local: CivilDateTime
            if days == 0 {
                local = seconds == 0 ? context.scheduledLocal
                    : context.zone.civil(at: context.scheduledTime + Int64(seconds))
            } else {
                // Days move the calendar date and keep the wall-clock time; hours and minutes then
                // move the instant.
                let shifted = CivilDateTime(date: context.scheduledLocal.date.adding(days: days),
                                            secondOfDay: context.scheduledLocal.secondOfDay)
                if seconds == 0 {
                    local = shifted
                } else {
                    local = context.zone.civil(at: context.zone.instant(for: shifted) + Int64(seconds))
                }
            }
            format.write(local.date, local.secondOfDay, into: &w)
        case .addMonths(let format, let months):
            let local = context.scheduledLocal
            format.write(local.date.adding(months: months), local.secondOfDay, into: &w)
        case .business(let format, let amount, let unit):
            let date: CivilDate
            switch unit {
            case .day: date = context.businessDate.adding(days: amount)
            case .month: date = context.businessDate.adding(months: amount)
            case .year: date = context.businessDate.adding(months: amount * 12)
            }
            format.write(date, 0, into: &w)
        case .builtin(let b):
            switch b {
            case .bizdate:
                let d = context.businessDate
                w.year(d.year); w.two(d.month); w.two(d.day)
            case .gmtdate:
                let d = context.scheduledLocal.date
                w.year(d.year); w.two(d.month); w.two(d.day)
            case .cyctime:
                let l = context.scheduledLocal
                w.year(l.date.year); w.two(l.date.month); w.two(l.date.day)
                w.two(l.hour); w.two(l.minute); w.two(l.second)
            case .bizmonth:
                let d = context.businessMonth
                w.year(d.year); w.two(d.month)
            case .jobid: w.string(context.jobId)
            case .nodeid: w.string(context.nodeId)
            case .taskid: w.string(context.taskId)
            }
        case .reference(let i):
            w.string(values[i])
        }
    }
}

enum PartsRenderer {
    /// Evaluates `parts` to a string; small results (≤ 15 bytes) need no heap allocation.
    @inline(__always)
    static func render(_ parts: [ExpressionPart], _ context: EvaluationContext,
                       _ values: UnsafeBufferPointer<String>) -> String {
        parts.withUnsafeBufferPointer { ps in
            if ps.count == 1, case .reference(let i) = ps[0] { return values[i] }
            var capacity = 0
            for i in ps.indices { capacity += ps[i].maxWidth(context, values) }
            if capacity == 0 { return "" }
            return String(unsafeUninitializedCapacity: capacity) { buffer in
                var w = ByteWriter(buffer)
                for i in ps.indices { ps[i].write(context, values, into: &w) }
                return w.count
            }
        }
    }
}
