import Foundation
import Hummingbird
import Testing
import SluiceCore
import SluiceJob
import SluiceMapping
@testable import SluiceSchemaRegistry

@Suite("Avro BACKWARD compatibility")
struct AvroCompatibilityTests {
    static func record(_ fields: String, name: String = "R") throws -> AvroSchema {
        try AvroSchema(parsing: #"{"type": "record", "name": "\#(name)", "namespace": "n", "fields": [\#(fields)]}"#)
    }

    static func problems(new: String, old: String) throws -> [String] {
        AvroCompatibility.problems(reader: try record(new), writer: try record(old))
    }

    @Test func schemaResolutionRules() throws {
        let id = #"{"name": "id", "type": "long"}"#
        #expect(try Self.problems(new: id, old: id).isEmpty)
        // Removing a field, adding one with a default, promoting int to long: readable.
        #expect(try Self.problems(new: id, old: id + #", {"name": "x", "type": "int"}"#).isEmpty)
        #expect(try Self.problems(new: id + #", {"name": "y", "type": "string", "default": ""}"#, old: id).isEmpty)
        #expect(try Self.problems(new: #"{"name": "id", "type": "double"}"#, old: #"{"name": "id", "type": "int"}"#).isEmpty)
        // A new field without a default, a narrowing, a removed enum symbol, a changed fixed size: not.
        #expect(try Self.problems(new: id + #", {"name": "y", "type": "string"}"#, old: id) == ["the value: field y is new and has no default"])
        #expect(try Self.problems(new: #"{"name": "id", "type": "int"}"#, old: id) == ["id: long is read as int"])
        let e = { (s: String) in #"{"name": "e", "type": {"type": "enum", "name": "E", "symbols": [\#(s)]}}"# }
        #expect(try Self.problems(new: e(#""A", "B", "C""#), old: e(#""A", "B""#)).isEmpty)
        #expect(try Self.problems(new: e(#""A""#), old: e(#""A", "B""#)).first?.contains("B are no longer in n.E") == true)
        let f = { (n: Int) in #"{"name": "f", "type": {"type": "fixed", "name": "F", "size": \#(n)}}"# }
        #expect(try Self.problems(new: f(8), old: f(16)).count == 1)
        // Unions: every writer branch must be readable; a reader union takes a writer's single type.
        #expect(try Self.problems(new: #"{"name": "u", "type": ["null", "long"]}"#, old: #"{"name": "u", "type": "int"}"#).isEmpty)
        #expect(try Self.problems(new: #"{"name": "u", "type": "long"}"#, old: #"{"name": "u", "type": ["null", "long"]}"#).count == 1)
        // Records match by unqualified name; a recursive record ends.
        let list = #"{"name": "next", "type": ["null", "R"]}"#
        #expect(try Self.problems(new: id + ", " + list, old: id + ", " + list).isEmpty)
        #expect(AvroCompatibility.problems(reader: try Self.record(id, name: "S"), writer: try Self.record(id)).count == 1)
    }
}

@Suite("The Schema Registry client against sluice dev-registry")
struct SchemaRegistryClientTests {
    /// Serves a registry on a free port for `body`, with `users` for basic authentication.
    static func withRegistry(users: [DevRegistryServer.User] = [], _ body: @Sendable (DevRegistry, String) async throws -> Void) async throws {
        let registry = DevRegistry()
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let app = DevRegistryServer.make(host: "127.0.0.1", port: 0, users: users, registry: registry) { port in
            continuation.yield(port)
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.run() }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else { throw SluiceError(.failed, "the registry did not start") }
            do {
                try await body(registry, "http://127.0.0.1:\(port)")
            } catch {
                group.cancelAll()
                throw error
            }
            group.cancelAll()
        }
    }

    static let order = #"{"type": "record", "name": "Order", "fields": [{"name": "id", "type": "long"}]}"#

    static func register(_ registry: DevRegistry, _ subject: String, _ schema: String, type: String? = nil) async throws -> Int {
        var body: [String: String] = ["schema": schema]
        if let type { body["schemaType"] = type }
        let answer = await registry.handle(method: "POST", path: "/subjects/\(subject)/versions", body: try JSONEncoder().encode(body))
        let object = try JSONSerialization.jsonObject(with: answer.body) as? [String: Any]
        return object?["id"] as? Int ?? -answer.status
    }

    @Test func schemasByIdUnknownIdsOtherTypesAndCredentials() async throws {
        let users = [DevRegistryServer.User(name: "sluice", password: Secret("p:w"))]
        try await Self.withRegistry(users: users) { registry, url in
            let id = try await Self.register(registry, "orders-value", Self.order)
            let spaced = Self.order.replacingOccurrences(of: ", ", with: ",\n   ")
            #expect(try await Self.register(registry, "other-value", spaced) == id)
            let proto = try await Self.register(registry, "p-value", "syntax = \"proto3\"; message M {}", type: "PROTOBUF")
            let client = SchemaRegistryClient(url: url + "/", username: "sluice", password: Secret("p:w"))
            #expect(try await client.schema(id: Int32(id)) == .avro(Self.order))
            #expect(try await client.schema(id: 99) == .notFound)
            #expect(try await client.schema(id: Int32(proto)) == .protobuf("syntax = \"proto3\"; message M {}"))
            let wrong = SchemaRegistryClient(url: url, username: "sluice", password: Secret("nope"))
            let refused = await #expect(throws: SluiceError.self) { _ = try await wrong.schema(id: Int32(id)) }
            #expect(refused?.message.contains("HTTP 401") == true && refused?.message.contains("nope") == false && refused?.isRetriable == false)
        }
    }

    @Test func aFieldProgramFetchesEachSchemaIdOnceAndMapsFramedValues() async throws {
        try await Self.withRegistry { registry, url in
            let id = try await Self.register(registry, "orders-value", Self.order)
            var options = FieldProgramOptions()
            options.valueFormat = .avro(.registry)
            let program = try FieldProgram(mapping: [("id", ColumnSpec(name: "id", type: .bigint))], options: options,
                                           avro: .registry(SchemaRegistryClient(url: url)))
            func framed(_ schemaId: Int, _ v: UInt8) -> [UInt8] { [0, 0, 0, 0, UInt8(schemaId), v] }
            let batch = OwnedRecordBatch((0..<3000).map { i in
                OwnedRecord(partition: 0, offset: Int64(i), value: i == 5 ? framed(42, 2) : framed(id, UInt8(i % 60 * 2)))
            })
            var rows = RowBatch(columns: program.columns)
            var dirty = DirtyCollector()
            try await program.runSplit(batch, into: &rows, dirty: &dirty)
            #expect(rows.rowCount == 2999 && rows[0, 0] == .int(0) && rows[1, 0] == .int(1))
            let kept = dirty.takeRecords()
            #expect(kept.count == 1 && kept[0].offset == 5 && kept[0].reason.kind == .unknownSchema
                    && kept[0].reason.message == "schema id 42 is not in the schema registry at \(url)")
        }
    }
}
