import ArgumentParser
import Foundation
import SluiceCore
import SluiceRuntime
#if canImport(Glibc)
import Glibc
#endif
import SluiceScheduling
import SluiceLedger
import SluiceJob

/// Text and JSON renderings shared by the instance commands.
enum InstanceText {
    static let utc = SchedulingZone(timeZone: TimeZone(identifier: "UTC")!, identifier: "UTC")

    static func time(_ date: Date?, zone: SchedulingZone) -> String {
        guard let date else { return "-" }
        return zone.iso8601(Int64(date.timeIntervalSince1970.rounded(.down)))
    }

    static func jsonString<T: Encodable>(_ value: T) throws -> String { try InstanceViews.jsonString(value) }

    /// The bytes as text when they are UTF-8 without control characters, else as hex.
    static func bytes(_ b: [UInt8]?, fullLength: Int?) -> String {
        guard let b else { return "(null)" }
        var text: String
        if let s = String(validating: b, as: UTF8.self),
           !s.unicodeScalars.contains(where: { $0.value < 0x20 && $0 != "\t" }) {
            text = "\"" + s + "\""
        } else {
            text = "0x" + b.map { String(format: "%02x", $0) }.joined()
        }
        if let fullLength, fullLength > b.count { text += " … (\(fullLength) bytes)" }
        return text
    }

    /// Each attempt (who, where, how long, its phases and bytes) and the actions taken on the instance.
    static func attemptLines(_ shown: InstanceDetail, zone: SchedulingZone) -> [String] {
        var lines: [String] = []
        if !shown.attempts.isEmpty { lines.append("  attempts") }
        for a in shown.attempts {
            let t = a.attempt
            var l = "    #\(t.attempt) \(t.status.rawValue)  \(t.launchedBy) on \(t.host) (pid \(t.pid))  \(time(t.startedAt, zone: zone))"
            if let f = t.finishedAt { l += String(format: "  %.2fs", f.timeIntervalSince(t.startedAt)) }
            let order = ["setup", "destination", "plan", "open", "read", "commit", "finish"]
            let phases = (a.phases ?? [:]).sorted { (order.firstIndex(of: $0.key) ?? 99) < (order.firstIndex(of: $1.key) ?? 99) }
            if !phases.isEmpty { l += "  (" + phases.map { "\($0.key) " + String(format: "%.2fs", $0.value) }.joined(separator: ", ") + ")" }
            if let b = a.bytesRead, b > 0 { l += "  \(b) bytes read" }
            lines.append(l)
        }
        if !shown.shards.isEmpty { lines.append("  shards (attempt \(shown.shards[0].attempt))") }
        for sh in shown.shards {
            let ranges = sh.plan.partitions.map { "\($0.partition)@\($0.fromOffset)-\($0.toOffset)" }.joined(separator: " ")
            var l = "    shard \(sh.shard) \(sh.status.rawValue)  \(sh.worker ?? "-") (claim \(sh.fence))  partitions \(ranges)"
            if let r = sh.result {
                l += "  read \(r.summary.delivered), rows \(r.rows), late \(r.summary.late), dirty \(r.dirty)" + String(format: "  %.2fs", r.seconds)
            }
            if let e = sh.error { l += "  error: \(e)" }
            lines.append(l)
        }
        if !shown.actions.isEmpty { lines.append("  actions") }
        for a in shown.actions {
            lines.append("    \(time(a.at, zone: zone)) \(a.actor) \(a.action)\(a.detail.map { " (\($0))" } ?? ""): \(a.outcome)")
        }
        return lines
    }

    static func parseID(_ text: String) throws -> Int64 {
        guard let id = Int64(text.hasPrefix("#") ? String(text.dropFirst()) : text), id > 0 else {
            throw SluiceError.invalid("'\(text)' is not an instance ID", hint: "IDs are the numbers `sluice instance list` lists")
        }
        return id
    }

    static func require(_ ledger: any Ledger, _ id: Int64) async throws -> InstanceRecord {
        guard let r = try await ledger.instance(id: id) else {
            throw SluiceError.invalid("there is no instance \(id) in the ledger \(ledger.description)",
                                      hint: "list instances with `sluice instance list`")
        }
        return r
    }
}

struct Instances: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List instances from the ledger.",
        discussion: """
        JOB is a job file (its name filters, and its ledger is .sluice/ next to it) or a job name (with --state-dir, or ./.sluice). --from/--to bound the scheduled time, [from, to), read in the job's zone (the machine's without a job file). Status `skipped` is an instance the scheduler never ran (e.g. catchUp: latest), recorded with its reason.

        Examples:
          sluice instance list jobs/events_hourly.yaml --status failed
          sluice instance list events_hourly --state-dir /var/lib/sluice --from 2022-11-22 --to 2022-11-23 --json
        """)

    @Argument(help: "A job file or job name.")
    var job: String?

    @Option(help: ArgumentHelp("Only instances with this status (pending, waiting, running, succeeded, failed, killed, dryRun, skipped).", valueName: "STATUS"))
    var status: String?

    @Option(help: ArgumentHelp("Scheduled at or after this time (yyyy-mm-dd[ hh:mm[:ss]]).", valueName: "TIME"))
    var from: String?

    @Option(help: ArgumentHelp("Scheduled before this time.", valueName: "TIME"))
    var to: String?

    @Option(help: "At most this many instances (the most recent).")
    var limit: Int?

    @OptionGroup var location: LedgerOptions

    @Flag(help: "Print JSON.")
    var json = false

    func run() async throws {
        try await runReportingErrors {
            var jobName: String?
            var jobFile: String?
            var zone = SchedulingZone.machine
            if let job {
                if FileManager.default.fileExists(atPath: job) {
                    let loaded = try JobFiles.load(path: job)
                    jobName = loaded.spec.name
                    jobFile = job
                    zone = try SchedulingZone.forJob(loaded.spec, fallback: .machine)
                } else {
                    jobName = job
                }
            }
            let (wanted, onlySkipped) = try InstanceViews.statusFilter(status)
            func instant(_ text: String?, _ name: String) throws -> Date? {
                guard let text else { return nil }
                return Date(timeIntervalSince1970: Double(zone.instant(for: try WallTime.parseDisplay(text, subject: name))))
            }
            let fromDate = try instant(from, "--from"), toDate = try instant(to, "--to")
            let (ledger, _, _) = try await location.open(jobFile: jobFile)
            var rows = try await InstanceViews.list(
                ledger, InstanceFilter(job: jobName, status: wanted, scheduledFrom: fromDate, scheduledBefore: toDate),
                onlySkipped: onlySkipped)
            if let limit, rows.count > limit { rows = Array(rows.suffix(max(0, limit))) }
            if json {
                print(try InstanceText.jsonString(rows))
                return
            }
            if rows.isEmpty {
                printError("no instances")
                return
            }
            print("ID\tJOB\tSCHEDULED\tSTATUS\tATTEMPTS\tREAD\tWRITTEN\tDIRTY\tPARTITION\tNOTE")
            for row in rows {
                let r = row.instance, note = row.note
                print("\(r.id)\t\(r.job)\t\(InstanceText.time(r.scheduledAt, zone: zone))\t\(row.displayStatus)\t\(r.attempts)\t\(r.counts.read)\t\(r.counts.written)\t\(r.counts.dirty)\t\(r.partition ?? "")\t\(note)")
            }
        }
    }
}

struct InstanceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "instance",
        abstract: "List, inspect and operate instances.",
        discussion: """
        The older spellings `sluice instances`, `sluice rerun`, `sluice kill`, `sluice set-success` and `sluice dirty` run the same commands.

        Examples:
          sluice instance list jobs/events_hourly.yaml --status failed
          sluice instance show 42 --job jobs/events_hourly.yaml
          sluice instance rerun 42 --job jobs/events_hourly.yaml
        """,
        subcommands: [Instances.self, ShowInstance.self, Rerun.self, Kill.self, SetSuccess.self, Dirty.self])
}

/// An instance command under its older top-level spelling (`sluice rerun` for `sluice instance
/// rerun`), hidden from `--help`.
struct LegacySpelling<Command: AsyncParsableCommand>: AsyncParsableCommand {
    static var configuration: CommandConfiguration {
        let current = Command.configuration
        let name = current.commandName == "list" ? "instances" : current.commandName
        return CommandConfiguration(commandName: name, abstract: current.abstract, discussion: current.discussion,
                                    shouldDisplay: false)
    }

    @OptionGroup var command: Command

    mutating func run() async throws { try await command.run() }
}

struct ShowInstance: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Show an instance: parameters, plan, counts, timings, log and dirty records.",
        discussion: """
        Times are shown in the machine's zone unless --job names the job file (then in its zone).

        Examples:
          sluice instance show 42 --state-dir /var/lib/sluice
          sluice instance show 42 --job jobs/events_hourly.yaml --json
        """)

    @Argument(help: "The instance ID.")
    var id: String

    @Option(help: ArgumentHelp("The job file (its ledger is .sluice/ next to it; times in its zone).", valueName: "FILE"))
    var job: String?

    @OptionGroup var location: LedgerOptions

    @Option(help: "Dirty records to show.")
    var dirtyLimit = 20

    @Flag(help: "Print JSON.")
    var json = false

    func run() async throws {
        try await runReportingErrors {
            let id = try InstanceText.parseID(self.id)
            var zone = SchedulingZone.machine
            if let job { zone = try SchedulingZone.forJob(try JobFiles.load(path: job).spec, fallback: .machine) }
            let (ledger, _, _) = try await location.open(jobFile: job)
            guard let shown = try await InstanceViews.detail(ledger, id: id, dirtyLimit: dirtyLimit) else {
                _ = try await InstanceText.require(ledger, id)
                return
            }
            let r = shown.instance
            if json {
                print(try InstanceText.jsonString(shown))
                return
            }
            var lines = ["instance \(r.id) of \(r.job): \(shown.status)"]
            lines.append("  scheduled   \(InstanceText.time(r.scheduledAt, zone: zone))   bizdate \(r.businessDate ?? "-")")
            lines.append("  partition   \(r.partition.map { $0.isEmpty ? "(none)" : $0 } ?? "-")")
            if r.windowStart != nil || r.windowEnd != nil {
                lines.append("  window      [\(InstanceText.time(r.windowStart, zone: zone)), \(InstanceText.time(r.windowEnd, zone: zone)))")
            }
            lines.append("  attempts    \(r.attempts)")
            lines.append("  created     \(InstanceText.time(r.createdAt, zone: zone))")
            lines.append("  started     \(InstanceText.time(r.startedAt, zone: zone))")
            lines.append("  finished    \(InstanceText.time(r.finishedAt, zone: zone))"
                         + ((r.startedAt != nil && r.finishedAt != nil)
                            ? String(format: "  (%.1fs)", r.finishedAt!.timeIntervalSince(r.startedAt!)) : ""))
            if let retry = shown.retryAt { lines.append("  retry at    \(InstanceText.time(retry, zone: zone))") }
            if let s = shown.skipReason { lines.append("  skipped     \(s)") }
            if let w = shown.waitReason { lines.append("  waiting     \(w)") }
            if let s = r.successReason { lines.append("  set to success by hand: \(s)") }
            if let e = r.error { lines.append("  error       \(e)") }
            let c = r.counts
            lines.append("  records     \(c.read) read, \(c.written) written, \(c.dirty) dirty, \(c.late) late, \(c.early) early, \(c.skipped) skipped")
            if !r.parameters.isEmpty {
                lines.append("  parameters")
                for k in r.parameters.keys.sorted() { lines.append("    \(k)=\(r.parameters[k]!)") }
            }
            lines += InstanceText.attemptLines(shown, zone: zone)
            if let plan = shown.plan {
                let plannedAt = Date(timeIntervalSince1970: Double(plan.window.plannedAtMillis) / 1000)
                lines.append("  plan        topic \(plan.window.topic), \(plan.windowMode.rawValue), planned \(InstanceText.time(plannedAt, zone: zone))")
                for e in plan.window.partitions {
                    var l = "    p\(e.partition)  [\(e.fromOffset), \(e.toOffset))"
                    if let wanted = e.resetFromOffset { l += "  (reset from \(wanted))" }
                    if let end = plan.readEnds[e.partition] { l += "  read to \(end)" }
                    lines.append(l)
                }
            } else {
                lines.append("  plan        (none stored)")
            }
            if !shown.dirtyRecords.isEmpty {
                lines.append("  dirty records (first \(shown.dirtyRecords.count); all: sluice instance dirty \(r.id))")
                for d in shown.dirtyRecords {
                    lines.append("    p\(d.partition)@\(d.offset) \(d.column.map { "column \($0): " } ?? "")\(d.reason)")
                }
            }
            lines.append("  log")
            if shown.log.isEmpty { lines.append("    (empty)") }
            for l in shown.log {
                lines.append("    \(InstanceText.time(l.at, zone: zone)) #\(l.attempt) \(l.level.rawValue): \(l.message)")
            }
            print(lines.joined(separator: "\n"))
        }
    }
}

struct Rerun: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rerun",
        abstract: "Run an instance again, replaying its stored plan.",
        discussion: """
        Runs the instance again in this process with its scheduled time and business date; its stored offset plan is replayed, so the partition comes out as the first successful run would have written it. The plan is replayed only while the job gives the instance the same window (begin, end, destination partition, topic, windowMode, Kafka partitions): after a change the rerun is refused, naming it, unless --replan plans the window anew (the ledger then records the new window). In append mode the rerun replaces the instance's own earlier rows in the SQLite warehouse, in the same commit; MaxCompute cannot remove rows, so a rerun of an append instance that committed is refused unless --allow-duplicate-append is given. The job's rerun policy applies: `never` refuses, `onFailure` refuses a succeeded instance. The job file is --job, else the file the scheduler registered for the job.

        With --downstream, the instances of other jobs that wait for this one (their schedule.dependsOn, directly or through other jobs; the job files the scheduler registered) are rerun after it, upstream first and in scheduled order, stopping at the first failure.

        Exit codes: 0 succeeded, 1 the run failed, 2 invalid input (or the policy refuses).

        Examples:
          sluice instance rerun 42 --job jobs/events_hourly.yaml
          sluice instance rerun 42 --downstream --state-dir /var/lib/sluice
        """)

    @Argument(help: "The instance ID.")
    var id: String

    @Option(help: ArgumentHelp("The job file (default: the one the scheduler registered).", valueName: "FILE"))
    var job: String?

    @OptionGroup var location: LedgerOptions

    @OptionGroup var jobOptions: JobOptions

    @Flag(help: "Wait for a running instance of the same job and partition instead of failing.")
    var wait = false

    @Flag(help: "Rerun an append instance although a destination that cannot replace its rows (MaxCompute) holds them already: they are added a second time.")
    var allowDuplicateAppend = false

    @Flag(help: "Then rerun the instances that wait for it (schedule.dependsOn of other jobs, directly or through others), upstream first; stop at the first that fails.")
    var downstream = false

    @Flag(help: "Plan the window anew with the job as it is now, instead of replaying the stored plan (needed when the job's window changed since).")
    var replan = false

    @Flag(help: "Print the outcome as JSON.")
    var json = false

    func run() async throws {
        try await runReportingErrors {
            let id = try InstanceText.parseID(self.id)
            let operations = try await location.operations(jobFile: job)
            let loaded = try jobOptions.load(try await operations.jobPath(of: try await operations.instance(id), given: job))
            var options = RunOptions()
            options.waitForLock = wait
            options.replan = replan
            options.allowDuplicateAppend = allowDuplicateAppend
            options.showProgress = !json
            if downstream {
                try await rerunDownstream(operations, id, loaded, options)
                return
            }
            do {
                let report = try await operations.rerun(id, job: loaded, options: options)
                if json { print(try ReportText.json(report)) } else { print(ReportText.summary(report)) }
            } catch let failure as RunFailure {
                if json { print(try ReportText.json(failure.report)) } else { print(ReportText.summary(failure.report)) }
                throw failure.error
            }
        }
    }

    private func rerunDownstream(_ operations: Operations, _ id: Int64, _ job: LoadedJob, _ options: RunOptions) async throws {
        let runs = try await operations.rerunWithDependants(id, job: job, options: options)
        if json {
            print(try InstanceText.jsonString(runs))
        } else {
            for r in runs {
                print("instance \(r.instanceId) of \(r.job) scheduled \(InstanceText.time(r.scheduledAt, zone: InstanceText.utc)): \(r.status)\(r.error.map { ": \($0)" } ?? "")")
            }
        }
        if let failed = runs.last, failed.status == "failed" || failed.status == "refused" {
            throw SluiceError(failed.status == "failed" ? .failed : .invalidInput,
                              "instance \(failed.instanceId) of \(failed.job) \(failed.status); the instances after it were not rerun")
        }
    }
}

struct Kill: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kill",
        abstract: "Stop a running instance and mark it killed.",
        discussion: """
        Marks the instance killed, then sends SIGTERM to the process holding its run lock (SIGKILL after --grace seconds). A run on another host (a shared PostgreSQL ledger) cannot be signalled: it stops at its commit, which the ledger refuses. The destination stays as it was: a run commits its partition atomically at the end. The scheduler does not rerun a killed instance automatically; `sluice instance rerun` does.

        Example:
          sluice instance kill 42 --state-dir /var/lib/sluice
        """)

    @Argument(help: "The instance ID.")
    var id: String

    @Option(help: ArgumentHelp("The job file (its ledger is .sluice/ next to it).", valueName: "FILE"))
    var job: String?

    @OptionGroup var location: LedgerOptions

    @Option(help: "Seconds to wait after SIGTERM before SIGKILL.")
    var grace = 10

    func run() async throws {
        try await runReportingErrors {
            let id = try InstanceText.parseID(self.id)
            let killed = try await location.operations(jobFile: job).kill(id, grace: .seconds(grace))
            let r = killed.instance
            if let pid = killed.signalledPid {
                print("instance \(id) of \(r.job): killed (pid \(pid) signalled)")
            } else if let remote = killed.remoteHolder {
                print("instance \(id) of \(r.job): killed; its run (\(remote)) is on another host: it stops at its commit, which is refused")
            } else {
                print("instance \(id) of \(r.job): killed (no process held its run lock)")
            }
            if r.status != .killed {
                printError("note: the run recorded \(r.status.rawValue) before it stopped")
            }
        }
    }
}

struct SetSuccess: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set-success",
        abstract: "Mark an instance successful by hand, with a reason.",
        discussion: """
        The reason is recorded with the instance (shown by `sluice instance list` and `instance show`). It unblocks the next instance of a self-dependent job. Refused while the instance runs.

        Example:
          sluice instance set-success 42 --reason "partition loaded by hand from the archive" --state-dir /var/lib/sluice
        """)

    @Argument(help: "The instance ID.")
    var id: String

    @Option(help: ArgumentHelp("Why (recorded).", valueName: "TEXT"))
    var reason: String

    @Option(help: ArgumentHelp("The job file (its ledger is .sluice/ next to it).", valueName: "FILE"))
    var job: String?

    @OptionGroup var location: LedgerOptions

    func run() async throws {
        try await runReportingErrors {
            let id = try InstanceText.parseID(self.id)
            let r = try await location.operations(jobFile: job).setSuccess(id, reason: reason)
            print("instance \(id) of \(r.job): succeeded (set by hand: \(reason))")
        }
    }
}

struct Dirty: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dirty",
        abstract: "List the dirty records of an instance.",
        discussion: """
        Each record: partition, offset, timestamp, column, reason and the raw key and value (as text when they are UTF-8, else hex; cut to the ledger's per-field limit, with the full length shown).

        Examples:
          sluice instance dirty 42 --state-dir /var/lib/sluice
          sluice instance dirty 42 --job jobs/events_hourly.yaml --json
        """)

    @Argument(help: "The instance ID.")
    var id: String

    @Option(help: ArgumentHelp("The job file (its ledger is .sluice/ next to it).", valueName: "FILE"))
    var job: String?

    @OptionGroup var location: LedgerOptions

    @Option(help: "At most this many records.")
    var limit: Int?

    @Flag(help: "Print JSON (key and value base64-encoded).")
    var json = false

    func run() async throws {
        try await runReportingErrors {
            let id = try InstanceText.parseID(self.id)
            let (ledger, _, _) = try await location.open(jobFile: job)
            let r = try await InstanceText.require(ledger, id)
            let records = try await ledger.dirtyRecords(id: id, limit: limit)
            if json {
                struct Out: Codable {
                    var partition: Int32, offset: Int64, timestamp: String, timestampMillis: Int64
                    var column: String?, reason: String, key: Data?, value: Data?, keyLength: Int?, valueLength: Int?
                }
                print(try InstanceText.jsonString(records.map {
                    Out(partition: $0.partition, offset: $0.offset,
                        timestamp: InstanceText.utc.iso8601(millis: $0.timestampMillis), timestampMillis: $0.timestampMillis,
                        column: $0.column, reason: $0.reason, key: $0.key.map { Data($0) }, value: $0.value.map { Data($0) },
                        keyLength: $0.keyLength, valueLength: $0.valueLength)
                }))
                return
            }
            if records.isEmpty {
                print("instance \(id) of \(r.job): no dirty records stored (\(r.counts.dirty) counted)")
                return
            }
            print("instance \(id) of \(r.job): \(records.count) dirty record(s) stored, \(r.counts.dirty) counted")
            for d in records {
                print("p\(d.partition)@\(d.offset)  \(InstanceText.utc.iso8601(millis: d.timestampMillis))  \(d.column ?? "-")  \(d.reason)")
                print("    key   \(InstanceText.bytes(d.key, fullLength: d.keyLength))")
                print("    value \(InstanceText.bytes(d.value, fullLength: d.valueLength))")
            }
        }
    }
}
