import Foundation
import SluiceTestSupport
import SluiceCore
import Testing
@testable import SluiceRuntime
@testable import SluiceLedger

/// A destination whose answer about an attempt's write the test sets.
struct AnsweringSink: Sink {
    var answer: CommitState
    var replacesEarlierAppends = true
    func prepare(columns: [ColumnSpec], partitionKeys: [String]) async throws {}
    func tableColumns() async throws -> [ColumnSpec]? { nil }
    func open(partition: PartitionSpec, mode: WriteMode, columns: [ColumnSpec],
              provenance: WriteProvenance) async throws -> any PartitionWriter {
        throw SluiceError(.destination, "not for writing")
    }
    func commitState(of write: WriteReference) async throws -> CommitState { answer }
}

/// Commit records and the settlement of attempts that ended without recording their outcome.
@Suite struct LedgerCommitTests {
    func started(_ ledger: Ledger) async throws -> InstanceRecord {
        let r = try await ledger.startAttempt(NewInstance(job: "j", scheduledAt: hour(2), partition: "ds=1"))
        try await ledger.storePlan(id: r.id, plan: testPlan([PartitionPlan(partition: 0, fromOffset: 0, toOffset: 10, lowWatermark: 0, highWatermark: 10)]))
        return r
    }

    func record(_ r: InstanceRecord, mode: WriteMode = .append) -> CommitRecord {
        CommitRecord(instanceId: r.id, attempt: r.attempts, mode: mode, destination: "sqlite:t", partition: "ds=1",
                     token: "S1", counts: InstanceCounts(read: 12, written: 10, late: 2), readEnds: [0: 12])
    }

    @Test func aCommittedAttemptIsSettledFromTheDestination() async throws {
        let dir = try TemporaryDirectory()
        let ledger = try await Ledgers.openSQLite(stateDirectory: dir.path, now: { ManualTestClock().now })
        #expect(ledger.id.count == 32)
        let r = try await started(ledger)
        try await ledger.prepareCommit(record(r))
        #expect(try await ledger.commitRecord(id: r.id, attempt: 1)?.token == "S1")
        // The process died here: the instance is still `running`.
        let running = try #require(try await ledger.instance(id: r.id))
        #expect(try await CommitSettlement.settle(running, ledger: ledger, sink: AnsweringSink(answer: .notCommitted)) == .notCommitted)
        guard case .settled(let settled, let note) = try await CommitSettlement.settle(running, ledger: ledger, sink: AnsweringSink(answer: .committed(rows: 10))) else {
            Issue.record("not settled")
            return
        }
        #expect(settled.status == .succeeded && settled.attempts == 1)
        #expect(settled.counts == InstanceCounts(read: 12, written: 10, late: 2))
        #expect(note.contains("attempt 1 had committed 10 row(s)"))
        #expect(try await ledger.plan(id: r.id)?.readEnds == [0: 12])
        #expect(try await ledger.commitRecord(id: r.id, attempt: 1)?.committedAt != nil)
        #expect(try await ledger.log(id: r.id).contains { $0.message == note })
        // Settled once: there is nothing left to settle, and the append is known to be committed.
        #expect(try await CommitSettlement.settle(settled, ledger: ledger, sink: AnsweringSink(answer: .committed(rows: 10))) == .nothingToSettle)
        #expect(try await CommitSettlement.hasCommittedAppend(settled, ledger: ledger))
    }

    @Test func aCommitIsRecordedOnlyForTheRunningAttempt() async throws {
        let dir = try TemporaryDirectory()
        let ledger = try await Ledgers.openSQLite(stateDirectory: dir.path)
        let r = try await started(ledger)
        let second = try await ledger.startAttempt(id: r.id)
        await #expect(throws: SluiceError.self) { try await ledger.prepareCommit(record(r)) }
        try await ledger.prepareCommit(record(second))
        await #expect(throws: SluiceError.self) {
            try await ledger.finishCommitted(id: r.id, attempt: 1, counts: InstanceCounts(), readEnds: [:])
        }
        try await ledger.finishCommitted(id: r.id, attempt: 2, counts: InstanceCounts(written: 10), readEnds: [0: 10])
        await #expect(throws: SluiceError.self) {
            try await ledger.finishCommitted(id: r.id, attempt: 2, counts: InstanceCounts(), readEnds: [:])
        }
        #expect(try await ledger.commitRecords(id: r.id).map(\.attempt) == [2])
    }

    /// An attempt that never reached its commit, and one the destination cannot tell about.
    @Test func withoutACommitRecordNothingIsAsked() async throws {
        let dir = try TemporaryDirectory()
        let ledger = try await Ledgers.openSQLite(stateDirectory: dir.path)
        let r = try await started(ledger)
        #expect(try await CommitSettlement.settle(r, ledger: ledger, sink: AnsweringSink(answer: .committed(rows: 1))) == .nothingToSettle)
        try await ledger.prepareCommit(record(r))
        #expect(try await CommitSettlement.settle(r, ledger: ledger, sink: AnsweringSink(answer: .unknown("gone"))) == .unknown("gone"))
        #expect(try await !CommitSettlement.hasCommittedAppend(r, ledger: ledger))
    }
}
