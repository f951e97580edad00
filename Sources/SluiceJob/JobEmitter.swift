import Foundation
import Yams
import SluiceCore
import SluiceScheduling

/// Writes a `JobSpec` as Sluice YAML (the shape `JobLoader` reads back into an equal spec).
public enum JobEmitter {
    /// What to do with literal secrets.
    public enum Secrets: Sendable {
        /// Show `******` (for `sluice show`).
        case redact
        /// Replace each literal with an `${env:NAME}` reference and report the variables
        /// (for `sluice import`: the secret stays out of the new file).
        case moveToEnvironment
    }

    /// Writes a secret value: as written when it is a reference, else redacted or moved to the
    /// environment variable named second.
    typealias SecretWriter = (SecretValue, String) -> Node

    /// The YAML text, and the environment variables the user must set (with `.moveToEnvironment`).
    public static func yaml(_ job: JobSpec, secrets: Secrets) -> (text: String, environment: [String]) {
        var env: [String] = []
        func secret(_ value: SecretValue, _ suggestedName: String) -> Node {
            if value.isReference { return str(value.source) }
            switch secrets {
            case .redact: return str("******")
            case .moveToEnvironment:
                env.append(suggestedName)
                return str("${env:\(suggestedName)}")
            }
        }
        var root: [(Node, Node)] = [(str("name"), str(job.name))]
        if let statements = job.sqlStatements {
            root.append((str("type"), str("sql")))
            root.append((str("target"), Node(connection(job.destination.kind, secrets: secrets, secret))))
            root.append((str("sql"), Node(statements.map { $0 + ";\n" }.joined(), .implicit, .literal)))
        } else {
            if let shards = job.shards { root.append((str("shards"), str(String(shards)))) }
            root.append((str("source"), Node(source(job.source, secret))))
            root.append(mapping(job))
            root.append((str("destination"), Node(destination(job, secrets: secrets, secret))))
            if job.settings != JobSettings() { root.append((str("settings"), Node(settings(job.settings)))) }
        }
        if let sc = job.schedule { root.append((str("schedule"), schedule(sc))) }
        let text = (try? Yams.serialize(node: Node(root), width: -1, allowUnicode: true)) ?? ""
        return (text, env)
    }

    static func source(_ s: KafkaSourceSpec, _ secret: SecretWriter) -> [(Node, Node)] {
        var src: [(Node, Node)] = [(str("type"), str("kafka"))]
        if let ds = s.datasource { src.append((str("datasource"), str(ds))) } else {
            src.append((str("bootstrapServers"), str(s.bootstrapServers.joined(separator: ","))))
        }
        src.append((str("topic"), str(s.topic)))
        if let g = s.groupId { src.append((str("groupId"), str(g))) }
        src.append((str("begin"), begin(s.begin)))
        src.append((str("end"), end(s.end)))
        if let tz = s.timeZone { src.append((str("timeZone"), str(tz))) }
        src.append((str("keyType"), str(s.keyType.rawValue)))
        src.append((str("valueType"), str(s.valueType.rawValue)))
        if s.encoding != "UTF-8" { src.append((str("encoding"), str(s.encoding))) }
        if s.headerEncoding != "UTF-8" { src.append((str("headerEncoding"), str(s.headerEncoding))) }
        if case .text(let delimiter) = s.valueFormat {
            src += [(str("valueFormat"), str("text")), (str("fieldDelimiter"), str(ValueFormat.written(delimiter)))]
        }
        for (format, key) in [(s.valueFormat, false), (s.keyFormat, true)] where format.isProtobuf {
            src.append((str(key ? "keyFormat" : "valueFormat"), str("protobuf")))
        }
        for (format, key) in [(s.valueFormat, false), (s.keyFormat, true)] {
            guard case .avro(let schema) = format else { continue }
            src.append((str(key ? "keyFormat" : "valueFormat"), str("avro")))
            let name = key ? "avroKeySchema" : "avroSchema"
            switch schema {
            case .registry: break
            case .inline(let text): src.append((str(name), Node(text, .implicit, text.contains("\n") ? .literal : .doubleQuoted)))
            case .file(let path): src.append((str(name + "File"), str(path)))
            }
        }
        if s.valueFormat.isSchemaDecoded || s.keyFormat.isSchemaDecoded {
            if let r = s.schemaRegistry {
                var reg: [(Node, Node)] = [(str("url"), str(r.url))]
                // A user name is not secret on its own: shown as written, like the Kafka one.
                if let u = r.username { reg.append((str("username"), str(u.source))) }
                if let p = r.password { reg.append((str("password"), secret(p, "SCHEMA_REGISTRY_PASSWORD"))) }
                src.append((str("schemaRegistry"), Node(reg)))
            }
        }
        switch s.completion {
        case .endOffset: break
        case .idle(let seconds, let latest):
            var c: [(Node, Node)] = [(str("idle"), str(durationText(seconds)))]
            if latest { c.append((str("stopAtLatest"), str("true"))) }
            src.append((str("completion"), Node(c, .implicit, .flow)))
        }
        if s.windowMode != .offsets { src.append((str("windowMode"), str(s.windowMode.rawValue))) }
        if let p = s.partitions { src.append((str("partitions"), Node(p.map { str(String($0)) }, .implicit, .flow))) }
        if !s.kafkaConfig.isEmpty {
            src.append((str("kafkaConfig"), Node(s.kafkaConfig.map { entry in
                let name = "KAFKA_" + entry.key.uppercased().map { $0.isLetter || $0.isNumber ? String($0) : "_" }.joined()
                return (str(entry.key), SecretKeys.isSecret(entry.key) ? secret(entry.value, name) : str(entry.value.source))
            })))
        }
        if let security = s.security { src.append((str("security"), Node(securityBlock(security, secret)))) }
        if s.autoOffsetReset != .none { src.append((str("autoOffsetReset"), str(s.autoOffsetReset.rawValue))) }
        if s.skipExceedRecord { src.append((str("skipExceedRecord"), str("true"))) }
        return src
    }

    /// `columns:` when the fields line up with the destination's columns, else `mapping:`.
    static func mapping(_ job: JobSpec) -> (Node, Node) {
        let d = job.destination
        if isAligned(job) || d.columns == ["*"] {
            return (str("columns"), Node(job.mapping.map { str($0.from) }, .implicit, .flow))
        }
        return (str("mapping"), Node(job.mapping.map { m in
            var entry: [(Node, Node)] = [(str("from"), str(m.from)), (str("to"), str(m.to ?? ""))]
            if let u = m.unit { entry.append((str("unit"), str(u == .seconds ? "s" : "ms"))) }
            if let f = m.format { entry.append((str("format"), str(f))) }
            return Node(entry, .implicit, .flow)
        }))
    }

    /// Date-time options live on mapping entries, so a job that has any is written as a mapping.
    static func isAligned(_ job: JobSpec) -> Bool {
        job.mapping.allSatisfy { $0.to != nil && $0.unit == nil && $0.format == nil }
            && job.mapping.compactMap(\.to) == job.destination.columns
    }

    static func destination(_ job: JobSpec, secrets: Secrets, _ secret: SecretWriter) -> [(Node, Node)] {
        let d = job.destination
        var dst = connection(d.kind, secrets: secrets, secret)
        dst.append((str("table"), str(d.table)))
        dst.append((str("partition"), str(d.partition)))
        if isAligned(job) || d.columns == ["*"] { dst.append((str("columns"), Node(d.columns.map { str($0) }, .implicit, .flow))) }
        if !d.columnTypes.isEmpty {
            dst.append((str("columnTypes"), Node(d.columnTypes.keys.sorted().map { (str($0), str(d.columnTypes[$0]!.description)) })))
        }
        dst.append((str("writeMode"), str(d.writeMode.rawValue)))
        if d.emptyAsNull { dst.append((str("emptyAsNull"), str("true"))) }
        if let r = d.overLengthRule { dst.append((str("overLengthRule"), str(r.rawValue))) }
        if let m = d.maxFieldLength { dst.append((str("maxFieldLength"), str(String(m)))) }
        if d.compress != .none { dst.append((str("compress"), str(d.compress.rawValue))) }
        if d.blockSizeBytes != 64 << 20 { dst.append((str("blockSizeMB"), str(String(d.blockSizeBytes >> 20)))) }
        return dst
    }

    /// The database's keys: a destination's `type` and connection, or an SQL node's `target`.
    static func connection(_ kind: DestinationKind, secrets: Secrets, _ secret: SecretWriter) -> [(Node, Node)] {
        switch kind {
        case .sqlite(let path):
            return [(str("type"), str("sqlite")), (str("path"), str(path))]
        case .discard:
            return [(str("type"), str("discard"))]
        case .postgresql(let url):
            let shown = url.isReference || !PostgresURLText.hasPassword(url.source) ? str(url.source)
                : secrets == .redact ? str(PostgresURLText.redacted(url.source)) : secret(url, "SLUICE_POSTGRES_URL")
            return [(str("type"), str("postgresql")), (str("url"), shown)]
        case .unresolved(let name, _):
            return [(str("type"), str("maxcompute")), (str("datasource"), str(name))]
        case .maxcompute(let c):
            var out: [(Node, Node)] = [(str("type"), str("maxcompute")), (str("endpoint"), str(c.endpoint))]
            if let t = c.tunnelEndpoint { out.append((str("tunnelEndpoint"), str(t))) }
            out.append((str("project"), str(c.project)))
            if let sc = c.schema { out.append((str("schema"), str(sc))) }
            // An AccessKey id is not secret on its own: shown by `show`, moved out of the file by `import`.
            out.append((str("accessKeyId"), secrets == .redact ? str(c.accessKeyId.source)
                        : secret(c.accessKeyId, "ALIBABA_CLOUD_ACCESS_KEY_ID")))
            out.append((str("accessKeySecret"), secret(c.accessKeySecret, "ALIBABA_CLOUD_ACCESS_KEY_SECRET")))
            if let t = c.securityToken { out.append((str("securityToken"), secret(t, "ALIBABA_CLOUD_SECURITY_TOKEN"))) }
            if let r = c.region { out.append((str("region"), str(r))) }
            return out
        }
    }

    static func settings(_ st: JobSettings) -> [(Node, Node)] {
        var set: [(Node, Node)] = []
        if !st.errorLimit.isUnlimited {
            var e: [(Node, Node)] = []
            if let r = st.errorLimit.records { e.append((str("record"), str(String(r)))) }
            if let p = st.errorLimit.percentage { e.append((str("percentage"), str(String(p)))) }
            set.append((str("errorLimit"), Node(e, .implicit, .flow)))
        }
        if st.concurrency != 1 { set.append((str("concurrency"), str(String(st.concurrency)))) }
        if let m = st.mbps { set.append((str("mbps"), str(String(m)))) }
        if st.missingField != .null { set.append((str("missingField"), str(st.missingField.rawValue))) }
        return set
    }

    static func schedule(_ s: ScheduleSpec) -> Node {
        let d = ScheduleSpec()
        var out: [(Node, Node)] = [(str("cycle"), str(s.cycle.rawValue)), (str("start"), str(s.start))]
        if s.interval != d.interval || [.minute, .hour].contains(s.cycle) { out.append((str("interval"), str(String(s.interval)))) }
        if s.end != d.end || [.minute, .hour].contains(s.cycle) { out.append((str("end"), str(s.end))) }
        if let t = s.timePoints { out.append((str("timePoints"), Node(t.map { str($0) }, .implicit, .flow))) }
        if !s.weekdays.isEmpty { out.append((str("weekdays"), Node(s.weekdays.map { str(String($0)) }, .implicit, .flow))) }
        if !s.monthDays.isEmpty {
            out.append((str("monthDays"), Node(s.monthDays.map {
                if case .day(let n) = $0 { str(String(n)) } else { str("last") }
            }, .implicit, .flow)))
        }
        if let tz = s.timeZone { out.append((str("timeZone"), str(tz))) }
        if let f = s.effectiveFrom { out.append((str("effectiveFrom"), str(f))) }
        if let t = s.effectiveTo { out.append((str("effectiveTo"), str(t))) }
        if let dp = s.dependsOnPrevious { out.append((str("dependsOnPrevious"), str(dp ? "true" : "false"))) }
        if !s.dependsOn.isEmpty { out.append((str("dependsOn"), Node(s.dependsOn.map { str($0) }, .implicit, .flow))) }
        if s.rerun != d.rerun { out.append((str("rerun"), str(s.rerun.rawValue))) }
        if s.retries != d.retries { out.append((str("retries"), str(String(s.retries)))) }
        if s.retryInterval != d.retryInterval { out.append((str("retryInterval"), str(durationText(Double(s.retryInterval))))) }
        if let t = s.timeout { out.append((str("timeout"), str(durationText(Double(t))))) }
        if s.type != d.type { out.append((str("type"), str(s.type.rawValue))) }
        if s.catchUp != d.catchUp { out.append((str("catchUp"), str(s.catchUp.rawValue))) }
        if !s.parameters.isEmpty {
            out.append((str("parameters"), Node(s.parameters.map { (str($0.name), str($0.expression)) })))
        }
        return Node(out)
    }

    static func begin(_ b: BeginBound) -> Node {
        switch b {
        case .time(let t): bound("time", t)
        case .timestampMillis(let t): bound("timestampMillis", t)
        case .offset(let o): bound("offset", String(o))
        case .earliest: bound("earliest", "true")
        case .latest: bound("latest", "true")
        case .groupOffset: bound("groupOffset", "true")
        }
    }

    static func end(_ e: EndBound) -> Node {
        switch e {
        case .time(let t): bound("time", t)
        case .timestampMillis(let t): bound("timestampMillis", t)
        case .offset(let o): bound("offset", String(o))
        case .latest: bound("latest", "true")
        }
    }

    private static func bound(_ key: String, _ value: String) -> Node {
        Node([(str(key), str(value))], .implicit, .flow)
    }

    static func durationText(_ seconds: Double) -> String {
        let s = Int(seconds)
        if Double(s) != seconds { return String(seconds) + "s" }
        if s % 3600 == 0 { return "\(s / 3600)h" }
        if s % 60 == 0 { return "\(s / 60)m" }
        return "\(s)s"
    }

    /// A string scalar that reads back as the same string (quoted when it would read as null).
    static func str(_ s: String) -> Node {
        if ["", "~", "null", "Null", "NULL"].contains(s) { return Node(s, .implicit, .doubleQuoted) }
        // Times of day would read as sexagesimal numbers in YAML 1.1 tools.
        if s.count == 5, s.dropFirst(2).first == ":", s.filter(\.isNumber).count == 4 { return Node(s, .implicit, .doubleQuoted) }
        return Node(s)
    }
}

extension JobEmitter.Secrets: Equatable {}

extension JobEmitter {
    /// The `security:` block; `secret` writes a secret value (redacted or moved to the environment).
    static func securityBlock(_ s: KafkaSecuritySpec, _ secret: (SecretValue, String) -> Node) -> [(Node, Node)] {
        var out: [(Node, Node)] = [(str("protocol"), str(s.securityProtocol.rawValue))]
        if let m = s.mechanism { out.append((str("mechanism"), str(m.rawValue))) }
        // A user name is not secret on its own (like an AccessKey id): shown as written.
        if let u = s.username { out.append((str("username"), str(u.source))) }
        if let p = s.password { out.append((str("password"), secret(p, "KAFKA_PASSWORD"))) }
        if let f = s.caFile { out.append((str("caFile"), str(f))) }
        if let f = s.certificateFile { out.append((str("certificateFile"), str(f))) }
        if let f = s.keyFile { out.append((str("keyFile"), str(f))) }
        if let p = s.keyPassword { out.append((str("keyPassword"), secret(p, "KAFKA_SSL_KEY_PASSWORD"))) }
        if !s.verifyHostName { out.append((str("verifyHostName"), str("false"))) }
        return out
    }
}
