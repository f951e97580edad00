import Foundation
import SluiceTestSupport
import SluiceCore
import Testing
@testable import SluiceLedger

/// What the console and /metrics read from the ledger, against both stores.
@Suite struct LedgerConsoleContractTests {
    @Test func bothStoresHaveTheSameVersions() {
        #expect(LedgerMigrations.sqlite.last?.version == LedgerMigrations.postgres.last?.version)
        #expect(LedgerMigrations.latest == 9)
    }

    @Test(arguments: LedgerStore.allCases) func actionsAreRecordedWithWhoAndWhen(store: LedgerStore) async throws {
        let clock = ManualTestClock()
        let ledger = try await store.newLocation().open(clock)
        let i = try await ledger.ensureInstance(NewInstance(job: "a", scheduledAt: hour(1)))
        let first = try await ledger.recordAction(NewLedgerAction(actor: "alice", action: "rerun", instanceId: i.id, job: "a",
                                                                  detail: "replan", outcome: "started"))
        #expect(first.at == clock.now && first.actor == "alice" && first.id > 0)
        clock.advance(seconds: 60)
        try await ledger.recordAction(NewLedgerAction(actor: "bob", action: "backfill", job: "b", detail: "20221101..20221103",
                                                      outcome: "refused: no schedule"))
        let all = try await ledger.actions(job: nil, instanceId: nil, limit: 10)
        #expect(all.map(\.actor) == ["bob", "alice"])
        #expect(all[0].at == clock.now && all[0].instanceId == nil && all[0].outcome == "refused: no schedule")
        #expect(try await ledger.actions(job: "a", instanceId: nil, limit: 10) == [first])
        #expect(try await ledger.actions(job: nil, instanceId: i.id, limit: 10) == [first])
        #expect(try await ledger.actions(job: nil, instanceId: nil, limit: 1).count == 1)
    }

    @Test(arguments: LedgerStore.allCases) func countsAndJobNamesForPagination(store: LedgerStore) async throws {
        let ledger = try await store.newLocation().open()
        for h in 0..<7 { _ = try await ledger.ensureInstance(NewInstance(job: h < 4 ? "a" : "b", scheduledAt: hour(h))) }
        try await ledger.registerJob("c", path: "/jobs/c.yaml")
        #expect(try await ledger.countInstances(InstanceFilter()) == 7)
        #expect(try await ledger.countInstances(InstanceFilter(job: "a", limit: 1, offset: 2)) == 4)
        #expect(try await ledger.countInstances(InstanceFilter(scheduledFrom: hour(2), scheduledBefore: hour(5))) == 3)
        #expect(try await ledger.countInstances(InstanceFilter(status: .failed)) == 0)
        #expect(try await ledger.jobNames() == ["a", "b", "c"])
    }

    /// Each attempt keeps its own counts, bytes and phases, so the totals only grow however often an
    /// instance is rerun; the instance counts, queue and last success follow the current statuses.
    @Test(arguments: LedgerStore.allCases) func totalsSumEveryFinishedAttempt(store: LedgerStore) async throws {
        let clock = ManualTestClock()
        let ledger = try await store.newLocation().open(clock)
        let new = NewInstance(job: "a", scheduledAt: hour(1), businessDate: "20221121", partition: "ds=1")
        let i = try await ledger.startAttempt(new)
        clock.advance(seconds: 3)
        try await ledger.finish(id: i.id, status: .failed, counts: InstanceCounts(read: 10, written: 0, dirty: 2, late: 1),
                                error: "boom")
        try await ledger.recordAttemptMetrics(id: i.id, attempt: 1, AttemptMetrics(phases: ["plan": 0.25, "read": 2], bytesRead: 100))
        _ = try await ledger.startAttempt(id: i.id)
        clock.advance(seconds: 5)
        try await ledger.finish(id: i.id, status: .succeeded, counts: InstanceCounts(read: 10, written: 10, late: 1))
        try await ledger.recordAttemptMetrics(id: i.id, attempt: 2, AttemptMetrics(phases: ["read": 4.5], bytesRead: 120))
        _ = try await ledger.ensureInstance(NewInstance(job: "a", scheduledAt: hour(2)))
        _ = try await ledger.ensureInstance(NewInstance(job: "b", scheduledAt: clock.now.addingTimeInterval(3600)))

        let t = try await ledger.totals(now: clock.now)
        #expect(Set(t.instances.map { "\($0.job)/\($0.status)=\($0.count)" }) == ["a/succeeded=1", "a/pending=1", "b/pending=1"])
        #expect(Set(t.attempts.map { "\($0.job)/\($0.status)=\($0.count)" }) == ["a/failed=1", "a/succeeded=1"])
        #expect(t.records == [LedgerTotals.JobRecords(job: "a", read: 20, written: 10, late: 2, dirty: 2, bytes: 220)])
        #expect(t.queued.map { "\($0.job)/\($0.status)=\($0.count)" } == ["a/pending=1"])
        #expect(t.lastSuccess.map(\.job) == ["a"] && t.lastSuccess.first?.businessDate == "20221121")
        #expect(t.lastSuccess.first?.scheduledAt == hour(1))

        let metrics = try await ledger.attemptMetrics(id: i.id)
        #expect(metrics[1] == AttemptMetrics(phases: ["plan": 0.25, "read": 2], bytesRead: 100))
        #expect(metrics[2]?.phases == ["read": 4.5])
        let finished = try await ledger.finishedAttempts()
        #expect(finished.map(\.seconds).sorted() == [3, 5])
        #expect(finished.first { $0.status == .failed }?.phases["plan"] == 0.25)
    }
}
