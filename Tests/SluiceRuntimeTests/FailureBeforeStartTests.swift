import Foundation
import SluiceTestSupport
import SluiceCore
import Testing
@testable import SluiceRuntime
@testable import SluiceLedger

/// A destination that cannot say whether an attempt committed.
struct SilentSink: Sink {
    func prepare(columns: [ColumnSpec], partitionKeys: [String]) async throws {}
    func tableColumns() async throws -> [ColumnSpec]? { nil }
    func open(partition: PartitionSpec, mode: WriteMode, columns: [ColumnSpec],
              provenance: WriteProvenance) async throws -> any PartitionWriter {
        throw SluiceError(.destination, "not for writing")
    }
    func commitState(of write: WriteReference) async throws -> CommitState {
        throw SluiceError(.destination, "the destination did not answer about its partition ds=1")
    }
    var replacesEarlierAppends: Bool { true }
}

/// Failures before the attempt would start are recorded as failed attempts all the same.
@Suite struct FailureBeforeStartTests {
    @Test func anEarlierAttemptTheDestinationCannotSettleIsAFailedAttempt() async throws {
        let dir = try TemporaryDirectory()
        var options = RunOptions()
        options.scheduledTime = 1_669_115_100
        options.stateDirectory = dir.path
        options.showProgress = false
        let ledger = try await Ledgers.openSQLite(stateDirectory: dir.path)
        let first = try await ledger.startAttempt(NewInstance(job: "mem", scheduledAt: Date(timeIntervalSince1970: 1_669_115_100),
                                                              partition: "ds=1"))
        try await ledger.prepareCommit(CommitRecord(instanceId: first.id, attempt: 1, mode: .overwrite, destination: "memory:t",
                                                    partition: "ds=1", token: nil, counts: InstanceCounts(), readEnds: [:]))
        // Its process died before recording the outcome; the destination cannot tell whether it committed.
        let runner = InstanceRunner(job: try RunnerStageTests.job(dir.path), options: options)
        await #expect(throws: RunFailure.self) { try await runner.run(source: MemorySource(records: []), sink: SilentSink()) }
        let after = try #require(try await ledger.instance(id: first.id))
        #expect(after.status == .failed && after.attempts == 2)
        #expect(after.error?.contains("did not answer") == true)
        let attempts = try await ledger.attempts(id: first.id)
        #expect(attempts.last?.status == .failed && attempts.last?.error == after.error)
        await ledger.close()
    }
}
