import Foundation
import Testing
import SluiceCore
import SluiceLedger
import SluiceMaxCompute
import SluicePostgres
import SluiceRuntime
import SluiceTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// A sharded instance into the MaxCompute test server: the coordinator (in this process) opens one
/// upload session, two `sluice worker` processes upload the shards' blocks into it, and the
/// coordinator commits it once.
@Suite struct ShardedMaxComputeTests {
    @Test func twoWorkersUploadBlocksIntoOneSessionCommittedOnce() async throws {
        let fixture = try await RunToMaxComputeTests.Fixture.start()
        defer { Task { await fixture.stop() } }
        let server = fixture.server
        let loaded = try RunToMaxComputeTests().job(dir: fixture.dir, servers: "127.0.0.1:\(fixture.broker.port)", server: server)
        let pg = try await PostgresServer.shared()
        let ledgerURL = pg.urlWithoutPassword(database: try await pg.createDatabase(prefix: "mcshards"))
        let workers = try (1...2).map { i in
            try RunningProcess(SluiceBinary.path, ["worker", "--ledger", ledgerURL, "--id", "w\(i)", "--poll-interval", "0.05"],
                               environment: ["PGPASSWORD": PostgresServer.password], lines: [.standardError])
        }
        for w in workers {
            var started = false
            while let line = await w.readLine(from: .standardError, timeout: .seconds(60)) {
                if line.contains("started") { started = true; break }
            }
            try #require(started, "a worker did not start: \(w.otherOutput)")
        }
        var options = RunOptions()
        options.scheduledTime = RunToMaxComputeTests.day + 3600 + 300
        options.showProgress = false
        options.shards = 4
        options.workerWait = 60
        options.ledger = .postgres(try PostgresURL(parsing: pg.url(database: String(ledgerURL.split(separator: "/").last!))))
        let report = try await InstanceRunner(job: loaded, options: options).run()
        #expect(report.status == "succeeded" && report.records.written == 40)
        let rows = try #require(server.rows("events", "ds=2022112200"))
        #expect(rows.count == 40)
        #expect(Set(rows.map { $0[2] }) == Set((0..<40).map { Value.int(Int64($0)) }))
        #expect(server.sessionStatuses() == ["CLOSED"], "one upload session, committed once")
        let ledger = try await Ledgers.open(options.ledger!)
        let id = try #require(report.instanceId)
        let shards = try await ledger.shards(id: id, attempt: 1)
        await ledger.close()
        #expect(shards.count == 4 && shards.allSatisfy { $0.status == .done })
        let blocks = shards.map { ($0.result?.written.location ?? "").split(separator: ",").compactMap { Int($0) } }
        #expect(blocks.enumerated().allSatisfy { i, ids in !ids.isEmpty && ids.allSatisfy { $0 / MaxComputeSink.blocksPerShard == i } },
                "each shard's blocks from its own range: \(blocks)")
        #expect(Set(shards.compactMap(\.worker)).count >= 2, "blocks from two workers: \(shards.map(\.worker))")
        for w in workers { w.signal(SIGTERM) }
        for w in workers { #expect(await w.wait() == 0) }
    }
}
