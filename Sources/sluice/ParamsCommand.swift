import ArgumentParser
import Foundation
import SluiceCore
import SluiceRuntime
import SluiceScheduling
import SluiceJob

struct Params: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "params",
        abstract: "Evaluate DataWorks scheduling parameter expressions, or a job's parameters and window.",
        discussion: """
        With expressions, prints each evaluated value on its own line, in order; they may reference parameters defined with --param as ${name}, and $jobid, $nodeid and $taskid are an error there (they name a job's instance). With a single job file (.yaml, .yml or .json), prints name=value for each of its parameters, then the resolved window (window.begin, window.end as ISO-8601 instants with offsets) and the destination partition (destination.partition).

        --at is the scheduled time, read in the zone (--tz, else the job's schedule.timeZone, else source.timeZone, else the machine's). The business date is the scheduled date - 1 unless --bizdate gives it. With --backfill, --bizdate D runs as a backfill: the scheduled time is D + 1 at --at's time of day (00:00:00 without --at).

        Examples:
          sluice params --at "2022-11-22 10:05:00" '$[yyyymmddhh24-1/24]0000'
          sluice params --bizdate 20250315 --backfill '${yyyymmdd}' '$[yyyymmdd]'
          sluice params --at 20221122100500 --param 'hour=$[hh24]' 'ds=${hour}'
          sluice params jobs/events_hourly.yaml --at "2022-11-22 10:05:00"
        """)

    @Option(help: ArgumentHelp("The scheduled time: yyyy-mm-dd hh:mm[:ss] (or yyyymmddhhmmss).", valueName: "TIME"))
    var at: String?

    @Option(help: ArgumentHelp("IANA time zone for --at and the expressions, e.g. Asia/Shanghai.", valueName: "ZONE"))
    var tz: String?

    @Option(help: ArgumentHelp("The business date (yyyymmdd); default: the scheduled date - 1.", valueName: "YYYYMMDD"))
    var bizdate: String?

    @Flag(help: "Backfill semantics for --bizdate: the scheduled date is the business date + 1.")
    var backfill = false

    @OptionGroup var options: JobOptions

    @Argument(help: "Expressions, or one job file.")
    var arguments: [String] = []

    /// One argument naming an existing .yaml/.yml/.json file is a job; anything else is expressions.
    static func isJobArgument(_ arguments: [String]) -> Bool {
        guard arguments.count == 1, let arg = arguments.first, !arg.contains("$") else { return false }
        let lower = arg.lowercased()
        return (lower.hasSuffix(".yaml") || lower.hasSuffix(".yml") || lower.hasSuffix(".json"))
            && FileManager.default.fileExists(atPath: arg)
    }

    func run() throws {
        try runReportingErrors {
            if Params.isJobArgument(arguments) {
                try runJob(arguments[0])
            } else {
                guard !arguments.isEmpty else {
                    throw SluiceError.invalid("no expression given", hint: "e.g. sluice params --at \"2022-11-22 10:05:00\" '$[yyyymmddhh24]'")
                }
                try runExpressions()
            }
        }
    }

    /// Evaluates the arguments as values, with the `--param` definitions as their parameters.
    private func runExpressions() throws {
        let zone = try tz.map { try SchedulingZone.named($0) } ?? .machine
        let set = try CompiledParameterSet(try JobFiles.parameters(options.params))
        let compiled = try arguments.enumerated().map { i, text in
            try set.value(text, subject: arguments.count > 1 ? "expression \(i + 1)" : nil)
        }
        let used = compiled.reduce(set.builtins) { $0.union($1.builtins) }
        if let id = BuiltinValue.allCases.first(where: { $0.namesTheJob && used.contains($0) }) {
            throw SluiceError.invalid("`$\(id.rawValue)` names a job's instance, and these expressions belong to no job",
                                      hint: "evaluate it with the job's parameters: sluice params JOB --at TIME")
        }
        let context = try makeContext(zone: zone, ids: nil)
        try set.checkDates(context)
        for template in compiled { try template.checkDates(context) }
        let resolved = set.evaluate(context)
        for template in compiled { print(template.render(resolved)) }
    }

    private func runJob(_ path: String) throws {
        let loaded = try options.load(path)
        for w in loaded.warnings { printError(w.description) }
        let job = loaded.spec
        let zone = try tz.map { try SchedulingZone.named($0) } ?? SchedulingZone.forJob(job, fallback: .machine)
        let compiled = try CompiledJobParameters(job: job, zone: zone)
        let context = try makeContext(zone: zone, ids: job.name)
        let resolved = try compiled.resolve(context)
        var out = ""
        for (name, value) in resolved.parameters.pairs { out += "\(name)=\(value)\n" }
        out += "window.begin=\(Params.describe(resolved.begin, zone: compiled.boundZone))\n"
        out += "window.end=\(Params.describe(resolved.end, zone: compiled.boundZone))\n"
        out += "destination.partition=\(resolved.partition)\n"
        print(out, terminator: "")
    }

    private func makeContext(zone: SchedulingZone, ids jobName: String?) throws -> EvaluationContext {
        let businessDate = try bizdate.map { try WallTime.parseDate($0, subject: "--bizdate") }
        let at = try self.at.map { try WallTime.parseDisplay($0, subject: "--at") }
        var context: EvaluationContext
        if backfill {
            guard let businessDate else {
                throw SluiceError.invalid("--backfill needs --bizdate", hint: "e.g. --bizdate 20250315 --backfill")
            }
            context = .backfill(businessDate: businessDate, secondOfDay: at?.secondOfDay ?? 0, zone: zone)
        } else {
            guard let at else {
                throw SluiceError.invalid("--at is required: the scheduled time, e.g. --at \"2022-11-22 10:05:00\"")
            }
            context = EvaluationContext(scheduledLocal: at, zone: zone, businessDate: businessDate)
        }
        if let jobName {
            context.jobId = jobName
            context.nodeId = jobName
            context.taskId = "\(jobName).\(context.scheduledLocal.compact)"
        }
        return context
    }

    static func describe(_ bound: ResolvedBound, zone: SchedulingZone) -> String {
        switch bound {
        case .instant(let millis): zone.iso8601(millis: millis)
        case .offset(let o): "offset \(o)"
        case .earliest: "earliest"
        case .latest: "latest"
        case .groupOffset: "group offset"
        }
    }
}
