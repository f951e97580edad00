import ArgumentParser
import Foundation
import SluiceCore
import SluiceDevKafka
import SluiceKafka
import SluiceRuntime
import SluiceWarehouse
import SluiceScheduling

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the whole seed end to end on this machine: broker, a day of events, 24 hourly instances.",
        discussion: """
        Starts the development Kafka broker (sluice dev-kafka) in-process, creates topic `events` with 3 partitions, produces a day of JSON events shaped like the DataWorks tutorial's example (with a few late, out-of-order ones), writes an hourly job into --dir, runs the 24 hourly instances of that day into the SQLite warehouse, and prints the tutorial's verification query for one partition and the per-partition counts. The job uses windowMode: contiguous, so every produced record lands exactly once even when it is late.

        Example:
          sluice demo --dir /tmp/sluice-demo
          sluice sql /tmp/sluice-demo/warehouse.db "SELECT count(*) FROM ods_events"
        """)

    @Option(help: ArgumentHelp("Where the job, the warehouse and the ledger are written (emptied first).", valueName: "DIR"))
    var dir = "sluice-demo"

    @Option(help: "Events to produce over the day.")
    var events = 8640

    @Option(help: ArgumentHelp("The day to simulate, in Asia/Shanghai.", valueName: "YYYY-MM-DD"))
    var day = "2022-11-22"

    func run() async throws {
        try await runReportingErrors {
            let zone = try SchedulingZone.named("Asia/Shanghai")
            let date = try WallTime.parseDate(day, subject: "--day")
            let fm = FileManager.default
            try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
            for stale in ["warehouse.db", "warehouse.db-wal", "warehouse.db-shm", ".sluice", "events_hourly.yaml"] {
                try? fm.removeItem(atPath: (dir as NSString).appendingPathComponent(stale))
            }

            let broker = try await DevKafkaBroker.start(topics: [DevKafkaTopic(name: "events", partitions: 3)])
            do {
                try await demo(broker: broker, zone: zone, date: date)
                try await broker.shutdown()
            } catch {
                try? await broker.shutdown()
                throw error
            }
        }
    }

    private func demo(broker: DevKafkaBroker, zone: SchedulingZone, date: CivilDate) async throws {
        let servers = "127.0.0.1:\(broker.port)"
        print("dev-kafka broker ready at \(servers), topic events (3 partitions)")

        let dayStart = zone.instant(for: CivilDateTime(date: date, secondOfDay: 0)) * 1000
        let data = DemoData(dayStartMillis: dayStart, count: events)
        let producer = try KafkaProducer(bootstrapServers: servers)
        try await producer.perform { p in
            for (i, e) in data.events.enumerated() {
                try p.send(topic: "events", partition: Int32(i % 3), key: e.key, value: e.value, headers: e.headers,
                           timestamp: e.timestamp)
            }
            try p.flush()
        }
        let late = data.events.filter(\.isLate).count
        print("produced \(data.events.count) events over \(date) (Asia/Shanghai), \(late) of them out of order (produced 20–80 minutes after their timestamp)")

        let jobPath = (dir as NSString).appendingPathComponent("events_hourly.yaml")
        try Self.job(servers: servers).write(toFile: jobPath, atomically: true, encoding: .utf8)
        print("wrote \(jobPath)\n")
        let loaded = try JobFiles.load(path: jobPath)
        let calendar = try InstanceCalendar(loaded.spec.schedule!, zone: zone)
        // The instances whose windows cover the day: 01:15 of the day through 00:15 of the next.
        let from = zone.instant(for: CivilDateTime(date: date, secondOfDay: 1800))
        let to = zone.instant(for: CivilDateTime(date: date.adding(days: 1), secondOfDay: 1800))
        var written: Int64 = 0
        var lateCounted: Int64 = 0
        for instance in calendar.instances(from: from, to: to) {
            var options = RunOptions()
            options.scheduledTime = instance.scheduledTime
            options.createTable = true
            options.showProgress = false
            let report = try await InstanceRunner(job: loaded, options: options).run()
            written += report.records.written
            lateCounted += report.records.late
            print("  \(report.scheduledTime)  window [\(report.windowStart ?? "?"), \(report.windowEnd ?? "?"))  \(report.partition)  \(report.records.written) rows, \(report.records.late) late")
        }
        print("\n\(written) rows written for \(data.events.count) produced (\(lateCounted) late records kept, none lost)\n")

        let warehouse = Warehouse(path: (dir as NSString).appendingPathComponent("warehouse.db"))
        let partition = "\(date.compact)10"
        let query = "SELECT * FROM ods_events WHERE ds='\(partition)' LIMIT 20"
        print("sluice sql \((dir as NSString).appendingPathComponent("warehouse.db")) \"\(query)\"")
        try await warehouse.query(query, format: .table) { print($0, terminator: "") }
        print("\nrows per Kafka partition:")
        try await warehouse.query("SELECT kafka_partition, count(*) AS rows, min(kafka_offset) AS first_offset, max(kafka_offset) AS last_offset FROM ods_events GROUP BY kafka_partition ORDER BY kafka_partition",
                                  format: .table) { print($0, terminator: "") }
    }

    static func job(servers: String) -> String {
        """
        # Written by `sluice demo`: the DataWorks tutorial's hourly job, on the SQLite warehouse.
        name: events_hourly
        source:
          bootstrapServers: \(servers)
          topic: events
          groupId: sluice_demo
          begin: { time: "${startTime}" }
          end: { time: "${endTime}" }
          timeZone: Asia/Shanghai
          windowMode: contiguous
        columns: [__key__, __partition__, __offset__, __timestamp__, __headers__, event_id, a.a1, "c[1]", "d[0].AA", "['a.b']", amount]
        destination:
          type: sqlite
          path: warehouse.db
          table: ods_events
          partition: "ds=${partition}"
          columns: [k, kafka_partition, kafka_offset, kafka_ts, headers, event_id, a1, c1, d0aa, ab, amount]
          columnTypes: { amount: DOUBLE }
          writeMode: overwrite
        settings:
          errorLimit: { record: 0 }
        schedule:
          cycle: hour
          start: "00:15"
          interval: 1
          end: "23:59"
          timeZone: Asia/Shanghai
          parameters:
            startTime: "$[yyyymmddhh24-1/24]0000"
            endTime: "$[yyyymmddhh24]0000"
            partition: "$[yyyymmddhh24]"

        """
    }
}
