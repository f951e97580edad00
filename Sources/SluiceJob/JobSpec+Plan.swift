import SluiceCore

extension ReadOptions {
    /// The options a job's source asks for (completion, `skipExceedRecord`, `autoOffsetReset`).
    public init(spec: KafkaSourceSpec) {
        self.init(completion: spec.completion, skipExceedRecord: spec.skipExceedRecord,
                  autoOffsetReset: spec.autoOffsetReset)
    }
}

extension PlanBegin {
    /// Converts a job's bound; `resolveMillis` turns the (parameter-substituted) `time` or
    /// `timestampMillis` text into epoch ms.
    public init(_ bound: BeginBound, resolveMillis: (BeginBound) throws -> Int64) rethrows {
        switch bound {
        case .time, .timestampMillis: self = .timestampMillis(try resolveMillis(bound))
        case .offset(let o): self = .offset(o)
        case .earliest: self = .earliest
        case .latest: self = .latest
        case .groupOffset: self = .groupOffset
        }
    }
}

extension PlanEnd {
    /// Converts a job's bound; `resolveMillis` turns the (parameter-substituted) `time` or
    /// `timestampMillis` text into epoch ms.
    public init(_ bound: EndBound, resolveMillis: (EndBound) throws -> Int64) rethrows {
        switch bound {
        case .time, .timestampMillis: self = .timestampMillis(try resolveMillis(bound))
        case .offset(let o): self = .offset(o)
        case .latest: self = .latest
        }
    }
}
