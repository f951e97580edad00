import Foundation
import SluiceCore
import SluiceScheduling

/// Where each logical part of a job lives in its file, so that cross-checks name the right path in
/// either format.
struct JobPaths {
    var sourceField: (Int) -> String
    var destinationColumn: (Int) -> String
    var source: (String) -> String
    var destination: (String) -> String
    var parameter: (String) -> String
    var beginTime: String
    var endTime: String

    static func sluice(usesMappingList: Bool) -> JobPaths {
        JobPaths(
            sourceField: { usesMappingList ? "mapping[\($0)].from" : "columns[\($0)]" },
            destinationColumn: { usesMappingList ? "mapping[\($0)].to" : "destination.columns[\($0)]" },
            source: { "source.\($0)" },
            destination: { "destination.\($0)" },
            parameter: { "schedule.parameters.\($0)" },
            beginTime: "source.begin", endTime: "source.end")
    }

    /// An SQL node's: its database is `target`.
    static var sqlNode: JobPaths { JobPaths(
        sourceField: { "sql[\($0)]" }, destinationColumn: { "sql[\($0)]" }, source: { "sql.\($0)" },
        destination: { "target.\($0)" }, parameter: { "schedule.parameters.\($0)" }, beginTime: "sql", endTime: "sql") }

    static func dataWorks(readerIndex r: Int, writerIndex w: Int) -> JobPaths {
        let readerKey: (String) -> String = { key in
            let map = ["timeZone": "timeZone", "keyType": "keyType", "valueType": "valueType", "encoding": "encoding"]
            return "steps[\(r)].parameter.\(map[key] ?? key)"
        }
        let writerKey: (String) -> String = { key in
            let map = ["accessKeySecret": "accessKey", "accessKeyId": "accessId", "endpoint": "odpsServer",
                       "columns": "column"]
            return "steps[\(w)].parameter.\(map[key] ?? key)"
        }
        return JobPaths(
            sourceField: { "steps[\(r)].parameter.column[\($0)]" },
            destinationColumn: { "steps[\(w)].parameter.column[\($0)]" },
            source: readerKey,
            destination: writerKey,
            parameter: { "parameters.\($0)" },
            beginTime: "steps[\(r)].parameter.beginDateTime", endTime: "steps[\(r)].parameter.endDateTime")
    }
}

/// Cross-checks a job read from either format: mapping rules, field syntax, parameter references,
/// partition specs, time zones, types and secrets.
struct JobValidator {
    let reader: DocReader
    let paths: JobPaths

    func validate(_ job: JobSpec) {
        if job.task == .sync {
            checkMapping(job)
            checkValueFormat(job)
            checkSource(job.source)
            checkShards(job)
        }
        checkParameters(job)
        checkSecrets(job)
        if let upstream = job.schedule?.dependsOn, let i = upstream.firstIndex(of: job.name) {
            reader.error("schedule.dependsOn[\(i)]",
                         "job \(job.name) cannot depend on itself by name; `dependsOnPrevious: true` makes each instance wait for its previous one")
        }
        checkDaylightSavingWindows(job)
    }

    /// `shards` where a sharded write cannot happen (`sluice run --shards` is refused the same way).
    private func checkShards(_ job: JobSpec) {
        guard let n = job.shards, n > 1 else { return }
        switch job.destination.kind {
        case .sqlite:
            reader.error("shards", "shards: \(n) — the SQLite warehouse is written by one process; remove `shards`, or write PostgreSQL, MaxCompute or discard")
        case .maxcompute where n > 64:
            reader.error("shards", "shards: \(n) — a MaxCompute write takes at most 64 shards")
        default:
            break
        }
        if case .idle = job.source.completion {
            reader.error("shards", "shards: \(n) with idle completion: a shard reads exactly its planned offsets; remove source.completion or `shards`")
        }
    }

    private func checkMapping(_ job: JobSpec) {
        var usesJSONPaths: [String] = []
        for (i, m) in job.mapping.enumerated() {
            for issue in SourceField.check(m.from) {
                let text = "field '\(m.from)', character \(issue.position + 1): \(issue.message)"
                if issue.severity == .error { reader.error(paths.sourceField(i), text) } else { reader.warning(paths.sourceField(i), text) }
            }
            if let to = m.to, to.isEmpty { reader.error(paths.destinationColumn(i), "the destination column name is empty") }
            if let to = m.to, m.unit != nil || m.format != nil,
               let type = job.destination.columnTypes.first(where: { $0.key.lowercased() == to.lowercased() })?.value {
                switch type {
                case .datetime, .date, .timestamp: break
                default:
                    let key = m.unit != nil ? "unit" : "format"
                    reader.error("mapping[\(i)].\(key)", "`\(key)` applies to DATETIME, DATE and TIMESTAMP columns; column '\(to)' is \(type) in destination.columnTypes")
                }
            }
            switch try? SourceField(parsing: m.from) {
            case .valuePath?: usesJSONPaths.append(m.from)
            default: break
            }
        }
        for c in MappingRules.conflicts(in: job.mapping) {
            switch c.side {
            case .field:
                reader.error(paths.sourceField(c.second), "source field '\(c.name)' is already mapped at \(paths.sourceField(c.first)); one source field maps to one destination column")
            case .column:
                reader.error(paths.destinationColumn(c.second), "destination column '\(c.name)' is already mapped at \(paths.destinationColumn(c.first)); one destination column takes one source field")
            }
        }
        if !usesJSONPaths.isEmpty, ![.string, .bytearray].contains(job.source.valueType) {
            reader.error(paths.source("valueType"), "JSON paths (\(usesJSONPaths.joined(separator: ", "))) need valueType string or bytearray, not \(job.source.valueType.rawValue)")
        }
    }

    private func checkParameters(_ job: JobSpec) {
        let defined = Set(job.schedule?.parameters.map(\.name) ?? []).union(JobLoader.builtinParameters)
        // `example` is an expression for what the string holds (the hourly example's), nil when
        // the grammar has none (epoch milliseconds).
        func check(_ text: String, _ path: String, example: String?) {
            for name in ParameterReferences.names(in: text) where !defined.contains(name) {
                var msg = "`${\(name)}` is not a defined parameter"
                if name.isEmpty { msg = "`${}` names no parameter" }
                let shown = name.isEmpty ? "name" : name
                let suggested = Self.hourlyExamples[name] ?? example
                let hint = (job.schedule?.parameters.isEmpty ?? true)
                    ? "; define it under schedule.parameters" + (suggested.map { " (e.g. \(shown): \"\($0)\")" } ?? "")
                        + " or pass --param \(shown)=EXPR"
                    : didYouMean(name, Array(defined))
                reader.error(path, msg + hint)
            }
        }
        let templates: [(text: String, path: String)]
        if let statements = job.sqlStatements {
            templates = statements.map { ($0, "sql") }
            for t in templates { check(t.text, t.path, example: nil) }
        } else {
            templates = checkSyncTemplates(job, check: check)
        }
        // Parameter expressions: each parsed with the scheduling grammar (pointed messages), then the
        // set as a whole (references between parameters, cycles).
        let params = job.schedule?.parameters ?? []
        let index = Dictionary(params.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })
        var expressionsOK = true
        for p in params {
            do { try ParameterExpression.check(p.expression, parameterIndex: { index[$0] }) } catch {
                reader.error(paths.parameter(p.name), error.description)
                expressionsOK = false
            }
        }
        guard expressionsOK else { return }
        do {
            let set = try CompiledParameterSet(params)
            // Job strings that are templates over the parameters.
            for (text, path) in templates where ParameterReferences.names(in: text).allSatisfy(defined.contains) {
                do { _ = try set.template(parsing: text, subject: nil) } catch {
                    reader.error(path, error.description)
                }
            }
        } catch let e as SluiceError {
            reader.error(params.count == 1 ? paths.parameter(params[0].name) : "schedule.parameters", e.description)
        } catch {}
    }

    /// Checks the parameters a sync's bounds and partition use; returns those job strings, which are
    /// templates over the parameters.
    private func checkSyncTemplates(_ job: JobSpec, check: (String, String, String?) -> Void) -> [(text: String, path: String)] {
        let bounds = [(Self.boundText(job.source.begin), paths.beginTime, "$[yyyymmddhh24-1/24]0000"),
                      (Self.boundText(job.source.end), paths.endTime, "$[yyyymmddhh24]0000")]
        for (bound, path, example) in bounds {
            switch bound {
            case .time(let t)?:
                check(t, path, example)
                checkLiteralTime(t, path)
            case .millis(let t)?:
                check(t, path, nil)
                checkLiteralMillis(t, path)
            case nil: break
            }
        }
        let partitionPath = paths.destination("partition")
        check(job.destination.partition, partitionPath, "$[yyyymmddhh24]")
        // The partition spec must parse once its parameters are substituted.
        let probe = ParameterReferences.substitute(job.destination.partition) { _ in "X" }
        do { _ = try PartitionSpec(parsing: probe) } catch let e as SluiceError {
            reader.error(partitionPath, e.message)
        } catch {}
        var templates = [(job.destination.partition, partitionPath)]
        if case .time(let t) = job.source.begin { templates.append((t, paths.beginTime)) }
        if case .time(let t) = job.source.end { templates.append((t, paths.endTime)) }
        return templates
    }

    /// The hourly job's expressions for the usual parameter names, suggested when one is missing.
    static let hourlyExamples = ["startTime": "$[yyyymmddhh24-1/24]0000", "endTime": "$[yyyymmddhh24]0000",
                                 "partition": "$[yyyymmddhh24]"]

    private enum BoundText { case time(String), millis(String) }

    private static func boundText(_ b: BeginBound) -> BoundText? {
        switch b {
        case .time(let t): .time(t)
        case .timestampMillis(let t): .millis(t)
        default: nil
        }
    }

    private static func boundText(_ e: EndBound) -> BoundText? {
        switch e {
        case .time(let t): .time(t)
        case .timestampMillis(let t): .millis(t)
        default: nil
        }
    }

    private func checkLiteralTime(_ text: String, _ path: String) {
        guard !text.contains("$") else { return }
        let digits = text.filter { !"-: T".contains($0) }
        if !(digits.allSatisfy(\.isNumber) && [8, 10, 12, 14].contains(digits.count)) {
            reader.error(path, "'\(text)' is not a time yyyymmddhhmmss (or a ${parameter})")
        }
    }

    private func checkLiteralMillis(_ text: String, _ path: String) {
        guard !text.contains("$") else { return }
        if Int64(text) == nil { reader.error(path, "'\(text)' is not epoch milliseconds (or a ${parameter})") }
    }

    private func checkSource(_ s: KafkaSourceSpec) {
        if !TextEncoding.isSupported(s.encoding) {
            reader.error(paths.source("encoding"), "'\(s.encoding)' is not an encoding this system can decode (e.g. UTF-8, GBK, GB18030, UTF-16, ISO-8859-1)")
        }
        if let parts = s.partitions {
            var seen = Set<Int32>()
            for (i, p) in parts.enumerated() where !seen.insert(p).inserted {
                reader.error("\(paths.source("partitions"))[\(i)]", "partition \(p) is listed twice")
            }
        }
        if s.datasource != nil {
            reader.warning(paths.source(s.bootstrapServers.isEmpty ? "datasource" : "bootstrapServers"),
                           "data source '\(s.datasource!)' is not resolved; pass --datasources FILE to run this job")
        }
    }

    private func checkSecrets(_ job: JobSpec) {
        for entry in job.source.kafkaConfig where SecretKeys.isSecret(entry.key) && !entry.value.isReference {
            reader.warning("\(paths.source("kafkaConfig")).\(entry.key)",
                           "a literal secret in the job file; use \"${env:NAME}\" or \"${file:PATH}\" so it is not shared with the file")
        }
        switch job.destination.kind {
        case .maxcompute(let c):
            if !c.accessKeySecret.isReference {
                reader.warning(paths.destination("accessKeySecret"), "a literal AccessKey secret in the job file; use \"${env:ALIBABA_CLOUD_ACCESS_KEY_SECRET}\" or \"${file:PATH}\"")
            }
        case .unresolved(let name, _):
            reader.warning(paths.destination("datasource"), "data source '\(name)' is not resolved; pass --datasources FILE to run this job")
        default: break
        }
    }
}

/// `${name}` references in job strings (not `${env:…}`/`${file:…}` secret references).
public enum ParameterReferences {
    /// The names referenced as `${name}` in `text`, in order.
    public static func names(in text: String) -> [String] {
        var out: [String] = []
        _ = substitute(text) { out.append($0); return "" }
        return out
    }

    /// Replaces each `${name}` with `value(name)`; secret references stay as they are.
    public static func substitute(_ text: String, _ value: (String) throws -> String) rethrows -> String {
        var result = ""
        var rest = Substring(text)
        while let r = rest.range(of: "${") {
            result += rest[..<r.lowerBound]
            guard let close = rest[r.upperBound...].firstIndex(of: "}") else {
                result += rest[r.lowerBound...]
                return result
            }
            let name = String(rest[r.upperBound..<close])
            if name.hasPrefix("env:") || name.hasPrefix("file:") {
                result += rest[r.lowerBound...close]
            } else {
                result += try value(name)
            }
            rest = rest[rest.index(after: close)...]
        }
        result += rest
        return result
    }
}
