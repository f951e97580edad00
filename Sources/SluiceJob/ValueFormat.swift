import SluiceCore

/// What a record value holds, for the source fields that address its parts.
public enum ValueFormat: Sendable, Hashable {
    /// JSON: fields are JSON paths (`a.a1`, `c[1]`).
    case json
    /// Delimited text (DataWorks `dataFormat: text` with `fieldDelimiter`): the value is split at each
    /// `delimiter`, and fields are addressed by index, `[0]` for the first.
    case text(delimiter: String)
    /// Avro: fields are paths into the decoded record (`order.id`, `items[0].sku`, `attrs.key`).
    case avro(AvroSchemaSpec)
    /// Protobuf: Confluent-framed values (magic byte 0, a 4-byte schema id, the message-index array),
    /// schemas (`.proto` text) from `source.schemaRegistry`; fields are paths into the decoded message.
    case protobuf

    /// True for `.avro`.
    public var isAvro: Bool { if case .avro = self { true } else { false } }
    /// True for `.protobuf`.
    public var isProtobuf: Bool { if case .protobuf = self { true } else { false } }
    /// True for the formats decoded with a schema (`.avro`, `.protobuf`): paths address the decoded value.
    public var isSchemaDecoded: Bool { isAvro || isProtobuf }

    /// A delimiter as written: `\t`, `\n`, `\r`, `\\`, `\u0001` (four hex digits) and `\x01` are read as
    /// the character they name (job files copied from DataWorks often hold them escaped); nil when it
    /// is empty.
    public static func delimiter(parsing written: String) -> String? {
        var out = ""
        var chars = Array(written)[...]
        while let c = chars.popFirst() {
            guard c == "\\", let next = chars.first else { out.append(c); continue }
            chars = chars.dropFirst()
            switch next {
            case "t": out.append("\t")
            case "n": out.append("\n")
            case "r": out.append("\r")
            case "\\": out.append("\\")
            case "u", "x":
                let count = next == "u" ? 4 : 2
                let hex = String(chars.prefix(count))
                if hex.count == count, let v = UInt32(hex, radix: 16), let scalar = Unicode.Scalar(v) {
                    out.unicodeScalars.append(scalar)
                    chars = chars.dropFirst(count)
                } else {
                    out += "\\\(next)"
                }
            default: out += "\\\(next)"
            }
        }
        return out.isEmpty ? nil : out
    }

    /// The delimiter as a job file writes it: control characters escaped.
    public static func written(_ delimiter: String) -> String {
        var out = ""
        for s in delimiter.unicodeScalars {
            switch s {
            case "\t": out += "\\t"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\\": out += "\\\\"
            case _ where s.value < 0x20 || s.value == 0x7F: out += "\\u" + String(repeating: "0", count: 4 - String(s.value, radix: 16).count) + String(s.value, radix: 16)
            default: out.unicodeScalars.append(s)
            }
        }
        return out
    }
}

/// Where the schema of Avro values comes from.
public enum AvroSchemaSpec: Sendable, Hashable {
    /// Confluent-framed values (magic byte 0, a 4-byte big-endian schema id, Avro binary); schemas
    /// from `source.schemaRegistry`, by id.
    case registry
    /// Plain Avro binary written with this schema (`source.avroSchema`, JSON text).
    case inline(String)
    /// Plain Avro binary written with the schema in this file (`source.avroSchemaFile`, relative to
    /// the job file).
    case file(String)
}

/// A Confluent Schema Registry (`source.schemaRegistry`).
public struct SchemaRegistrySpec: Sendable, Hashable {
    /// `http://host:port` or `https://…`, without credentials.
    public var url: String
    /// HTTP basic authentication; the password is a secret (`${env:…}`, `${file:…}`).
    public var username: SecretValue?
    public var password: SecretValue?

    public init(url: String, username: SecretValue? = nil, password: SecretValue? = nil) {
        self.url = url
        self.username = username
        self.password = password
    }

    public static let keys = ["url", "username", "password"]
}

extension SluiceJobReader {
    /// `source.schemaRegistry`: `{url, username, password}`.
    func schemaRegistry(_ m: MapView) -> SchemaRegistrySpec? {
        let url = m.required("url", what: "the registry's address, e.g. http://127.0.0.1:8081")
        let username = m.string("username").map { SecretValue(parsing: $0) }
        let password = m.string("password").map { SecretValue(parsing: $0) }
        m.finish(known: SchemaRegistrySpec.keys)
        guard let url else { return nil }
        if url.contains("@") {
            // Not echoed: the part before @ may hold a password.
            reader.error(m.path("url"), "the URL holds credentials (user@ or user:password@); give them as schemaRegistry.username and password")
        } else if !(url.hasPrefix("http://") || url.hasPrefix("https://")) {
            reader.error(m.path("url"), "'\(url)' is not an http:// or https:// URL")
        }
        if (username == nil) != (password == nil) {
            reader.error(m.path, "give both `username` and `password` (HTTP basic authentication), or neither", line: m.line)
        }
        return SchemaRegistrySpec(url: url, username: username, password: password)
    }

    /// Avro's schema source: exactly one of `schemaRegistry`, `avroSchema` or `avroSchemaFile` (for
    /// keys: `avroKeySchema`, `avroKeySchemaFile`).
    func avroSchema(_ m: MapView, registry: SchemaRegistrySpec?, key: Bool = false) -> AvroSchemaSpec {
        let inline = key ? "avroKeySchema" : "avroSchema", file = inline + "File"
        let given = ["schemaRegistry", inline, file].filter { m.has($0) }
        if given.count > 1 {
            reader.error(m.path, "give one of \(given.map { "`\($0)`" }.joined(separator: ", ")): where the Avro \(key ? "key " : "")schema comes from", line: m.line)
        }
        if let text = m.string(inline) { return .inline(text) }
        if let path = m.string(file) { return .file(path) }
        if given.isEmpty {
            reader.error(m.path, "missing `schemaRegistry` (Confluent-framed \(key ? "keys" : "values")), `\(inline)` or `\(file)` (plain Avro binary): \(key ? "keyFormat" : "valueFormat") avro needs the schema", line: m.line)
        }
        return .registry
    }

    /// The key format: `keyFormat` (`json` | `avro` | `protobuf`) with `avroKeySchema` / `avroKeySchemaFile`.
    func keyFormat(_ m: MapView, registry: SchemaRegistrySpec?) -> ValueFormat {
        let format = m.string("keyFormat")?.lowercased()
        if format != "avro" {
            for key in ["avroKeySchema", "avroKeySchemaFile"] where m.has(key) {
                reader.warning(m.path(key), "ignored: it applies to keyFormat avro")
                m.accept(key)
            }
        }
        switch format {
        case nil, "json":
            return .json
        case "avro":
            return .avro(avroSchema(m, registry: registry, key: true))
        case "protobuf":
            return protobuf(m, registry: registry, key: true)
        case let other?:
            reader.error(m.path("keyFormat"), "keyFormat '\(other)' is not supported: json, avro or protobuf" + didYouMean(other, ["json", "avro", "protobuf"]))
            return .json
        }
    }

    /// Protobuf needs `schemaRegistry` (the values are Confluent-framed, the registry holds the `.proto`).
    func protobuf(_ m: MapView, registry: SchemaRegistrySpec?, key: Bool) -> ValueFormat {
        if !m.has("schemaRegistry") {
            reader.error(m.path, "missing `schemaRegistry`: \(key ? "keyFormat" : "valueFormat") protobuf reads Confluent-framed \(key ? "keys" : "values") whose .proto schemas the registry holds", line: m.line)
        }
        return .protobuf
    }

    /// The value format: `formatKey` (`json` | `text` | `avro`) and `fieldDelimiter`, which text needs.
    func valueFormat(_ m: MapView, formatKey: String, registry: SchemaRegistrySpec? = nil) -> ValueFormat {
        let format = m.string(formatKey)?.lowercased()
        let delimiter = m.string("fieldDelimiter")
        let avroAllowed = formatKey == "valueFormat"
        if format != "avro" {
            let keyFormat = m.string("keyFormat")?.lowercased()
            let registryUsed = avroAllowed && (format == "protobuf" || keyFormat == "avro" || keyFormat == "protobuf")
            for key in ["avroSchema", "avroSchemaFile", "schemaRegistry"] where m.has(key) && !(registryUsed && key == "schemaRegistry") {
                reader.warning(m.path(key), "ignored: it applies to valueFormat avro\(key == "schemaRegistry" ? " and protobuf" : "")")
                m.accept(key)
            }
        }
        switch format {
        case "avro" where avroAllowed:
            return .avro(avroSchema(m, registry: registry))
        case "protobuf" where avroAllowed:
            return protobuf(m, registry: registry, key: false)
        case nil, "json":
            if delimiter != nil {
                reader.warning(m.path("fieldDelimiter"), "ignored: it applies to \(formatKey) text")
            }
            return .json
        case "text":
            guard let written = delimiter else {
                reader.error(m.path, "missing `fieldDelimiter`: \(formatKey) text splits the value at it (e.g. \",\" or \"\\t\")", line: m.line)
                return .json
            }
            guard let d = ValueFormat.delimiter(parsing: written) else {
                reader.error(m.path("fieldDelimiter"), "the delimiter is empty")
                return .json
            }
            return .text(delimiter: d)
        default:
            let names = avroAllowed ? ["json", "text", "avro", "protobuf"] : ["json", "text"]
            reader.error(m.path(formatKey), "\(formatKey) '\(m.string(formatKey) ?? "")' is not supported: json, text with fieldDelimiter\(avroAllowed ? ", avro or protobuf" : "")" + didYouMean(format ?? "", names))
            return .json
        }
    }
}

extension JobValidator {
    /// Avro: the registry password is a reference; an inline schema parses and has the mapped paths.
    func checkAvro(_ job: JobSpec) {
        if let p = job.source.schemaRegistry?.password, !p.isReference {
            reader.warning(paths.source("schemaRegistry") + ".password",
                           "a literal secret in the job file; use \"${env:NAME}\" or \"${file:PATH}\" so it is not shared with the file")
        }
        for key in [false, true] {
            guard case .avro(.inline(let text)) = key ? job.source.keyFormat : job.source.valueFormat else { continue }
            let name = key ? "avroKeySchema" : "avroSchema"
            let schema: AvroSchema
            do {
                schema = try AvroSchema(parsing: text)
            } catch {
                reader.error(paths.source(name), "not a valid Avro schema: \(error.message)")
                continue
            }
            for (i, m) in job.mapping.enumerated() {
                let field = try? SourceField(parsing: m.from)
                let path: [PathComponent]
                switch field {
                case .valuePath(let p)? where !key: path = p
                case .keyPath(let p)? where key: path = p
                default: continue
                }
                if !schema.canHold(path) {
                    reader.warning(paths.sourceField(i), "field '\(m.from)' is not in the Avro \(key ? "key " : "")schema (source.\(name)): it is always missing")
                }
            }
        }
    }

    /// Text values are addressed by index: every value path is one `[N]`.
    func checkValueFormat(_ job: JobSpec) {
        checkAvro(job)
        guard case .text = job.source.valueFormat else { return }
        for (i, m) in job.mapping.enumerated() {
            guard case .valuePath(let path)? = try? SourceField(parsing: m.from) else { continue }
            if path.count != 1 || { if case .index = path[0] { false } else { true } }() {
                reader.error(paths.sourceField(i), "field '\(m.from)': a text value's fields are addressed by index, [0] for the first (the value is split at fieldDelimiter, not read as JSON)")
            }
        }
    }
}
