import Foundation
import SluiceTestSupport
import SluiceCore
import Testing
@testable import SluiceRuntime
import SluiceScheduling
@testable import SluiceLedger

/// The hand operations, called as the CLI and the console call them.
@Suite struct OperationsTests {
    func record(_ status: InstanceStatus) -> InstanceRecord {
        InstanceRecord(id: 7, job: "j", scheduledAt: hour(1), businessDate: nil, parameters: [:], windowStart: nil,
                       windowEnd: nil, partition: "ds=1", status: status, attempts: 1, createdAt: hour(1), startedAt: nil,
                       finishedAt: nil, counts: InstanceCounts(), error: nil, successReason: nil)
    }

    @Test func theRerunPolicyIsOneRuleForHandAndScheduler() throws {
        for status in InstanceStatus.allCases where status != .running {
            #expect(throws: Never.self) { try Operations.checkManualRerun(record(status), policy: .always) }
            #expect(throws: SluiceError.self) { try Operations.checkManualRerun(record(status), policy: .never) }
            let allowed = ScheduleSpec.Rerun.onFailure.allowsRerun(of: status)
            #expect(allowed == (status != .succeeded && status != .dryRun))
            if allowed {
                #expect(throws: Never.self) { try Operations.checkManualRerun(record(status), policy: .onFailure) }
            } else {
                #expect(throws: SluiceError.self) { try Operations.checkManualRerun(record(status), policy: .onFailure) }
            }
        }
        #expect(throws: SluiceError.self) { try Operations.checkManualRerun(record(.running), policy: .always) }
        #expect(ScheduleSpec.Rerun.onFailure.allowsRerun(of: .failed) && !ScheduleSpec.Rerun.never.allowsRerun(of: .failed))
    }

    @Test func killAndSetSuccessAreRecorded() async throws {
        let dir = try TemporaryDirectory()
        let ledger = try await Ledgers.openSQLite(stateDirectory: dir.path)
        let ops = Operations(ledger: ledger, location: .stateDirectory(dir.path), stateDirectory: dir.path)
        let pending = try await ledger.ensureInstance(NewInstance(job: "j", scheduledAt: hour(1), partition: "ds=1"))
        let killed = try await ops.kill(pending.id, grace: .milliseconds(10))
        #expect(killed.instance.status == .killed && killed.signalledPid == nil)
        await #expect(throws: SluiceError.self) { try await ops.kill(pending.id) }
        await #expect(throws: SluiceError.self) { try await ops.setSuccess(pending.id, reason: "  ") }
        let ok = try await ops.setSuccess(pending.id, reason: "loaded by hand")
        #expect(ok.status == .succeeded && ok.successReason == "loaded by hand")
        #expect(try await ledger.log(id: pending.id).map(\.message).contains("set to success by hand: loaded by hand"))
        await #expect(throws: SluiceError.self) { try await ops.instance(999) }
    }
}
