import Foundation
import SluiceCore
import SluiceScheduling
import SluiceJob
import SluiceKafka
import SluiceLedger

/// A job as the console's job page and `GET /api/jobs/NAME` show it.
public struct JobView: Sendable, Hashable, Codable {
    public var name: String
    /// The job file, when the console was given it (or the scheduler registered it).
    public var path: String?
    /// The resolved job as Sluice YAML with every secret redacted (`sluice show`).
    public var resolvedSpec: String?
    public var schedule: ScheduleView?
    /// What an instance waits for before it runs.
    public var dependencies: [String]
    /// Recent business dates and how their instances ended, newest first.
    public var calendar: [BusinessDateOutcome]
    /// Why the job file could not be read, when it could not.
    public var problem: String?
}

/// A job's schedule and its next instances.
public struct ScheduleView: Sendable, Hashable, Codable {
    public var cycle: String
    public var zone: String
    public var rerun: String
    public var next: [UpcomingInstance]
}

/// An instance the schedule will create.
public struct UpcomingInstance: Sendable, Hashable, Codable {
    public var scheduledAt: Date
    /// The scheduled time in the job's zone, ISO-8601 with its offset.
    public var scheduledLocal: String
    public var businessDate: String
    public var dryRun: Bool
    public var parameters: [String: String]
}

/// How the instances of one business date ended.
public struct BusinessDateOutcome: Sendable, Hashable, Codable {
    public var businessDate: String
    /// `failed` when any failed, else `running`, `waiting` (not all final), `succeeded`, or `killed`.
    public var outcome: String
    public var instances: Int
    public var succeeded: Int
    public var failed: Int
}

/// Consumer lag of a job per Kafka partition: the topic's end offset minus where the last
/// committed (succeeded) instance ended.
public struct JobLag: Sendable, Hashable, Codable {
    public var job: String
    public var topic: String
    /// The succeeded instance the lag is measured from; nil when none has succeeded yet.
    public var instanceId: Int64?
    public var businessDate: String?
    public var partitions: [PartitionLag]
    public var total: Int64
    public var measuredAt: Date
}

public struct PartitionLag: Sendable, Hashable, Codable {
    public var partition: Int32
    public var endOffset: Int64
    /// Where the last committed instance ended reading this partition; nil when it did not read it.
    public var committedEnd: Int64?
    public var lag: Int64
}

/// The job views the console shows, each from the job file and the ledger.
public enum JobViews {
    /// The job page's content; `job` is nil when no job file is known for `name`.
    public static func view(name: String, job: LoadedJob?, problem: String? = nil, ledger: any Ledger, now: Date = Date(),
                            upcoming: Int = 10, days: Int = 14) async throws -> JobView {
        var view = JobView(name: name, path: job?.path, resolvedSpec: nil, schedule: nil, dependencies: [], calendar: [],
                           problem: problem)
        if let job {
            view.resolvedSpec = JobEmitter.yaml(job.spec, secrets: .redact).text
            view.schedule = try schedule(job.spec, after: now, count: upcoming)
            view.dependencies = dependencies(job.spec)
        }
        view.calendar = try await calendar(name: name, ledger: ledger, now: now, days: days)
        return view
    }

    /// What an instance of the job waits for.
    public static func dependencies(_ spec: JobSpec) -> [String] {
        let selfDependent = spec.schedule?.dependsOnPrevious ?? (spec.source.windowMode == .contiguous)
        return selfDependent ? ["the previous instance of \(spec.name) (self-dependent)"] : []
    }

    /// The schedule with its next `count` instances after `now`; nil for a job without schedule.
    public static func schedule(_ spec: JobSpec, after now: Date, count: Int) throws -> ScheduleView? {
        guard let schedule = spec.schedule, let calendar = try InstanceCalendar.forJob(spec, fallback: .machine) else { return nil }
        let parameters = try CompiledParameterSet(schedule.parameters)
        var values: [String] = []
        var next: [UpcomingInstance] = []
        var at = Int64(now.timeIntervalSince1970)
        while next.count < count, let i = calendar.next(after: at) {
            var context = i.context(zone: calendar.zone, jobId: spec.name, nodeId: spec.name)
            context.taskId = "\(spec.name).\(i.scheduledLocal.compact)"
            parameters.evaluate(context, into: &values)
            next.append(UpcomingInstance(
                scheduledAt: Date(timeIntervalSince1970: Double(i.scheduledTime)),
                scheduledLocal: calendar.zone.iso8601(i.scheduledTime), businessDate: i.businessDate.compact,
                dryRun: i.isDryRun, parameters: Dictionary(zip(parameters.names, values), uniquingKeysWith: { a, _ in a })))
            at = i.scheduledTime
        }
        return ScheduleView(cycle: "\(schedule.cycle.rawValue) from \(schedule.start) every \(schedule.interval)",
                            zone: calendar.zone.identifier, rerun: "\(schedule.rerun)", next: next)
    }

    /// The business dates of the job's instances scheduled in the last `days` days, newest first.
    public static func calendar(name: String, ledger: any Ledger, now: Date, days: Int) async throws -> [BusinessDateOutcome] {
        let since = now.addingTimeInterval(-Double(days) * 86_400)
        let records = try await ledger.instances(InstanceFilter(job: name, scheduledFrom: since, limit: 5000, newestFirst: true))
        var byDate: [String: [InstanceRecord]] = [:]
        for r in records { byDate[r.businessDate ?? "-", default: []].append(r) }
        return byDate.keys.sorted(by: >).map { date in
            let rs = byDate[date] ?? []
            let failed = rs.filter { $0.status == .failed }.count
            let succeeded = rs.filter { $0.status == .succeeded || $0.status == .dryRun }.count
            let outcome: String
            if failed > 0 { outcome = "failed" }
            else if rs.contains(where: { $0.status == .running }) { outcome = "running" }
            else if rs.contains(where: { !$0.status.isFinal }) { outcome = "waiting" }
            else if succeeded == rs.count { outcome = "succeeded" }
            else { outcome = "killed" }
            return BusinessDateOutcome(businessDate: date, outcome: outcome, instances: rs.count, succeeded: succeeded, failed: failed)
        }
    }

    /// The job's consumer lag now: the topic's end offsets from Kafka minus where the last succeeded
    /// instance ended (its read ends, else its planned ends).
    public static func lag(_ job: LoadedJob, source: KafkaSource, ledger: any Ledger, now: Date = Date()) async throws -> JobLag {
        let ends = try await source.endOffsets()
        let committed = try await ledger.previousSuccessfulEnd(job: job.spec.name, before: Date.distantFuture)
        let partitions = ends.keys.sorted().map { p -> PartitionLag in
            let end = ends[p] ?? 0
            let from = committed?.ends[p]
            return PartitionLag(partition: p, endOffset: end, committedEnd: from, lag: max(0, end - (from ?? 0)))
        }
        return JobLag(job: job.spec.name, topic: job.spec.source.topic, instanceId: committed?.instance.id,
                      businessDate: committed?.instance.businessDate, partitions: partitions,
                      total: partitions.reduce(0) { $0 + $1.lag }, measuredAt: now)
    }
}
