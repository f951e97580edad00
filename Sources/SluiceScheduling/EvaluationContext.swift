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
        // `$taskid`: the job's instance, `<job>.<cyctime>`, unless the caller names it.
        self.taskId = taskId.isEmpty && !jobId.isEmpty ? "\(jobId).\(scheduledLocal.compact)" : taskId
    }

    /// A regular instance scheduled at a wall-clock time in `zone`, placed as the calendar places
    /// instances (`SchedulingZone.scheduledInstant(for:)`: a repeated time's second occurrence, a
    /// skipped time delayed by the gap).
    public init(scheduledLocal: CivilDateTime, zone: SchedulingZone, businessDate: CivilDate? = nil,
                jobId: String = "", nodeId: String = "", taskId: String = "") {
        self.init(scheduledTime: zone.scheduledInstant(for: scheduledLocal).instant, zone: zone, businessDate: businessDate,
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

    /// The date (and time of day) a time part formats for `context`; nil for constants, ids and
    /// references.
    @inline(__always)
    func formattedTime(_ context: EvaluationContext) -> CivilDateTime? {
        switch self {
        case .literal, .reference: return nil
        case .scheduled(_, let days, let seconds):
            if days == 0 {
                return seconds == 0 ? context.scheduledLocal
                    : context.zone.civil(at: context.scheduledTime + Int64(seconds))
            }
            // Days move the calendar date and keep the wall-clock time; hours and minutes then
            // move the instant.
            let shifted = CivilDateTime(date: context.scheduledLocal.date.adding(days: days),
                                        secondOfDay: context.scheduledLocal.secondOfDay)
            return seconds == 0 ? shifted : context.zone.civil(at: context.zone.instant(for: shifted) + Int64(seconds))
        case .addMonths(_, let months):
            let local = context.scheduledLocal
            return CivilDateTime(date: local.date.adding(months: months), secondOfDay: local.secondOfDay)
        case .business(_, let amount, let unit):
            let date = switch unit {
            case .day: context.businessDate.adding(days: amount)
            case .month: context.businessDate.adding(months: amount)
            case .year: context.businessDate.adding(months: amount * 12)
            }
            return CivilDateTime(date: date, secondOfDay: 0)
        case .builtin(let b):
            switch b {
            case .bizdate: return CivilDateTime(date: context.businessDate, secondOfDay: 0)
            case .gmtdate, .cyctime: return context.scheduledLocal
            case .bizmonth: return CivilDateTime(date: context.businessMonth, secondOfDay: 0)
            case .jobid, .nodeid, .taskid: return nil
            }
        }
    }

    @inline(__always)
    func write(_ context: EvaluationContext, _ values: UnsafeBufferPointer<String>, into w: inout ByteWriter) {
        switch self {
        case .literal(let bytes):
            bytes.withUnsafeBufferPointer { w.bytes($0) }
        case .scheduled(let format, _, _), .addMonths(let format, _), .business(let format, _, _):
            let local = formattedTime(context)!
            format.write(local.date, local.secondOfDay, into: &w)
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

/// The years a formatted date may have: `yyyy` is four digits, and DataWorks gives no meaning to a
/// date before year 1 or after 9999 (an offset such as `$[yyyymmdd-1000000]` reaches one).
enum DateRange {
    static let years = 1...9999

    /// Throws `SluiceError(.invalidInput)` naming `text` (and `subject`) when a part of it formats a
    /// date outside the years 0001–9999 for `context`.
    static func check(_ parts: [ExpressionPart], text: String, subject: String?, _ context: EvaluationContext) throws {
        for part in parts {
            guard let time = part.formattedTime(context), !years.contains(time.date.year) else { continue }
            let scheduled = context.scheduledLocal.description
            throw SluiceError.invalid(
                "\(subject.map { "\($0): " } ?? "")`\(text)` gives a date in the year \(time.date.year) for the instance scheduled at \(scheduled) (business date \(context.businessDate.compact)); dates run from year 0001 to 9999",
                hint: "use a smaller offset")
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
