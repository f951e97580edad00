import Synchronization
import SluiceCore
import SluiceJob

/// What a Schema Registry answered for a schema id.
public enum RegisteredSchema: Sendable, Hashable {
    /// An Avro schema, as JSON text.
    case avro(String)
    /// A Protobuf schema, as `.proto` text.
    case protobuf(String)
    /// The registry does not know the id (it answered 404).
    case notFound
    /// A schema of another kind (`JSON`).
    case other(type: String)
}

/// A Schema Registry as the field program sees it: schemas by id. Implementations throw a
/// `SluiceError` when the registry cannot be asked (down, refusing the credentials): that fails
/// the run, while an unknown id only makes its records dirty.
public protocol AvroSchemaRegistry: Sendable {
    /// Where the registry is, for messages (its URL without credentials).
    var location: String { get }
    func schema(id: Int32) async throws(SluiceError) -> RegisteredSchema
}

/// Where an Avro value's schema comes from, for `FieldProgram`.
public enum AvroSchemaProvider: Sendable {
    /// Confluent-framed values (magic byte 0, a 4-byte big-endian schema id, Avro binary); schemas
    /// fetched by id from the registry and cached per id.
    case registry(any AvroSchemaRegistry)
    /// Plain Avro binary, all values written with this schema (JSON text).
    case schema(String)
}

/// The compiled Avro (or Protobuf) decoders of a field program: one for a fixed schema, or one per
/// registry schema id, compiled when the id is first seen (`prepare`) and shared by every run and
/// thread after.
public final class AvroDecoders: Sendable {
    enum Entry: Sendable {
        case program(AvroProgram)
        /// A Protobuf schema's decoders, one per message.
        case proto(ProtoPrograms)
        /// The id's records are dirty, for this reason.
        case unusable(String)
    }

    let registry: (any AvroSchemaRegistry)?
    let fixed: Entry?
    let paths: [[PathComponent]]
    /// These decode record keys (`keyFormat` avro), not values.
    let key: Bool
    /// These decode Protobuf (`valueFormat`/`keyFormat` protobuf; always Confluent-framed).
    let protobuf: Bool
    private let cache = Mutex<[Int32: Entry]>([:])

    init(provider: AvroSchemaProvider, paths: [[PathComponent]], key: Bool = false, protobuf: Bool = false) throws(SluiceError) {
        self.paths = paths
        self.key = key
        self.protobuf = protobuf
        switch provider {
        case .registry(let r):
            registry = r
            fixed = nil
        case .schema(let text):
            registry = nil
            if protobuf {
                throw SluiceError.invalid("\(key ? "keyFormat" : "valueFormat") protobuf needs a schema registry",
                                          hint: "give source.schemaRegistry")
            }
            do {
                fixed = .program(AvroProgram(schema: try AvroSchema(parsing: text), paths: paths))
            } catch {
                let name = key ? "avroKeySchema" : "avroSchema"
                throw SluiceError.invalid("the Avro \(key ? "key " : "")schema is not valid: \(error.message)",
                                          hint: "check source.\(name) / source.\(name)File")
            }
        }
    }

    /// Values are Confluent-framed (a registry gives the schemas).
    var framed: Bool { registry != nil }

    /// The decoder for a schema id, if `prepare` fetched it.
    func entry(id: Int32) -> Entry? {
        cache.withLock { $0[id] }
    }

    /// Fetches and compiles the schemas of `batch`'s records that no earlier batch had: one request
    /// per new id, awaited (never blocking a thread). Throws when the registry cannot be asked.
    public func prepare<B: RecordBatch>(_ batch: B) async throws(SluiceError) {
        guard framed else { return }
        var wanted: [Int32] = []
        var last: Int32? = nil
        for i in 0..<batch.count {
            let found = key ? batch.withKey(at: i) { Self.schemaId($0) } : batch.withValue(at: i) { Self.schemaId($0) }
            guard let id = found, id != last else { continue }
            last = id
            if !wanted.contains(id), !isCached(id) { wanted.append(id) }
        }
        for id in wanted { try await fetch(id) }
    }

    func isCached(_ id: Int32) -> Bool {
        cache.withLock { $0[id] != nil }
    }

    func fetch(_ id: Int32) async throws(SluiceError) {
        guard let registry else { return }
        let entry: Entry
        let format = protobuf ? "Protobuf" : "Avro"
        let setting = "\(key ? "keyFormat" : "valueFormat"): \(protobuf ? "protobuf" : "avro")"
        switch try await registry.schema(id: id) {
        case .notFound:
            entry = .unusable("schema id \(id) is not in the schema registry at \(registry.location)")
        case .other(let type):
            entry = .unusable("schema id \(id) is a \(type) schema, not \(format) (\(setting))")
        case .avro where protobuf:
            entry = .unusable("schema id \(id) is an AVRO schema, not Protobuf (\(setting))")
        case .protobuf where !protobuf:
            entry = .unusable("schema id \(id) is a PROTOBUF schema, not Avro (\(setting))")
        case .protobuf(let text):
            do {
                entry = .proto(ProtoPrograms(schema: try ProtoSchema(parsing: text), paths: paths))
            } catch {
                entry = .unusable("schema id \(id) from \(registry.location) is not a .proto schema Sluice reads: \(error)")
            }
        case .avro(let text):
            do {
                entry = .program(AvroProgram(schema: try AvroSchema(parsing: text), paths: paths))
            } catch {
                entry = .unusable("schema id \(id) from \(registry.location) is not a valid Avro schema: \(error.message)")
            }
        }
        cache.withLock { $0[id] = entry }
    }

    /// The schema id of a Confluent-framed value; nil for a null value or one without the frame.
    static func schemaId(_ value: UnsafeRawBufferPointer?) -> Int32? {
        guard let value, value.count >= 5, value[0] == 0 else { return nil }
        return Int32(bitPattern: UInt32(value[1]) << 24 | UInt32(value[2]) << 16 | UInt32(value[3]) << 8 | UInt32(value[4]))
    }
}
