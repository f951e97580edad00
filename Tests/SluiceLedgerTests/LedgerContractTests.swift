import Foundation
import SluiceTestSupport
import SluiceCore
import Synchronization
import Testing
@testable import SluiceLedger

/// The ledger's contract: the same tests against the SQLite file and against PostgreSQL.
@Suite struct LedgerContractTests {
    @Test(arguments: LedgerStore.allCases) func migratesFromEmptyAndReopens(store: LedgerStore) async throws {
        let under = try await store.newLocation()
        let clock = ManualTestClock()
        let ledger = try await under.open(clock)
        #expect(try await ledger.schemaVersion() == LedgerMigrations.latest)
        _ = try await ledger.ensureInstance(NewInstance(job: "j", scheduledAt: hour(1)))
        let again = try await under.open(clock)
        #expect(try await again.instances().count == 1)
    }

    @Test(arguments: LedgerStore.allCases) func instanceLifecycleAndReruns(store: LedgerStore) async throws {
        let under = try await store.newLocation()
        let clock = ManualTestClock()
        let ledger = try await under.open(clock)
        let new = NewInstance(job: "events_hourly", scheduledAt: hour(10).addingTimeInterval(300), businessDate: "20221121",
                              parameters: ["startTime": "20221122090000", "endTime": "20221122100000"],
                              windowStart: hour(9), windowEnd: hour(10), partition: "ds=2022112210")
        let pending = try await ledger.ensureInstance(new)
        #expect(pending.status == .pending)
        #expect(pending.attempts == 0)
        #expect(pending.createdAt == clock.now)
        #expect(try await ledger.ensureInstance(new).id == pending.id)

        clock.advance(seconds: 5)
        let run1 = try await ledger.startAttempt(new)
        #expect(run1.id == pending.id)
        #expect(run1.status == .running)
        #expect(run1.attempts == 1)
        #expect(run1.startedAt == clock.now)
        #expect(run1.parameters == new.parameters)
        #expect(run1.windowStart == hour(9))
        #expect(run1.partition == "ds=2022112210")
        try await ledger.updateCounts(id: run1.id, InstanceCounts(read: 10))
        #expect(try await ledger.instance(id: run1.id)?.counts.read == 10)

        clock.advance(seconds: 60)
        let failed = try await ledger.finish(id: run1.id, status: .failed,
                                             counts: InstanceCounts(read: 100, written: 0, dirty: 3, late: 1, early: 2, skipped: 0),
                                             error: "dirty limit exceeded")
        #expect(failed.status == .failed)
        #expect(failed.finishedAt == clock.now)
        #expect(failed.error == "dirty limit exceeded")
        #expect(failed.counts.early == 2)

        clock.advance(seconds: 60)
        let run2 = try await ledger.startAttempt(id: run1.id)
        #expect(run2.attempts == 2)
        #expect(run2.error == nil)
        #expect(run2.finishedAt == nil)
        #expect(run2.counts == InstanceCounts())
        let done = try await ledger.finish(id: run1.id, status: .succeeded, counts: InstanceCounts(read: 100, written: 100))
        #expect(done.status == .succeeded)
        #expect(try await ledger.instance(job: "events_hourly", scheduledAt: new.scheduledAt)?.id == run1.id)

        // Only one row for this (job, scheduled time), whatever happened.
        #expect(try await ledger.instances(job: "events_hourly").count == 1)
        await #expect(throws: SluiceError.self) {
            try await ledger.finish(id: run1.id, status: .running, counts: InstanceCounts())
        }
        await #expect(throws: SluiceError.self) { try await ledger.startAttempt(id: 9999) }
    }

    @Test(arguments: LedgerStore.allCases) func setSuccessStatusesAndListing(store: LedgerStore) async throws {
        let under = try await store.newLocation()
        let clock = ManualTestClock()
        let ledger = try await under.open(clock)
        var ids: [Int64] = []
        for h in 0..<5 { ids.append(try await ledger.ensureInstance(NewInstance(job: "a", scheduledAt: hour(h))).id) }
        _ = try await ledger.ensureInstance(NewInstance(job: "b", scheduledAt: hour(2)))
        try await ledger.setStatus(id: ids[1], .waiting)
        try await ledger.setStatus(id: ids[2], .failed, error: "paused")
        let running = try await ledger.startAttempt(id: ids[3])
        await #expect(throws: SluiceError.self) { try await ledger.setSuccess(id: running.id, reason: "x") }
        let set = try await ledger.setSuccess(id: ids[2], reason: "data checked by hand")
        #expect(set.status == .succeeded)
        #expect(set.successReason == "data checked by hand")
        #expect(try await ledger.instances(job: "a").map(\.id) == ids)
        #expect(try await ledger.instances(job: "a", status: .pending).count == 2)
        #expect(try await ledger.instances(status: .pending).count == 3)
        #expect(try await ledger.instances(job: "a", scheduledFrom: hour(1), scheduledBefore: hour(3)).map(\.id) == [ids[1], ids[2]])
        #expect(try await ledger.instances(limit: 2).count == 2)
        #expect(try await ledger.instance(id: ids[1])?.status == .waiting)
        #expect(try await ledger.latestInstance(job: "a")?.id == ids[4])
        #expect(try await ledger.latestInstance(job: "zzz") == nil)
    }

    @Test(arguments: LedgerStore.allCases) func plansAreStoredReplayedAndChainContiguousWindows(store: LedgerStore) async throws {
        let under = try await store.newLocation()
        let clock = ManualTestClock()
        let ledger = try await under.open(clock)
        let i1 = try await ledger.startAttempt(NewInstance(job: "j", scheduledAt: hour(1)))
        let plan1 = testPlan([PartitionPlan(partition: 0, fromOffset: 0, toOffset: 10, lowWatermark: 0, highWatermark: 12),
                              PartitionPlan(partition: 1, fromOffset: 5, toOffset: 7, lowWatermark: 0, highWatermark: 7)],
                             mode: .contiguous)
        try await ledger.storePlan(id: i1.id, plan: plan1)
        let stored = try #require(try await ledger.plan(id: i1.id))
        #expect(stored == plan1)
        #expect(stored.readEnds.isEmpty)

        // Not successful yet: no previous end for the next instance.
        #expect(try await ledger.previousSuccessfulEnd(job: "j", before: hour(2)) == nil)
        try await ledger.recordReadEnds(id: i1.id, [0: 11])
        await #expect(throws: SluiceError.self) { try await ledger.recordReadEnds(id: i1.id, [9: 1]) }
        try await ledger.finish(id: i1.id, status: .succeeded, counts: InstanceCounts())
        #expect(try await ledger.plan(id: i1.id)?.readEnds == [0: 11])
        let prev = try #require(try await ledger.previousSuccessfulEnd(job: "j", before: hour(2)))
        #expect(prev.instance.id == i1.id)
        #expect(prev.ends == [0: 11, 1: 7])   // partition 1 had no read end: its planned end
        #expect(try await ledger.previousSuccessfulEnd(job: "j", before: hour(1)) == nil)
        #expect(try await ledger.previousSuccessfulEnd(job: "other", before: hour(2)) == nil)

        // A failed later instance is skipped; a later successful one wins.
        let i2 = try await ledger.startAttempt(NewInstance(job: "j", scheduledAt: hour(2)))
        try await ledger.storePlan(id: i2.id, plan: testPlan([PartitionPlan(partition: 0, fromOffset: 11, toOffset: 20, lowWatermark: 0, highWatermark: 20)]))
        try await ledger.finish(id: i2.id, status: .failed, counts: InstanceCounts(), error: "x")
        #expect(try await ledger.previousSuccessfulEnd(job: "j", before: hour(3))?.instance.id == i1.id)
        let i3 = try await ledger.startAttempt(NewInstance(job: "j", scheduledAt: hour(3)))
        try await ledger.storePlan(id: i3.id, plan: testPlan([PartitionPlan(partition: 0, fromOffset: 11, toOffset: 30, lowWatermark: 0, highWatermark: 30)]))
        try await ledger.finish(id: i3.id, status: .succeeded, counts: InstanceCounts())
        #expect(try await ledger.previousSuccessfulEnd(job: "j", before: hour(4))?.ends == [0: 30])

        // A replan replaces the plan and its read ends.
        let replan = testPlan([PartitionPlan(partition: 0, fromOffset: 0, toOffset: 12, lowWatermark: 0, highWatermark: 12)], plannedAtMillis: 2)
        try await ledger.storePlan(id: i1.id, plan: replan)
        let replanned = try #require(try await ledger.plan(id: i1.id))
        #expect(replanned == replan)
        #expect(replanned.readEnds.isEmpty)
    }

    /// One plan type from the planner to the ledger to the rerun: what is stored comes back equal,
    /// `resetFromOffset` included, and the rerun's window is the plan extended to the read ends.
    @Test(arguments: LedgerStore.allCases) func aPlanComesBackAsItWasStoredAndReplaysToItsReadEnds(store: LedgerStore) async throws {
        let under = try await store.newLocation()
        let ledger = try await under.open()
        let i = try await ledger.startAttempt(NewInstance(job: "j", scheduledAt: hour(1), partition: "ds=1"))
        let planned = testPlan([PartitionPlan(partition: 0, fromOffset: 40, toOffset: 90, lowWatermark: 40, highWatermark: 95,
                                              resetFromOffset: 12),
                                PartitionPlan(partition: 2, fromOffset: 0, toOffset: 5, lowWatermark: 0, highWatermark: 5)])
        try await ledger.storePlan(id: i.id, plan: planned)
        let loaded = try #require(try await ledger.plan(id: i.id))
        #expect(loaded == planned)
        #expect(loaded.window.partitions[0].resetFromOffset == 12)
        #expect(loaded.replayWindow == planned.window)
        try await ledger.recordReadEnds(id: i.id, [0: 97, 2: 5])
        let read = try #require(try await ledger.plan(id: i.id))
        #expect(read.replayWindow.partitions.map(\.toOffset) == [97, 5])
        #expect(read.replayWindow.partitions[0].resetFromOffset == 12)
    }

    @Test(arguments: LedgerStore.allCases) func dirtyRecordsAreBounded(store: LedgerStore) async throws {
        let under = try await store.newLocation()
        let clock = ManualTestClock()
        var limits = LedgerLimits()
        limits.dirtyRecordsPerInstance = 3
        limits.dirtyBytesPerField = 4
        let ledger = try await under.open(clock, limits: limits)
        let i = try await ledger.startAttempt(NewInstance(job: "j", scheduledAt: hour(1)))
        let records = (0..<5).map {
            LedgerDirtyRecord(partition: 1, offset: Int64($0), timestampMillis: 1000, column: "amount", reason: "not a number",
                        key: nil, value: Array("abcdefgh".utf8))
        }
        #expect(try await ledger.addDirtyRecords(id: i.id, Array(records.prefix(2))) == 2)
        #expect(try await ledger.addDirtyRecords(id: i.id, Array(records.suffix(3))) == 1)
        let stored = try await ledger.dirtyRecords(id: i.id)
        #expect(stored.map(\.offset) == [0, 1, 2])
        #expect(stored[0].value == Array("abcd".utf8))
        #expect(stored[0].valueLength == 8)
        #expect(stored[0].key == nil)
        #expect(stored[0].column == "amount")
        // A new attempt starts with none.
        _ = try await ledger.startAttempt(id: i.id)
        #expect(try await ledger.dirtyRecords(id: i.id).isEmpty)
    }

    @Test(arguments: LedgerStore.allCases) func logsAreBounded(store: LedgerStore) async throws {
        let under = try await store.newLocation()
        let clock = ManualTestClock()
        var limits = LedgerLimits()
        limits.logLinesPerInstance = 3
        limits.logMessageBytes = 10
        let ledger = try await under.open(clock, limits: limits)
        let i = try await ledger.startAttempt(NewInstance(job: "j", scheduledAt: hour(1)))
        try await ledger.appendLog(id: i.id, ["one", "two"])
        try await ledger.appendLog(id: i.id, level: .error, ["three", "four", "a very long message indeed"])
        let lines = try await ledger.log(id: i.id)
        #expect(lines.map(\.message) == ["three", "four", "a very lon …"])
        #expect(lines.map(\.level) == [.error, .error, .error])
        #expect(lines.allSatisfy { $0.attempt == 1 && $0.at == clock.now })
    }

    @Test(arguments: LedgerStore.allCases) func twoConnectionsShareOneLedger(store: LedgerStore) async throws {
        let under = try await store.newLocation()
        let clock = ManualTestClock()
        let a = try await under.open(clock)
        let b = try await under.open(clock)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for h in 0..<20 {
                group.addTask { _ = try await (h % 2 == 0 ? a : b).startAttempt(NewInstance(job: "j", scheduledAt: hour(h % 10))) }
            }
            try await group.waitForAll()
        }
        let all = try await a.instances(job: "j")
        #expect(all.count == 10)
        #expect(all.allSatisfy { $0.attempts == 2 })
    }

    @Test(arguments: LedgerStore.allCases) func listingPagesNewestFirst(store: LedgerStore) async throws {
        let ledger = try await store.newLocation().open()
        var ids: [Int64] = []
        for h in 0..<5 { ids.append(try await ledger.ensureInstance(NewInstance(job: "a", scheduledAt: hour(h))).id) }
        let page = try await ledger.instances(InstanceFilter(job: "a", limit: 2, newestFirst: true, offset: 1))
        #expect(page.map(\.id) == [ids[3], ids[2]])
        #expect(try await ledger.instances(InstanceFilter(offset: 3)).map(\.id) == [ids[3], ids[4]])
    }

    /// Each attempt is recorded with who launched it; a scheduler's attempt is made once (the
    /// attempt number is the fencing token), and a stale attempt cannot commit.
    @Test(arguments: LedgerStore.allCases) func attemptsAreRecordedAndFenced(store: LedgerStore) async throws {
        let under = try await store.newLocation()
        let clock = ManualTestClock()
        let scheduler = try await under.open(clock, origin: AttemptOrigin(launchedBy: "sched-a", host: "h1", pid: 11))
        let new = NewInstance(job: "j", scheduledAt: hour(1), partition: "ds=1")
        let first = try await scheduler.startAttempt(new, number: 1)
        #expect(first.attempts == 1)
        await #expect(throws: SluiceError.self) { try await scheduler.startAttempt(new, number: 1) }
        await #expect(throws: SluiceError.self) { try await scheduler.startAttempt(new, number: 3) }
        let byHand = try await under.open(clock)
        _ = try await byHand.startAttempt(id: first.id)
        let stale = CommitRecord(instanceId: first.id, attempt: 1, mode: .overwrite, destination: "sqlite:t", partition: "ds=1",
                                 token: nil, counts: InstanceCounts(), readEnds: [:])
        await #expect(throws: SluiceError.self) { try await scheduler.prepareCommit(stale) }
        try await byHand.finish(id: first.id, status: .failed, counts: InstanceCounts(), error: "x")
        let attempts = try await byHand.attempts(id: first.id)
        #expect(attempts.map(\.attempt) == [1, 2])
        #expect(attempts[0].launchedBy == "sched-a" && attempts[0].host == "h1" && attempts[0].pid == 11)
        #expect(attempts[0].finishedAt == nil && attempts[0].status == .running)
        #expect(attempts[1].launchedBy == "manual" && attempts[1].status == .failed && attempts[1].error == "x")
    }

    /// Claims: one scheduler's claim holds while its lease runs; renewed, it keeps holding; once it
    /// has run out another scheduler takes the instance.
    @Test(arguments: LedgerStore.allCases) func claimsHoldWhileTheirLeaseRuns(store: LedgerStore) async throws {
        let clock = ManualTestClock()
        let ledger = try await store.newLocation().open(clock)
        let r = try await ledger.ensureInstance(NewInstance(job: "j", scheduledAt: hour(1)))
        let lease = { clock.now.addingTimeInterval(30) }
        #expect(try await ledger.claimAttempt(id: r.id, by: "a", leaseUntil: lease()) == 1)
        #expect(try await ledger.claimAttempt(id: r.id, by: "b", leaseUntil: lease()) == nil)
        #expect(try await ledger.adoptClaim(id: r.id, by: "b", leaseUntil: lease(), force: false) == false)
        clock.advance(seconds: 20)
        try await ledger.renewClaims([r.id], by: "a", leaseUntil: lease())
        clock.advance(seconds: 20)
        #expect(try await ledger.claimAttempt(id: r.id, by: "b", leaseUntil: lease()) == nil)
        clock.advance(seconds: 20)
        #expect(try await ledger.adoptClaim(id: r.id, by: "b", leaseUntil: lease(), force: false))
        var state = try await ledger.schedulingState(id: r.id)
        #expect(state.claimedBy == "b" && state.claimedAttempt == 1)
        #expect(try await ledger.claimedInstances(job: "j").map(\.id) == [r.id])
        try await ledger.takeOverClaims(by: "c", leaseUntil: lease())
        #expect(try await ledger.schedulingState(id: r.id).claimedBy == "c")
        try await ledger.releaseClaim(id: r.id)
        state = try await ledger.schedulingState(id: r.id)
        #expect(state.claimedBy == nil && state.claimedAttempt == nil && state.leaseUntil == nil)
        // Nothing to launch for an instance that succeeded meanwhile.
        _ = try await ledger.startAttempt(id: r.id)
        try await ledger.finish(id: r.id, status: .succeeded, counts: InstanceCounts())
        #expect(try await ledger.claimAttempt(id: r.id, by: "a", leaseUntil: lease()) == nil)
    }

    /// Two ledgers (two processes, or two hosts on PostgreSQL) creating and claiming the same
    /// instances at once: one instance per scheduled time, each claimed once.
    @Test(arguments: LedgerStore.allCases) func concurrentSchedulersCreateAndClaimOnce(store: LedgerStore) async throws {
        let under = try await store.newLocation()
        let a = try await under.open(), b = try await under.open()
        let claims = try await withThrowingTaskGroup(of: (String, Int64, Int?).self) { group in
            for (name, ledger) in [("a", a), ("b", b)] {
                for h in 0..<8 {
                    group.addTask {
                        let r = try await ledger.ensureInstance(NewInstance(job: "j", scheduledAt: hour(h)))
                        return (name, r.id, try await ledger.claimAttempt(id: r.id, by: name, leaseUntil: Date().addingTimeInterval(3600)))
                    }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(try await a.instances(job: "j").count == 8)
        let won = Dictionary(grouping: claims.filter { $0.2 != nil }, by: \.1)
        #expect(won.count == 8 && won.values.allSatisfy { $0.count == 1 })
    }

    @Test(arguments: LedgerStore.allCases) func waitReasonsAreKept(store: LedgerStore) async throws {
        let ledger = try await store.newLocation().open()
        let r = try await ledger.ensureInstance(NewInstance(job: "j", scheduledAt: hour(1)))
        try await ledger.setWaitReason(id: r.id, "waiting for upstream x")
        #expect(try await ledger.schedulingState(id: r.id).waitReason == "waiting for upstream x")
        _ = try await ledger.startAttempt(id: r.id)
        #expect(try await ledger.schedulingState(id: r.id).waitReason == nil)
    }
}
