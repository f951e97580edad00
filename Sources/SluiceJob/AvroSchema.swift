import Foundation
import SluiceCore

/// An Avro logical type that changes how a value is shown: decimal text, date and time text,
/// instants, UUID text. A logical type on a type it does not fit is ignored, as the Avro
/// specification asks.
public enum AvroLogical: Sendable, Hashable {
    case decimal(precision: Int, scale: Int)
    case date
    case timeMillis, timeMicros
    case timestampMillis, timestampMicros
    case localTimestampMillis, localTimestampMicros
    case uuid
}

/// One type of an Avro schema. Named types (records, enums, fixed) are defined where they first
/// appear; later uses are `.reference` to their full name, which `AvroSchema.named` resolves (so a
/// recursive record is a tree, not a cycle).
public indirect enum AvroType: Sendable, Hashable {
    case null, boolean, float, double
    case int(AvroLogical?)
    case long(AvroLogical?)
    case bytes(AvroLogical?)
    case string(AvroLogical?)
    case record(name: String, fields: [AvroField])
    case enumeration(name: String, symbols: [String])
    case array(AvroType)
    case map(AvroType)
    case union([AvroType])
    case fixed(name: String, size: Int, logical: AvroLogical?)
    case reference(String)

    /// The name a union branch is known by: a primitive's type name, a named type's full name.
    public var branchName: String {
        switch self {
        case .null: "null"
        case .boolean: "boolean"
        case .int: "int"
        case .long: "long"
        case .float: "float"
        case .double: "double"
        case .bytes: "bytes"
        case .string: "string"
        case .record(let name, _), .enumeration(let name, _), .fixed(let name, _, _), .reference(let name): name
        case .array: "array"
        case .map: "map"
        case .union: "union"
        }
    }
}

/// A field of a record.
public struct AvroField: Sendable, Hashable {
    public var name: String
    public var type: AvroType
    /// The field has a `default` (which schema evolution uses; decoding does not).
    public var hasDefault: Bool
    public init(name: String, type: AvroType, hasDefault: Bool = false) {
        self.name = name
        self.type = type
        self.hasDefault = hasDefault
    }
}

/// Why a schema text is not an Avro schema Sluice can read.
public struct AvroSchemaError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A parsed Avro schema (the writer's schema: values are read exactly as it describes them).
public struct AvroSchema: Sendable, Hashable {
    public var root: AvroType
    /// Every named type by full name (`namespace.name`).
    public var named: [String: AvroType]

    /// Parses schema JSON text (an object, an array for a union, or a quoted primitive name).
    public init(parsing text: String) throws(AvroSchemaError) {
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
        } catch {
            throw AvroSchemaError("the schema is not JSON: \(Self.describe(error))")
        }
        var parser = AvroSchemaParser()
        root = try parser.parse(json, namespace: nil, at: "schema")
        named = parser.named
    }

    /// The definition of a type, following a reference.
    public func resolve(_ type: AvroType) -> AvroType {
        if case .reference(let name) = type, let t = named[name] { return t }
        return type
    }

    /// Whether a value of this schema can have something at `path` (a record field, a map key, an
    /// array element, through unions).
    public func canHold(_ path: [PathComponent]) -> Bool {
        canHold(path[...], in: root, depth: 0)
    }

    private func canHold(_ path: ArraySlice<PathComponent>, in type: AvroType, depth: Int) -> Bool {
        guard let first = path.first else { return true }
        guard depth < 64 else { return true }
        switch (resolve(type), first) {
        case (.union(let branches), _):
            return branches.contains { canHold(path, in: $0, depth: depth + 1) }
        case (.record(_, let fields), .member(let name)):
            guard let f = fields.first(where: { $0.name == name }) else { return false }
            return canHold(path.dropFirst(), in: f.type, depth: depth + 1)
        case (.map(let values), .member):
            return canHold(path.dropFirst(), in: values, depth: depth + 1)
        case (.array(let items), .index):
            return canHold(path.dropFirst(), in: items, depth: depth + 1)
        default:
            return false
        }
    }

    static func describe(_ error: any Error) -> String {
        let ns = error as NSError
        return (ns.userInfo[NSDebugDescriptionErrorKey] as? String) ?? ns.localizedDescription
    }
}

/// Reads the JSON form of a schema (the Avro specification's "Schema Declaration").
struct AvroSchemaParser {
    var named: [String: AvroType] = [:]

    static let primitives: Set<String> = ["null", "boolean", "int", "long", "float", "double", "bytes", "string"]

    mutating func parse(_ json: Any, namespace: String?, at path: String) throws(AvroSchemaError) -> AvroType {
        if let name = json as? String { return try type(named: name, namespace: namespace, at: path) }
        if let branches = json as? [Any] {
            var out: [AvroType] = []
            for (i, b) in branches.enumerated() {
                let t = try parse(b, namespace: namespace, at: "\(path)[\(i)]")
                if case .union = t { throw AvroSchemaError("\(path)[\(i)]: a union cannot hold a union directly") }
                if out.contains(where: { $0.branchName == t.branchName }) {
                    throw AvroSchemaError("\(path): the union has two branches of type \(t.branchName)")
                }
                out.append(t)
            }
            return .union(out)
        }
        guard let object = json as? [String: Any] else {
            throw AvroSchemaError("\(path): expected a type name, an object or a union array")
        }
        guard let typeName = object["type"] else { throw AvroSchemaError("\(path): missing \"type\"") }
        guard let kind = typeName as? String else {
            // {"type": {...}} or {"type": [...]}: the nested type itself.
            return try parse(typeName, namespace: namespace, at: path)
        }
        switch kind {
        case "record", "error": return try record(object, namespace: namespace, at: path)
        case "enum":
            let name = try define(object, namespace: namespace, at: path)
            guard let symbols = object["symbols"] as? [String] else { throw AvroSchemaError("\(path): enum \(name) has no \"symbols\" list") }
            let t = AvroType.enumeration(name: name, symbols: symbols)
            named[name] = t
            return t
        case "array":
            guard let items = object["items"] else { throw AvroSchemaError("\(path): array without \"items\"") }
            return .array(try parse(items, namespace: namespace, at: path + ".items"))
        case "map":
            guard let values = object["values"] else { throw AvroSchemaError("\(path): map without \"values\"") }
            return .map(try parse(values, namespace: namespace, at: path + ".values"))
        case "fixed":
            let name = try define(object, namespace: namespace, at: path)
            guard let size = (object["size"] as? NSNumber)?.intValue, size >= 0 else {
                throw AvroSchemaError("\(path): fixed \(name) has no \"size\"")
            }
            let t = AvroType.fixed(name: name, size: size, logical: Self.logical(object, fixedSize: size, base: "fixed"))
            named[name] = t
            return t
        default:
            guard Self.primitives.contains(kind) else { return try type(named: kind, namespace: namespace, at: path) }
            return Self.primitive(kind, logical: Self.logical(object, fixedSize: nil, base: kind))
        }
    }

    mutating func record(_ object: [String: Any], namespace: String?, at path: String) throws(AvroSchemaError) -> AvroType {
        let name = try define(object, namespace: namespace, at: path)
        guard let fields = object["fields"] as? [Any] else { throw AvroSchemaError("\(path): record \(name) has no \"fields\" list") }
        // Registered before its fields, so that a field may refer to the record itself.
        named[name] = .record(name: name, fields: [])
        let inner = Self.namespace(of: name)
        var out: [AvroField] = []
        for (i, f) in fields.enumerated() {
            guard let field = f as? [String: Any], let fieldName = field["name"] as? String, let type = field["type"] else {
                throw AvroSchemaError("\(path).fields[\(i)]: a field needs \"name\" and \"type\"")
            }
            if out.contains(where: { $0.name == fieldName }) {
                throw AvroSchemaError("\(path): record \(name) has two fields named \(fieldName)")
            }
            out.append(AvroField(name: fieldName, type: try parse(type, namespace: inner, at: "\(path).\(fieldName)"),
                                 hasDefault: field["default"] != nil))
        }
        let t = AvroType.record(name: name, fields: out)
        named[name] = t
        return t
    }

    /// The full name of a named type being defined; a name defined twice is an error.
    mutating func define(_ object: [String: Any], namespace: String?, at path: String) throws(AvroSchemaError) -> String {
        guard let name = object["name"] as? String, !name.isEmpty else { throw AvroSchemaError("\(path): a named type needs \"name\"") }
        let ns = (object["namespace"] as? String).flatMap { $0.isEmpty ? nil : $0 } ?? namespace
        let full = name.contains(".") || ns == nil ? name : "\(ns!).\(name)"
        if named[full] != nil { throw AvroSchemaError("\(path): the type \(full) is defined twice") }
        return full
    }

    func type(named name: String, namespace: String?, at path: String) throws(AvroSchemaError) -> AvroType {
        if Self.primitives.contains(name) { return Self.primitive(name, logical: nil) }
        if let ns = namespace, !name.contains("."), named["\(ns).\(name)"] != nil { return .reference("\(ns).\(name)") }
        if named[name] != nil { return .reference(name) }
        throw AvroSchemaError("\(path): unknown type '\(name)' (a named type must be defined before it is used)")
    }

    static func namespace(of fullName: String) -> String? {
        guard let dot = fullName.lastIndex(of: ".") else { return nil }
        return String(fullName[..<dot])
    }

    static func primitive(_ name: String, logical: AvroLogical?) -> AvroType {
        switch name {
        case "null": .null
        case "boolean": .boolean
        case "int": .int(logical)
        case "long": .long(logical)
        case "float": .float
        case "double": .double
        case "bytes": .bytes(logical)
        default: .string(logical)
        }
    }

    /// The logical type of `object` when it fits its base type; nil otherwise (then ignored).
    static func logical(_ object: [String: Any], fixedSize: Int?, base: String) -> AvroLogical? {
        guard let name = object["logicalType"] as? String else { return nil }
        switch (name, base) {
        case ("decimal", "bytes"), ("decimal", "fixed"):
            guard let precision = (object["precision"] as? NSNumber)?.intValue, precision > 0 else { return nil }
            let scale = (object["scale"] as? NSNumber)?.intValue ?? 0
            guard scale >= 0, scale <= precision else { return nil }
            if let size = fixedSize, Double(precision) > (Double(8 * size - 1) * log10(2.0)).rounded(.down) { return nil }
            return .decimal(precision: precision, scale: scale)
        case ("date", "int"): return .date
        case ("time-millis", "int"): return .timeMillis
        case ("time-micros", "long"): return .timeMicros
        case ("timestamp-millis", "long"): return .timestampMillis
        case ("timestamp-micros", "long"): return .timestampMicros
        case ("local-timestamp-millis", "long"): return .localTimestampMillis
        case ("local-timestamp-micros", "long"): return .localTimestampMicros
        case ("uuid", "string"): return .uuid
        case ("uuid", "fixed") where fixedSize == 16: return .uuid
        default: return nil
        }
    }
}
