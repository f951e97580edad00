import Foundation
import SluiceCore
import SluiceRuntime
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The instance commands, `sluice backfill` and `sluice scheduler`, through the binary against the dev broker.
@Suite struct SchedulerCommandTests {
    static let day: Int64 = 1_669_075_200  // 2022-11-22 00:00 UTC

    /// The instance commands, grouped (`sluice instance rerun`) and under their older spellings
    /// (`sluice rerun`), which `--help` no longer lists.
    @Test(arguments: [false, true])
    func instanceCommandsShowDirtyRerunSetSuccess(legacy: Bool) async throws {
        func command(_ name: String) -> [String] {
            legacy ? [name == "list" ? "instances" : name] : ["instance", name]
        }
        let help = try await SluiceBinary.run(["--help"])
        #expect(help.stdout.contains("\n  instance "))
        #expect(["instances", "rerun", "kill", "set-success", "dirty"].allSatisfy { !help.stdout.contains("\n  \($0) ") }, "\(help.stdout)")
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        let job = try h.writeHourlyJob()
        try await h.produce((0..<6).map { i in
            Harness.Produced(partition: Int32(i % 3), key: "k\(i)", value: i == 4 ? "not json" : #"{"id":\#(i)}"#,
                             timestamp: (Self.day + 60 * Int64(i)) * 1000)
        })
        let report = try await h.run(job: job, at: Self.day + 3600 + 300)
        let id = try #require(report.instanceId)

        let list = try await SluiceBinary.run(command("list") + [job, "--json"])
        #expect(list.status == 0, "\(list.stderr)")
        #expect(list.stdout.contains("\"displayStatus\" : \"succeeded\""))
        let failedOnly = try await SluiceBinary.run(command("list") + [job, "--status", "failed"])
        #expect(failedOnly.status == 0 && !failedOnly.stdout.contains("hourly"))

        let show = try await SluiceBinary.run(["instance", "show", String(id), "--job", job])
        #expect(show.status == 0, "\(show.stderr)")
        #expect(show.stdout.contains("instance \(id) of hourly: succeeded"))
        #expect(show.stdout.contains("startTime=20221122000000"))
        #expect(show.stdout.contains("plan        topic events"))
        #expect(show.stdout.contains("dirty records"))

        let dirty = try await SluiceBinary.run(command("dirty") + [String(id), "--job", job, "--json"])
        #expect(dirty.status == 0, "\(dirty.stderr)")
        #expect(dirty.stdout.contains("\"value\" : \"\(Data("not json".utf8).base64EncodedString())\""))
        #expect(dirty.stdout.contains("\"offset\" : 1"))

        let rerun = try await SluiceBinary.run(command("rerun") + [String(id), "--job", job])
        #expect(rerun.status == 0, "\(rerun.stderr)")
        #expect(rerun.stdout.contains("stored plan replayed"))

        let kill = try await SluiceBinary.run(command("kill") + [String(id), "--job", job])
        #expect(kill.status == 2)
        #expect(kill.stderr.contains("not running"))

        let ok = try await SluiceBinary.run(command("set-success") + [String(id), "--reason", "checked by hand", "--state-dir", h.path(".sluice")])
        #expect(ok.status == 0, "\(ok.stderr)")
        let listed = try await SluiceBinary.run(command("list") + ["hourly", "--state-dir", h.path(".sluice")])
        #expect(listed.stdout.contains("set to success: checked by hand"))

        // rerun: never refuses.
        let text = try String(contentsOfFile: job, encoding: .utf8).replacingOccurrences(of: "schedule:\n", with: "schedule:\n  rerun: never\n")
        try text.write(toFile: job, atomically: true, encoding: .utf8)
        let refused = try await SluiceBinary.run(command("rerun") + [String(id), "--job", job])
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("rerun: never"))

        let missing = try await SluiceBinary.run(command("list") + ["--state-dir", h.path("nowhere")])
        #expect(missing.status == 2)
    }

    @Test func backfillOfADayRunsEveryHour() async throws {
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        let job = try h.writeHourlyJob(windowMode: .contiguous)
        let ddl = try await SluiceBinary.run(["ddl", job, "--apply"])
        #expect(ddl.status == 0, "\(ddl.stderr)")
        // Business date 20221122: instances 2022-11-23 00:05 … 23:05, windows from 2022-11-22 23:00.
        let start = Self.day + 86_400 - 3600
        let records = (0..<48).map { i in
            Harness.Produced(partition: Int32(i % 3), key: "k\(i)", value: #"{"id":\#(i)}"#, timestamp: (start + Int64(i) * 1800) * 1000)
        }
        try await h.produce(records)
        let r = try await SluiceBinary.run(["backfill", job, "--from", "20221122", "--to", "20221122", "--json"])
        #expect(r.status == 0, "\(r.stderr)\(r.stdout)")
        #expect(r.stdout.contains("\"succeeded\" : 24"))
        let rows = try await h.rows()
        #expect(rows.map { $0[3] }.sorted() == records.indices.map(String.init).sorted())
    }

    @Test func oneSchedulerPerStateDirectoryAndSIGTERMExits() async throws {
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        let job = try h.writeHourlyJob()
        let first = try SluiceBinary.start(["scheduler", job, "--state-dir", h.path(".sluice")])
        defer { if first.isRunning { first.signal(SIGKILL) } }
        // Wait for it to take the lock (it writes its pid into the lock file).
        let lockFile = h.path(".sluice/scheduler.lock")
        for _ in 0..<600 where ((try? String(contentsOfFile: lockFile, encoding: .utf8)) ?? "").isEmpty {
            try await Task.sleep(for: .milliseconds(50))
        }
        let second = try await SluiceBinary.run(["scheduler", job, "--state-dir", h.path(".sluice")])
        #expect(second.status == 1)
        #expect(second.stderr.contains("another scheduler (pid \(first.pid)) is already running"))
        first.signal(SIGTERM)
        #expect(await first.wait() == 0)
    }
}
