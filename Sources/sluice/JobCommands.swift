import ArgumentParser
import Foundation
import SluiceCore
import SluiceRuntime
import SluiceJob
import SluiceScheduling

struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check job files and report every problem at once.",
        discussion: """
        Each problem is printed as FILE:PATH: message (PATH like source.begin.time or steps[0].parameter.column[3]). Exits 2 when any file has an error; warnings (literal secrets, unresolved data sources) do not fail validation. Jobs validated together are also checked as a set: two jobs of one name, a schedule.dependsOn naming a job that is not among them, and dependency cycles (`sluice validate jobs/*.yaml`).

        Example:
          sluice validate jobs/events_hourly.yaml jobs/legacy.json --datasources datasources.yaml
        """)

    @Argument(help: "Job files: Sluice YAML/JSON or DataWorks script-mode JSON.")
    var jobs: [String]

    @OptionGroup var options: JobOptions

    @Flag(help: "Print only problems, not one `ok` line per valid file.")
    var quiet = false

    func run() throws {
        var failed = false
        var loaded: [(path: String, job: LoadedJob)] = []
        for path in jobs {
            do {
                let job = try options.load(path)
                for w in job.warnings { printError(w.description) }
                // The connection settings, checked as a run checks them.
                let connection = KafkaConnectionSettings.validate(job, secrets: SecretResolver(relativeTo: job.directory))
                    + AvroSchemaSettings.validate(job, secrets: SecretResolver(relativeTo: job.directory))
                for d in connection { printError(d.description) }
                if connection.contains(where: { $0.severity == .error }) { failed = true; continue }
                loaded.append((path, job))
                if !quiet { print("\(path): ok (\(job.format == .dataworks ? "DataWorks script job" : "Sluice job") '\(job.spec.name)')") }
            } catch let e as JobFileError {
                failed = true
                for d in e.diagnostics { printError(d.description) }
            } catch let e as SluiceError {
                failed = true
                printError("\(path): \(e.description)")
            }
        }
        if loaded.count > 1, !checkTogether(loaded) { failed = true }
        if failed { throw ExitCode(2) }
    }

    /// The checks of jobs as a set: unique names, and their dependency graph.
    private func checkTogether(_ loaded: [(path: String, job: LoadedJob)]) -> Bool {
        var ok = true
        var paths: [String: String] = [:]
        for (path, job) in loaded {
            if let other = paths[job.spec.name] {
                printError("\(path): name: job \(job.spec.name) is also the name of \(other)")
                ok = false
            }
            paths[job.spec.name] = path
        }
        let graph = JobDependencyGraph(Dictionary(loaded.map { ($0.job.spec.name, $0.job.spec.schedule?.dependsOn ?? []) },
                                                  uniquingKeysWith: { a, _ in a }))
        for problem in graph.problems() {
            printError("\(problem)")
            ok = false
        }
        return ok
    }
}

struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Print a job as resolved Sluice YAML, secrets redacted.",
        discussion: """
        DataWorks jobs are shown in Sluice's own shape; data sources are resolved when --datasources is given. Literal secrets print as ******; ${env:…} and ${file:…} references as written.

        Example:
          sluice show jobs/legacy.json --datasources datasources.yaml
        """)

    @Argument(help: "The job file.")
    var job: String

    @OptionGroup var options: JobOptions

    func run() throws {
        try runReportingErrors {
            let loaded = try options.load(job)
            for w in loaded.warnings { printError(w.description) }
            print(JobEmitter.yaml(loaded.spec, secrets: .redact).text, terminator: "")
        }
    }
}

struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Convert jobs from other tools into Sluice YAML.",
        subcommands: [ImportDataWorks.self])
}

struct ImportDataWorks: ParsableCommand {
    /// Whether the job's schedule comes from the job itself (a "schedule" object in the JSON, or a
    /// JOB.schedule.yaml sidecar) rather than from --param alone.
    static func hasOwnSchedule(_ path: String) -> Bool {
        let base = (path as NSString).deletingPathExtension
        if [base + ".schedule.yaml", base + ".schedule.yml"].contains(where: { FileManager.default.fileExists(atPath: $0) }) {
            return true
        }
        guard let data = FileManager.default.contents(atPath: path),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return false }
        return object["schedule"] != nil
    }

    static func scheduleNote(_ inferred: ScheduleInference.Inferred) -> String {
        let cycle: String
        switch inferred.cycle {
        case .minute: cycle = "a minute cycle every \(inferred.interval) minute\(inferred.interval == 1 ? "" : "s")"
        case .hour: cycle = "an hour cycle every \(inferred.interval) hour\(inferred.interval == 1 ? "" : "s") from 00:00"
        default: cycle = "a daily cycle at 00:00"
        }
        let why = inferred.because.map { "inferred from the --param expression of \($0)" }
            ?? "no --param expression has an hour or minute field or offset"
        return "note: the DataWorks job has no schedule (DataWorks keeps it with the node); the YAML gets \(cycle) (\(why)). Check schedule: against the node's scheduling properties."
    }

    static let configuration = CommandConfiguration(
        commandName: "dataworks",
        abstract: "Convert a DataWorks script-mode Kafka → MaxCompute job into Sluice YAML.",
        discussion: """
        Writes the equivalent Sluice YAML to standard output. Literal secrets in the DataWorks file (accessKey, SASL passwords) are not copied: they become ${env:NAME} references, and the variables to set are listed on standard error.

        Example:
          sluice import dataworks kafka_to_odps.json --datasources datasources.yaml \\
              --param 'startTime=$[yyyymmddhh24-1/24]0000' > events.yaml
        """)

    @Argument(help: "The DataWorks job JSON.")
    var job: String

    @OptionGroup var options: JobOptions

    func run() throws {
        try runReportingErrors {
            let loaded = try options.load(job)
            guard loaded.format == .dataworks else {
                throw SluiceError.invalid("\(job) is already a Sluice job file", hint: "use `sluice show \(job)` to print it resolved")
            }
            for w in loaded.warnings { printError(w.description) }
            var spec = loaded.spec
            if !Self.hasOwnSchedule(job), let schedule = spec.schedule {
                // A script-mode job holds no schedule (DataWorks keeps it with the node): say what is written.
                let inferred = ScheduleInference.infer(schedule.parameters)
                spec.schedule = ScheduleInference.schedule(inferred, parameters: schedule.parameters)
                printError(Self.scheduleNote(inferred))
            }
            let (text, env) = JobEmitter.yaml(spec, secrets: .moveToEnvironment)
            print(text, terminator: "")
            if !env.isEmpty {
                printError("note: literal secrets were replaced by references; set \(env.joined(separator: ", ")) in the environment before running")
            }
        }
    }
}
