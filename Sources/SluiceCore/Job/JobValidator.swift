import Foundation

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

    static let encodings = ["UTF-8", "UTF8", "GBK", "GB18030", "GB2312", "UTF-16", "UTF-16BE", "UTF-16LE",
                            "ISO-8859-1", "LATIN1", "US-ASCII", "ASCII", "BIG5"]

    func validate(_ job: JobSpec) {
        checkMapping(job)
        checkParameters(job)
        checkSource(job.source)
        checkSecrets(job)
    }

    private func checkMapping(_ job: JobSpec) {
        var seenFrom: [String: Int] = [:]
        var seenTo: [String: Int] = [:]
        for (i, m) in job.mapping.enumerated() {
            if let problem = SourceFieldSyntax.problem(in: m.from) {
                reader.error(paths.sourceField(i), problem)
            }
            if let j = seenFrom[m.from] {
                reader.error(paths.sourceField(i), "source field '\(m.from)' is already mapped at \(paths.sourceField(j)); one source field maps to one destination column")
            } else { seenFrom[m.from] = i }
            guard let to = m.to else { continue }
            if to.isEmpty { reader.error(paths.destinationColumn(i), "the destination column name is empty") }
            if let j = seenTo[to.lowercased()] {
                reader.error(paths.destinationColumn(i), "destination column '\(to)' is already mapped at \(paths.destinationColumn(j)); one destination column takes one source field")
            } else { seenTo[to.lowercased()] = i }
        }
        let jsonPaths = job.mapping.filter { SourceFieldSyntax.isJSONPath($0.from) }
        if !jsonPaths.isEmpty, ![.string, .bytearray].contains(job.source.valueType) {
            reader.error(paths.source("valueType"), "JSON paths (\(jsonPaths.map(\.from).joined(separator: ", "))) need valueType string or bytearray, not \(job.source.valueType.rawValue)")
        }
    }

    private func checkParameters(_ job: JobSpec) {
        let defined = Set(job.schedule?.parameters.map(\.name) ?? []).union(JobLoader.builtinParameters)
        func check(_ text: String, _ path: String) {
            for name in ParameterReferences.names(in: text) where !defined.contains(name) {
                var msg = "`${\(name)}` is not a defined parameter"
                if name.isEmpty { msg = "`${}` names no parameter" }
                let hint = (job.schedule?.parameters.isEmpty ?? true)
                    ? "; define it under schedule.parameters (e.g. \(name.isEmpty ? "startTime" : name): \"$[yyyymmddhh24-1/24]0000\") or pass --param \(name.isEmpty ? "name" : name)=EXPR"
                    : didYouMean(name, Array(defined))
                reader.error(path, msg + hint)
            }
        }
        switch job.source.begin {
        case .time(let t):
            check(t, paths.beginTime)
            checkLiteralTime(t, paths.beginTime)
        case .timestampMillis(let t):
            check(t, paths.beginTime)
            checkLiteralMillis(t, paths.beginTime)
        default: break
        }
        switch job.source.end {
        case .time(let t):
            check(t, paths.endTime)
            checkLiteralTime(t, paths.endTime)
        case .timestampMillis(let t):
            check(t, paths.endTime)
            checkLiteralMillis(t, paths.endTime)
        default: break
        }
        let partitionPath = paths.destination("partition")
        check(job.destination.partition, partitionPath)
        // The partition spec must parse once its parameters are substituted.
        let probe = ParameterReferences.substitute(job.destination.partition) { _ in "X" }
        do { _ = try PartitionSpec(parsing: probe) } catch let e as SluiceError {
            reader.error(partitionPath, e.message)
        } catch {}
        // Parameter expressions: each parsed with the scheduling grammar (pointed messages), then the
        // set as a whole (references between parameters, cycles).
        let params = job.schedule?.parameters ?? []
        let index = Dictionary(params.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })
        var expressionsOK = true
        for p in params {
            var parser = ExpressionParser(text: p.expression, mode: .parameterValue, resolve: { index[$0] })
            do { _ = try parser.parse(subject: nil) } catch {
                reader.error(paths.parameter(p.name), error.description)
                expressionsOK = false
            }
        }
        guard expressionsOK else { return }
        do {
            let set = try CompiledParameterSet(params)
            // Job strings that are templates over the parameters.
            var templates = [(job.destination.partition, partitionPath)]
            if case .time(let t) = job.source.begin { templates.append((t, paths.beginTime)) }
            if case .time(let t) = job.source.end { templates.append((t, paths.endTime)) }
            for (text, path) in templates where ParameterReferences.names(in: text).allSatisfy(defined.contains) {
                do { _ = try set.template(parsing: text, subject: nil) } catch {
                    reader.error(path, error.description)
                }
            }
        } catch let e as SluiceError {
            reader.error(params.count == 1 ? paths.parameter(params[0].name) : "schedule.parameters", e.description)
        } catch {}
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
        if !Self.encodings.contains(s.encoding.uppercased()) {
            reader.error(paths.source("encoding"), "'\(s.encoding)' is not a supported encoding: \(Self.encodings.joined(separator: ", "))")
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

/// Light syntax checks of a source field definition.
enum SourceFieldSyntax {
    static let builtins: Set<String> = ["__key__", "__value__", "__partition__", "__headers__", "__offset__", "__timestamp__"]

    static func isJSONPath(_ field: String) -> Bool {
        !builtins.contains(field) && !field.hasPrefix("'") && !field.hasPrefix("__key__.")
    }

    static func problem(in field: String) -> String? {
        if field.isEmpty { return "empty source field" }
        if field.hasPrefix("'") {
            return field.count >= 2 && field.hasSuffix("'") ? nil : "constant \(field) is missing its closing quote"
        }
        if field.hasPrefix("__") && field.hasSuffix("__") && !builtins.contains(field) {
            return "'\(field)' is not a built-in field: \(builtins.sorted().joined(separator: ", "))" + didYouMean(field, Array(builtins))
        }
        var depth = 0
        var inQuote = false
        for c in field {
            if inQuote { if c == "'" { inQuote = false }; continue }
            switch c {
            case "'": inQuote = true
            case "[": depth += 1
            case "]": depth -= 1; if depth < 0 { return "'\(field)': unbalanced ']'" }
            default: break
            }
        }
        if inQuote { return "'\(field)': unterminated quote" }
        if depth != 0 { return "'\(field)': unbalanced '['" }
        if field.hasSuffix(".") || field.hasPrefix(".") || field.contains("..") { return "'\(field)': empty path member" }
        return nil
    }
}
