import Foundation
import SluiceCore
import SluiceJob
import SluiceScheduling

/// Reads job files (and their data-source and schedule sidecar files) from disk.
public enum JobFiles {
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
