import Foundation
import SluiceCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Runs each instance as a child process `sluice run JOB --at-epoch … --state-dir …`, so a kill or
/// timeout is a real signal and a crash of the run leaves the destination unchanged. The child's
/// output (bounded) goes into the instance's log.
public struct ProcessExecutor: InstanceExecutor {
    /// The `sluice` binary.
    public var binary: String
    public var ledger: Ledger
    /// Passed to every `sluice run` (e.g. `--datasources FILE`).
    public var extraArguments: [String]
    /// Bytes of the child's output kept (the last ones).
    public var outputLimit: Int
    /// Between SIGTERM and SIGKILL when a run is stopped.
    public var grace: Duration

    public init(binary: String, ledger: Ledger, extraArguments: [String] = [], outputLimit: Int = 64 * 1024,
                grace: Duration = .seconds(10)) {
        self.binary = binary
        self.ledger = ledger
        self.extraArguments = extraArguments
        self.outputLimit = outputLimit
        self.grace = grace
    }

    /// This process's own executable.
    public static var currentBinary: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    public func arguments(_ request: ExecutionRequest) -> [String] {
        var args = ["run", request.job.path, "--at-epoch", String(request.scheduledTime), "--state-dir", request.stateDirectory]
        if let b = request.businessDate { args += ["--bizdate", b.compact] }
        if request.allowGap { args.append("--allow-gap") }
        return args + extraArguments
    }

    public func execute(_ request: ExecutionRequest) async -> ExecutionOutcome {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments(request)
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        let output = BoundedBuffer(limit: outputLimit)
        pipe.fileHandleForReading.readabilityHandler = { h in
            let data = h.availableData
            if data.isEmpty { h.readabilityHandler = nil } else { output.append(data) }
        }
        let exit = ExitBox()
        process.terminationHandler = { p in exit.finish(status: p.terminationStatus, reason: p.terminationReason) }
        do {
            try process.run()
        } catch {
            pipe.fileHandleForReading.readabilityHandler = nil
            return .failed("cannot start \(binary): \(error.localizedDescription)")
        }
        let pid = process.processIdentifier
        let grace = self.grace
        let cancelled = Atomic<Bool>(false)
        let (status, reason) = await withTaskCancellationHandler {
            await exit.wait()
        } onCancel: {
            cancelled.store(true, ordering: .relaxed)
            kill(pid, SIGTERM)
            Task {
                try? await Task.sleep(for: grace)
                if !exit.isFinished { kill(pid, SIGKILL) }
            }
        }
        pipe.fileHandleForReading.readabilityHandler = nil
        if let rest = try? pipe.fileHandleForReading.readToEnd() { output.append(rest) }
        let text = output.text
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init).filter { !$0.isEmpty }
        if !lines.isEmpty {
            try? await ledger.appendLog(id: request.instance.id, (output.truncated ? ["(earlier output cut)"] : []) + lines.map { "run: " + $0 })
        }
        if cancelled.load(ordering: .relaxed) { return .cancelled }
        if reason == .uncaughtSignal { return .failed("the run was killed by signal \(status)") }
        if status == 0 { return .succeeded }
        let last = lines.last(where: { $0.hasPrefix("error:") }) ?? lines.last ?? ""
        return .failed("`sluice run` exited with status \(status)\(last.isEmpty ? "" : ": " + last)")
    }
}

/// The last `limit` bytes written to it.
final class BoundedBuffer: Sendable {
    private let state = Mutex<(data: Data, cut: Bool)>((Data(), false))
    let limit: Int

    init(limit: Int) { self.limit = limit }

    func append(_ d: Data) {
        state.withLock { s in
            s.data.append(d)
            if s.data.count > limit {
                s.data = Data(s.data.suffix(limit))
                s.cut = true
            }
        }
    }

    var text: String { state.withLock { String(decoding: $0.data, as: UTF8.self) } }
    var truncated: Bool { state.withLock { $0.cut } }
}

/// A child's exit, awaited once.
final class ExitBox: Sendable {
    private let state = Mutex<(result: (Int32, Process.TerminationReason)?, waiter: CheckedContinuation<(Int32, Process.TerminationReason), Never>?)>((nil, nil))

    func finish(status: Int32, reason: Process.TerminationReason) {
        let waiter = state.withLock { s -> CheckedContinuation<(Int32, Process.TerminationReason), Never>? in
            s.result = (status, reason)
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume(returning: (status, reason))
    }

    var isFinished: Bool { state.withLock { $0.result != nil } }

    func wait() async -> (Int32, Process.TerminationReason) {
        await withCheckedContinuation { c in
            let done = state.withLock { s -> (Int32, Process.TerminationReason)? in
                if let r = s.result { return r }
                s.waiter = c
                return nil
            }
            if let done { c.resume(returning: done) }
        }
    }
}
