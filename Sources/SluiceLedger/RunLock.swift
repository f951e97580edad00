import Foundation
import SluiceCore
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The locks that keep two runs of the same job and destination partition from writing at once.
/// The embedded ledger's are files in the state directory (`flock`); a PostgreSQL ledger's are
/// advisory locks of the database, which work across hosts. Either is dropped when its holder dies.
public protocol RunLocks: Sendable {
    /// Takes the lock of `job` and `partition`. When another run holds it: with `wait`, polls until
    /// it is free (cancellable); without, throws a `.state` error naming the holder.
    func acquire(job: String, partition: String, instanceId: String?, wait: Bool) async throws -> any HeldRunLock
    /// Takes the lock when it is free, without waiting and without holder details (stale ones of a
    /// dead holder are cleared): for a scheduler to look at an instance while no run can start or
    /// end an attempt of it. Nil when held.
    func hold(job: String, partition: String) async -> (any HeldRunLock)?
    /// The current holder of the lock of `job` and `partition`, nil when it is free.
    func currentHolder(job: String, partition: String) async -> RunLockHolder?
}

/// A run lock this process holds.
public protocol HeldRunLock: Sendable {
    var holder: RunLockHolder { get }
    /// Releases the lock (also done when the lock is dropped). Idempotent.
    func release() async
}

/// Who holds a run lock; written into the lock file (or the `run_locks` table) by the holder.
public struct RunLockHolder: Sendable, Hashable, Codable {
    public var pid: Int32
    public var job: String
    public var partition: String
    public var instanceId: String?
    public var acquiredAtMillis: Int64
    /// The holder's host (nil in lock files written before hosts were recorded: this host).
    public var host: String?

    public init(pid: Int32, job: String, partition: String, instanceId: String?, acquiredAtMillis: Int64,
                host: String? = ProcessInfo.processInfo.hostName) {
        self.pid = pid
        self.job = job
        self.partition = partition
        self.instanceId = instanceId
        self.acquiredAtMillis = acquiredAtMillis
        self.host = host
    }

    /// The holder runs on this machine, so it can be signalled.
    public var isLocal: Bool { host == nil || host == ProcessInfo.processInfo.hostName }

    public var description: String {
        var s = isLocal ? "pid \(pid)" : "pid \(pid) on \(host ?? "?")"
        if let instanceId { s += ", instance \(instanceId)" }
        let since = Date(timeIntervalSince1970: Double(acquiredAtMillis) / 1000)
        s += ", since \(since.formatted(.iso8601))"
        return s
    }
}

/// The embedded ledger's run locks: files under the state directory.
public struct FileRunLocks: RunLocks {
    public let stateDirectory: String

    public init(stateDirectory: String) { self.stateDirectory = stateDirectory }

    public func acquire(job: String, partition: String, instanceId: String?, wait: Bool) async throws -> any HeldRunLock {
        try await RunLock.acquire(stateDirectory: stateDirectory, job: job, partition: partition, instanceId: instanceId,
                                  wait: wait)
    }

    public func hold(job: String, partition: String) async -> (any HeldRunLock)? {
        RunLock.hold(stateDirectory: stateDirectory, job: job, partition: partition)
    }

    public func currentHolder(job: String, partition: String) async -> RunLockHolder? {
        RunLock.currentHolder(stateDirectory: stateDirectory, job: job, partition: partition)
    }
}

/// A run lock of the embedded ledger.
///
/// An exclusive `flock` on `locks/<job>@<partition>.lock` under the state directory. The kernel
/// drops it when the holder exits in any way, SIGKILL included, so a dead holder never blocks
/// anyone. Locks are per open file: two `RunLock`s in one process exclude each other too.
public final class RunLock: HeldRunLock {
    public let path: String
    public let holder: RunLockHolder
    private let fd: Mutex<Int32>

    private init(path: String, holder: RunLockHolder, fd: Int32) {
        self.path = path
        self.holder = holder
        self.fd = Mutex(fd)
    }

    deinit { release() }

    /// The lock file of `job` and `partition` under `stateDirectory`.
    public static func lockPath(stateDirectory: String, job: String, partition: String) -> String {
        func clean(_ s: String) -> String {
            String(s.unicodeScalars.map { c -> Character in
                CharacterSet.alphanumerics.contains(c) || "._=-".unicodeScalars.contains(c) ? Character(c) : "_"
            }.prefix(80))
        }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in (job + "\u{0}" + partition).utf8 { hash = (hash ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        return stateDirectory + "/locks/\(clean(job))@\(clean(partition))-\(String(hash, radix: 16)).lock"
    }

    /// Takes the lock of `job` and `partition`. When another run holds it: with `wait`, polls until
    /// it is free (cancellable); without, throws a `.state` error naming the holder.
    public static func acquire(stateDirectory: String, job: String, partition: String, instanceId: String?,
                               wait: Bool, pollInterval: Duration = .milliseconds(100),
                               now: @Sendable () -> Date = { Date() }) async throws -> RunLock {
        let path = lockPath(stateDirectory: stateDirectory, job: job, partition: partition)
        do {
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                    withIntermediateDirectories: true)
        } catch {
            throw SluiceError(.state, "cannot create the lock directory for \(path): \(error.localizedDescription)")
        }
        while true {
            let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            guard fd >= 0 else {
                throw SluiceError(.state, "cannot open the lock file \(path): \(String(cString: strerror(errno)))")
            }
            if flock(fd, LOCK_EX | LOCK_NB) == 0 {
                let holder = RunLockHolder(pid: getpid(), job: job, partition: partition, instanceId: instanceId,
                                           acquiredAtMillis: Int64((now().timeIntervalSince1970 * 1000).rounded()))
                let json = (try? JSONEncoder().encode(holder)) ?? Data()
                _ = ftruncate(fd, 0)
                _ = json.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
                return RunLock(path: path, holder: holder, fd: fd)
            }
            let err = errno
            let current = readHolder(fd: fd)
            close(fd)
            guard err == EWOULDBLOCK || err == EAGAIN else {
                throw SluiceError(.state, "cannot lock \(path): \(String(cString: strerror(err)))")
            }
            guard wait else {
                let who = current?.description ?? "a process that has not written its details yet"
                throw SluiceError(.state, "job '\(job)' partition \(partition.isEmpty ? "(unpartitioned)" : partition) is being written by another sluice run (\(who))",
                                  hint: "wait for it to finish, or pass --wait to wait for it")
            }
            try await Task.sleep(for: pollInterval)
        }
    }

    /// Takes the lock of `job` and `partition` when it is free, without waiting, and without writing
    /// holder details (stale ones of a dead holder are cleared, so nobody signals a reused pid): for a
    /// scheduler to look at an instance while no run can start or end an attempt of it. Nil when held.
    public static func hold(stateDirectory: String, job: String, partition: String) -> RunLock? {
        let path = lockPath(stateDirectory: stateDirectory, job: job, partition: partition)
        try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                 withIntermediateDirectories: true)
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return nil }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            return nil
        }
        _ = ftruncate(fd, 0)
        let holder = RunLockHolder(pid: getpid(), job: job, partition: partition, instanceId: nil,
                                   acquiredAtMillis: Int64((Date().timeIntervalSince1970 * 1000).rounded()))
        return RunLock(path: path, holder: holder, fd: fd)
    }

    /// The current holder of the lock of `job` and `partition`, nil when it is free.
    public static func currentHolder(stateDirectory: String, job: String, partition: String) -> RunLockHolder? {
        let path = lockPath(stateDirectory: stateDirectory, job: job, partition: partition)
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        if flock(fd, LOCK_SH | LOCK_NB) == 0 {
            flock(fd, LOCK_UN)
            return nil
        }
        return readHolder(fd: fd) ?? RunLockHolder(pid: 0, job: job, partition: partition, instanceId: nil, acquiredAtMillis: 0)
    }

    private static func readHolder(fd: Int32) -> RunLockHolder? {
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return nil }
        return try? JSONDecoder().decode(RunLockHolder.self, from: Data(buf[0..<n]))
    }

    /// Releases the lock (also done on deinit). Idempotent.
    public func release() {
        fd.withLock { fd in
            guard fd >= 0 else { return }
            _ = ftruncate(fd, 0)
            flock(fd, LOCK_UN)
            close(fd)
            fd = -1
        }
    }
}
