import Foundation
import SluiceCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif
import SluiceLedger
import SluiceProcess

/// Runs each instance as a child process `sluice run JOB --at-epoch … --state-dir … [--attempt N]`,
/// so a kill or timeout is a real signal and a crash of the run leaves the destination unchanged.
/// The child writes its output to a file under `<state dir>/runs/` (not a pipe: a child outlives a
/// scheduler that is SIGKILLed and must not die writing to a closed pipe); when it ends, the last
/// `outputLimit` bytes go into the instance's log and the file is removed.
public struct ProcessExecutor: InstanceExecutor {
    /// The `sluice` binary.
    public var binary: String
    public var ledger: any Ledger
    /// Passed to every `sluice run` (e.g. `--datasources FILE`).
    public var extraArguments: [String]
    /// Bytes of the child's output kept (the last ones).
    public var outputLimit: Int
    /// Between SIGTERM and SIGKILL when a run is stopped.
    public var grace: Duration
    /// Added to each run's environment (the ledger URL, which must not stand in a command line,
    /// and the scheduler's id).
    public var environment: [String: String]

    public init(binary: String, ledger: any Ledger, extraArguments: [String] = [], outputLimit: Int = 64 * 1024,
                grace: Duration = .seconds(10), environment: [String: String] = [:]) {
        self.binary = binary
        self.ledger = ledger
        self.extraArguments = extraArguments
        self.outputLimit = outputLimit
        self.grace = grace
        self.environment = environment
    }

    /// This process's own executable.
    public static var currentBinary: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    public func arguments(_ request: ExecutionRequest) -> [String] {
        var args = ["run", request.job.path, "--at-epoch", String(request.scheduledTime), "--state-dir", request.stateDirectory]
        if let b = request.businessDate { args += ["--bizdate", b.compact] }
        if request.allowGap { args.append("--allow-gap") }
        if let a = request.attempt { args += ["--attempt", String(a)] }
        return args + extraArguments
    }

    static func outputDirectory(_ stateDirectory: String) -> String { stateDirectory + "/runs" }

    static func outputPrefix(instance id: Int64) -> String { "instance-\(id)-" }

    public func execute(_ request: ExecutionRequest) async -> ExecutionOutcome {
        let id = request.instance.id
        let dir = Self.outputDirectory(request.stateDirectory)
        let outputPath = dir + "/" + Self.outputPrefix(instance: id) + UUID().uuidString + ".log"
        let pid: pid_t
        do {
            pid = try start(request, output: outputPath, directory: dir)
        } catch {
            try? FileManager.default.removeItem(atPath: outputPath)
            return .failed("cannot start \(binary): \(error)")
        }
        let exit = ProcessExit(pid: pid)
        let grace = self.grace
        let cancelled = Atomic<Bool>(false)
        let (status, signalled) = await withTaskCancellationHandler {
            await exit.wait()
        } onCancel: {
            cancelled.store(true, ordering: .relaxed)
            kill(pid, SIGTERM)
            Task {
                try? await Task.sleep(for: grace)
                if exit.ended == nil { kill(pid, SIGKILL) }
            }
        }
        let lines = await keepOutput(of: outputPath, instance: id)
        if cancelled.load(ordering: .relaxed) { return .cancelled }
        if signalled { return .failed("the run was killed by signal \(status)") }
        if status == 0 { return .succeeded }
        let last = lines.last(where: { $0.hasPrefix("error:") }) ?? lines.last ?? ""
        return .failed("`sluice run` exited with status \(status)\(last.isEmpty ? "" : ": " + last)")
    }

    /// Starts the child with its output (both streams) in the file at `output`.
    private func start(_ request: ExecutionRequest, output: String, directory: String) throws -> pid_t {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        guard FileManager.default.createFile(atPath: output, contents: nil) else {
            throw SluiceError(.state, "cannot create the run's output file \(output)")
        }
        let out = try ChildProcess.open(output, writing: true)
        let input = try ChildProcess.open("/dev/null", writing: false)
        defer { close(out); close(input) }
        return try ChildProcess.spawn(binary, arguments(request), environment: ChildProcess.environment(adding: environment),
                                      stdin: input, stdout: out, stderr: out)
    }

    /// The output of runs of the instance that other processes started (an orphaned child of a
    /// scheduler that crashed) goes into its log.
    public func collect(instance: InstanceRecord, stateDirectory: String) async {
        let dir = Self.outputDirectory(stateDirectory)
        let prefix = Self.outputPrefix(instance: instance.id)
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasPrefix(prefix) }.sorted()
        for f in files { _ = await keepOutput(of: dir + "/" + f, instance: instance.id) }
    }

    /// Adds the last `outputLimit` bytes of a run's output file to the instance's log, removes the
    /// file, and returns the lines.
    private func keepOutput(of path: String, instance id: Int64) async -> [String] {
        defer { try? FileManager.default.removeItem(atPath: path) }
        guard let handle = FileHandle(forReadingAtPath: path) else { return [] }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        let cut = size > UInt64(outputLimit)
        try? handle.seek(toOffset: cut ? size - UInt64(outputLimit) : 0)
        let data = (try? handle.readToEnd()) ?? Data()
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init).filter { !$0.isEmpty }
        if !lines.isEmpty {
            try? await ledger.appendLog(id: id, (cut ? ["(earlier output cut)"] : []) + lines.map { "run: " + $0 })
        }
        return lines
    }
}
