import Foundation
import SluiceCore
import SluiceScheduling

/// Reads a DataWorks script-mode job (`{"type":"job","steps":[kafka reader, odps writer],"setting":…}`)
/// with every reader and writer parameter DataWorks documents, old and new names.
struct DataWorksJobReader {
    let reader: DocReader
    let defaultName: String

    static let readerKeys = ["server", "datasource", "topic", "groupId", "kafkaConfig", "beginType", "beginDateTime",
                             "endType", "endDateTime", "beginTimestampMillis", "endTimestampMillis", "beginOffset",
                             "endOffset", "timeZone", "keyType", "valueType", "encoding", "stopWhenPollEmpty",
                             "waitTime", "waitTIme", "stopWhenReachEndOffset", "skipExceedRecord", "partition",
                             "autoOffsetReset", "fetchMinBytes", "fetchMaxWaitMs", "sessionTimeoutMs", "column",
                             "dataFormat", "fieldDelimiter", "headerEncoding", "windowMode"]
    static let writerKeys = ["datasource", "odpsServer", "tunnelServer", "accessId", "accessKey", "securityToken",
                             "project", "schema", "table", "partition", "column", "truncate", "emptyAsNull",
                             "overLengthRule", "maxFieldLength", "consistencyCommit", "blockSizeInMB", "compress"]

    func read(_ map: MapView, sidecarSchedule: ScheduleSpec?) -> JobSpec? {
        if let type = map.string("type"), type != "job" {
            reader.error("type", "a DataWorks job has \"type\": \"job\", found '\(type)'")
        }
        map.accept("version", "order")
        let name = map.string("name") ?? defaultName
        var schedule = sidecarSchedule
        if let s = map.mapping("schedule") {
            schedule = SluiceJobReader(reader: reader, defaultName: name).schedule(s)
        }
        guard let steps = map.sequence("steps") else {
            if !map.has("steps") { reader.error("", "missing `steps`: a kafka reader step and an odps writer step", line: map.line) }
            map.finish()
            return nil
        }
        var readerStep: (MapView, Int)?
        var writerStep: (MapView, Int)?
        for (i, step) in steps.enumerated() {
            let path = DocReader.index("steps", i)
            guard let m = reader.mapping(step, path) else { continue }
            let stepType = m.string("stepType")?.lowercased() ?? ""
            let category = m.string("category")?.lowercased()
            m.accept("name", "copies", "gzip")
            let isReader = category == "reader" || (category == nil && stepType == "kafka")
            if isReader {
                if stepType != "kafka" {
                    reader.error(DocReader.join(path, "stepType"), "reader '\(stepType)' is not supported: Sluice reads `kafka`")
                } else if readerStep != nil {
                    reader.error(path, "a second reader step; a job has one kafka reader")
                } else { readerStep = (m, i) }
            } else {
                if stepType != "odps" {
                    reader.error(DocReader.join(path, "stepType"), "writer '\(stepType)' is not supported: Sluice writes `odps` (MaxCompute) from DataWorks jobs")
                } else if writerStep != nil {
                    reader.error(path, "a second writer step; a job has one odps writer")
                } else { writerStep = (m, i) }
            }
        }
        if readerStep == nil, !reader.hasErrors { reader.error("steps", "no kafka reader step (\"stepType\": \"kafka\", \"category\": \"reader\")") }
        if writerStep == nil, !reader.hasErrors { reader.error("steps", "no odps writer step (\"stepType\": \"odps\", \"category\": \"writer\")") }
        let settings = map.mapping("setting").map { self.settings($0) } ?? JobSettings()
        map.finish(known: ["type", "version", "steps", "order", "setting", "name", "schedule"])

        var source: (KafkaSourceSpec, [String])?
        if let (m, _) = readerStep, let p = m.mapping("parameter") {
            source = self.source(p)
            m.finish(known: ["stepType", "category", "parameter"])
        } else if let (m, i) = readerStep {
            reader.error(DocReader.index("steps", i), "missing `parameter`", line: m.line)
        }
        var destination: DestinationSpec?
        if let (m, _) = writerStep, let p = m.mapping("parameter") {
            destination = self.destination(p)
            m.finish(known: ["stepType", "category", "parameter"])
        } else if let (m, i) = writerStep {
            reader.error(DocReader.index("steps", i), "missing `parameter`", line: m.line)
        }
        guard let (src, columns) = source, let dest = destination else { return nil }
        let writerColumnsPath = DocReader.join(DocReader.join(DocReader.index("steps", writerStep!.1), "parameter"), "column")
        let mapping: [FieldMapping]
        if dest.columns == ["*"] {
            mapping = columns.map { FieldMapping(from: $0, to: nil) }
        } else if dest.columns.count != columns.count {
            reader.error(writerColumnsPath, "\(dest.columns.count) writer columns for \(columns.count) reader columns; script mode aligns reader column[i] with writer column[i]")
            return nil
        } else {
            mapping = zip(columns, dest.columns).map { FieldMapping(from: $0, to: $1) }
        }
        return JobSpec(name: name, source: src, mapping: mapping, destination: dest, settings: settings, schedule: schedule)
    }

    // MARK: reader

    func source(_ p: MapView) -> (KafkaSourceSpec, [String])? {
        var servers: [String] = []
        var datasource: String?
        if p.has("server") {
            servers = p.stringList("server") ?? []
            SluiceJobReader(reader: reader, defaultName: "").validateServers(servers, path: p.path("server"))
            p.accept("datasource")
        } else if p.has("datasource") {
            datasource = p.string("datasource")
        } else {
            reader.error(p.path, "missing `server` (host:port) or `datasource` (a name in --datasources)", line: p.line)
        }
        let topic = p.required("topic", what: "the Kafka topic to read")
        var config: [KafkaConfigEntry] = []
        var configGroup: String?
        if let kc = p.mapping("kafkaConfig") {
            (config, configGroup) = SluiceJobReader(reader: reader, defaultName: "").kafkaConfig(kc)
            kc.finish()
        }
        // groupId overrides kafkaConfig["group.id"].
        let groupId = p.string("groupId") ?? configGroup
        for (key, librdkafka) in [("fetchMinBytes", "fetch.min.bytes"), ("fetchMaxWaitMs", "fetch.wait.max.ms"),
                                  ("sessionTimeoutMs", "session.timeout.ms")] where p.has(key) {
            if let v = p.int(key, in: 0...Int64(Int32.max)), !config.contains(where: { $0.key == librdkafka }) {
                config.append(KafkaConfigEntry(key: librdkafka, value: .literal(String(v))))
            }
        }
        config.sort { $0.key < $1.key }
        let begin = beginBound(p)
        let end = endBound(p)
        let typeAliases: [String: KafkaDataType] = [:]
        let keyType = p.choice("keyType", KafkaDataType.self, aliases: typeAliases) ?? .string
        let valueType = p.choice("valueType", KafkaDataType.self, aliases: typeAliases) ?? .string
        let encoding = p.string("encoding") ?? "UTF-8"
        var completion = CompletionPolicy.endOffset
        let waitKey = p.has("waitTIme") && !p.has("waitTime") ? "waitTIme" : "waitTime"
        let wait = p.duration(waitKey) ?? 60
        p.accept("waitTime", "waitTIme")
        let alsoLatest = p.bool("stopWhenReachEndOffset") ?? false
        if p.bool("stopWhenPollEmpty") == true {
            if wait <= 0 { reader.error(p.path(waitKey), "must be more than 0 seconds") }
            completion = .idle(seconds: wait, alsoStopAtLatest: alsoLatest)
        } else {
            for key in [waitKey, "stopWhenReachEndOffset"] where p.has(key) {
                reader.warning(p.path(key), "ignored: \(key) applies with \"stopWhenPollEmpty\": true; without it the read stops at the window's end position (add stopWhenPollEmpty: true to wait for silence)")
            }
        }
        let partitions = p.int("partition", in: 0...Int64(Int32.max)).map { [Int32($0)] }
        let reset = p.choice("autoOffsetReset", AutoOffsetReset.self) ?? .none
        let skip = p.bool("skipExceedRecord") ?? false
        let windowMode = p.choice("windowMode", WindowMode.self) ?? .offsets
        let timeZone = reader.timeZone(p.node("timeZone"), p.path("timeZone"))
        let valueFormat = SluiceJobReader(reader: reader, defaultName: "").valueFormat(p, formatKey: "dataFormat")
        let headerEncoding = SluiceJobReader(reader: reader, defaultName: "").headerEncoding(p)
        let columns = p.stringList("column")
        if !p.has("column") {
            reader.error(p.path, "missing `column`: the source fields, e.g. [\"__key__\", \"__value__\"]", line: p.line)
        } else if columns?.isEmpty == true {
            reader.error(p.path("column"), "the column list is empty: list at least one source field")
        }
        p.finish(known: Self.readerKeys)
        guard let topic, let begin, let end, let columns else { return nil }
        var spec = KafkaSourceSpec(bootstrapServers: servers, topic: topic, groupId: groupId, begin: begin, end: end,
                                   timeZone: timeZone, keyType: keyType,
                                   valueType: valueType, encoding: encoding, completion: completion,
                                   windowMode: windowMode, partitions: partitions, kafkaConfig: config,
                                   autoOffsetReset: reset, skipExceedRecord: skip)
        spec.datasource = datasource
        spec.headerEncoding = headerEncoding
        spec.valueFormat = valueFormat
        return (spec, columns)
    }

    private func beginBound(_ p: MapView) -> BeginBound? {
        warnIgnoredBounds(p, ["beginOffset", "beginTimestampMillis", "beginDateTime"])
        if p.has("beginOffset") {
            p.accept("beginType", "beginDateTime", "beginTimestampMillis")
            guard let s = p.string("beginOffset") else { return nil }
            switch s {
            case "seekToBeginning": return .earliest
            case "seekToLast": return .groupOffset
            case "seekToEnd": return .latest
            default:
                guard let n = Int64(s), n >= 0 else {
                    reader.error(p.path("beginOffset"), "'\(s)' is not an offset: a number, seekToBeginning, seekToLast or seekToEnd")
                    return nil
                }
                return .offset(n)
            }
        }
        if p.has("beginTimestampMillis") {
            p.accept("beginType", "beginDateTime")
            return p.string("beginTimestampMillis").map { .timestampMillis($0) }
        }
        let type = p.string("beginType")?.lowercased() ?? "specific"
        switch type {
        case "earliest": p.accept("beginDateTime"); return .earliest
        case "current": p.accept("beginDateTime"); return .groupOffset
        case "specific":
            guard let t = p.string("beginDateTime") else {
                reader.error(p.path, "missing `beginDateTime` (yyyymmddhhmmss, usually ${startTime}), or beginOffset / beginTimestampMillis / beginType earliest|current", line: p.line)
                return nil
            }
            return .time(t)
        default:
            reader.error(p.path("beginType"), "'\(type)' is not one of specific, earliest, current")
            return nil
        }
    }

    private func endBound(_ p: MapView) -> EndBound? {
        warnIgnoredBounds(p, ["endOffset", "endTimestampMillis", "endDateTime"])
        if p.has("endOffset") {
            p.accept("endType", "endDateTime", "endTimestampMillis")
            guard let s = p.string("endOffset") else { return nil }
            switch s {
            case "seekToEnd": return .latest
            case "seekToBeginning", "seekToLast":
                reader.error(p.path("endOffset"), "'\(s)' cannot end a window: use a number or seekToEnd")
                return nil
            default:
                guard let n = Int64(s), n >= 0 else {
                    reader.error(p.path("endOffset"), "'\(s)' is not an offset: a number or seekToEnd")
                    return nil
                }
                return .offset(n)
            }
        }
        if p.has("endTimestampMillis") {
            p.accept("endType", "endDateTime")
            return p.string("endTimestampMillis").map { .timestampMillis($0) }
        }
        let type = p.string("endType")?.lowercased() ?? "specific"
        switch type {
        case "latest": p.accept("endDateTime"); return .latest
        case "specific":
            guard let t = p.string("endDateTime") else {
                reader.error(p.path, "missing `endDateTime` (yyyymmddhhmmss, usually ${endTime}), or endOffset / endTimestampMillis / endType latest", line: p.line)
                return nil
            }
            return .time(t)
        default:
            reader.error(p.path("endType"), "'\(type)' is not one of specific, latest")
            return nil
        }
    }

    /// Of bound keys given together (in precedence order), the first is used: the others are
    /// ignored, which is said.
    private func warnIgnoredBounds(_ p: MapView, _ keys: [String]) {
        let given = keys.filter { p.has($0) }
        guard let used = given.first, given.count > 1 else { return }
        for ignored in given.dropFirst() {
            reader.warning(p.path(ignored), "ignored: \(used) is also given and sets the window's \(used.hasPrefix("begin") ? "start" : "end"); remove one of them")
        }
    }

    // MARK: writer

    func destination(_ p: MapView) -> DestinationSpec? {
        var kind: DestinationKind?
        if p.has("odpsServer") || p.has("accessId") || p.has("accessKey") {
            let endpoint = p.required("odpsServer", what: "the MaxCompute endpoint")
            let project = p.required("project", what: "the MaxCompute project")
            let id = p.required("accessId", what: "the AccessKey id")
            let key = p.required("accessKey", what: "the AccessKey secret (\"${env:NAME}\")")
            p.accept("datasource")
            if let endpoint, let project, let id, let key {
                kind = .maxcompute(MaxComputeConnection(
                    endpoint: endpoint, tunnelEndpoint: p.string("tunnelServer"), project: project,
                    schema: p.string("schema"), accessKeyId: SecretValue(parsing: id),
                    accessKeySecret: SecretValue(parsing: key),
                    securityToken: p.string("securityToken").map { SecretValue(parsing: $0) }))
            }
        } else if let ds = p.string("datasource") {
            kind = .unresolved(datasource: ds, type: "maxcompute")
            p.accept("project", "schema", "tunnelServer")
        } else {
            reader.error(p.path, "missing `datasource` (a name in --datasources) or inline odpsServer/project/accessId/accessKey", line: p.line)
        }
        let table = p.required("table", what: "the MaxCompute table")
        let partition = p.string("partition") ?? ""
        let columns = p.stringList("column")
        if !p.has("column") { reader.error(p.path, "missing `column`: the writer columns in the order of the reader's", line: p.line) }
        if !p.has("truncate") {
            reader.warning(p.path, "missing `truncate` (DataWorks requires it): the partition is overwritten, its rows replaced by this instance's; write \"truncate\": true to keep that, or false to append", line: p.line)
        }
        let truncate = p.bool("truncate") ?? true
        let emptyAsNull = p.bool("emptyAsNull") ?? false
        let rule = p.choice("overLengthRule", OverLengthRule.self)
        let maxLen = p.int("maxFieldLength", in: 1...(8 << 20)).map { Int($0) }
        if p.has("consistencyCommit") {
            p.accept("consistencyCommit")
            reader.warning(p.path("consistencyCommit"), "Sluice always commits once: the instance's rows become visible together when it commits (what consistencyCommit: true asks for), whatever this key says")
        }
        let block = p.int("blockSizeInMB", in: 1...1024).map { Int($0) << 20 } ?? (64 << 20)
        var compress = UploadCompression.none
        if let node = p.node("compress") {
            if case .scalar(let s, _, _) = node, UploadCompression(rawValue: s.lowercased()) != nil {
                compress = UploadCompression(rawValue: s.lowercased())!
            } else if let b = reader.bool(node, p.path("compress")) {
                compress = b ? .deflate : .none
            }
        }
        p.finish(known: Self.writerKeys)
        guard let kind, let table, let columns else { return nil }
        return DestinationSpec(kind: kind, table: table, partition: partition, columns: columns,
                               writeMode: truncate ? .overwrite : .append, emptyAsNull: emptyAsNull,
                               overLengthRule: rule, maxFieldLength: maxLen, compress: compress,
                               blockSizeBytes: block)
    }

    // MARK: setting

    func settings(_ m: MapView) -> JobSettings {
        var s = JobSettings()
        if m.has("errorLimit") {
            s.errorLimit = SluiceJobReader(reader: reader, defaultName: "").errorLimit(m.node("errorLimit"), m.path("errorLimit"))
        }
        if let speed = m.mapping("speed") {
            s.concurrency = speed.int("concurrent", in: 1...64).map { Int($0) } ?? 1
            let throttle = speed.bool("throttle") ?? false
            let mbps = speed.double("mbps")
            if throttle, let mbps { s.mbps = mbps }
            if throttle, mbps == nil {
                reader.warning(speed.path("throttle"), "throttle is true without `mbps`: no rate is given, so the job is not throttled (give speed.mbps, in MB/s)")
            }
            speed.accept("channel", "dmu")
            speed.finish()
        }
        s.missingField = m.choice("missingField", MissingFieldPolicy.self) ?? .null
        m.finish(known: ["errorLimit", "speed"])
        return s
    }
}

/// Named connections for DataWorks `datasource` references, from a YAML file:
/// ```yaml
/// my_kafka:   { type: kafka, bootstrapServers: "host:9092", kafkaConfig: { … } }
/// odps_first: { type: maxcompute, endpoint: …, project: …, accessKeyId: "${env:…}", accessKeySecret: "${env:…}" }
/// ```
public struct DataSourceCatalog: Sendable, Equatable {
    public enum Entry: Sendable, Equatable {
        case kafka(bootstrapServers: [String], kafkaConfig: [KafkaConfigEntry])
        case maxcompute(MaxComputeConnection)
    }
    public var entries: [String: Entry]

    public init(entries: [String: Entry] = [:]) { self.entries = entries }

    /// Parses a data-source file. Throws `JobFileError` with every problem.
    public static func parse(data: Data, fileName: String) throws -> DataSourceCatalog {
        let reader = DocReader(file: fileName)
        let root: DocNode
        switch DocumentParser.parse(data: data, fileName: fileName) {
        case .failure(let d): throw JobFileError([d])
        case .success(let n): root = n
        }
        var catalog = DataSourceCatalog()
        guard let map = reader.mapping(root, "") else { throw JobFileError(reader.diagnostics) }
        let jobReader = SluiceJobReader(reader: reader, defaultName: "")
        for name in map.keys {
            guard let m = map.mapping(name) else { continue }
            let type = m.string("type")?.lowercased() ?? ""
            switch type {
            case "kafka":
                let servers = m.stringList("bootstrapServers") ?? m.stringList("server") ?? []
                jobReader.validateServers(servers, path: m.path("bootstrapServers"))
                var config: [KafkaConfigEntry] = []
                if let kc = m.mapping("kafkaConfig") {
                    for key in kc.keys { if let v = kc.string(key) { config.append(KafkaConfigEntry(key: key, value: SecretValue(parsing: v))) } }
                }
                catalog.entries[name] = .kafka(bootstrapServers: servers, kafkaConfig: config)
            case "maxcompute", "odps":
                let endpoint = m.string("endpoint") ?? m.string("odpsServer")
                let project = m.required("project", what: "the MaxCompute project")
                let id = m.string("accessKeyId") ?? m.string("accessId")
                let secret = m.string("accessKeySecret") ?? m.string("accessKey")
                if endpoint == nil { reader.error(m.path, "missing `endpoint`", line: m.line) }
                if id == nil { reader.error(m.path, "missing `accessKeyId`", line: m.line) }
                if secret == nil { reader.error(m.path, "missing `accessKeySecret`", line: m.line) }
                if let endpoint, let project, let id, let secret {
                    catalog.entries[name] = .maxcompute(MaxComputeConnection(
                        endpoint: endpoint, tunnelEndpoint: m.string("tunnelEndpoint") ?? m.string("tunnelServer"),
                        project: project, schema: m.string("schema"), accessKeyId: SecretValue(parsing: id),
                        accessKeySecret: SecretValue(parsing: secret),
                        securityToken: m.string("securityToken").map { SecretValue(parsing: $0) },
                        region: m.string("region")))
                }
            default:
                reader.error(m.path("type"), "data source type '\(type)' is not one of kafka, maxcompute")
            }
            m.finish()
        }
        if reader.hasErrors { throw JobFileError(reader.diagnostics) }
        return catalog
    }

    /// Replaces `datasource` references in `job` with their connections.
    func resolve(_ job: inout JobSpec, reader: DocReader, isDataWorks: Bool) {
        if let name = job.source.datasource {
            switch entries[name] {
            case .kafka(let servers, let config):
                job.source.bootstrapServers = servers
                job.source.datasource = nil
                for entry in config where entry.key != "group.id" && !job.source.kafkaConfig.contains(where: { $0.key == entry.key }) {
                    job.source.kafkaConfig.append(entry)
                }
                job.source.kafkaConfig.sort { $0.key < $1.key }
                if job.source.groupId == nil, let g = config.first(where: { $0.key == "group.id" }) {
                    job.source.groupId = g.value.source
                }
            case .maxcompute:
                reader.error(isDataWorks ? "steps[0].parameter.datasource" : "source.datasource",
                             "data source '\(name)' is a MaxCompute connection, not Kafka")
            case nil:
                reader.error(isDataWorks ? "steps[0].parameter.datasource" : "source.datasource",
                             "data source '\(name)' is not in the --datasources file" + didYouMean(name, Array(entries.keys)))
            }
        }
        if case .unresolved(let name, _) = job.destination.kind {
            let path = isDataWorks ? "steps[1].parameter.datasource" : job.task == .sync ? "destination.datasource" : "target.datasource"
            switch entries[name] {
            case .maxcompute(let conn): job.destination.kind = .maxcompute(conn)
            case .kafka:
                reader.error(path, "data source '\(name)' is a Kafka connection, not MaxCompute")
            case nil:
                reader.error(path, "data source '\(name)' is not in the --datasources file" + didYouMean(name, Array(entries.keys)))
            }
        }
    }
}
