import Foundation
import SluiceCore
import SluiceJob
import SluiceMapping

/// The state of the development Schema Registry: schemas by id, subjects with their versions, and
/// the REST subset clients use, as a pure function of method, path and body (`DevRegistryServer`
/// serves it over HTTP). Avro schemas are parsed: the same schema registered again (however it is
/// spaced) gets the same id, and a new version must be BACKWARD compatible with the latest.
public actor DevRegistry {
    struct Stored {
        var text: String
        var type: String
        /// The parsed form, for Avro: what "the same schema" means.
        var avro: AvroSchema?
    }

    /// A JSON answer: HTTP status and body.
    public struct Answer: Sendable {
        public var status: Int
        public var body: Data
    }

    private var schemas: [Stored] = []
    private var subjects: [String: [Int]] = [:]
    /// Subjects in the order they were created.
    private var subjectOrder: [String] = []
    private var compatibility = "BACKWARD"

    public init() {}

    public func handle(method: String, path: String, body: Data) -> Answer {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true).map { String($0).removingPercentEncoding ?? String($0) }
        switch (method, parts.count) {
        case ("GET", 0): return ok([String: Any]())
        case ("GET", 1) where parts[0] == "subjects": return ok(subjectOrder)
        case ("GET", 1) where parts[0] == "schemas" : return ok(schemas.indices.map { describe(id: $0 + 1) })
        case ("GET", 1) where parts[0] == "config", ("GET", 2) where parts[0] == "config":
            return ok(["compatibilityLevel": compatibility])
        case ("PUT", 1) where parts[0] == "config": return setConfig(body)
        case ("GET", 3) where parts[0] == "schemas" && parts[1] == "ids": return schema(id: parts[2])
        case ("GET", 3) where parts[0] == "subjects" && parts[2] == "versions": return versions(parts[1])
        case ("GET", 4) where parts[0] == "subjects" && parts[2] == "versions": return version(parts[1], parts[3])
        case ("POST", 3) where parts[0] == "subjects" && parts[2] == "versions": return register(parts[1], body)
        case ("POST", 2) where parts[0] == "subjects": return lookup(parts[1], body)
        case ("POST", 5) where parts[0] == "compatibility" && parts[1] == "subjects" && parts[3] == "versions":
            return compatible(parts[2], parts[4], body)
        default:
            return error(404, 404, "no such endpoint: \(method) \(path)")
        }
    }

    // MARK: - Endpoints

    func schema(id text: String) -> Answer {
        guard let id = Int(text), id >= 1, id <= schemas.count else { return error(404, 40403, "Schema \(text) not found") }
        return ok(describe(id: id))
    }

    func versions(_ subject: String) -> Answer {
        guard let ids = subjects[subject] else { return error(404, 40401, "Subject '\(subject)' not found.") }
        return ok(Array(1...ids.count))
    }

    func version(_ subject: String, _ v: String) -> Answer {
        guard let ids = subjects[subject] else { return error(404, 40401, "Subject '\(subject)' not found.") }
        let n = v == "latest" || v == "-1" ? ids.count : Int(v) ?? 0
        guard n >= 1, n <= ids.count else { return error(404, 40402, "Version \(v) not found.") }
        return ok(describe(id: ids[n - 1], subject: subject, version: n))
    }

    func register(_ subject: String, _ body: Data) -> Answer {
        let given: Stored
        switch parse(body) {
        case .failure(let e): return e.answer
        case .success(let s): given = s
        }
        let ids = subjects[subject] ?? []
        if let v = ids.firstIndex(where: { same(schemas[$0 - 1], given) }) { return ok(["id": ids[v]]) }
        if compatibility != "NONE", let last = ids.last, let problem = incompatibility(given, schemas[last - 1]).first {
            return error(409, 409, "Schema being registered is incompatible with an earlier schema for subject \"\(subject)\": \(problem)")
        }
        let id: Int
        if let existing = schemas.firstIndex(where: { same($0, given) }) {
            id = existing + 1
        } else {
            schemas.append(given)
            id = schemas.count
        }
        if subjects[subject] == nil { subjectOrder.append(subject) }
        subjects[subject, default: []].append(id)
        return ok(["id": id])
    }

    func lookup(_ subject: String, _ body: Data) -> Answer {
        let given: Stored
        switch parse(body) {
        case .failure(let e): return e.answer
        case .success(let s): given = s
        }
        guard let ids = subjects[subject] else { return error(404, 40401, "Subject '\(subject)' not found.") }
        guard let v = ids.firstIndex(where: { same(schemas[$0 - 1], given) }) else { return error(404, 40403, "Schema not found") }
        return ok(describe(id: ids[v], subject: subject, version: v + 1))
    }

    func compatible(_ subject: String, _ v: String, _ body: Data) -> Answer {
        let given: Stored
        switch parse(body) {
        case .failure(let e): return e.answer
        case .success(let s): given = s
        }
        guard let ids = subjects[subject] else { return error(404, 40401, "Subject '\(subject)' not found.") }
        let n = v == "latest" ? ids.count : Int(v) ?? 0
        guard n >= 1, n <= ids.count else { return error(404, 40402, "Version \(v) not found.") }
        let problems = compatibility == "NONE" ? [] : incompatibility(given, schemas[ids[n - 1] - 1])
        var answer: [String: Any] = ["is_compatible": problems.isEmpty]
        if !problems.isEmpty { answer["messages"] = problems }
        return ok(answer)
    }

    func setConfig(_ body: Data) -> Answer {
        guard let object = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any],
              let level = (object["compatibility"] as? String)?.uppercased(), ["BACKWARD", "NONE"].contains(level) else {
            return error(422, 42203, "Invalid compatibility level: this registry knows BACKWARD and NONE")
        }
        compatibility = level
        return ok(["compatibility": level])
    }

    // MARK: - Helpers

    /// The body of a registration, lookup or compatibility request: `{"schema": …, "schemaType": …}`.
    func parse(_ body: Data) -> Result<Stored, AnswerError> {
        guard let object = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any],
              let text = object["schema"] as? String else {
            return .failure(AnswerError(answer: error(422, 42201, "Invalid schema: the body needs a \"schema\" string")))
        }
        let type = (object["schemaType"] as? String)?.uppercased() ?? "AVRO"
        if let refs = object["references"] as? [Any], !refs.isEmpty {
            return .failure(AnswerError(answer: error(422, 42201, "Invalid schema: this registry does not resolve schema references")))
        }
        if type == "PROTOBUF" { return protobuf(text) }
        guard type == "AVRO" else { return .success(Stored(text: text, type: type, avro: nil)) }
        do {
            return .success(Stored(text: text, type: type, avro: try AvroSchema(parsing: text)))
        } catch {
            return .failure(AnswerError(answer: self.error(422, 42201, "Invalid schema: \(error.message)")))
        }
    }

    struct AnswerError: Error { var answer: Answer }

    /// A PROTOBUF schema: `.proto` text, or a base64 serialized FileDescriptorProto (what Confluent's
    /// serializers send), stored as `.proto` text as the registry answers it. Parsed with Sluice's
    /// `.proto` reader: a schema it cannot read is refused here, not at run time.
    func protobuf(_ text: String) -> Result<Stored, AnswerError> {
        let proto: String
        do {
            _ = try ProtoSchema(parsing: text)
            proto = text
        } catch {
            guard let converted = ProtoDescriptorText.proto(base64: text) else {
                return .failure(AnswerError(answer: self.error(422, 42201, "Invalid schema: \(error)")))
            }
            do {
                _ = try ProtoSchema(parsing: converted)
            } catch {
                return .failure(AnswerError(answer: self.error(422, 42201, "Invalid schema: \(error)")))
            }
            proto = converted
        }
        return .success(Stored(text: proto, type: "PROTOBUF", avro: nil))
    }

    func same(_ a: Stored, _ b: Stored) -> Bool {
        guard a.type == b.type else { return false }
        if let x = a.avro, let y = b.avro { return x == y }
        return a.text == b.text
    }

    /// Why data written with `old` cannot be read with `new` (BACKWARD); only Avro is checked (a
    /// PROTOBUF or JSON schema is compatible with any earlier one of its type, as under NONE).
    func incompatibility(_ new: Stored, _ old: Stored) -> [String] {
        guard let r = new.avro, let w = old.avro else {
            return new.type == old.type ? [] : ["the schema type changes from \(old.type) to \(new.type)"]
        }
        return AvroCompatibility.problems(reader: r, writer: w)
    }

    func describe(id: Int, subject: String? = nil, version: Int? = nil) -> [String: Any] {
        let s = schemas[id - 1]
        var out: [String: Any] = ["id": id, "schema": s.text]
        if s.type != "AVRO" { out["schemaType"] = s.type }
        if let subject { out["subject"] = subject }
        if let version { out["version"] = version }
        return out
    }

    func ok(_ object: Any) -> Answer {
        Answer(status: 200, body: (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .fragmentsAllowed])) ?? Data())
    }

    func error(_ status: Int, _ code: Int, _ message: String) -> Answer {
        Answer(status: status, body: (try? JSONSerialization.data(withJSONObject: ["error_code": code, "message": message], options: [.sortedKeys])) ?? Data())
    }
}
