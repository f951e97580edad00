import Foundation
import Testing
@testable import SluiceJob

/// `shards:` in a job file: its range, and the destinations and read modes that cannot take it.
@Suite struct ShardsJobTests {
    static func job(shards: String, destination: String = "{ type: postgresql, url: \"postgresql://u@db/w\", table: t, columns: [o] }",
                    completion: String = "") -> String {
        """
        name: j
        shards: \(shards)
        source: { bootstrapServers: "k:9092", topic: events\(completion) }
        columns: [__offset__]
        destination: \(destination)
        schedule: { cycle: day, parameters: { startTime: "$[yyyymmdd-1]000000", endTime: "$[yyyymmdd]000000" } }
        """
    }

    @Test func shardsAreReadAndChecked() throws {
        #expect(try JobLoaderTests.load(yaml: Self.job(shards: "8")).spec.shards == 8)
        let cases: [(String, String)] = [
            (Self.job(shards: "0"), "shards"),
            (Self.job(shards: "2000"), "shards"),
            (Self.job(shards: "2", destination: "{ path: w.db, table: t, columns: [o] }"), "the SQLite warehouse is written by one process"),
            (Self.job(shards: "2", completion: ", completion: { idle: 60s }"), "a shard reads exactly its planned offsets"),
        ]
        for (yaml, message) in cases {
            let errors = JobLoaderTests.errors(yaml: yaml)
            #expect(errors.contains { $0.path == "shards" && $0.description.contains(message) }, "\(errors)")
        }
        #expect(JobLoaderTests.errors(yaml: Self.job(shards: "1", destination: "{ path: w.db, table: t, columns: [o] }")).isEmpty)
    }

    @Test func showKeepsShards() throws {
        let spec = try JobLoaderTests.load(yaml: Self.job(shards: "6")).spec
        let text = JobEmitter.yaml(spec, secrets: .redact).text
        #expect(text.contains("shards: 6"), "\(text)")
        #expect(try JobLoaderTests.load(yaml: text).spec.shards == 6)
    }
}
