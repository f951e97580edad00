import Foundation
import SluiceCore
import SluiceScheduling

/// A job file loaded and validated.
public struct LoadedJob: Sendable {
    public enum Format: String, Sendable { case sluice, dataworks }
    public var spec: JobSpec
    /// The path the job was loaded from, as given.
    public var path: String
    /// The directory relative paths in the job (the SQLite warehouse, secret files) are read from.
    public var directory: String
    public var format: Format
    /// Problems that do not stop the job (literal secrets, unresolved data sources).
    public var warnings: [Diagnostic]
    /// Where the Kafka source's keys are in the file: `source`, or `steps[N].parameter` (DataWorks).
    public var sourcePath = "source"

    public init(spec: JobSpec, path: String, directory: String, format: Format, warnings: [Diagnostic]) {
        self.spec = spec
        self.path = path
        self.directory = directory
        self.format = format
        self.warnings = warnings
    }
}

/// Options for loading a job.
public struct JobLoadOptions: Sendable {
    /// Named data sources (DataWorks `datasource`), from a `--datasources` file.
    public var datasources: DataSourceCatalog?
    /// `--param name=expr`: parameter definitions added to (or replacing) the job's own.
    public var parameters: [ParameterDefinition]
    /// A sidecar schedule block for a DataWorks job (from `JOB.schedule.yaml`), already parsed.
    public var sidecarSchedule: Data?

    public init(datasources: DataSourceCatalog? = nil, parameters: [ParameterDefinition] = [],
                sidecarSchedule: Data? = nil) {
        self.datasources = datasources
        self.parameters = parameters
        self.sidecarSchedule = sidecarSchedule
    }
}

/// Loads job files in either format into a `JobSpec`, reporting every problem at once.
///
/// Pure: takes bytes, does no I/O. `SluiceRuntime.JobFiles` reads the files.
public enum JobLoader {
    /// Built-in parameters usable in `${…}` without being declared.
    public static let builtinParameters: Set<String> = ["bdp.system.bizdate", "bdp.system.cyctime"]

    /// Parses and validates a job. Throws `JobFileError` with every error found (warnings included);
    /// on success, warnings are in `LoadedJob.warnings`.
    public static func parse(data: Data, fileName: String, directory: String = ".",
                             options: JobLoadOptions = JobLoadOptions()) throws -> LoadedJob {
        let reader = DocReader(file: fileName)
        let root: DocNode
        switch DocumentParser.parse(data: data, fileName: fileName) {
        case .failure(let d): throw JobFileError([d])
        case .success(let n): root = n
        }
        guard let map = reader.mapping(root, "") else { throw JobFileError(reader.diagnostics) }
        let isDataWorks = map.has("steps") || map.pairs.contains { $0.key == "type" && {
            if case .scalar(let s, _, _) = $0.value { return s == "job" } else { return false } }($0) }
        let defaultName = ((fileName as NSString).lastPathComponent as NSString).deletingPathExtension
        var spec: JobSpec?
        if isDataWorks {
            var sidecar: ScheduleSpec?
            if let data = options.sidecarSchedule {
                sidecar = parseSidecarSchedule(data, fileName: fileName + " (schedule sidecar)", reader: reader)
            }
            spec = DataWorksJobReader(reader: reader, defaultName: defaultName).read(map, sidecarSchedule: sidecar)
        } else {
            spec = SluiceJobReader(reader: reader, defaultName: defaultName).read(map)
        }
        guard var job = spec, !reader.hasErrors else { throw JobFileError(reader.diagnostics) }
        if !options.parameters.isEmpty {
            var schedule = job.schedule ?? ScheduleSpec()
            for p in options.parameters {
                if let i = schedule.parameters.firstIndex(where: { $0.name == p.name }) {
                    schedule.parameters[i] = p
                } else {
                    schedule.parameters.append(p)
                }
            }
            job.schedule = schedule
        }
        if let catalog = options.datasources {
            catalog.resolve(&job, reader: reader, isDataWorks: isDataWorks)
        }
        let paths: JobPaths
        if isDataWorks {
            let (r, w) = stepIndices(map)
            paths = .dataWorks(readerIndex: r, writerIndex: w)
        } else if job.task != .sync {
            paths = .sqlNode
        } else {
            paths = .sluice(usesMappingList: map.has("mapping"))
        }
        JobValidator(reader: reader, paths: paths).validate(job)
        guard !reader.hasErrors else { throw JobFileError(reader.diagnostics) }
        var loaded = LoadedJob(spec: job, path: fileName, directory: directory,
                               format: isDataWorks ? .dataworks : .sluice, warnings: reader.diagnostics)
        if isDataWorks { loaded.sourcePath = "steps[\(stepIndices(map).reader)].parameter" }
        return loaded
    }

    /// Indices of the reader and writer steps of a DataWorks job, for paths in messages.
    static func stepIndices(_ map: MapView) -> (reader: Int, writer: Int) {
        var r = 0, w = 1
        guard case .sequence(let steps, _)? = map.pairs.first(where: { $0.key == "steps" })?.value else { return (r, w) }
        for (i, step) in steps.enumerated() {
            guard case .mapping(let pairs, _) = step else { continue }
            let value: (String) -> String? = { key in
                if case .scalar(let s, _, _)? = pairs.first(where: { $0.key == key })?.value { return s.lowercased() }
                return nil
            }
            if value("category") == "reader" || value("stepType") == "kafka" { r = i } else { w = i }
        }
        return (r, w)
    }

    static func parseSidecarSchedule(_ data: Data, fileName: String, reader outer: DocReader) -> ScheduleSpec? {
        let reader = DocReader(file: fileName)
        defer { for d in reader.diagnostics { outer.error(d.path, d.message) } }
        switch DocumentParser.parse(data: data, fileName: fileName) {
        case .failure(let d):
            outer.error("", "\(fileName): \(d.message)")
            return nil
        case .success(let root):
            guard let map = reader.mapping(root, "") else { return nil }
            // Accept either a bare schedule block or `schedule:` at the top.
            if map.has("schedule"), let inner = map.mapping("schedule") {
                map.finish()
                return SluiceJobReader(reader: reader, defaultName: "").schedule(inner)
            }
            return SluiceJobReader(reader: reader, defaultName: "").schedule(map)
        }
    }
}

/// Reads the Sluice YAML shape.
struct SluiceJobReader {
    let reader: DocReader
    let defaultName: String

    static let topKeys = ["name", "description", "type", "source", "columns", "mapping", "destination", "settings", "schedule", "shards"]

    func read(_ map: MapView) -> JobSpec? {
        switch map.string("type")?.lowercased() {
        case "sql"?: return sqlNode(map)
        case nil, "sync"?: break
        case let other?:
            reader.error(map.path("type"), "job type '\(other)' is not supported: leave `type` out (or write `sync`) for a sync, write `sql` for an SQL node"
                         + didYouMean(other, ["sync", "sql"]))
            return nil
        }
        let name = map.string("name") ?? defaultName
        map.accept("description")
        let source: KafkaSourceSpec?
        if let s = map.mapping("source") { source = self.source(s) } else {
            reader.error("", "missing `source`: the Kafka topic to read", line: map.line)
            source = nil
        }
        let destMap = map.mapping("destination")
        if destMap == nil { reader.error("", "missing `destination`: where the rows are written", line: map.line) }
        let destination = destMap.flatMap { self.destination($0) }
        let mapping = self.mapping(map, destinationColumns: destination?.columns)
        let settings = map.mapping("settings").map { self.settings($0) } ?? JobSettings()
        let schedule = map.mapping("schedule").map { self.schedule($0) }
        let shards = map.int("shards", in: 1...1024)
        map.finish()
        guard let source, let destination, let mapping else { return nil }
        var dest = destination
        if dest.columns.isEmpty { dest.columns = mapping.compactMap(\.to) }
        var spec = JobSpec(name: name, source: source, mapping: mapping, destination: dest, settings: settings,
                           schedule: schedule ?? nil)
        spec.shards = shards.map(Int.init)
        return spec
    }

    // MARK: source

    func source(_ m: MapView) -> KafkaSourceSpec? {
        if let type = m.string("type"), type.lowercased() != "kafka" {
            reader.error(m.path("type"), "source type '\(type)' is not supported; Sluice reads `kafka`")
        }
        var servers: [String] = []
        var datasource: String?
        if m.has("bootstrapServers") {
            servers = m.stringList("bootstrapServers") ?? []
            validateServers(servers, path: m.path("bootstrapServers"))
        } else if m.has("datasource") {
            datasource = m.string("datasource")
        } else {
            reader.error(m.path, "missing `bootstrapServers`: the Kafka brokers as host:port[,host:port…] (or `datasource`)", line: m.line)
        }
        if m.has("bootstrapServers") { m.accept("datasource") }
        let topic = m.required("topic", what: "the Kafka topic to read")
        let groupId = m.string("groupId")
        let begin = m.has("begin") ? beginBound(m.node("begin"), m.path("begin")) : .time("${startTime}")
        let end = m.has("end") ? endBound(m.node("end"), m.path("end")) : .time("${endTime}")
        let tz = reader.timeZone(m.node("timeZone"), m.path("timeZone"))
        let keyType = m.choice("keyType", KafkaDataType.self) ?? .string
        let valueType = m.choice("valueType", KafkaDataType.self) ?? .string
        let encoding = m.string("encoding") ?? "UTF-8"
        let completion = m.has("completion") ? completionPolicy(m.node("completion"), m.path("completion")) : .endOffset
        let windowMode = m.choice("windowMode", WindowMode.self) ?? .offsets
        var partitions: [Int32]?
        if let items = m.sequence("partitions") {
            partitions = []
            for (i, item) in items.enumerated() {
                if let p = reader.int(item, DocReader.index(m.path("partitions"), i), in: 0...Int64(Int32.max)) {
                    partitions!.append(Int32(p))
                }
            }
        }
        let config = m.mapping("kafkaConfig").map { kafkaConfig($0) } ?? (entries: [], groupId: nil)
        let security = m.mapping("security").flatMap { self.security($0, kafkaConfig: config.entries, kafkaConfigPath: m.path("kafkaConfig")) }
        let reset = m.choice("autoOffsetReset", AutoOffsetReset.self) ?? .none
        let skip = m.bool("skipExceedRecord") ?? false
        let headerEncoding = headerEncoding(m)
        let registry = m.mapping("schemaRegistry").flatMap { schemaRegistry($0) }
        let valueFormat = valueFormat(m, formatKey: "valueFormat", registry: registry)
        let keyFormat = keyFormat(m, registry: registry)
        m.finish()
        guard let topic, let begin, let end, let completion else { return nil }
        var spec = KafkaSourceSpec(bootstrapServers: servers, topic: topic, groupId: groupId, begin: begin, end: end,
                                   timeZone: tz, keyType: keyType, valueType: valueType, encoding: encoding,
                                   completion: completion, windowMode: windowMode, partitions: partitions,
                                   kafkaConfig: config.entries, autoOffsetReset: reset, skipExceedRecord: skip)
        spec.datasource = datasource
        spec.security = security
        spec.headerEncoding = headerEncoding
        spec.valueFormat = valueFormat
        spec.keyFormat = keyFormat
        if valueFormat.isSchemaDecoded || keyFormat.isSchemaDecoded { spec.schemaRegistry = registry }
        if spec.groupId == nil { spec.groupId = config.groupId }
        return spec
    }

    func validateServers(_ servers: [String], path: String) {
        if servers.isEmpty { reader.error(path, "no brokers given; write host:port[,host:port…]") }
        for s in servers {
            let parts = s.split(separator: ":", omittingEmptySubsequences: false)
            if parts.count < 2 || parts.last.flatMap({ Int($0) }).map({ !(1...65535).contains($0) }) ?? true {
                reader.error(path, "'\(s)' is not host:port")
            }
        }
    }

    /// kafkaConfig with `group.id` taken out (it becomes `groupId` unless that is set).
    func kafkaConfig(_ m: MapView) -> (entries: [KafkaConfigEntry], groupId: String?) {
        var entries: [KafkaConfigEntry] = []
        var group: String?
        for key in m.keys {
            guard let value = m.string(key) else { continue }
            if key == "group.id" { group = value; continue }
            entries.append(KafkaConfigEntry(key: key, value: SecretValue(parsing: value)))
        }
        return (entries.sorted { $0.key < $1.key }, group)
    }

    func beginBound(_ node: DocNode?, _ path: String) -> BeginBound? {
        guard let m = reader.mapping(node, path) else {
            if node.map({ if case .null = $0 { true } else { false } }) ?? true {
                reader.error(path, "expected one of { time: … }, { timestampMillis: N }, { offset: N }, { earliest: true }, { latest: true }, { groupOffset: true }")
            }
            return nil
        }
        let keys = ["time", "timestampMillis", "offset", "earliest", "latest", "groupOffset"]
        return oneOf(m, keys) { key in
            switch key {
            case "time": return m.string(key).map { .time($0) }
            case "timestampMillis": return m.string(key).map { .timestampMillis($0) }
            case "offset": return m.int(key, in: 0...Int64.max).map { .offset($0) }
            case "earliest": return flag(m, key) ? .earliest : nil
            case "latest": return flag(m, key) ? .latest : nil
            default: return flag(m, key) ? .groupOffset : nil
            }
        }
    }

    func endBound(_ node: DocNode?, _ path: String) -> EndBound? {
        guard let m = reader.mapping(node, path) else {
            if node.map({ if case .null = $0 { true } else { false } }) ?? true {
                reader.error(path, "expected one of { time: … }, { timestampMillis: N }, { offset: N }, { latest: true }")
            }
            return nil
        }
        return oneOf(m, ["time", "timestampMillis", "offset", "latest"]) { key in
            switch key {
            case "time": return m.string(key).map { .time($0) }
            case "timestampMillis": return m.string(key).map { .timestampMillis($0) }
            case "offset": return m.int(key, in: 0...Int64.max).map { .offset($0) }
            default: return flag(m, key) ? .latest : nil
            }
        }
    }

    private func flag(_ m: MapView, _ key: String) -> Bool {
        guard let b = m.bool(key) else { return false }
        if !b { reader.error(m.path(key), "only `\(key): true` is meaningful here") }
        return b
    }

    /// Exactly one of `keys` must be present in `m`.
    private func oneOf<T>(_ m: MapView, _ keys: [String], _ read: (String) -> T?) -> T? {
        let present = m.keys.filter { keys.contains($0) }
        defer { m.finish(known: keys) }
        guard present.count == 1, let key = present.first else {
            if present.isEmpty {
                reader.error(m.path, "expected exactly one of \(keys.map { "`\($0)`" }.joined(separator: ", "))", line: m.line)
            } else {
                for k in present { m.accept(k) }
                reader.error(m.path, "give only one of \(present.map { "`\($0)`" }.joined(separator: ", "))", line: m.line)
            }
            return nil
        }
        return read(key)
    }

    func completionPolicy(_ node: DocNode?, _ path: String) -> CompletionPolicy? {
        guard let node else { return .endOffset }
        if case .scalar(let s, _, _) = node {
            if s == "endOffset" { return .endOffset }
            reader.error(path, "'\(s)' is not a completion policy: write `endOffset` or `{ idle: 60s }`" +
                         didYouMean(s, ["endOffset", "idle"]), line: node.line)
            return nil
        }
        guard let m = reader.mapping(node, path) else { return nil }
        let seconds = m.duration("idle")
        let alsoLatest = m.bool("stopAtLatest") ?? false
        if !m.has("idle") { reader.error(path, "missing `idle`: seconds without a new record before the read ends", line: m.line) }
        m.finish()
        guard let seconds else { return nil }
        if seconds <= 0 { reader.error(DocReader.join(path, "idle"), "must be more than 0 seconds"); return nil }
        return .idle(seconds: seconds, alsoStopAtLatest: alsoLatest)
    }

    // MARK: mapping

    func mapping(_ map: MapView, destinationColumns: [String]?) -> [FieldMapping]? {
        let hasColumns = map.has("columns"), hasMapping = map.has("mapping")
        if hasColumns && hasMapping {
            reader.error("mapping", "give either `columns` (aligned by position with destination.columns) or `mapping`, not both")
            map.accept("columns", "mapping")
            return nil
        }
        if hasMapping {
            guard let items = map.sequence("mapping") else { return nil }
            var out: [FieldMapping] = []
            for (i, item) in items.enumerated() {
                let path = DocReader.index("mapping", i)
                guard let m = reader.mapping(item, path) else { continue }
                let from = m.required("from", what: "the source field, e.g. __value__ or a.a1")
                let to = m.required("to", what: "the destination column")
                let unit = m.choice("unit", EpochUnit.self, aliases: ["ms": .milliseconds, "s": .seconds])
                var format = m.string("format")
                if let f = format, DateTimePattern(f) == nil {
                    reader.error(m.path("format"), "'\(f)' is not a supported date-time format: use the letters yyyy MM dd HH mm ss S… and literal text, e.g. 'yyyy-MM-dd HH:mm:ss' or 'yyyyMMddHHmmss'")
                    format = nil
                }
                m.finish()
                if let from, let to { out.append(FieldMapping(from: from, to: to, unit: unit, format: format)) }
            }
            if out.isEmpty, !reader.hasErrors { reader.error("mapping", "the mapping is empty: map at least one field") }
            return out
        }
        guard hasColumns else {
            reader.error("", "missing `columns`: the source fields to read, e.g. [__key__, __value__, a.a1]", line: map.line)
            return nil
        }
        guard let columns = map.stringList("columns") else { return nil }
        if columns.isEmpty { reader.error("columns", "the column list is empty: list at least one source field"); return nil }
        guard let dest = destinationColumns else { return nil }
        if dest.isEmpty {
            reader.error("destination.columns", "missing: the destination columns, aligned by position with `columns`")
            return nil
        }
        if dest == ["*"] { return columns.map { FieldMapping(from: $0, to: nil) } }
        if dest.count != columns.count {
            reader.error("destination.columns", "\(dest.count) destination columns for \(columns.count) source columns; they are aligned by position and must be as many")
            return nil
        }
        return zip(columns, dest).map { FieldMapping(from: $0, to: $1) }
    }

    // MARK: destination

    static let destinationKeys = ["type", "path", "url", "datasource", "endpoint", "tunnelEndpoint", "project", "schema",
                                  "accessKeyId", "accessKeySecret", "securityToken", "region", "table", "partition",
                                  "columns", "columnTypes", "writeMode", "emptyAsNull", "overLengthRule",
                                  "maxFieldLength", "compress", "blockSizeMB"]

    func destination(_ m: MapView) -> DestinationSpec? {
        let kind = destinationKind(m, what: "destination")
        let table = m.required("table", what: "the destination table")
        let partition = m.string("partition") ?? ""
        let columns = m.stringList("columns") ?? []
        var types: [String: ColumnType] = [:]
        if let ct = m.mapping("columnTypes") {
            for key in ct.keys {
                guard let t = ct.string(key) else { continue }
                if let parsed = ColumnType(parsing: t) { types[key] = parsed } else {
                    reader.error(ct.path(key), "'\(t)' is not a MaxCompute column type (BIGINT, INT, SMALLINT, TINYINT, DOUBLE, FLOAT, DECIMAL(p,s), STRING, VARCHAR(n), CHAR(n), BOOLEAN, DATETIME, DATE, TIMESTAMP, BINARY, JSON)")
                }
            }
        }
        let writeMode = m.choice("writeMode", WriteMode.self) ?? .overwrite
        let emptyAsNull = m.bool("emptyAsNull") ?? false
        let rule = m.choice("overLengthRule", OverLengthRule.self)
        let maxLen = m.int("maxFieldLength", in: 1...(8 << 20)).map { Int($0) }
        let compress = m.choice("compress", UploadCompression.self) ?? .none
        let block = m.int("blockSizeMB", in: 1...1024).map { Int($0) << 20 } ?? (64 << 20)
        m.finish(known: Self.destinationKeys)
        guard let kind, let table else { return nil }
        return DestinationSpec(kind: kind, table: table, partition: partition, columns: columns, writeMode: writeMode,
                               emptyAsNull: emptyAsNull, overLengthRule: rule, maxFieldLength: maxLen,
                               compress: compress, columnTypes: types, blockSizeBytes: block)
    }

    /// The database of a destination (or of an SQL node's `target`): `type` and its connection keys.
    func destinationKind(_ m: MapView, what: String) -> DestinationKind? {
        let type = m.string("type")?.lowercased() ?? "sqlite"
        var kind: DestinationKind?
        switch type {
        case "sqlite":
            kind = .sqlite(path: m.string("path") ?? "warehouse.db")
        case "maxcompute", "odps":
            if m.has("datasource"), !m.has("endpoint") {
                if let ds = m.string("datasource") { kind = .unresolved(datasource: ds, type: "maxcompute") }
            } else {
                let endpoint = m.required("endpoint", what: "the MaxCompute service endpoint, e.g. https://service.cn-hangzhou.maxcompute.aliyun.com/api")
                let project = m.required("project", what: "the MaxCompute project")
                let id = m.required("accessKeyId", what: "the AccessKey id, e.g. \"${env:ALIBABA_CLOUD_ACCESS_KEY_ID}\"")
                let secret = m.required("accessKeySecret", what: "the AccessKey secret, e.g. \"${env:ALIBABA_CLOUD_ACCESS_KEY_SECRET}\"")
                if let endpoint, let project, let id, let secret {
                    kind = .maxcompute(MaxComputeConnection(
                        endpoint: endpoint, tunnelEndpoint: m.string("tunnelEndpoint"), project: project,
                        schema: m.string("schema"), accessKeyId: SecretValue(parsing: id),
                        accessKeySecret: SecretValue(parsing: secret),
                        securityToken: m.string("securityToken").map { SecretValue(parsing: $0) },
                        region: m.string("region")))
                }
            }
        case "postgresql", "postgres":
            kind = postgresURL(m).map { DestinationKind.postgresql(url: $0) }
        case "discard":
            kind = .discard
        default:
            reader.error(m.path("type"), "\(what) type '\(type)' is not supported: use sqlite, maxcompute, postgresql or discard" +
                         didYouMean(type, ["sqlite", "maxcompute", "postgresql", "discard"]))
        }
        return kind
    }

    /// `url` of a PostgreSQL destination. A URL written in the file is checked here (scheme, host);
    /// one with a password in it is a warning: the file would share it.
    func postgresURL(_ m: MapView) -> SecretValue? {
        guard let text = m.required("url", what: "the PostgreSQL URL, e.g. postgresql://user@host:5432/database (password from PGPASSWORD or ?passwordFile=PATH)") else {
            return nil
        }
        let url = SecretValue(parsing: text)
        guard !url.isReference else { return url }
        let parts = URLComponents(string: text)
        guard let parts, ["postgresql", "postgres"].contains(parts.scheme?.lowercased() ?? ""), !(parts.host ?? "").isEmpty else {
            reader.error(m.path("url"), "'\(PostgresURLText.redacted(text))' is not a PostgreSQL URL: write postgresql://USER@HOST:PORT/DATABASE")
            return nil
        }
        if parts.password != nil {
            reader.warning(m.path("url"), "a password in the job file's URL; leave it out and set PGPASSWORD, add ?passwordFile=PATH, or write url: \"${env:NAME}\"")
        }
        return url
    }

    // MARK: settings

    func settings(_ m: MapView) -> JobSettings {
        var s = JobSettings()
        if m.has("errorLimit") { s.errorLimit = errorLimit(m.node("errorLimit"), m.path("errorLimit")) }
        s.concurrency = m.int("concurrency", in: 1...64).map { Int($0) } ?? 1
        s.mbps = m.double("mbps")
        s.missingField = m.choice("missingField", MissingFieldPolicy.self) ?? .null
        m.finish()
        return s
    }

    func errorLimit(_ node: DocNode?, _ path: String) -> ErrorLimit {
        guard let m = reader.mapping(node, path) else { return ErrorLimit() }
        var limit = ErrorLimit()
        if let r = m.node("record") {
            if case .scalar(let s, _, _) = r, s.trimmingCharacters(in: .whitespaces).isEmpty {
                limit.records = nil
            } else {
                limit.records = reader.int(r, m.path("record"), in: 0...Int64(Int32.max)).map { Int($0) }
            }
        }
        if let p = m.node("percentage") {
            if case .scalar(let s, _, _) = p, s.trimmingCharacters(in: .whitespaces).isEmpty {
                limit.percentage = nil
            } else if let v = reader.double(p, m.path("percentage")) {
                if (0...1).contains(v) { limit.percentage = v } else {
                    reader.error(m.path("percentage"), "\(v) is not a fraction between 0 and 1")
                }
            }
        }
        m.finish()
        return limit
    }

    // MARK: schedule

    func schedule(_ m: MapView) -> ScheduleSpec? {
        var s = ScheduleSpec()
        s.cycle = m.choice("cycle", ScheduleSpec.Cycle.self) ?? .day
        if let start = m.string("start") { s.start = timeOfDay(start, m.path("start")) ?? s.start }
        if let end = m.string("end") { s.end = timeOfDay(end, m.path("end")) ?? s.end }
        if let n = m.int("interval", in: s.cycle.intervalRange == nil ? 1...1440 : nil).map({ Int($0) }) {
            // Checked here, once, in the cycle's unit; the calendar relies on it.
            if let problem = s.cycle.intervalProblem(n) {
                reader.error(m.path("interval"), problem, line: m.node("interval")?.line)
            } else {
                s.interval = n
            }
        }
        if let points = m.stringList("timePoints") {
            s.timePoints = points.enumerated().compactMap { timeOfDay($1, DocReader.index(m.path("timePoints"), $0)) }
        }
        if let days = m.stringList("weekdays") {
            s.weekdays = days.enumerated().compactMap { weekday($1, DocReader.index(m.path("weekdays"), $0)) }
        }
        if let days = m.stringList("monthDays") {
            s.monthDays = days.enumerated().compactMap { monthDay($1, DocReader.index(m.path("monthDays"), $0)) }
        }
        s.timeZone = reader.timeZone(m.node("timeZone"), m.path("timeZone"))
        if let params = m.mapping("parameters") {
            for key in params.keys {
                if let v = params.string(key) { s.parameters.append(ParameterDefinition(name: key, expression: v)) }
                else if case .null = params.node(key) ?? .null(line: nil) {
                    reader.error(params.path(key), "the parameter has no value; give an expression such as $[yyyymmddhh24]")
                }
            }
        }
        s.effectiveFrom = m.string("effectiveFrom").flatMap { date($0, m.path("effectiveFrom")) }
        s.effectiveTo = m.string("effectiveTo").flatMap { date($0, m.path("effectiveTo")) }
        s.dependsOnPrevious = m.bool("dependsOnPrevious")
        if let upstream = m.stringList("dependsOn") {
            for (i, name) in upstream.enumerated() where name.trimmingCharacters(in: .whitespaces).isEmpty {
                reader.error(DocReader.index(m.path("dependsOn"), i), "an empty job name")
            }
            s.dependsOn = upstream.filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        }
        s.rerun = m.choice("rerun", ScheduleSpec.Rerun.self) ?? .always
        s.retries = m.int("retries", in: 0...10).map { Int($0) } ?? 0
        if let ri = m.duration("retryInterval") {
            if (60...1800).contains(ri) { s.retryInterval = Int(ri) } else {
                reader.error(m.path("retryInterval"), "must be between 1m and 30m")
            }
        }
        if let t = m.duration("timeout") {
            if (60...168 * 3600).contains(t) { s.timeout = Int(t) } else {
                reader.error(m.path("timeout"), "must be between 1m and 168h")
            }
        }
        s.type = m.choice("type", ScheduleSpec.SchedulingType.self, aliases: ["skip": .paused]) ?? .normal
        s.catchUp = m.choice("catchUp", ScheduleSpec.CatchUp.self) ?? .all
        m.finish()
        return s
    }

    func timeOfDay(_ text: String, _ path: String) -> String? {
        let parts = text.split(separator: ":")
        guard parts.count == 2, let h = Int(parts[0]), let mi = Int(parts[1]), (0...23).contains(h), (0...59).contains(mi) else {
            reader.error(path, "'\(text)' is not a time of day HH:mm")
            return nil
        }
        return String(format: "%02d:%02d", h, mi)
    }

    static let weekdayNames = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]

    func weekday(_ text: String, _ path: String) -> Int? {
        if let n = Int(text), (1...7).contains(n) { return n }
        let t = text.lowercased()
        if let i = Self.weekdayNames.firstIndex(where: { $0 == t || $0.prefix(3) == t }) { return i + 1 }
        reader.error(path, "'\(text)' is not a weekday: 1 (Monday) … 7 (Sunday) or a name" + didYouMean(t, Self.weekdayNames))
        return nil
    }

    func monthDay(_ text: String, _ path: String) -> ScheduleSpec.MonthDay? {
        if text.lowercased() == "last" { return .last }
        if let n = Int(text), (1...31).contains(n) { return .day(n) }
        reader.error(path, "'\(text)' is not a day of the month: 1 … 31 or last")
        return nil
    }

    func date(_ text: String, _ path: String) -> String? {
        let digits = text.filter(\.isNumber)
        guard digits.count == 8, let y = Int(digits.prefix(4)), let mo = Int(digits.dropFirst(4).prefix(2)),
              let d = Int(digits.suffix(2)), (1...12).contains(mo), (1...31).contains(d), y >= 1970 else {
            reader.error(path, "'\(text)' is not a date yyyy-mm-dd")
            return nil
        }
        return String(format: "%04d-%02d-%02d", y, mo, d)
    }
}
