import Foundation
import SluiceTestSupport
import Testing

/// `sluice map --by-name / --by-position` against a warehouse table created with `sluice ddl --apply`.
@Suite struct MapCommandTests {
    @Test func proposesMappingsAgainstTheTable() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-map-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        // The table: columns k, a1, extra.
        let tableJob = dir.appendingPathComponent("table.yaml")
        try """
        source: { bootstrapServers: "127.0.0.1:9", topic: t, begin: {earliest: true}, end: {latest: true} }
        columns: [__key__, a.a1, "'x'"]
        destination: { path: w.db, table: t, columns: [key, a1, extra], partition: "ds=1" }
        """.write(to: tableJob, atomically: true, encoding: .utf8)
        let ddl = try await SluiceBinary.run(["ddl", tableJob.path, "--apply"])
        #expect(ddl.status == 0, "\(ddl.stderr)")
        // The job to map: fields in another order, one without a column.
        let job = dir.appendingPathComponent("job.yaml")
        try """
        source: { bootstrapServers: "127.0.0.1:9", topic: t, begin: {earliest: true}, end: {latest: true} }
        mapping: [{from: a.a1, to: a1}, {from: __key__, to: key}, {from: __offset__, to: extra}]
        destination: { path: w.db, table: t, partition: "ds=1" }
        """.write(to: job, atomically: true, encoding: .utf8)

        let byName = try await SluiceBinary.run(["map", job.path, "--by-name"])
        #expect(byName.status == 0, "\(byName.stderr)")
        #expect(byName.stdout.contains(#"{ from: "a.a1", to: "a1" }"#))
        #expect(byName.stdout.contains(#"{ from: "__key__", to: "key" }"#))
        #expect(byName.stdout.contains("# not read (no column): __offset__"))
        #expect(byName.stdout.contains("# NULL (no field): extra"))

        let byPosition = try await SluiceBinary.run(["map", job.path, "--by-position", "--json"])
        #expect(byPosition.status == 0)
        let object = try JSONSerialization.jsonObject(with: Data(byPosition.stdout.utf8)) as? [String: Any]
        let mapping = object?["mapping"] as? [[String: String]]
        #expect(mapping?.map { $0["to"] ?? "" } == ["key", "a1", "extra"])
        #expect(mapping?.map { $0["from"] ?? "" } == ["a.a1", "__key__", "__offset__"])

        let both = try await SluiceBinary.run(["map", job.path, "--by-name", "--by-position"])
        #expect(both.status == 2)
    }
}
