import SluiceScheduling
/// A window bound after parameter substitution.
public enum ResolvedBound: Sendable, Hashable {
    /// A time bound as epoch milliseconds.
    case instant(millis: Int64)
    case offset(Int64)
    case earliest
    case latest
    /// The consumer group's committed offset.
    case groupOffset
}

/// A job's parameters, window bounds and destination partition, compiled once and resolved per instance.
public struct CompiledJobParameters: Sendable {
    public let parameters: CompiledParameterSet
    /// The scheduling zone: `schedule.timeZone`, else `source.timeZone`, else the machine's (see
    /// `SchedulingZone.forJob(_:fallback:)`).
    public let zone: SchedulingZone
    /// The zone `yyyymmddhhmmss` bounds are read in: `source.timeZone`, else the scheduling zone.
    public let boundZone: SchedulingZone
    public let partition: ParameterTemplate
    /// An SQL node's statements; nil for a sync.
    public let statements: [ParameterTemplate]?
    private let begin: Bound
    private let end: Bound

    private enum Bound: Sendable {
        case time(ParameterTemplate)
        case millis(ParameterTemplate)
        case fixed(ResolvedBound)
    }

    /// Compiles `job.schedule.parameters`, the source's begin/end and the destination partition, for
    /// the scheduling zone `zone`. Throws `SluiceError(.invalidInput)` with the field and the
    /// character at fault.
    public init(job: JobSpec, zone: SchedulingZone) throws {
        self.zone = zone
        self.boundZone = try job.source.timeZone.map { try SchedulingZone.named($0) } ?? zone
        let set = try CompiledParameterSet(job.schedule?.parameters ?? [])
        self.parameters = set
        self.partition = try set.template(job.destination.partition, subject: "destination.partition")
        self.statements = try job.sqlStatements?.map { try set.template($0, subject: "sql") }
        switch job.source.begin {
        case .time(let t): begin = .time(try set.template(t, subject: "source.begin.time"))
        case .timestampMillis(let t): begin = .millis(try set.template(t, subject: "source.begin.timestamp"))
        case .offset(let o): begin = .fixed(.offset(o))
        case .earliest: begin = .fixed(.earliest)
        case .latest: begin = .fixed(.latest)
        case .groupOffset: begin = .fixed(.groupOffset)
        }
        switch job.source.end {
        case .time(let t): end = .time(try set.template(t, subject: "source.end.time"))
        case .timestampMillis(let t): end = .millis(try set.template(t, subject: "source.end.timestamp"))
        case .offset(let o): end = .fixed(.offset(o))
        case .latest: end = .fixed(.latest)
        }
    }

    /// Resolves one instance. Throws `SluiceError(.invalidInput)` when a bound does not resolve to a
    /// valid time (e.g. a parameter that yields `2022112210` padded wrongly), or an expression
    /// formats a date outside the years 0001–9999.
    public func resolve(_ context: EvaluationContext) throws -> ResolvedJobInstance {
        try parameters.checkDates(context)
        try partition.checkDates(context)
        for template in statements ?? [] { try template.checkDates(context) }
        for case .time(let template) in [begin, end] { try template.checkDates(context) }
        for case .millis(let template) in [begin, end] { try template.checkDates(context) }
        let resolved = parameters.evaluate(context)
        let (b, bText) = try resolve(begin, resolved, subject: "source.begin")
        let (e, eText) = try resolve(end, resolved, subject: "source.end")
        return ResolvedJobInstance(parameters: resolved, begin: b, end: e, beginText: bText, endText: eText,
                                   partition: partition.render(resolved),
                                   statements: statements?.map { $0.render(resolved) })
    }

    private func resolve(_ bound: Bound, _ resolved: ResolvedParameters,
                         subject: String) throws -> (ResolvedBound, String?) {
        switch bound {
        case .fixed(let b): return (b, nil)
        case .time(let template):
            let text = template.render(resolved)
            let wall = try WallTime.parseCompact(text, subject: "\(subject) (\"\(template.text)\" resolved to \"\(text)\")")
            return (.instant(millis: boundZone.instant(for: wall) * 1000), text)
        case .millis(let template):
            let text = template.render(resolved)
            return (.instant(millis: try WallTime.parseEpochMillis(text, subject: "\(subject) (\"\(template.text)\" resolved to \"\(text)\")")), text)
        }
    }
}

/// What one instance of a job resolves to.
public struct ResolvedJobInstance: Sendable, Equatable {
    public var parameters: ResolvedParameters
    public var begin: ResolvedBound
    public var end: ResolvedBound
    /// The substituted bound texts (`20221122090000`), nil for offset/earliest/latest bounds.
    public var beginText: String?
    public var endText: String?
    /// The destination partition spec after substitution (`ds=2022112210`).
    public var partition: String
    /// An SQL node's statements after substitution; nil for a sync.
    public var statements: [String]? = nil
}
