import Foundation
import SluiceCore
import SluiceScheduling

extension JobValidator {
    /// Warns when the job's windows, which tile the offsets on ordinary days, leave a span to no
    /// instance on a day clocks change: DataWorks schedules the repeated hour's instance at its second
    /// occurrence and hour offsets move the instant, so the usual hourly parameters read an hour of
    /// records nowhere (see docs/scheduling.md, "The days clocks change"). `contiguous` jobs read
    /// every offset whatever their windows say.
    func checkDaylightSavingWindows(_ job: JobSpec) {
        guard job.task == .sync, let schedule = job.schedule, [.minute, .hour, .day].contains(schedule.cycle),
              job.source.windowMode == .offsets,
              let name = schedule.timeZone ?? job.source.timeZone, let zone = try? SchedulingZone.named(name),
              let calendar = try? InstanceCalendar(schedule, zone: zone),
              let compiled = try? CompiledJobParameters(job: job, zone: zone) else { return }
        var cursor = Date()
        for _ in 0..<2 {
            guard let next = zone.timeZone.nextDaylightSavingTimeTransition(after: cursor) else { return }
            cursor = next
            let t = Int64(next.timeIntervalSince1970)
            // Windows that do not tile on ordinary days (a week earlier) are not the job's intent to tile.
            guard Self.uncovered(calendar, compiled, job, from: t - 9 * 86_400, to: t - 6 * 86_400) == nil,
                  let (start, end) = Self.uncovered(calendar, compiled, job, from: t - 86_400, to: t + 86_400)
            else { continue }
            reader.warning("schedule.cycle", "on \(zone.civil(at: t).date), when clocks change in \(name), no instance's window holds \(zone.iso8601(start)) – \(zone.iso8601(end)): as in DataWorks, a repeated wall time's instance is at its second occurrence and hour and minute offsets move the instant; with windowMode: offsets those records are read by no instance. Use windowMode: contiguous to read every offset")
            return
        }
    }

    /// The first span (epoch seconds) between consecutive instances' windows in `[from, to)` that
    /// no window holds; nil when they tile (or the windows are not times).
    static func uncovered(_ calendar: InstanceCalendar, _ compiled: CompiledJobParameters, _ job: JobSpec,
                          from: Int64, to: Int64) -> (Int64, Int64)? {
        var previousEnd: Int64?
        for instance in calendar.instances(from: from, to: to) where !instance.isDryRun {
            let context = instance.context(zone: calendar.zone, jobId: job.name, nodeId: job.name)
            guard let resolved = try? compiled.resolve(context),
                  case .instant(let begin) = resolved.begin, case .instant(let end) = resolved.end else { return nil }
            if let previousEnd, begin / 1000 > previousEnd { return (previousEnd, begin / 1000) }
            previousEnd = max(previousEnd ?? end / 1000, end / 1000)
        }
        return nil
    }
}
