import Foundation
import SluiceCore
import Synchronization
import SluiceTestSupport
import Testing
@testable import SluiceRuntime
@testable import SluiceLedger

@Suite struct LedgerLockTests {
    @Test func secondHolderFailsNamingTheFirstThenGetsItAfterRelease() async throws {
        let dir = try LedgerTempDir()
        let first = try await RunLock.acquire(stateDirectory: dir.path, job: "events", partition: "ds=1", instanceId: "7", wait: false)
        let e = await #expect(throws: SluiceError.self) {
            _ = try await RunLock.acquire(stateDirectory: dir.path, job: "events", partition: "ds=1", instanceId: "8", wait: false)
        }
        #expect(e?.kind == .state)
        #expect(e?.message.contains("pid \(getpid()), instance 7") == true)
        #expect(e?.hint?.contains("--wait") == true)
        #expect(RunLock.currentHolder(stateDirectory: dir.path, job: "events", partition: "ds=1")?.instanceId == "7")
        // Other partitions and jobs are independent.
        let other = try await RunLock.acquire(stateDirectory: dir.path, job: "events", partition: "ds=2", instanceId: nil, wait: false)
        other.release()
        first.release()
        first.release()
        #expect(RunLock.currentHolder(stateDirectory: dir.path, job: "events", partition: "ds=1") == nil)
        let second = try await RunLock.acquire(stateDirectory: dir.path, job: "events", partition: "ds=1", instanceId: "8", wait: false)
        #expect(second.holder.instanceId == "8")
    }

    @Test func waiterGetsTheLockWhenItIsReleased() async throws {
        let dir = try LedgerTempDir()
        let first = try await RunLock.acquire(stateDirectory: dir.path, job: "j", partition: "", instanceId: "1", wait: false)
        let acquired = Atomic<Bool>(false)
        let waiter = Task {
            let lock = try await RunLock.acquire(stateDirectory: dir.path, job: "j", partition: "", instanceId: "2", wait: true,
                                                 pollInterval: .milliseconds(5))
            acquired.store(true, ordering: .sequentiallyConsistent)
            return lock
        }
        try await Task.sleep(for: .milliseconds(50))
        let gotIt = acquired.load(ordering: .sequentiallyConsistent)
        #expect(!gotIt, "the waiter must not get a held lock")
        first.release()
        let lock = try await waiter.value
        #expect(lock.holder.instanceId == "2")
    }

    @Test func waitingIsCancellable() async throws {
        let dir = try LedgerTempDir()
        let first = try await RunLock.acquire(stateDirectory: dir.path, job: "j", partition: "p=1", instanceId: "1", wait: false)
        let waiter = Task {
            try await RunLock.acquire(stateDirectory: dir.path, job: "j", partition: "p=1", instanceId: "2", wait: true,
                                      pollInterval: .milliseconds(5))
        }
        waiter.cancel()
        await #expect(throws: CancellationError.self) { _ = try await waiter.value }
        first.release()
    }

    /// Another process holds the lock, is named in the error, then dies by SIGKILL: the lock is free.
    @Test func lockOfASIGKILLedProcessIsReleased() async throws {
        let dir = try LedgerTempDir()
        let path = RunLock.lockPath(stateDirectory: dir.path, job: "events", partition: "ds=2022112210")
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let script = """
        import fcntl, json, os, sys, time
        f = open(sys.argv[1], "a+")
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0); f.truncate()
        f.write(json.dumps({"pid": os.getpid(), "job": "events", "partition": "ds=2022112210", "instanceId": "41", "acquiredAtMillis": 0}))
        f.flush()
        print("locked", flush=True)
        time.sleep(600)
        """
        let p = try RunningProcess(Subprocess.python, ["-c", script, path])
        defer { if p.isRunning { p.signal(SIGKILL) } }
        #expect(await p.readLine() == "locked")

        let e = await #expect(throws: SluiceError.self) {
            _ = try await RunLock.acquire(stateDirectory: dir.path, job: "events", partition: "ds=2022112210", instanceId: "42", wait: false)
        }
        #expect(e?.message.contains("pid \(p.pid), instance 41") == true)

        p.signal(SIGKILL)
        await p.wait()
        let lock = try await RunLock.acquire(stateDirectory: dir.path, job: "events", partition: "ds=2022112210", instanceId: "42", wait: false)
        #expect(lock.holder.pid == getpid())
    }
}
