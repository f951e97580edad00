import Foundation
import Testing
import SluiceTestSupport
import SluiceCore

/// `sluice dev-kafka` and `sluice dev-registry` (with a user) as processes, confluent-kafka's
/// AvroSerializer producing through them, and `sluice run` reading the hour 2022-11-22 09:00–10:00 UTC.
final class AvroCluster: Sendable {
    static let password = "reg pass:1"
    let broker: DevKafkaProcess
    let bootstrap: String
    let registry: RunningProcess
    let registryURL: String
    let directory: TemporaryDirectory

    init(broker: DevKafkaProcess, bootstrap: String, registry: RunningProcess, registryURL: String, directory: TemporaryDirectory) {
        self.broker = broker
        self.bootstrap = bootstrap
        self.registry = registry
        self.registryURL = registryURL
        self.directory = directory
    }

    static func start() async throws -> AvroCluster {
        let (broker, bootstrap) = try await DevKafkaProcess.ready(["--port", "0", "--topic", "orders:2", "--topic", "plain:2", "--topic", "keyed:2"])
        let registry = try SluiceBinary.start(["dev-registry", "--port", "0", "--user", "sluice:env:REG_PW"],
                                             environment: ["REG_PW": password])
        guard let line = await registry.readLine(timeout: .seconds(30)), line.hasPrefix("ready ") else {
            registry.signal(SIGKILL)
            await broker.stop()
            throw FixtureError("sluice dev-registry printed no ready line")
        }
        return AvroCluster(broker: broker, bootstrap: bootstrap, registry: registry,
                           registryURL: "http://" + line.dropFirst("ready ".count), directory: try TemporaryDirectory(prefix: "sluice-avro"))
    }

    /// Runs `body` with a started cluster, stopping it however `body` ends.
    static func with(_ body: (AvroCluster) async throws -> Void) async throws {
        let cluster = try await start()
        do {
            try await body(cluster)
        } catch {
            await cluster.stop()
            throw error
        }
        await cluster.stop()
    }

    func stopRegistry() async {
        registry.signal(SIGTERM)
        _ = await registry.wait(timeout: .seconds(30))
    }

    func stop() async {
        await stopRegistry()
        await broker.stop()
    }

    /// Runs Scripts/avro_produce.py (three orders; with `dirty`, an unknown schema id and cut bytes).
    func produce(dirty: Bool = false, topic: String = "orders", avroKeys: Bool = false) async throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Scripts/avro_produce.py").path
        let result = try await Subprocess.run(Subprocess.python, ["-W", "ignore", script, bootstrap, registryURL, "sluice:\(Self.password)",
                                                                   topic, "1669107600000"] + (dirty ? ["--dirty"] : []) + (avroKeys ? ["--avro-keys"] : []))
        guard result.status == 0, result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "1" else {
            throw FixtureError("avro_produce.py failed (\(result.status)): \(result.stdout) \(result.stderr)")
        }
    }

    static let mapping: [(String, String, String?)] = [
        ("__key__", "k", nil), ("__partition__", "p", "BIGINT"), ("__offset__", "o", "BIGINT"), ("id", "id", "BIGINT"),
        ("customer.name", "name", nil), ("customer.email", "email", nil), ("items[0].sku", "sku0", nil),
        ("items[1].price", "price1", "DECIMAL(9,2)"), ("items", "items", "JSON"), ("attrs.color", "color", nil),
        ("attrs", "attrs", "JSON"), ("status", "status", nil), ("note", "note", nil), ("amount", "amount", "DECIMAL(12,3)"),
        ("fixedAmount", "fixed_amount", "DECIMAL(18,4)"), ("day", "day", "DATE"), ("timeMs", "time_ms", nil),
        ("timeUs", "time_us", nil), ("tsMs", "ts_ms", "DATETIME"), ("tsUs", "ts_us", "TIMESTAMP"),
        ("localMs", "local_ms", "DATETIME"), ("localUs", "local_us", nil), ("ref", "ref", nil), ("rating", "rating", "DOUBLE"),
        ("score", "score", "DOUBLE"), ("flag", "flag", "BOOLEAN"), ("raw", "raw", "BINARY"), ("shipping.city", "city", nil),
        ("shipping", "shipping", "JSON"),
    ]

    /// Writes `DIR/job.yaml` (its warehouse and ledger beside it) reading the topic in `format` (avro or
    /// protobuf) with the registry, or plain Avro with `schemaFile`; `fields` are (path, column, type).
    func writeJob(in dir: String, password: String = "${env:REG_PW}", schemaFile: String? = nil, format: String = "avro",
                  fields: [(String, String, String?)] = AvroCluster.mapping) throws -> String {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let mapping = fields.map { "  - { from: \"\($0.0)\", to: \($0.1) }" }.joined(separator: "\n")
        let types = fields.compactMap { m in m.2.map { "\(m.1): \"\($0)\"" } }.joined(separator: ", ")
        let file = dir + "/job.yaml"
        try """
        name: orders
        source:
          bootstrapServers: \(bootstrap)
          topic: \(schemaFile == nil ? "orders" : "plain")
          timeZone: UTC
          valueFormat: \(format)
          \(schemaFile.map { "avroSchemaFile: \($0)" } ?? "schemaRegistry: { url: \"\(registryURL)\", username: sluice, password: \"\(password)\" }")
        mapping:
        \(mapping)
        destination:
          path: warehouse.db
          table: orders
          partition: "ds=${partition}"
          columnTypes: { \(types) }
        settings:
          errorLimit: { record: 10 }
        \(hourlyScheduleYAML())

        """.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    func run(_ job: String) async throws -> ProcessResult {
        try await SluiceBinary.run(["run", job, "--at", "2022-11-22 10:05:00", "--create-table"],
                                   environment: ["REG_PW": Self.password], timeout: .seconds(120))
    }

    /// The rows of the hour's partition as `sluice sql --format json` prints them, one line each.
    static func rows(_ dir: String) async throws -> [String] {
        guard FileManager.default.fileExists(atPath: dir + "/warehouse.db") else { return [] }
        let r = try await SluiceBinary.run(["sql", dir + "/warehouse.db", "SELECT * FROM orders WHERE ds = '2022112209' ORDER BY p, o", "--format", "json"])
        guard r.status == 0 else { return [] }
        return r.stdout.split(separator: "\n").map { String($0.trimmingCharacters(in: .whitespaces)) }
            .filter { $0.hasPrefix("{") }.map { $0.hasSuffix(",") ? String($0.dropLast()) : $0 }
    }
}

@Suite("Avro values through a Schema Registry, end to end")
struct AvroRunTests {
    /// What the three orders of avro_produce.py must land as: every logical type, a union, a map, an
    /// array, an enum and nested records.
    static let expectedRows = [
        #"{"k": "o0", "p": 0, "o": 0, "id": 1000, "name": "Ada", "email": "c0@example.com", "sku0": "S-0-0", "price1": null, "items": "[{\"sku\":\"S-0-0\",\"qty\":1,\"price\":19.99}]", "color": "red", "attrs": "{\"color\":\"red\",\"size\":\"L\"}", "status": "NEW", "note": null, "amount": 1234.567, "fixed_amount": -98765.4321, "day": "2024-02-29", "time_ms": "13:45:30.123", "time_us": "23:59:59.999999", "ts_ms": "2024-03-01 08:30:00.250", "ts_us": "1969-12-31 23:59:59.123456000", "local_ms": "2024-03-01 20:00:00.005", "local_us": "2024-03-01 20:00:00.000005", "ref": "6f1c2e4a-0d3b-4c5e-9f70-1a2b3c4d5e60", "rating": 4.5, "score": 0.1, "flag": 1, "raw": "AAE=", "city": null, "shipping": null, "ds": "2022112209"}"#,
        #"{"k": "o2", "p": 0, "o": 1, "id": 1002, "name": "Cy", "email": "c2@example.com", "sku0": "S-2-0", "price1": 39.98, "items": "[{\"sku\":\"S-2-0\",\"qty\":1,\"price\":19.99},{\"sku\":\"S-2-1\",\"qty\":2,\"price\":39.98},{\"sku\":\"S-2-2\",\"qty\":3,\"price\":59.97}]", "color": null, "attrs": "{}", "status": "SHIPPED", "note": "fragile \"glass\"", "amount": 0, "fixed_amount": 123456789.0001, "day": "2024-03-02", "time_ms": "13:45:30.125", "time_us": "23:59:59.999997", "ts_ms": "2024-03-01 10:30:00.250", "ts_us": "1970-01-02 23:59:59.123456000", "local_ms": "2024-03-01 20:02:00.005", "local_us": "2024-03-01 20:00:02.000005", "ref": "6f1c2e4a-0d3b-4c5e-9f70-1a2b3c4d5e62", "rating": 3.0, "score": -2.5, "flag": 1, "raw": "AAEC/w==", "city": "Zürich", "shipping": "{\"city\":\"Zürich\",\"zip\":310002}", "ds": "2022112209"}"#,
        #"{"k": "o1", "p": 1, "o": 0, "id": 1001, "name": "Bo", "email": null, "sku0": "S-1-0", "price1": 39.98, "items": "[{\"sku\":\"S-1-0\",\"qty\":1,\"price\":19.99},{\"sku\":\"S-1-1\",\"qty\":2,\"price\":39.98}]", "color": "green", "attrs": "{\"color\":\"green\",\"size\":\"L\"}", "status": "PAID", "note": "leave at door", "amount": -0.001, "fixed_amount": 1, "day": "2024-03-01", "time_ms": "13:45:30.124", "time_us": "23:59:59.999998", "ts_ms": "2024-03-01 09:30:00.250", "ts_us": "1970-01-01 23:59:59.123456000", "local_ms": "2024-03-01 20:01:00.005", "local_us": "2024-03-01 20:00:01.000005", "ref": "6f1c2e4a-0d3b-4c5e-9f70-1a2b3c4d5e61", "rating": -0.25, "score": 1e+300, "flag": 0, "raw": "AAEC", "city": "Hangzhou", "shipping": "{\"city\":\"Hangzhou\",\"zip\":310001}", "ds": "2022112209"}"#,
    ]

    @Test func recordsOfConfluentsAvroSerializerLandExactly() async throws {
        try await AvroCluster.with { cluster in
            try await cluster.produce()
            let dir = cluster.directory.file("clean")
            let result = try await cluster.run(try cluster.writeJob(in: dir))
            #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
            #expect(result.stdout.contains("3 read, 3 written, 0 dirty"), "\(result.stdout)")
            let rows = try await AvroCluster.rows(dir)
            #expect(rows.count == 3)
            for (got, want) in zip(rows, Self.expectedRows) { #expect(got == want) }
        }
    }

    @Test func avroKeysThroughTheRegistry() async throws {
        try await AvroCluster.with { cluster in
            try await cluster.produce(topic: "keyed", avroKeys: true)
            let dir = cluster.directory.file("keyed")
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let job = try SecureCluster.writeJob(dir + "/job.yaml", name: "keyed", bootstrap: cluster.bootstrap, source: """
              valueFormat: avro
              keyFormat: avro
              schemaRegistry: { url: "\(cluster.registryURL)", username: sluice, password: "${env:REG_PW}" }
            """)
            // SecureCluster's job reads [__key__, __partition__, __offset__] of topic events into [k, p, o]: ours instead.
            let text = try String(contentsOfFile: job, encoding: .utf8)
                .replacingOccurrences(of: "topic: events", with: "topic: keyed")
                .replacingOccurrences(of: "columns: [__key__, __partition__, __offset__]", with: "columns: [__key__.orderId, __key__.region, id]")
            try text.write(toFile: job, atomically: true, encoding: .utf8)
            let result = try await cluster.run(job)
            #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
            let r = try await SluiceBinary.run(["sql", dir + "/warehouse.db", "SELECT k, p, o FROM t ORDER BY o", "--format", "csv"])
            let lines = r.stdout.split(whereSeparator: \.isNewline).map(String.init)
            #expect(lines == ["k,p,o", "o0,10,1000", "o1,11,1001", "o2,12,1002"], "\(r.stdout)\(r.stderr)")
        }
    }

    @Test func plainAvroOfFastavroWithASchemaFileLandsTheSame() async throws {
        try await AvroCluster.with { cluster in
            let dir = cluster.directory.file("plain")
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Scripts/avro_plain_produce.py").path
            let produced = try await Subprocess.run(Subprocess.python, ["-W", "ignore", script, cluster.bootstrap, "plain", "1669107600000", dir + "/order.avsc"])
            #expect(produced.status == 0, "\(produced.stderr)")
            let job = try cluster.writeJob(in: dir, schemaFile: "order.avsc")
            let validated = try await SluiceBinary.run(["validate", job])
            #expect(validated.status == 0, "\(validated.stdout)\(validated.stderr)")
            let result = try await cluster.run(job)
            #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
            #expect(try await AvroCluster.rows(dir) == Self.expectedRows)

            // A schema file that is not there, or not a schema: validate and run say where.
            try "{\"type\": \"record\"}".write(toFile: dir + "/order.avsc", atomically: true, encoding: .utf8)
            let invalid = try await SluiceBinary.run(["validate", job])
            #expect(invalid.status == 2 && invalid.stderr.contains("source.avroSchemaFile") && invalid.stderr.contains("is not a valid Avro schema"), "\(invalid.stderr)")
            try FileManager.default.removeItem(atPath: dir + "/order.avsc")
            let missing = try await cluster.run(job)
            #expect(missing.status == 2 && missing.stderr.contains("source.avroSchemaFile") && missing.stderr.contains("cannot be read"), "\(missing.stderr)")
        }
    }

    @Test func unknownSchemaIdsAndCorruptBytesAreDirtyAndARegistryThatIsDownFailsTheRun() async throws {
        try await AvroCluster.with { cluster in
            try await cluster.produce(dirty: true)
            let dir = cluster.directory.file("dirty")
            let job = try cluster.writeJob(in: dir)
            let result = try await cluster.run(job)
            #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
            #expect(result.stdout.contains("5 read, 3 written, 2 dirty"), "\(result.stdout)")
            let show = try await SluiceBinary.run(["instance", "show", "1", "--state-dir", dir + "/.sluice"])
            #expect(show.stdout.contains("p1@1 schema id 9999 is not in the schema registry at \(cluster.registryURL)"), "\(show.stdout)")
            #expect(show.stdout.contains("p1@2 the value does not decode as Avro with schema id 1: the value ends inside"), "\(show.stdout)")

            // A wrong password: the run fails, naming the registry's refusal and not the password.
            let wrong = cluster.directory.file("wrong")
            let refused = try await cluster.run(try cluster.writeJob(in: wrong, password: "not-the-password"))
            #expect(refused.status == 1)
            #expect(refused.stderr.contains("refused the request for schema id 1 (HTTP 401)"), "\(refused.stderr)")
            #expect(!(refused.stdout + refused.stderr).contains("not-the-password"))
            #expect(try await AvroCluster.rows(wrong).isEmpty)

            // The registry stopped: exit 1 with one line, the destination as it was.
            await cluster.stopRegistry()
            let down = cluster.directory.file("down")
            let failed = try await cluster.run(try cluster.writeJob(in: down))
            #expect(failed.status == 1)
            let errors = failed.stderr.split(separator: "\n").filter { !$0.isEmpty }
            #expect(errors.count == 1 && errors[0].contains("schema registry \(cluster.registryURL) cannot be reached for schema id 1 (connection refused)"),
                    "\(failed.stderr)")
            #expect(try await AvroCluster.rows(down).isEmpty)
        }
    }
}

@Suite("sluice dev-registry with confluent-kafka's SchemaRegistryClient")
struct DevRegistryClientTests {
    @Test func registrationLookupVersionsAndBackwardCompatibility() async throws {
        try await AvroCluster.with { cluster in
            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Scripts/registry_client.py").path
            let result = try await Subprocess.run(Subprocess.python, ["-W", "ignore", script, cluster.registryURL, "sluice:\(AvroCluster.password)"])
            #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
            let lines = result.stdout.split(separator: "\n")
            #expect(lines.count == 13 && lines.allSatisfy { $0.hasPrefix("ok ") }, "\(result.stdout)\n\(result.stderr)")
        }
    }
}
