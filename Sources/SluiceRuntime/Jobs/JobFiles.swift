import Foundation
import SluiceCore
import SluiceJob
import SluiceScheduling
import SluiceLedger

/// Reads job files (and their data-source and schedule sidecar files) from disk.
public enum JobFiles {
    /// The job files of `roots`: each file as given, and the `.yaml`, `.yml` and `.json` files of each
    /// directory (not hidden ones, not `.schedule.yaml` sidecars), sorted by name.
    public static func files(in roots: [String]) -> [String] {
        var result: [String] = []
        for root in roots {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: root, isDirectory: &isDir) else { continue }
            if !isDir.boolValue { result.append(root); continue }
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
            for e in entries.sorted() where [".yaml", ".yml", ".json"].contains(where: { e.hasSuffix($0) })
                && !e.hasSuffix(".schedule.yaml") && !e.hasSuffix(".schedule.yml") && !e.hasPrefix(".") {
                result.append((root as NSString).appendingPathComponent(e))
            }
        }
        return result
    }

    /// Loads and validates a job file. Throws `JobFileError` (every problem, exit 2) or `SluiceError`.
    ///
    /// - `datasourcesPath`: a YAML file of named connections for DataWorks `datasource` references.
    /// - `parameters`: `--param name=expr` definitions, added to or replacing the job's own.
    /// A DataWorks job `X.json` also picks up a sidecar schedule `X.schedule.yaml` when present.
    public static func load(path: String, datasourcesPath: String? = nil,
                            parameters: [ParameterDefinition] = []) throws -> LoadedJob {
        let data = try read(path, what: "job file")
        var options = JobLoadOptions(parameters: parameters)
        if let ds = datasourcesPath {
            options.datasources = try DataSourceCatalog.parse(data: try read(ds, what: "data-source file"), fileName: ds)
        }
        let base = (path as NSString).deletingPathExtension
        for candidate in [base + ".schedule.yaml", base + ".schedule.yml"] where FileManager.default.fileExists(atPath: candidate) {
            options.sidecarSchedule = try read(candidate, what: "schedule file")
            break
        }
        let directory = (path as NSString).deletingLastPathComponent
        return try JobLoader.parse(data: data, fileName: path, directory: directory.isEmpty ? "." : directory,
                                   options: options)
    }

    /// The jobs the ledger knows the files of (those a scheduler or a backfill ran), by name, with
    /// `job` among them; a file that no longer loads, or now holds another job, is left out.
    public static func registered(in ledger: any Ledger, including job: LoadedJob) async throws -> [String: LoadedJob] {
        var loaded: [String: LoadedJob] = [job.spec.name: job]
        for registered in try await ledger.registeredJobs() where loaded[registered.job] == nil {
            if let j = try? load(path: registered.path), j.spec.name == registered.job { loaded[j.spec.name] = j }
        }
        return loaded
    }

    /// Jobs downstream of `job` (schedule.dependsOn, directly or through others) among those the
    /// ledger knows, each after the jobs it depends on.
    public static func downstream(of job: LoadedJob, in ledger: any Ledger) async throws -> [LoadedJob] {
        let loaded = try await registered(in: ledger, including: job)
        let graph = JobDependencyGraph(loaded.mapValues { $0.spec.schedule?.dependsOn ?? [] })
        return graph.downstream(of: job.spec.name).compactMap { loaded[$0] }
    }

    /// Parses `name=expr` pairs from `--param` options.
    public static func parameters(_ pairs: [String]) throws -> [ParameterDefinition] {
        try pairs.map { pair in
            guard let eq = pair.firstIndex(of: "="), eq != pair.startIndex else {
                throw SluiceError.invalid("--param '\(pair)' is not name=value", hint: "e.g. --param startTime='$[yyyymmddhh24-1/24]0000'")
            }
            return ParameterDefinition(name: String(pair[..<eq]), expression: String(pair[pair.index(after: eq)...]))
        }
    }

    static func read(_ path: String, what: String) throws -> Data {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw JobFileError([Diagnostic(file: path, path: "", message: "no such \(what)")])
        }
        guard !isDir.boolValue, let data = FileManager.default.contents(atPath: path) else {
            throw JobFileError([Diagnostic(file: path, path: "", message: isDir.boolValue ? "is a directory, not a \(what)" : "cannot read the \(what)")])
        }
        return data
    }
}

extension JobFiles {
    /// Same as `load(path:datasourcesPath:parameters:)` with `--param` values as a dictionary.
    public static func load(path: String, datasourcesPath: String? = nil,
                            parameterOverrides: [String: String]) throws -> LoadedJob {
        try load(path: path, datasourcesPath: datasourcesPath,
                 parameters: parameterOverrides.keys.sorted().map { ParameterDefinition(name: $0, expression: parameterOverrides[$0]!) })
    }
}
