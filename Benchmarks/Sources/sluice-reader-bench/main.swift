// Reads a Kafka time window through SluiceKafka into a counter and prints the figures as one JSON line.
// Run by `scripts/bench reader`, which times kcat on the same window in the same run.
//
//   sluice-reader-bench --bootstrap HOST:PORT --topic T --start MS --end MS [--batch N]
import Foundation
import SluiceCore
import SluiceKafka

func argument(_ name: String) -> String? {
    let args = CommandLine.arguments
    guard let i = args.firstIndex(of: name), i + 1 < args.count else { return nil }
    return args[i + 1]
}

guard let bootstrap = argument("--bootstrap"), let topic = argument("--topic"),
      let start = argument("--start").flatMap(Int64.init), let end = argument("--end").flatMap(Int64.init) else {
    FileHandle.standardError.write(Data("usage: sluice-reader-bench --bootstrap HOST:PORT --topic T --start MS --end MS [--batch N]\n".utf8))
    exit(2)
}
let batch = argument("--batch").flatMap(Int.init) ?? 10_000

do {
    let clock = ContinuousClock()
    let t0 = clock.now
    let source = try KafkaSource(bootstrapServers: [bootstrap], topic: topic)
    let plan = try await source.plan(begin: .timestampMillis(start), end: .timestampMillis(end))
    let t1 = clock.now
    var records = 0
    var bytes = 0
    let summary = try await source.read(plan, options: ReadOptions(maxBatchSize: batch)) { b in
        records += b.count
        for i in 0..<b.count { bytes += b.withValue(at: i) { $0?.count ?? 0 } }
    }
    let t2 = clock.now
    func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
    print(#"{"records":\#(records),"bytes":\#(bytes),"delivered":\#(summary.delivered),"plan_seconds":\#(seconds(t1 - t0)),"read_seconds":\#(seconds(t2 - t1)),"total_seconds":\#(seconds(t2 - t0))}"#)
} catch {
    FileHandle.standardError.write(Data("sluice-reader-bench: \(error)\n".utf8))
    exit(1)
}
