import ArgumentParser
import Foundation
import SluiceCore
import SluiceKafka
import SluiceRuntime
import SluiceScheduling
import SluiceJob

struct Loadgen: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loadgen",
        abstract: "Produce realistic test records into a topic: JSON values, keys, headers, timestamps over a span.",
        discussion: """
        Each record has a key (user name), two headers, a JSON value of about --value-bytes bytes shaped like the DataWorks tutorial's example, and a CreateTime timestamp; timestamps rise evenly over [--start, --start + --span) across the records. Used by the benchmarks and for trying jobs.

        Example:
          sluice dev-kafka --port 9092 --topic events:3 &
          sluice loadgen --bootstrap-servers 127.0.0.1:9092 --topic events --records 1000000 \\
              --start "2022-11-22 00:00:00" --span 24h
        """)

    @Option(help: "Kafka brokers, host:port[,host:port…].")
    var bootstrapServers = "127.0.0.1:9092"

    @Option(help: "The topic to produce to.")
    var topic = "events"

    @Option(help: "Number of records.")
    var records = 100_000

    @Option(help: ArgumentHelp("First timestamp, \"yyyy-mm-dd hh:mm:ss\" in --tz.", valueName: "TIME"))
    var start = "2022-11-22 00:00:00"

    @Option(help: ArgumentHelp("Time span the timestamps cover: 90s, 5m, 2h, 24h, 7d.", valueName: "DURATION"))
    var span = "24h"

    @Option(help: ArgumentHelp("Time zone of --start.", valueName: "ZONE"))
    var tz = "UTC"

    @Option(help: "Approximate size of each JSON value in bytes.")
    var valueBytes = 200

    @Option(help: ArgumentHelp("librdkafka compression for the produced batches: none, gzip, lz4, zstd, snappy.", valueName: "CODEC"))
    var compression = "none"

    func run() async throws {
        try await runReportingErrors {
            guard records > 0 else { throw SluiceError.invalid("--records must be at least 1") }
            let zone = try SchedulingZone.named(tz)
            let startMillis = zone.instant(for: try WallTime.parseDisplay(start, subject: "--start")) * 1000
            guard let spanSeconds = DurationText.seconds(span).map({ Int64($0) }), spanSeconds > 0 else {
                throw SluiceError.invalid("--span '\(span)' is not a duration such as 90s, 5m, 2h, 24h, 7d")
            }
            let producer = try KafkaProducer(bootstrapServers: bootstrapServers,
                                             config: ["compression.codec": compression, "linger.ms": "20",
                                                      "batch.num.messages": "10000"])
            let (records, valueBytes, topic) = (self.records, self.valueBytes, self.topic)
            let began = ContinuousClock.now
            try await producer.perform { p in
                let step = Double(spanSeconds * 1000) / Double(records)
                let users = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]
                let filler = String(repeating: "x", count: max(0, valueBytes - 170))
                var rng = SplitMix64(seed: 7)
                for i in 0..<records {
                    let ts = startMillis + Int64(Double(i) * step)
                    let user = users[Int(rng.next() % UInt64(users.count))]
                    let value = #"{"event_id":"e-\#(i)","user":"\#(user)","a":{"a1":"hello-\#(i % 1000)"},"b":"world","c":["x","y\#(i % 7)"],"d":[{"AA":"this","BB":"is_data"}],"amount":\#(Double(rng.next() % 100_000) / 100),"pad":"\#(filler)"}"#
                    try p.send(topic: topic, key: Array(user.utf8), value: Array(value.utf8),
                               headers: [KafkaHeader(name: "source", value: Array("loadgen".utf8)),
                                         KafkaHeader(name: "seq", value: Array(String(i).utf8))],
                               timestamp: ts)
                }
                try p.flush(timeoutSeconds: 300)
            }
            let elapsed = began.duration(to: .now)
            let secs = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            print("produced \(records) records to \(topic) in \(String(format: "%.1f", secs))s (\(Int(Double(records) / max(secs, 0.001))) records/s)")
        }
    }
}
