import SluiceCore

/// Which instances of an upstream job an instance of a downstream job waits for, by DataWorks'
/// principle of scheduling time proximity ("Principles and samples of scheduling configurations in
/// complex dependency scenarios"), applied within the downstream instance's calendar day:
///
/// - each upstream instance of the day belongs to the first downstream instance scheduled at or
///   after it, or to the day's last downstream instance when none is (so that a daily job downstream
///   of an hourly one waits for all 24 hours of its day, and hourly jobs of the same cycle pair one
///   to one);
/// - a downstream instance that no upstream instance belongs to waits for the closest upstream
///   instance at or before it, or for the day's first one when there is none before it (so that every
///   hourly instance downstream of a daily job waits for the day's instance).
///
/// Week, month and year cycles have dry-run instances on their unselected days, which count as
/// succeeded: they never block. An upstream job with no instance in the day blocks nothing.
public enum UpstreamDependencies {
    /// The scheduled times (epoch seconds) of `upstream`'s instances that the instance of `downstream`
    /// scheduled at `time` waits for.
    public static func upstreamTimes(of time: Int64, downstream: InstanceCalendar, upstream: InstanceCalendar) -> [Int64] {
        let zone = downstream.zone
        let day = zone.civil(at: time).date
        let start = zone.instant(for: CivilDateTime(date: day, secondOfDay: 0))
        let end = zone.instant(for: CivilDateTime(date: day.adding(days: 1), secondOfDay: 0))
        let parents = upstream.instances(from: start, to: end).map(\.scheduledTime)
        var children = downstream.instances(from: start, to: end).map(\.scheduledTime)
        if !children.contains(time) { children = (children + [time]).sorted() }
        return assigned(parents: parents, children: children, child: time)
    }

    /// The pairing within one day, over sorted scheduled times.
    static func assigned(parents: [Int64], children: [Int64], child: Int64) -> [Int64] {
        guard let firstParent = parents.first, let lastChild = children.last else { return [] }
        let own = parents.filter { p in (children.first { $0 >= p } ?? lastChild) == child }
        if !own.isEmpty { return own }
        return [parents.last { $0 <= child } ?? firstParent]
    }

    /// The scheduled times of `downstream`'s instances that wait for `upstream`'s instance at
    /// `time`: the instances a rerun of that upstream instance affects.
    public static func downstreamTimes(of time: Int64, upstream: InstanceCalendar, downstream: InstanceCalendar) -> [Int64] {
        // Downstream instances that can wait for it are in the downstream days around the instant.
        let zone = downstream.zone
        let day = zone.civil(at: time).date
        let start = zone.instant(for: CivilDateTime(date: day.adding(days: -1), secondOfDay: 0))
        let end = zone.instant(for: CivilDateTime(date: day.adding(days: 2), secondOfDay: 0))
        return downstream.instances(from: start, to: end).map(\.scheduledTime).filter {
            upstreamTimes(of: $0, downstream: downstream, upstream: upstream).contains(time)
        }
    }
}

/// The dependency graph of a set of jobs (`schedule.dependsOn`), checked when jobs are loaded
/// together: every named job exists, and no job depends on itself through others.
public struct JobDependencyGraph: Sendable {
    /// Job name → the jobs it depends on.
    public let upstream: [String: [String]]

    public init(_ upstream: [String: [String]]) { self.upstream = upstream }

    /// The problems, one line each: unknown jobs, and each cycle with the jobs on it in order.
    public func problems() -> [String] {
        var out: [String] = []
        for (job, deps) in upstream.sorted(by: { $0.key < $1.key }) {
            for d in deps where upstream[d] == nil {
                out.append("job \(job) depends on \(d), which is not among the jobs loaded")
            }
        }
        for cycle in cycles() {
            out.append("dependency cycle: \((cycle + [cycle[0]]).joined(separator: " → "))")
        }
        return out
    }

    /// Each cycle once, starting at its smallest job name.
    func cycles() -> [[String]] {
        var found = Set<[String]>()
        func visit(_ job: String, _ path: [String]) {
            if let i = path.firstIndex(of: job) {
                let cycle = Array(path[i...])
                let pivot = cycle.indices.min { cycle[$0] < cycle[$1] } ?? 0
                found.insert(Array(cycle[pivot...] + cycle[..<pivot]))
                return
            }
            for d in upstream[job] ?? [] where upstream[d] != nil { visit(d, path + [job]) }
        }
        for job in upstream.keys { visit(job, []) }
        return found.sorted { $0.joined() < $1.joined() }
    }

    /// Jobs that depend on `job`, directly or through others, each after the jobs it depends on.
    public func downstream(of job: String) -> [String] {
        var reached = Set<String>()
        var frontier = [job]
        while let j = frontier.popLast() {
            for (d, ups) in upstream where ups.contains(j) && d != job && reached.insert(d).inserted { frontier.append(d) }
        }
        // Topological order within the reached jobs (Kahn), ties by name.
        var order: [String] = []
        var pending = reached
        while !pending.isEmpty {
            let ready = pending.filter { d in (upstream[d] ?? []).allSatisfy { !pending.contains($0) } }.sorted()
            guard !ready.isEmpty else { return order + pending.sorted() }   // a cycle: reported by `problems`
            order += ready
            pending.subtract(ready)
        }
        return order
    }
}
