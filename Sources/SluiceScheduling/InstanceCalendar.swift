import SluiceCore
/// One instance of a scheduled job.
public struct ScheduledInstance: Sendable, Hashable {
    /// Why an instance is set to success without running (DataWorks' dry run).
    public enum DryRunReason: Sendable, Hashable {
        /// A week or month cycle's instance on a day it does not select: dependants are not blocked.
        case unselectedDay
        /// A day, week or month instance whose wall time (`named`) a spring-forward gap skips: as in
        /// DataWorks it is delayed by the gap and runs dry.
        case skippedByDaylightSaving(named: CivilDateTime)
    }

    /// The scheduled time (cyctime), epoch seconds.
    public var scheduledTime: Int64
    /// The wall-clock time of `scheduledTime` in the calendar's zone (after a spring-forward delay).
    public var scheduledLocal: CivilDateTime
    /// Scheduled date − 1 (or the chosen date of a backfill).
    public var businessDate: CivilDate
    /// Why the instance runs dry; nil for an instance that runs.
    public var dryRunReason: DryRunReason?
    /// The instance is set to success without running, so that dependants are not blocked.
    public var isDryRun: Bool { dryRunReason != nil }

    public init(scheduledTime: Int64, scheduledLocal: CivilDateTime, businessDate: CivilDate,
                dryRunReason: DryRunReason? = nil) {
        self.scheduledTime = scheduledTime
        self.scheduledLocal = scheduledLocal
        self.businessDate = businessDate
        self.dryRunReason = dryRunReason
    }

    /// Why the instance runs dry, for logs (`dry run: …`); nil for an instance that runs.
    public func dryRunNote(cycle: ScheduleSpec.Cycle) -> String? {
        switch dryRunReason {
        case nil: nil
        case .unselectedDay: "\(cycle.rawValue) cycle, \(scheduledLocal.date) is not a selected day"
        case .skippedByDaylightSaving(let named):
            "\(named) does not exist (clocks spring forward); as in DataWorks, the \(cycle.rawValue) instance is delayed to \(scheduledLocal) and runs dry"
        }
    }

    /// The evaluation context of this instance.
    public func context(zone: SchedulingZone, jobId: String = "", nodeId: String = "",
                        taskId: String = "") -> EvaluationContext {
        EvaluationContext(scheduledTime: scheduledTime, zone: zone, businessDate: businessDate,
                          jobId: jobId, nodeId: nodeId, taskId: taskId)
    }
}

/// The instances a `ScheduleSpec` creates, in its zone. Validates the schedule once; listing is plain
/// arithmetic on day numbers plus the zone's cached transitions.
public struct InstanceCalendar: Sendable {
    public let schedule: ScheduleSpec
    public let zone: SchedulingZone
    /// Seconds since midnight of the instances on a selected day, ascending.
    public let timesOfDay: [Int]
    /// Week and month cycles: the time of the dry-run instance on unselected days.
    public let dryRunTimeOfDay: Int?
    public let effectiveFrom: CivilDate?
    public let effectiveTo: CivilDate?
    private let weekdayMask: UInt8
    private let monthDayMask: UInt32
    private let monthLast: Bool

    /// Uses `schedule.timeZone`, else `fallbackZone` (the source's, else the machine's, which the
    /// caller passes).
    public init(_ schedule: ScheduleSpec, fallbackZone: SchedulingZone) throws {
        let zone = try schedule.timeZone.map { try SchedulingZone.named($0) } ?? fallbackZone
        try self.init(schedule, zone: zone)
    }

    /// Throws `SluiceError(.invalidInput)` naming the field (`schedule.start`, …) for an invalid schedule.
    public init(_ schedule: ScheduleSpec, zone: SchedulingZone) throws {
        self.schedule = schedule
        self.zone = zone
        let start = try InstanceCalendar.timeOfDay(schedule.start, field: "schedule.start")
        var weekdayMask: UInt8 = 0
        var monthDayMask: UInt32 = 0
        var monthLast = false
        var dryRun: Int?
        switch schedule.cycle {
        case .minute, .hour:
            let unit = schedule.cycle == .minute ? 60 : 3600
            if schedule.cycle == .hour, let points = schedule.timePoints, !points.isEmpty {
                var seconds: [Int] = []
                for (i, p) in points.enumerated() {
                    seconds.append(try InstanceCalendar.timeOfDay(p, field: "schedule.timePoints[\(i)]"))
                }
                timesOfDay = Array(Set(seconds)).sorted()
            } else {
                if let problem = schedule.cycle.intervalProblem(schedule.interval) {
                    throw SluiceError.invalid("schedule.interval: " + problem)
                }
                let end = try InstanceCalendar.timeOfDay(schedule.end, field: "schedule.end")
                guard start <= end else {
                    throw SluiceError.invalid("schedule.end (\(schedule.end)) is before schedule.start (\(schedule.start))",
                                              hint: "the window [start, end] lies within one day")
                }
                timesOfDay = Array(stride(from: start, through: end, by: schedule.interval * unit))
            }
        case .day:
            timesOfDay = [start]
        case .week:
            guard !schedule.weekdays.isEmpty else {
                throw SluiceError.invalid("schedule.weekdays: a week cycle needs at least one weekday (1 = Monday … 7 = Sunday)")
            }
            for d in schedule.weekdays {
                guard (1...7).contains(d) else {
                    throw SluiceError.invalid("schedule.weekdays: \(d) is not a weekday (1 = Monday … 7 = Sunday)")
                }
                weekdayMask |= 1 << UInt8(d)
            }
            timesOfDay = [start]
            dryRun = start
        case .month:
            guard !schedule.monthDays.isEmpty else {
                throw SluiceError.invalid("schedule.monthDays: a month cycle needs at least one day (1…31 or last)")
            }
            for d in schedule.monthDays {
                switch d {
                case .last: monthLast = true
                case .day(let n):
                    guard (1...31).contains(n) else {
                        throw SluiceError.invalid("schedule.monthDays: \(n) is not a day of the month (1…31 or last)")
                    }
                    monthDayMask |= 1 << UInt32(n)
                }
            }
            timesOfDay = [start]
            dryRun = start
        }
        self.dryRunTimeOfDay = dryRun
        self.weekdayMask = weekdayMask
        self.monthDayMask = monthDayMask
        self.monthLast = monthLast
        self.effectiveFrom = try schedule.effectiveFrom.map { try WallTime.parseDate($0, subject: "schedule.effectiveFrom") }
        self.effectiveTo = try schedule.effectiveTo.map { try WallTime.parseDate($0, subject: "schedule.effectiveTo") }
        if let from = effectiveFrom, let to = effectiveTo, to < from {
            throw SluiceError.invalid("schedule.effectiveTo (\(to)) is before schedule.effectiveFrom (\(from))")
        }
    }

    /// `HH:mm` or `HH:mm:ss` → seconds since midnight.
    static func timeOfDay(_ text: String, field: String) throws -> Int {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        let numbers = parts.map { p in p.count == 2 && p.allSatisfy(\.isASCII) ? Int(p) : nil }
        guard (2...3).contains(parts.count), numbers.allSatisfy({ $0 != nil }),
              let h = numbers[0], let m = numbers[1], h < 24, m < 60,
              (numbers.count == 2 || numbers[2]! < 60)
        else {
            throw SluiceError.invalid("\(field): expected a time of day HH:mm (00:00 … 23:59), got \"\(text)\"")
        }
        return h * 3600 + m * 60 + (numbers.count == 3 ? numbers[2]! : 0)
    }

    /// Whether the cycle runs for real on `date` (every day for minute, hour and day cycles).
    public func isSelected(_ date: CivilDate) -> Bool {
        switch schedule.cycle {
        case .minute, .hour, .day: true
        case .week: weekdayMask & (1 << UInt8(date.isoWeekday)) != 0
        case .month: monthDayMask & (1 << UInt32(date.day)) != 0 || (monthLast && date.isLastDayOfMonth)
        }
    }

    public func isEffective(_ date: CivilDate) -> Bool {
        if let from = effectiveFrom, date < from { return false }
        if let to = effectiveTo, to < date { return false }
        return true
    }

    /// Calls `body` for every instance whose scheduled time is in `[from, to)` (epoch seconds), in
    /// order. `body` returns false to stop.
    @discardableResult
    public func forEachInstance(from: Int64, to: Int64,
                                _ body: (ScheduledInstance) throws -> Bool) rethrows -> Bool {
        guard from < to else { return true }
        let firstDay = zone.civil(at: from).date.dayNumber - 1
        let lastDay = zone.civil(at: to - 1).date.dayNumber + 1
        var previous = Int64.min
        var day = firstDay
        while day <= lastDay {
            let date = CivilDate(dayNumber: day)
            day += 1
            guard isEffective(date) else { continue }
            let selected = isSelected(date)
            guard selected || dryRunTimeOfDay != nil else { continue }
            let times = selected ? timesOfDay : [dryRunTimeOfDay!]
            let dayLocal = date.dayNumber * 86_400
            let dayStart = zone.instant(localSeconds: dayLocal)
            // One offset all day (a wall time repeated at the day's end shows in the next midnight).
            let uniform = zone.instant(localSeconds: dayLocal + 86_400) - dayStart == 86_400
            let businessDate = date.adding(days: -1)
            for tod in times {
                let instance: ScheduledInstance
                if uniform {
                    let instant = dayStart + Int64(tod)
                    instance = ScheduledInstance(
                        scheduledTime: instant, scheduledLocal: CivilDateTime(date: date, secondOfDay: tod),
                        businessDate: businessDate, dryRunReason: selected ? nil : .unselectedDay)
                } else {
                    guard let placed = place(CivilDateTime(date: date, secondOfDay: tod), businessDate: businessDate,
                                             selected: selected) else { continue }
                    instance = placed
                }
                guard instance.scheduledTime > previous else { continue }
                previous = instance.scheduledTime
                if instance.scheduledTime < from { continue }
                if instance.scheduledTime >= to { return true }
                if try !body(instance) { return false }
            }
        }
        return true
    }

    /// The instance of wall time `wall` on a day the clocks change, by DataWorks' rules: a repeated
    /// wall time is scheduled at its second occurrence; a skipped one makes no minute or hour
    /// instance (its neighbours cover the day), and delays a day, week or month instance by the gap,
    /// which then runs dry.
    func place(_ wall: CivilDateTime, businessDate: CivilDate, selected: Bool) -> ScheduledInstance? {
        let (instant, skipped) = zone.scheduledInstant(for: wall)
        var reason: ScheduledInstance.DryRunReason? = selected ? nil : .unselectedDay
        if skipped {
            switch schedule.cycle {
            case .minute, .hour: return nil
            case .day, .week, .month: reason = reason ?? .skippedByDaylightSaving(named: wall)
            }
        }
        return ScheduledInstance(scheduledTime: instant, scheduledLocal: zone.civil(at: instant),
                                 businessDate: businessDate, dryRunReason: reason)
    }

    /// The instances scheduled in `[from, to)` (epoch seconds), dry runs included.
    public func instances(from: Int64, to: Int64) -> [ScheduledInstance] {
        var result: [ScheduledInstance] = []
        let days = max(1, (to - from) / 86_400 + 1)
        result.reserveCapacity(Int(min(days * Int64(timesOfDay.count), 10_000_000)))
        forEachInstance(from: from, to: to) { result.append($0); return true }
        return result
    }

    /// The first instance scheduled strictly after `instant`, looking up to 2 years ahead.
    public func next(after instant: Int64) -> ScheduledInstance? {
        var found: ScheduledInstance?
        forEachInstance(from: instant + 1, to: instant + 2 * 366 * 86_400) { found = $0; return false }
        return found
    }

    /// The instances of business date `businessDate`'s backfill: the scheduled date D + 1 at each of
    /// the cycle's times of day (ignoring the effective date range, as a manual backfill does).
    public func backfill(businessDate: CivilDate) -> [ScheduledInstance] {
        let date = businessDate.adding(days: 1)
        let selected = isSelected(date)
        guard selected || dryRunTimeOfDay != nil else { return [] }
        var previous = Int64.min
        var result: [ScheduledInstance] = []
        let times = selected ? timesOfDay : [dryRunTimeOfDay!]
        for tod in times {
            guard let instance = place(CivilDateTime(date: date, secondOfDay: tod), businessDate: businessDate,
                                       selected: selected),
                  instance.scheduledTime > previous else { continue }
            previous = instance.scheduledTime
            result.append(instance)
        }
        return result
    }

    /// Backfill of business dates `from` through `through` (inclusive), in order.
    public func backfill(businessDates from: CivilDate, through: CivilDate) -> [ScheduledInstance] {
        var result: [ScheduledInstance] = []
        var d = from.dayNumber
        while d <= through.dayNumber {
            result += backfill(businessDate: CivilDate(dayNumber: d))
            d += 1
        }
        return result
    }
}
