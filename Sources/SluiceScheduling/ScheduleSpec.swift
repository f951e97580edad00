/// The `schedule` block of a job: when instances exist, which parameters they resolve, and how the
/// scheduler treats them. Vocabulary and semantics follow DataWorks' scheduling configuration.
public struct ScheduleSpec: Sendable, Equatable {
    public enum Cycle: String, Sendable, Hashable, CaseIterable {
        case minute, hour, day, week, month
    }
    /// A day of the month for month cycles.
    public enum MonthDay: Sendable, Hashable {
        case day(Int)
        case last
    }
    public enum Rerun: String, Sendable, Hashable, CaseIterable {
        case always, onFailure, never
    }
    public enum SchedulingType: String, Sendable, Hashable, CaseIterable {
        case normal, paused, dryRun
    }
    public enum CatchUp: String, Sendable, Hashable, CaseIterable {
        case all, latest, none
    }

    public var cycle: Cycle
    /// `HH:mm`: first time of day (minute/hour cycles) or the time of day (day/week/month).
    public var start: String
    /// Interval in minutes (minute cycle) or hours (hour cycle).
    public var interval: Int
    /// `HH:mm`, inclusive end of the minute/hour cycle's day window.
    public var end: String
    /// Hour cycle with explicit time points (`["00:00", "03:00"]`) instead of start/interval/end.
    public var timePoints: [String]?
    /// Week cycle: ISO weekdays, 1 = Monday … 7 = Sunday.
    public var weekdays: [Int]
    /// Month cycle: days of the month.
    public var monthDays: [MonthDay]
    /// IANA zone for evaluating expressions and listing instances; nil = the source's, then the machine's.
    public var timeZone: String?
    public var parameters: [ParameterDefinition]
    /// Effective date range `yyyy-mm-dd` (inclusive); nil = unbounded.
    public var effectiveFrom: String?
    public var effectiveTo: String?
    /// Self-dependency; nil = the default (true for `contiguous` jobs, false otherwise).
    public var dependsOnPrevious: Bool?
    /// Upstream jobs, by name: an instance runs once the instances of these jobs that it depends on
    /// (`UpstreamDependencies`) have succeeded.
    public var dependsOn: [String] = []
    public var rerun: Rerun
    public var retries: Int
    /// Seconds between automatic reruns.
    public var retryInterval: Int
    /// Seconds; nil = no timeout.
    public var timeout: Int?
    public var type: SchedulingType
    public var catchUp: CatchUp

    public init(cycle: Cycle = .day, start: String = "00:00", interval: Int = 1, end: String = "23:59",
                timePoints: [String]? = nil, weekdays: [Int] = [], monthDays: [MonthDay] = [],
                timeZone: String? = nil, parameters: [ParameterDefinition] = [],
                effectiveFrom: String? = nil, effectiveTo: String? = nil, dependsOnPrevious: Bool? = nil,
                rerun: Rerun = .always, retries: Int = 0, retryInterval: Int = 60, timeout: Int? = nil,
                type: SchedulingType = .normal, catchUp: CatchUp = .all) {
        self.cycle = cycle
        self.start = start
        self.interval = interval
        self.end = end
        self.timePoints = timePoints
        self.weekdays = weekdays
        self.monthDays = monthDays
        self.timeZone = timeZone
        self.parameters = parameters
        self.effectiveFrom = effectiveFrom
        self.effectiveTo = effectiveTo
        self.dependsOnPrevious = dependsOnPrevious
        self.rerun = rerun
        self.retries = retries
        self.retryInterval = retryInterval
        self.timeout = timeout
        self.type = type
        self.catchUp = catchUp
    }
}

extension ScheduleSpec.Cycle {
    /// The intervals a minute or hour cycle takes: 1–59 minutes (an hour or more belongs to the hour
    /// cycle; DataWorks' own minimum is 5 minutes, Sluice goes below it on purpose) and 1–23 hours
    /// (an hour cycle repeats within one day). nil for the cycles without an interval.
    public var intervalRange: ClosedRange<Int>? {
        switch self {
        case .minute: 1...59
        case .hour: 1...23
        case .day, .week, .month: nil
        }
    }

    /// What is wrong with `interval` on this cycle, in the cycle's unit; nil when it is valid.
    public func intervalProblem(_ interval: Int) -> String? {
        guard let range = intervalRange, !range.contains(interval) else { return nil }
        switch self {
        case .minute where interval > range.upperBound:
            return "\(interval) minutes is not an interval of a minute cycle, which takes 1–59 minutes: an hour or more belongs to the hour cycle (cycle: hour, interval in hours)"
        case .minute:
            return "\(interval) is not an interval of a minute cycle, which takes 1–59 minutes"
        default:
            return interval > range.upperBound
                ? "\(interval) hours is not an interval of an hour cycle, which takes 1–23 hours within one day: for once a day use cycle: day"
                : "\(interval) is not an interval of an hour cycle, which takes 1–23 hours"
        }
    }
}
