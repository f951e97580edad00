import Foundation
import SluiceCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One scheduler per state directory: an exclusive `flock` on `scheduler.lock`, holding the pid.
/// The kernel releases it when the scheduler exits in any way, SIGKILL included.
public final class SchedulerLock: Sendable {
    public let path: String
    private let fd: Mutex<Int32>

    private init(path: String, fd: Int32) {
        self.path = path
        self.fd = Mutex(fd)
    }

    deinit { release() }

    /// Takes the lock or throws a `.state` error naming the scheduler that holds it.
    public static func acquire(stateDirectory: String) throws -> SchedulerLock {
        do {
            try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
        } catch {
            throw SluiceError(.state, "cannot create the state directory \(stateDirectory): \(error.localizedDescription)")
        }
        let path = stateDirectory + "/scheduler.lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw SluiceError(.state, "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            var buf = [UInt8](repeating: 0, count: 64)
            let n = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
            close(fd)
            let pid = n > 0 ? String(decoding: buf[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : "?"
            throw SluiceError(.state, "another scheduler (pid \(pid)) is already running on the state directory \(stateDirectory)",
                              hint: "stop it first (kill -TERM \(pid)), or give this one another --state-dir")
        }
        let text = "\(getpid())\n"
        _ = ftruncate(fd, 0)
        _ = text.withCString { pwrite(fd, $0, strlen($0), 0) }
        return SchedulerLock(path: path, fd: fd)
    }

    public func release() {
        fd.withLock { fd in
            guard fd >= 0 else { return }
            flock(fd, LOCK_UN)
            close(fd)
            fd = -1
        }
    }
}
