import Foundation
@_exported import SluiceProcess
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// What a finished process printed, and how it ended.
public struct ProcessResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
    /// Killed by a signal (`status` is then the signal number).
    public var signalled: Bool
}

/// Runs programs for tests without blocking a cooperative thread and without Foundation's pipe reads.
///
/// Output goes to temporary files that are read once the process has ended: `FileHandle`'s
/// `readDataToEndOfFile()` and `availableData` use `try!` and abort the whole test process when a
/// read is interrupted by a signal (EINTR), which happened in CI. A full pipe can never block the
/// child either.
public enum Subprocess {
    /// Runs `executable` to completion. `stdin` is fed to it (else it reads an empty input);
    /// `environment` is added to this process's environment; a process still running after
    /// `timeout` is killed (its test then fails on the status instead of hanging). `onStart` gets the
    /// process id once it runs, so a test can signal it.
    @discardableResult
    public static func run(_ executable: String, _ arguments: [String], stdin: String? = nil,
                           environment: [String: String] = [:], directory: String? = nil,
                           timeout: Duration = .seconds(300),
                           onStart: @Sendable (Int32) -> Void = { _ in }) async throws -> ProcessResult {
        let files = try OutputFiles(stdin: stdin)
        defer { files.remove() }
        let input = try ChildProcess.open(files.input.path, writing: false)
        let out = try ChildProcess.open(files.out.path, writing: true)
        let err = try ChildProcess.open(files.err.path, writing: true)
        defer { for fd in [input, out, err] { close(fd) } }
        let pid = try ChildProcess.spawn(executable, arguments, environment: ChildProcess.environment(adding: environment), directory: directory,
                                  stdin: input, stdout: out, stderr: err)
        let exit = ProcessExit(pid: pid)
        onStart(pid)
        let ended = await exit.wait(killingAfter: timeout)
        return ProcessResult(status: ended.0, stdout: files.read(files.out), stderr: files.read(files.err),
                             signalled: ended.1)
    }

    /// Finds a program on PATH.
    public static func which(_ name: String) -> String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let path = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    /// `$PYTHON`, else the first python3 on PATH (the one the test clients were installed for).
    public static var python: String {
        if let p = ProcessInfo.processInfo.environment["PYTHON"], !p.isEmpty { return p }
        return which("python3") ?? "/usr/bin/python3"
    }
}

/// The temporary files of one run: its input and its two outputs.
struct OutputFiles {
    let input: URL, out: URL, err: URL

    init(stdin: String?) throws {
        let tmp = FileManager.default.temporaryDirectory
        let id = UUID().uuidString
        input = tmp.appendingPathComponent("sluice-test-in-\(id)")
        out = tmp.appendingPathComponent("sluice-test-out-\(id)")
        err = tmp.appendingPathComponent("sluice-test-err-\(id)")
        try Data((stdin ?? "").utf8).write(to: input)
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
    }

    func read(_ url: URL) -> String { (try? String(contentsOf: url, encoding: .utf8)) ?? "" }

    func remove() {
        for url in [input, out, err] { try? FileManager.default.removeItem(at: url) }
    }
}

/// A long-running child (a broker, a scheduler) whose standard output and/or standard error are
/// read line by line, with reads that retry when a signal interrupts them. An output that is not
/// read goes to a file (so that it can never fill a pipe and block the child), read on demand.
public final class RunningProcess: Sendable {
    /// One of the child's outputs.
    public enum Output: Sendable, Hashable { case standardOutput, standardError }

    public let pid: Int32
    private let readers: [Output: LineReader]
    private let otherFile: URL
    private let exit: ProcessExit

    /// Starts `executable` with an empty standard input; `lines` are the outputs read line by line.
    public init(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
                directory: String? = nil, lines: Set<Output> = [.standardOutput]) throws {
        otherFile = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-test-out-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: otherFile.path, contents: nil)
        let other = try ChildProcess.open(otherFile.path, writing: true)
        let input = try ChildProcess.open("/dev/null", writing: false)
        var pipes: [Output: (read: Int32, write: Int32)] = [:]
        for output in lines { pipes[output] = try ChildProcess.pipe() }
        defer { for fd in [other, input] + pipes.values.map(\.write) { close(fd) } }
        do {
            pid = try ChildProcess.spawn(executable, arguments, environment: ChildProcess.environment(adding: environment),
                                         directory: directory, stdin: input,
                                  stdout: pipes[.standardOutput]?.write ?? other,
                                  stderr: pipes[.standardError]?.write ?? other)
        } catch {
            for fd in pipes.values.map(\.read) { close(fd) }
            throw error
        }
        exit = ProcessExit(pid: pid)
        readers = pipes.mapValues { LineReader(fd: $0.read) }
    }

    deinit {
        if isRunning { kill(pid, SIGKILL) }
        try? FileManager.default.removeItem(at: otherFile)
    }

    public var isRunning: Bool { exit.ended == nil }

    public func signal(_ sig: Int32) { kill(pid, sig) }

    /// What the process wrote so far on the outputs that are not read line by line.
    public var otherOutput: String { (try? String(contentsOf: otherFile, encoding: .utf8)) ?? "" }

    /// The next line of `output` (without its newline), or nil at its end or after `timeout`.
    /// Blocks a dispatch thread, never a cooperative one.
    public func readLine(from output: Output = .standardOutput, timeout: Duration = .seconds(60)) async -> String? {
        guard let reader = readers[output] else { return nil }
        let deadline = ContinuousClock.now.advanced(by: timeout)
        return await withCheckedContinuation { c in
            DispatchQueue.global().async { c.resume(returning: reader.next(deadline: deadline)) }
        }
    }

    /// Up to `count` lines of `output`, waiting at most `timeout` in all.
    public func readLines(from output: Output = .standardOutput, count: Int, timeout: Duration = .seconds(30)) async -> [String] {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        var lines: [String] = []
        while lines.count < count, let line = await readLine(from: output, timeout: deadline - .now) { lines.append(line) }
        return lines
    }

    /// Waits for the process to end, killing it (SIGKILL) after `timeout`; returns its exit status,
    /// or the signal that ended it.
    @discardableResult
    public func wait(timeout: Duration = .seconds(60)) async -> Int32 {
        await exit.wait(killingAfter: timeout).0
    }

    /// Whether the process ended by a signal (false while it runs).
    public var wasSignalled: Bool { exit.ended?.1 ?? false }
}

/// Lines from a pipe: poll(2) and read(2), retried on EINTR, with a buffer kept between calls.
final class LineReader: Sendable {
    private let fd: Int32
    private let buffer = Mutex<[UInt8]>([])

    init(fd: Int32) { self.fd = fd }

    deinit { close(fd) }

    func next(deadline: ContinuousClock.Instant) -> String? {
        buffer.withLock { buffer in
            var chunk = [UInt8](repeating: 0, count: 4096)
            while true {
                if let nl = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = String(decoding: buffer[..<nl], as: UTF8.self)
                    buffer.removeSubrange(...nl)
                    return line
                }
                let remaining = deadline - ContinuousClock.now
                guard remaining > .zero else { return nil }
                var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let millis = Int32(min(remaining.components.seconds * 1000 + 1, 60_000))
                guard poll(&pfd, 1, millis) > 0 else { continue }  // timed out (checked above) or EINTR
                let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else {
                    defer { buffer = [] }
                    return buffer.isEmpty ? nil : String(decoding: buffer, as: UTF8.self)
                }
                buffer += chunk[..<n]
            }
        }
    }
}
