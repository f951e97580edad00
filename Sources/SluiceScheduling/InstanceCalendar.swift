import SluiceCore
/// One instance of a scheduled job.
public struct ScheduledInstance: Sendable, Hashable {
    /// The scheduled time (cyctime), epoch seconds.
    public var scheduledTime: Int64
    /// The wall-clock time the schedule names. In a spring-forward gap it is a time that does not
    /// exist, and `scheduledTime` is the first instant after the gap.
    public var scheduledLocal: CivilDateTime
    /// Scheduled date − 1 (or the chosen date of a backfill).
    public var businessDate: CivilDate
    /// A week/month cycle's instance on an unselected day: DataWorks sets it to success without running
    /// it, so that dependants are not blocked.
    public var isDryRun: Bool

    public init(scheduledTime: Int64, scheduledLocal: CivilDateTime, businessDate: CivilDate, isDryRun: Bool) {
        self.scheduledTime = scheduledTime
        self.scheduledLocal = scheduledLocal
        self.businessDate = businessDate
        self.isDryRun = isDryRun
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

    /// Uses `schedule.timeZone`, else `fallbackZone` (the source's, else the machine's).
    public init(_ schedule: ScheduleSpec, fallbackZone: SchedulingZone? = nil) throws {
        let zone = try schedule.timeZone.map { try SchedulingZone.named($0) } ?? fallbackZone ?? .current
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
                let maxInterval = schedule.cycle == .minute ? 1440 : 24
                guard (1...maxInterval).contains(schedule.interval) else {
                    throw SluiceError.invalid(
                        "schedule.interval: \(schedule.interval) is not 1…\(maxInterval) "
                            + (schedule.cycle == .minute ? "minutes" : "hours"))
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
            let uniform = zone.instant(localSeconds: dayLocal + 86_399) - dayStart == 86_399
            let businessDate = date.adding(days: -1)
            for tod in times {
                let instant: Int64
                if uniform {
                    instant = dayStart + Int64(tod)
                } else {
                    instant = zone.instant(localSeconds: dayLocal + Int64(tod))
                    // Minute and hour cycles skip wall times that a spring-forward gap removes: their
                    // neighbours' wall-clock windows already cover the day. A once-a-day instance in
                    // the gap runs at the first instant after it.
                    if times.count > 1 && zone.civil(at: instant).localSeconds != dayLocal + Int64(tod) { continue }
                }
                guard instant > previous else { continue }
                previous = instant
                if instant < from { continue }
                if instant >= to { return true }
                let instance = ScheduledInstance(
                    scheduledTime: instant, scheduledLocal: CivilDateTime(date: date, secondOfDay: tod),
                    businessDate: businessDate, isDryRun: !selected)
                if try !body(instance) { return false }
            }
        }
        return true
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
            let wall = CivilDateTime(date: date, secondOfDay: tod)
            let instant = zone.instant(for: wall)
            if times.count > 1 && zone.civil(at: instant) != wall { continue }
            guard instant > previous else { continue }
            previous = instant
            result.append(ScheduledInstance(scheduledTime: instant, scheduledLocal: wall,
                                            businessDate: businessDate, isDryRun: !selected))
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
