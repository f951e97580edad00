import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Starts programs with posix_spawn(3) instead of Foundation's `Process`.
///
/// `Process.run()` of Swift 6.3's Foundation over-reads the `/proc/self/fd` entries it walks to close
/// the parent's descriptors in the child, and crashes now and then (SIGSEGV in memcpy; fixed upstream
/// in swift-corelibs-foundation#5472); it crashed our CI. Here the child's standard streams are
/// `dup2`ed from descriptors the caller gives, and every other descriptor is closed in the child with
/// `posix_spawn_file_actions_addclosefrom_np`. As with Foundation, the child gets a process group of
/// its own (a terminal's Ctrl-C reaches the parent, which decides how its children stop).
public enum ChildProcess {
    public struct Failure: Error, CustomStringConvertible {
        public let executable: String
        public let code: Int32
        public var description: String { "could not start \(executable): \(String(cString: strerror(code)))" }
    }

    /// Starts `executable` with `arguments` and `environment` (the child's whole environment), in
    /// `directory` (else the current one); its descriptors 0, 1 and 2 are copies of `stdin`,
    /// `stdout` and `stderr`. Returns the process id; the caller reaps it (see `ProcessExit`).
    public static func spawn(_ executable: String, _ arguments: [String], environment: [String: String],
                             directory: String? = nil, stdin: Int32, stdout: Int32, stderr: Int32) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (fd, target) in [(stdin, Int32(0)), (stdout, 1), (stderr, 2)] {
            posix_spawn_file_actions_adddup2(&actions, fd, target)
        }
        _ = GlibcExtensions.addCloseFrom.map { $0(&actions, 3) }
        if let directory {
            guard let addChdir = GlibcExtensions.addChdir else { throw Failure(executable: executable, code: ENOSYS) }
            _ = addChdir(&actions, directory)
        }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let env = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for p in argv + env { free(p) } }
        // As Foundation does: the child starts with no signal blocked and every signal at its
        // default action (a test process may ignore SIGTERM or SIGPIPE; exec keeps ignored signals).
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t(), allSignals = sigset_t()
        sigemptyset(&noSignals)
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))
        var pid: pid_t = 0
        let code = posix_spawn(&pid, executable, &actions, &attributes, argv, env)
        guard code == 0 else { throw Failure(executable: executable, code: code) }
        return pid
    }

    /// This process's environment with `extra` added (and overriding).
    public static func environment(adding extra: [String: String]) -> [String: String] {
        ProcessInfo.processInfo.environment.merging(extra) { _, new in new }
    }

    /// Opens `path` for the child (`O_CLOEXEC`, so that no other child inherits it).
    public static func open(_ path: String, writing: Bool) throws -> Int32 {
        let fd = Glibc.open(path, (writing ? O_WRONLY | O_APPEND : O_RDONLY) | O_CLOEXEC)
        guard fd >= 0 else { throw Failure(executable: path, code: errno) }
        return fd
    }

    /// A pipe whose two ends are closed on exec (children started here close every descriptor
    /// above 2 anyway).
    public static func pipe() throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [0, 0]
        guard Glibc.pipe(&fds) == 0 else { throw Failure(executable: "pipe", code: errno) }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return (fds[0], fds[1])
    }
}

/// glibc's `_np` spawn actions, which the Glibc module does not import (glibc 2.29 and 2.34 added
/// them; without closefrom the child keeps the descriptors not marked close-on-exec).
private enum GlibcExtensions {
    typealias AddChdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32
    typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32

    static let addChdir = symbol("posix_spawn_file_actions_addchdir_np").map { unsafeBitCast($0, to: AddChdir.self) }
    static let addCloseFrom = symbol("posix_spawn_file_actions_addclosefrom_np").map { unsafeBitCast($0, to: AddCloseFrom.self) }

    private static func symbol(_ name: String) -> UnsafeMutableRawPointer? { dlsym(dlopen(nil, RTLD_NOW), name) }
}

/// The end of a child: its exit status (or the signal that ended it) and whether a signal ended it,
/// delivered to every waiter. A thread of its own blocks in waitpid(2), never a cooperative one.
public final class ProcessExit: Sendable {
    private let state = Mutex<(ended: (Int32, Bool)?, waiters: [CheckedContinuation<(Int32, Bool), Never>])>((nil, []))
    public let pid: pid_t

    public init(pid: pid_t) {
        self.pid = pid
        let thread = Thread { [self] in
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            let signal = status & 0x7f
            let ended = signal == 0 ? ((status >> 8) & 0xff, false) : (signal, true)
            let waiters = state.withLock { s in
                s.ended = ended
                defer { s.waiters = [] }
                return s.waiters
            }
            for w in waiters { w.resume(returning: ended) }
        }
        thread.start()
    }

    /// The status and whether a signal ended it; nil while the child runs.
    public var ended: (Int32, Bool)? { state.withLock { $0.ended } }

    /// Waits for the end.
    public func wait() async -> (status: Int32, signalled: Bool) {
        await withCheckedContinuation { (c: CheckedContinuation<(Int32, Bool), Never>) in
            let done = state.withLock { s -> (Int32, Bool)? in
                if s.ended == nil { s.waiters.append(c) }
                return s.ended
            }
            if let done { c.resume(returning: done) }
        }
    }

    /// Waits for the end; sends SIGKILL to the child when it has not come after `timeout`.
    public func wait(killingAfter timeout: Duration) async -> (Int32, Bool) {
        let pid = self.pid
        let killer = Task {
            try await Task.sleep(for: timeout)
            kill(pid, SIGKILL)
        }
        defer { killer.cancel() }
        return await wait()
    }
}
