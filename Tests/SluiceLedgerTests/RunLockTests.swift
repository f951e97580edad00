import Foundation
import SluiceCore
import Synchronization
import SluiceTestSupport
import Testing
@testable import SluiceLedger

/// The run locks' contract, against files in the state directory and PostgreSQL advisory locks.
@Suite struct RunLockTests {
    @Test(arguments: LedgerStore.allCases)
    func secondHolderFailsNamingTheFirstThenGetsItAfterRelease(store: LedgerStore) async throws {
        let locks = try await store.newLocation().open().runLocks
        let first = try await locks.acquire(job: "events", partition: "ds=1", instanceId: "7", wait: false)
        let e = await #expect(throws: SluiceError.self) {
            _ = try await locks.acquire(job: "events", partition: "ds=1", instanceId: "8", wait: false)
        }
        #expect(e?.kind == .state)
        #expect(e?.message.contains("pid \(getpid()), instance 7") == true, "\(String(describing: e))")
        #expect(e?.hint?.contains("--wait") == true)
        #expect(await locks.currentHolder(job: "events", partition: "ds=1")?.instanceId == "7")
        // Other partitions and jobs are independent.
        let other = try await locks.acquire(job: "events", partition: "ds=2", instanceId: nil, wait: false)
        #expect(await locks.hold(job: "events", partition: "ds=1") == nil)
        await other.release()
        await first.release()
        await first.release()
        #expect(await locks.currentHolder(job: "events", partition: "ds=1") == nil)
        let second = try await locks.acquire(job: "events", partition: "ds=1", instanceId: "8", wait: false)
        #expect(second.holder.instanceId == "8")
        await second.release()
        let probe = try #require(await locks.hold(job: "events", partition: "ds=1"))
        #expect(await locks.currentHolder(job: "events", partition: "ds=1")?.pid == 0)
        await probe.release()
    }

    @Test(arguments: LedgerStore.allCases) func waiterGetsTheLockWhenItIsReleased(store: LedgerStore) async throws {
        let locks = try await store.newLocation().open().runLocks
        let first = try await locks.acquire(job: "j", partition: "", instanceId: "1", wait: false)
        let acquired = Atomic<Bool>(false)
        let waiter = Task {
            let lock = try await locks.acquire(job: "j", partition: "", instanceId: "2", wait: true)
            acquired.store(true, ordering: .sequentiallyConsistent)
            return lock
        }
        try await Task.sleep(for: .milliseconds(300))
        let gotIt = acquired.load(ordering: .sequentiallyConsistent)
        #expect(!gotIt, "the waiter must not get a held lock")
        await first.release()
        let lock = try await waiter.value
        #expect(lock.holder.instanceId == "2")
        await lock.release()
    }

    @Test(arguments: LedgerStore.allCases) func waitingIsCancellable(store: LedgerStore) async throws {
        let locks = try await store.newLocation().open().runLocks
        let first = try await locks.acquire(job: "j", partition: "p=1", instanceId: "1", wait: false)
        let waiter = Task { try await locks.acquire(job: "j", partition: "p=1", instanceId: "2", wait: true) }
        waiter.cancel()
        await #expect(throws: CancellationError.self) { _ = try await waiter.value }
        await first.release()
    }

    /// Another process holds the lock, then dies by SIGKILL: the lock is free at once (the kernel
    /// drops the flock; the database drops the advisory lock with the session).
    @Test(arguments: LedgerStore.allCases) func theLockOfAKilledHolderIsReleased(store: LedgerStore) async throws {
        let under = try await store.newLocation()
        let locks = try await under.open().runLocks
        let holder = try await Self.holdInAnotherProcess(under, job: "events", partition: "ds=2022112210")
        defer { if holder.isRunning { holder.signal(SIGKILL) } }
        let e = await #expect(throws: SluiceError.self) {
            _ = try await locks.acquire(job: "events", partition: "ds=2022112210", instanceId: "42", wait: false)
        }
        #expect(e?.message.contains("being written by another sluice run") == true, "\(String(describing: e))")
        holder.signal(SIGKILL)
        await holder.wait()
        var lock: (any HeldRunLock)?
        for _ in 0..<50 where lock == nil {
            lock = try? await locks.acquire(job: "events", partition: "ds=2022112210", instanceId: "42", wait: false)
            if lock == nil { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(lock?.holder.pid == getpid())
        await lock?.release()
    }

    /// A Python process that takes the lock as Sluice does (flock of the lock file, or the advisory
    /// lock through psql) and prints `locked`.
    static func holdInAnotherProcess(_ under: LedgerUnderTest, job: String, partition: String) async throws -> RunningProcess {
        let process: RunningProcess
        switch under.location {
        case .stateDirectory(let dir):
            let path = RunLock.lockPath(stateDirectory: dir, job: job, partition: partition)
            process = try RunningProcess(Subprocess.python, ["-c", """
                import fcntl, json, os, sys, time
                os.makedirs(os.path.dirname(sys.argv[1]), exist_ok=True)
                f = open(sys.argv[1], "a+")
                fcntl.flock(f, fcntl.LOCK_EX)
                f.seek(0); f.truncate()
                f.write(json.dumps({"pid": os.getpid(), "job": "\(job)", "partition": "\(partition)", "instanceId": "41", "acquiredAtMillis": 0}))
                f.flush()
                print("locked", flush=True)
                time.sleep(600)
                """, path])
        case .postgres:
            let server = try #require(under.server), db = try #require(under.database)
            let key = PostgresRunLocks.key(job: job, partition: partition)
            process = try RunningProcess(Subprocess.which("psql") ?? "/usr/bin/psql",
                                         ["-h", "127.0.0.1", "-p", String(server.port), "-U", PostgresServer.user, "-d", db,
                                          "-A", "-t", "-c", "SELECT 'locked' FROM pg_advisory_lock(\(key))", "-c", "SELECT pg_sleep(600)"],
                                         environment: ["PGPASSWORD": PostgresServer.password])
        }
        #expect(await process.readLine() == "locked")
        return process
    }
}
