import ArgumentParser
import Foundation
import SluiceCore
import SluiceRuntime
import SluiceScheduling

struct Schedule: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedule",
        abstract: "Inspect a job's schedule.",
        subcommands: [SchedulePreview.self])
}

struct SchedulePreview: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "preview",
        abstract: "List a job's instances in a time range with their business dates and parameters.",
        discussion: """
        Prints one line per instance scheduled in [--from, --to): the scheduled time (ISO-8601 with offset), bizdate=YYYYMMDD, then name=value for each parameter. Week and month cycles also list the daily dry-run instances on unselected days, marked dry-run; so is a day, week or month instance whose time a spring-forward gap skips (delayed by the gap, as DataWorks does). Times are read and shown in the job's scheduling zone (schedule.timeZone, else source.timeZone, else the machine's; --tz overrides). With --backfill-from/--backfill-to, lists the backfill instances of those business dates instead (scheduled date = business date + 1).

        Examples:
          sluice schedule preview jobs/events_hourly.yaml \\
              --from "2022-11-22 00:00" --to "2022-11-23 00:00"
          sluice schedule preview jobs/events_daily.yaml \\
              --backfill-from 20250301 --backfill-to 20250307
        """)

    @Argument(help: "The job file.")
    var job: String

    @Option(help: ArgumentHelp("Start of the range (inclusive): yyyy-mm-dd hh:mm[:ss].", valueName: "TIME"))
    var from: String?

    @Option(help: ArgumentHelp("End of the range (exclusive): yyyy-mm-dd hh:mm[:ss].", valueName: "TIME"))
    var to: String?

    @Option(name: .customLong("backfill-from"), help: ArgumentHelp("First business date of a backfill (yyyymmdd).", valueName: "YYYYMMDD"))
    var backfillFrom: String?

    @Option(name: .customLong("backfill-to"), help: ArgumentHelp("Last business date of a backfill (yyyymmdd), inclusive.", valueName: "YYYYMMDD"))
    var backfillTo: String?

    @Option(help: ArgumentHelp("IANA time zone overriding the job's scheduling zone.", valueName: "ZONE"))
    var tz: String?

    @Option(help: "Print at most this many instances.")
    var limit: Int = 100_000

    @OptionGroup var options: JobOptions

    func run() throws {
        try runReportingErrors {
            let loaded = try options.load(job)
            for w in loaded.warnings { printError(w.description) }
            let spec = loaded.spec
            guard let schedule = spec.schedule else {
                throw SluiceError.invalid("\(job): the job has no schedule block",
                                          hint: "add schedule: { cycle: hour, start: \"00:15\", … } (for a DataWorks job: a JOB.schedule.yaml next to it)")
            }
            let zone = try tz.map { try SchedulingZone.named($0) } ?? SchedulingZone.forJob(spec, fallback: .machine)
            let calendar = try InstanceCalendar(schedule, zone: zone)
            let parameters = try CompiledParameterSet(schedule.parameters)
            let instances: [ScheduledInstance]
            if backfillFrom != nil || backfillTo != nil {
                guard let f = backfillFrom, let t = backfillTo else {
                    throw SluiceError.invalid("give both --backfill-from and --backfill-to")
                }
                let first = try WallTime.parseDate(f, subject: "--backfill-from")
                let last = try WallTime.parseDate(t, subject: "--backfill-to")
                instances = calendar.backfill(businessDates: first, through: last)
            } else {
                guard let from, let to else {
                    throw SluiceError.invalid("give --from and --to (or --backfill-from and --backfill-to)",
                                              hint: "e.g. --from \"2022-11-22 00:00\" --to \"2022-11-23 00:00\"")
                }
                let start = zone.instant(for: try WallTime.parseDisplay(from, subject: "--from"))
                let end = zone.instant(for: try WallTime.parseDisplay(to, subject: "--to"))
                instances = calendar.instances(from: start, to: end)
            }
            // Offsets are fixed, so the first and the last instance reach the extreme dates.
            for instance in [instances.first, instances.prefix(max(0, limit)).last].compactMap({ $0 }) {
                try parameters.checkDates(instance.context(zone: zone, jobId: spec.name, nodeId: spec.name))
            }
            var values: [String] = []
            var out = ""
            for instance in instances.prefix(max(0, limit)) {
                var context = instance.context(zone: zone, jobId: spec.name, nodeId: spec.name)
                context.taskId = "\(spec.name).\(context.scheduledLocal.compact)"
                parameters.evaluate(context, into: &values)
                out += zone.iso8601(instance.scheduledTime)
                out += " bizdate=\(instance.businessDate.compact)"
                if instance.isDryRun { out += " dry-run" }
                for (name, value) in zip(parameters.names, values) { out += " \(name)=\(value)" }
                out += "\n"
                if out.utf8.count > 1 << 16 {
                    print(out, terminator: "")
                    out = ""
                }
            }
            print(out, terminator: "")
            if instances.count > limit {
                printError("… \(instances.count - limit) more instances (raise --limit)")
            }
        }
    }
}
