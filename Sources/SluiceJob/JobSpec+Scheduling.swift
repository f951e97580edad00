import SluiceCore
import SluiceScheduling

extension SchedulingZone {
    /// The zone for a job: `schedule.timeZone`, else `source.timeZone`, else `fallback` (the
    /// application passes the machine's zone).
    public static func forJob(_ job: JobSpec, fallback: SchedulingZone) throws -> SchedulingZone {
        if let id = job.schedule?.timeZone ?? job.source.timeZone { return try named(id) }
        return fallback
    }
}

extension InstanceCalendar {
    /// The calendar of a job's schedule in the job's scheduling zone (`schedule.timeZone`, else
    /// `source.timeZone`, else `fallback`: the machine's); nil when the job has no schedule.
    public static func forJob(_ job: JobSpec, fallback: SchedulingZone) throws -> InstanceCalendar? {
        guard let schedule = job.schedule else { return nil }
        return try InstanceCalendar(schedule, zone: SchedulingZone.forJob(job, fallback: fallback))
    }
}
