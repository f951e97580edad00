import Foundation
import Testing
import SluiceCore
import SluiceRuntime

/// `sluice run` end to end against the dev broker and the SQLite warehouse.
@Suite(.serialized) struct RunnerTests {
    static let day: Int64 = 1_669_075_200  // 2022-11-22T00:00:00Z

    /// Hour `h` of the test day as a `ds` partition value (window start hour, UTC).
    static func ds(_ h: Int) -> String {
        let base = 2022112200 + h
        return String(base)
    }

    /// Produces hour by hour and runs each hour's instance right after its records, then produces
    /// late records for that hour (timestamps inside the window, after the instance ran).
    /// Returns (normal records by hour, late records by hour, reports).
    static func interleavedDay(_ h: Harness, mode: WindowMode, hours: Int = 6) async throws
    -> (normal: [Int: [Harness.Produced]], late: [Int: [Harness.Produced]], reports: [RunReport]) {
        let job = try h.writeHourlyJob(windowMode: mode)
        var normal: [Int: [Harness.Produced]] = [:]
        var late: [Int: [Harness.Produced]] = [:]
        var reports: [RunReport] = []
        var id = 0
        for hour in 0...hours {
            if hour < hours {
                var batch: [Harness.Produced] = []
                for p in 0..<3 {
                    for i in 0..<10 {
                        id += 1
                        batch.append(.init(partition: Int32(p), key: "k\(id)", value: #"{"id":\#(id)}"#,
                                           timestamp: (day + Int64(hour) * 3600 + Int64(i) * 300) * 1000))
                    }
                }
                try await h.produce(batch)
                normal[hour] = batch
            }
            // The instance scheduled at (hour+1):05 reads [hour, hour+1).
            reports.append(try await h.run(job: job, at: day + Int64(hour + 1) * 3600 + 300))
            if hour < hours {
                var lateBatch: [Harness.Produced] = []
                for p in 0..<3 {
                    id += 1
                    lateBatch.append(.init(partition: Int32(p), key: "late\(id)", value: #"{"id":\#(id)}"#,
                                           timestamp: (day + Int64(hour) * 3600 + 1800) * 1000))
                }
                try await h.produce(lateBatch)
                late[hour] = lateBatch
            }
        }
        return (normal, late, reports)
    }

    static func ids(_ records: [Harness.Produced]) -> [String] {
        records.map { String($0.value.dropFirst(6).dropLast()) }
    }

    @Test func offsetsModeMatchesKafkaTimeWindows() async throws {
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        let (normal, late, reports) = try await Self.interleavedDay(h, mode: .offsets)
        #expect(reports.allSatisfy { $0.status == "succeeded" })
        for (hour, records) in normal {
            let rows = try await h.rows("ds='\(Self.ds(hour))'")
            #expect(Set(rows.map { $0[3] }) == Set(Self.ids(records)), "hour \(hour)")
        }
        // DataWorks semantics: a record whose timestamp falls in a window that already ran is not read.
        let all = try await h.rows()
        let lateIds = Set(late.values.flatMap(Self.ids))
        #expect(Set(all.map { $0[3] }).isDisjoint(with: lateIds))
        #expect(all.count == normal.values.reduce(0) { $0 + $1.count })
    }

    @Test func contiguousModeWritesEveryRecordExactlyOnce() async throws {
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        let (normal, late, reports) = try await Self.interleavedDay(h, mode: .contiguous)
        #expect(reports.allSatisfy { $0.status == "succeeded" })
        let all = try await h.rows()
        let produced = normal.values.flatMap(Self.ids) + late.values.flatMap(Self.ids)
        #expect(all.map { $0[3] }.sorted() == produced.sorted(), "every record exactly once")
        for (hour, records) in late {
            // A late record lands in the next instance's partition, counted as late.
            let rows = try await h.rows("ds='\(Self.ds(hour + 1))'")
            #expect(Set(Self.ids(records)).isSubset(of: Set(rows.map { $0[3] })))
            #expect(reports[hour + 1].records.late == Int64(records.count))
        }
    }

    @Test func rerunReplaysTheStoredPlan() async throws {
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        let job = try h.writeHourlyJob()
        let records = (0..<30).map { i in
            Harness.Produced(partition: Int32(i % 3), key: "k\(i)", value: #"{"id":\#(i)}"#,
                             timestamp: (Self.day + 3600 + Int64(i) * 60) * 1000)
        }
        try await h.produce(records)
        let at = Self.day + 2 * 3600 + 300
        let first = try await h.run(job: job, at: at)
        let before = try await h.rows()
        // More data for the same window arrives; a rerun still writes the identical partition.
        try await h.produce([Harness.Produced(partition: 0, key: "x", value: #"{"id":999}"#, timestamp: (Self.day + 3600 + 5) * 1000)])
        let again = try await h.run(job: job, at: at)
        #expect(again.replayedPlan)
        #expect(again.instanceId == first.instanceId)
        #expect(try await h.rows() == before)
        // --replan takes the new record.
        let replanned = try await h.run(job: job, at: at, replan: true)
        #expect(!replanned.replayedPlan)
        #expect(try await h.rows().count == before.count + 1)
    }

    /// An instance that read past its planned end (idle completion) is replayed up to where it stopped.
    @Test func idleCompletedInstanceReplaysWhatItRead() async throws {
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        let job = try h.writeHourlyJob(completion: "{ idle: 1s }")
        try await h.produce((0..<12).map { i in
            Harness.Produced(partition: Int32(i % 3), key: "k\(i)", value: #"{"id":\#(i)}"#,
                             timestamp: (Self.day + 60 * Int64(i)) * 1000)
        })
        let at = Self.day + 3600 + 300
        let first = try await h.run(job: job, at: at)
        #expect(first.records.written == 12)
        let before = try await h.rows()
        // More records arrive afterwards; an idle read would take them, the replay must not.
        try await h.produce((12..<18).map { i in
            Harness.Produced(partition: Int32(i % 3), key: "k\(i)", value: #"{"id":\#(i)}"#,
                             timestamp: (Self.day + 60 * Int64(i)) * 1000)
        })
        let again = try await h.run(job: job, at: at)
        #expect(again.replayedPlan)
        #expect(try await h.rows() == before)
    }

    @Test func dirtyLimitFailsAndLeavesThePartition() async throws {
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        let job = try h.writeHourlyJob(errorLimit: 0)
        try await h.produce((0..<9).map { i in
            Harness.Produced(partition: Int32(i % 3), key: "k\(i)", value: #"{"id":\#(i)}"#, timestamp: (Self.day + 60 * Int64(i)) * 1000)
        })
        let at = Self.day + 3600 + 300
        _ = try await h.run(job: job, at: at)
        let before = try await h.rows()
        try await h.produce([Harness.Produced(partition: 1, key: "bad", value: "not json", timestamp: (Self.day + 1000) * 1000)])
        let r = try await SluiceBinary.run(["run", job, "--at", "2022-11-22 01:05:00", "--replan", "--json"])
        #expect(r.status == 1, "\(r.stderr)")
        #expect(r.stderr.contains("dirty"))
        #expect(r.stdout.contains("\"status\" : \"failed\""))
        #expect(try await h.rows() == before)
        let show = try await SluiceBinary.run(["run", job, "--at", "2022-11-22 01:05:00", "--dry-run"])
        #expect(show.status == 0)
    }

    @Test func lockedDestinationFailsAndIsRecorded() async throws {
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        let job = try h.writeHourlyJob()
        try await h.produce([Harness.Produced(partition: 0, key: "a", value: #"{"id":1}"#, timestamp: (Self.day + 60) * 1000)])
        _ = try await h.run(job: job, at: Self.day + 3600 + 300)
        let before = try await h.rows()
        // Another process holds the warehouse's write lock.
        let holder = try RunningProcess(Subprocess.python, ["-c", """
            import sqlite3, sys, time
            c = sqlite3.connect(sys.argv[1], isolation_level=None)
            c.execute("BEGIN IMMEDIATE")
            print("locked", flush=True)
            time.sleep(6)
            """, h.path("warehouse.db")])
        defer { holder.signal(SIGKILL) }
        #expect(await holder.readLine() == "locked")
        try await h.produce([Harness.Produced(partition: 1, key: "b", value: #"{"id":2}"#, timestamp: (Self.day + 120) * 1000)])
        let r = try await SluiceBinary.run(["run", job, "--at", "2022-11-22 01:05:00", "--replan", "--lock-timeout", "1"])
        #expect(r.status == 1, "\(r.stderr)")
        #expect(r.stderr.contains("locked"))
        holder.signal(SIGTERM)
        await holder.wait()
        #expect(try await h.rows() == before)
        let list = try await SluiceBinary.run(["sql", h.path(".sluice/ledger.db"), "SELECT status, error FROM instances", "--format", "csv"])
        #expect(list.stdout.contains("failed"), "\(list.stdout)\(list.stderr)")
    }

    @Test func unreachableBrokerFailsWithExitOne() async throws {
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        let job = try h.writeHourlyJob(servers: "127.0.0.1:1")
        let r = try await SluiceBinary.run(["run", job, "--at", "2022-11-22 01:05:00", "--create-table"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("127.0.0.1:1"))
    }

    /// SIGKILL during writing, 20 times: the partition is always the previous or the complete new content.
    @Test func killedRunsLeaveOldOrNewContent() async throws {
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        let job = try h.writeHourlyJob()
        let at = Self.day + 3600 + 300
        var next = 0
        func more(_ n: Int) async throws {
            try await h.produce((0..<n).map { _ in
                next += 1
                return Harness.Produced(partition: Int32(next % 3), key: "k\(next)", value: #"{"id":\#(next)}"#,
                                        timestamp: (Self.day + Int64(next % 3600)) * 1000)
            })
        }
        try await more(20_000)
        _ = try await h.run(job: job, at: at)
        var committed = try await h.rows().count
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<20 {
            try await more(2_000)
            let p = try SluiceBinary.start(["run", job, "--at", "2022-11-22 01:05:00", "--replan"])
            try await Task.sleep(for: .milliseconds(Int.random(in: 50...900, using: &rng)))
            p.signal(SIGKILL)
            await p.wait()
            let count = try await h.rows().count
            #expect(count == committed || count == next, "partition has \(count) rows: neither \(committed) nor \(next)")
            // A rerun completes and takes everything.
            let report = try await h.run(job: job, at: at, replan: true)
            #expect(report.status == "succeeded")
            committed = try await h.rows().count
            #expect(committed == next)
        }
    }
}
