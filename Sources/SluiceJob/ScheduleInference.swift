import SluiceScheduling

/// The cycle a DataWorks job most likely runs on, read from its parameter expressions, for
/// `sluice import dataworks` (a script-mode job JSON holds no schedule: DataWorks keeps it in the
/// node's scheduling properties).
///
/// The finest offset or format field of the `$[…]` expressions decides: `N/24/60` or a minute field
/// (`mi`) gives a minute cycle every N minutes, `N/24` or an hour field (`hh24`) an hour cycle every
/// N hours, anything else a day cycle.
public enum ScheduleInference {
    public struct Inferred: Sendable, Equatable {
        public var cycle: ScheduleSpec.Cycle
        public var interval: Int
        /// Which expression said so, for the note to the user.
        public var because: String?
    }

    public static func infer(_ parameters: [ParameterDefinition]) -> Inferred {
        var minute: (Int, String)?
        var hour: (Int, String)?
        for p in parameters {
            for body in brackets(p.expression) {
                let lower = body.lowercased()
                if let n = offset(in: lower, unit: "/24/60") { minute = minute ?? (n, p.name) } else if lower.contains("mi") {
                    minute = minute ?? (1, p.name)
                }
                let withoutMinutes = lower.replacingOccurrences(of: "/24/60", with: "")
                if let n = offset(in: withoutMinutes, unit: "/24") { hour = hour ?? (n, p.name) } else if lower.contains("hh") {
                    hour = hour ?? (1, p.name)
                }
            }
        }
        if let (n, name) = minute { return Inferred(cycle: .minute, interval: n, because: name) }
        if let (n, name) = hour { return Inferred(cycle: .hour, interval: n, because: name) }
        return Inferred(cycle: .day, interval: 1, because: nil)
    }

    /// The schedule to write: `inferred`'s cycle over the whole day, with `parameters`.
    public static func schedule(_ inferred: Inferred, parameters: [ParameterDefinition]) -> ScheduleSpec {
        var s = ScheduleSpec(cycle: inferred.cycle, parameters: parameters)
        if inferred.cycle == .minute || inferred.cycle == .hour {
            s.interval = inferred.interval
            s.end = "23:59"
        }
        return s
    }

    /// The contents of each `$[…]` in `text`.
    static func brackets(_ text: String) -> [Substring] {
        var out: [Substring] = []
        var rest = Substring(text)
        while let open = rest.range(of: "$["), let close = rest[open.upperBound...].firstIndex(of: "]") {
            out.append(rest[open.upperBound..<close])
            rest = rest[rest.index(after: close)...]
        }
        return out
    }

    /// N in `-N<unit>` (e.g. `-5/24/60`), when present and N is a whole number ≥ 1.
    static func offset(in body: String, unit: String) -> Int? {
        guard let r = body.range(of: unit) else { return nil }
        let digits = body[..<r.lowerBound].reversed().prefix { $0.isNumber }
        guard let n = Int(String(digits.reversed())), n >= 1 else { return nil }
        return n
    }
}
