import Foundation
import Testing
import SluiceCore

extension AvroCluster {
    /// Runs Scripts/proto_produce.py (three orders; with `dirty`, an unknown schema id, cut bytes and a
    /// message index the schema does not have).
    func produceProtobuf(dirty: Bool = false) async throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Scripts/proto_produce.py").path
        let result = try await Subprocess.run(Subprocess.python, ["-W", "ignore", script, bootstrap, registryURL, "sluice:\(Self.password)",
                                                                   "orders", "1669107600000"] + (dirty ? ["--dirty"] : []))
        guard result.status == 0, result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "1" else {
            throw FixtureError("proto_produce.py failed (\(result.status)): \(result.stdout) \(result.stderr)")
        }
    }

    static let protobufMapping: [(String, String, String?)] = [
        ("__key__", "k", nil), ("__partition__", "p", "BIGINT"), ("__offset__", "o", "BIGINT"), ("id", "id", "BIGINT"),
        ("customer.name", "name", nil), ("customer.email", "email", nil), ("items[0].sku", "sku0", nil),
        ("items[1].price", "price1", "DOUBLE"), ("items", "items", "JSON"), ("attrs.color", "color", nil),
        ("attrs", "attrs", "JSON"), ("status", "status", nil), ("card", "card", nil), ("cash.currency", "currency", nil),
        ("cash.cents", "cents", "BIGINT"), ("at", "at", "TIMESTAMP"), ("discount", "discount", "BIGINT"),
        ("scores[2]", "score2", "BIGINT"), ("flag", "flag", "BOOLEAN"), ("raw", "raw", "BINARY"), ("delta", "delta", "BIGINT"),
        ("note", "note", nil),
    ]

    /// Writes `DIR/job.yaml` reading topic orders as Protobuf through the registry.
    func writeProtobufJob(in dir: String, password: String = "${env:REG_PW}") throws -> String {
        try writeJob(in: dir, password: password, format: "protobuf", fields: Self.protobufMapping)
    }
}

@Suite("Protobuf values through a Schema Registry, end to end")
struct ProtobufRunTests {
    /// What the three orders of proto_produce.py must land as: nested messages (o1 has no customer:
    /// NULL below it; o0's empty email is proto3's default), repeated messages and a packed int32, a
    /// map, an enum (o0's NEW is not on the wire: the default), a oneof (card or cash), a Timestamp,
    /// an Int64Value (NULL when absent), bytes, sint64 and a proto3 optional.
    static let expectedRows = [
        #"{"k": "o0", "p": 0, "o": 0, "id": 1000, "name": "Ada", "email": "", "sku0": "S-0-0", "price1": null, "items": "[{\"sku\":\"S-0-0\",\"qty\":1,\"price\":19.99}]", "color": "red", "attrs": "{\"color\":\"red\"}", "status": "NEW", "card": "4111-xxxx", "currency": null, "cents": null, "at": "2024-03-01 08:30:00.250000000", "discount": null, "score2": 2, "flag": 1, "raw": "AAE=", "delta": -5, "note": null, "ds": "2022112209"}"#,
        #"{"k": "o2", "p": 0, "o": 1, "id": 1002, "name": "Cy", "email": "c2@example.com", "sku0": "S-2-0", "price1": 39.98, "items": "[{\"sku\":\"S-2-0\",\"qty\":1,\"price\":19.99},{\"sku\":\"S-2-1\",\"qty\":2,\"price\":39.98},{\"sku\":\"S-2-2\",\"qty\":3,\"price\":59.97}]", "color": null, "attrs": "{}", "status": "SHIPPED", "card": null, "currency": null, "cents": null, "at": "2024-03-01 10:30:00.250000000", "discount": 200, "score2": 4, "flag": 1, "raw": "AAEC/w==", "delta": 5, "note": "fragile \"glass\"", "ds": "2022112209"}"#,
        #"{"k": "o1", "p": 1, "o": 0, "id": 1001, "name": null, "email": null, "sku0": "S-1-0", "price1": 39.98, "items": "[{\"sku\":\"S-1-0\",\"qty\":1,\"price\":19.99},{\"sku\":\"S-1-1\",\"qty\":2,\"price\":39.98}]", "color": "green", "attrs": "{\"color\":\"green\"}", "status": "PAID", "card": null, "currency": "EUR", "cents": 1250, "at": "2024-03-01 09:30:00.250000000", "discount": 100, "score2": 3, "flag": 0, "raw": "AAEC", "delta": 0, "note": null, "ds": "2022112209"}"#
    ]

    @Test func recordsOfConfluentsProtobufSerializerLandExactly() async throws {
        try await AvroCluster.with { cluster in
            try await cluster.produceProtobuf()
            let dir = cluster.directory.file("clean")
            let job = try cluster.writeProtobufJob(in: dir)
            let validated = try await SluiceBinary.run(["validate", job])
            #expect(validated.status == 0, "\(validated.stdout)\(validated.stderr)")
            let result = try await cluster.run(job)
            #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
            #expect(result.stdout.contains("3 read, 3 written, 0 dirty"), "\(result.stdout)")
            let rows = try await AvroCluster.rows(dir)
            #expect(rows.count == 3)
            for (got, want) in zip(rows, Self.expectedRows) { #expect(got == want) }
        }
    }

    @Test func unknownSchemaIdsCorruptBytesAndMissingMessagesAreDirtyAndARegistryThatIsDownFailsTheRun() async throws {
        try await AvroCluster.with { cluster in
            try await cluster.produceProtobuf(dirty: true)
            let dir = cluster.directory.file("dirty")
            let job = try cluster.writeProtobufJob(in: dir)
            let result = try await cluster.run(job)
            #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
            #expect(result.stdout.contains("6 read, 3 written, 3 dirty"), "\(result.stdout)")
            #expect(try await AvroCluster.rows(dir) == Self.expectedRows)
            let show = try await SluiceBinary.run(["instance", "show", "1", "--state-dir", dir + "/.sluice"])
            #expect(show.stdout.contains("p1@1 schema id 9999 is not in the schema registry at \(cluster.registryURL)"), "\(show.stdout)")
            #expect(show.stdout.contains("p1@2 the value does not decode as Protobuf with schema id 1: "), "\(show.stdout)")
            #expect(show.stdout.contains("p1@3 the value names message index [5] of schema id 1, which has no such message (1 top-level messages)"), "\(show.stdout)")

            // The registry stopped: exit 1 with one line, the destination as it was.
            await cluster.stopRegistry()
            let down = cluster.directory.file("down")
            let failed = try await cluster.run(try cluster.writeProtobufJob(in: down))
            #expect(failed.status == 1)
            let errors = failed.stderr.split(separator: "\n").filter { !$0.isEmpty }
            #expect(errors.count == 1 && errors[0].contains("schema registry \(cluster.registryURL) cannot be reached for schema id 1 (connection refused)"),
                    "\(failed.stderr)")
            #expect(try await AvroCluster.rows(down).isEmpty)
        }
    }
}
