import ArgumentParser
import Dispatch
import Foundation
import SluiceCore
import Synchronization
import SluiceRuntime
#if canImport(Glibc)
import Glibc
#endif

struct SchedulerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scheduler",
        abstract: "Run jobs on their schedules until stopped.",
        discussion: """
        Creates an instance in the ledger for every scheduled time of every job (files, or directories of .yaml/.yml/.json job files with a schedule block), and runs each as a child process `sluice run JOB --state-dir DIR --attempt N` when its time has come and its conditions hold (self-dependency, --max-parallel), with retries, timeouts and catch-up after downtime as the job's schedule says. Job files are reloaded when they change; an invalid new version keeps the last valid one.

        The ledger is --state-dir (default: .sluice/ next to the first job file or in the directory). One scheduler per state directory. SIGTERM/SIGINT: stop starting instances, let running ones finish for --stop-timeout seconds, then abort them (destinations unchanged; they run again at the next start). After a crash (SIGKILL), runs the previous scheduler started go on and are watched until they end, never started a second time; a run whose process died without an outcome is settled from its destination first (an attempt that had committed is recorded as succeeded, nothing runs again), and otherwise recorded as interrupted and retried.

        Examples:
          sluice scheduler jobs/ --state-dir /var/lib/sluice --max-parallel 4
          sluice scheduler jobs/events_hourly.yaml
        """)

    @Argument(help: "Job files or directories of job files.")
    var jobs: [String]

    @Option(help: ArgumentHelp("The ledger directory.", valueName: "DIR"))
    var stateDir: String?

    @Option(help: "Instances running at once, over all jobs.")
    var maxParallel = 4

    @Option(help: "Seconds running instances may take to finish after SIGTERM before they are aborted.")
    var stopTimeout = 30

    @Option(name: .customLong("datasources"), help: ArgumentHelp("A YAML file of named connections, passed to every run.", valueName: "FILE"))
    var datasources: String?

    @Option(help: .hidden)
    var pollInterval: Double = 1

    /// Fault injection for the crash tests: children wait this long before they take their run lock.
    @Option(help: .hidden)
    var runStartDelay: Int?

    /// For the fault tests: seconds before an automatic retry, instead of the job's `retryInterval`
    /// (at least a minute).
    @Option(help: .hidden)
    var retryDelay: Double?

    func validate() throws {
        guard !jobs.isEmpty else { throw ValidationError("give at least one job file or directory") }
        guard maxParallel >= 1 else { throw ValidationError("--max-parallel must be at least 1") }
    }

    func run() async throws {
        try await runReportingErrors {
            // Before anything else, so that a SIGTERM during start-up is a clean stop too.
            let signals = SignalWatcher([SIGTERM, SIGINT])
            let first = jobs[0]
            var isDir: ObjCBool = false
            let dir = stateDir ?? (FileManager.default.fileExists(atPath: first, isDirectory: &isDir) && isDir.boolValue
                                   ? (first as NSString).appendingPathComponent(".sluice")
                                   : Ledger.defaultStateDirectory(forJobFile: first))
            let lock = try SchedulerLock.acquire(stateDirectory: dir)
            defer { lock.release() }
            let ledger = try await Ledger.open(stateDirectory: dir)
            let executor = ProcessExecutor(binary: ProcessExecutor.currentBinary, ledger: ledger,
                                           extraArguments: (datasources.map { ["--datasources", $0] } ?? [])
                                               + (runStartDelay.map { ["--start-delay", String($0)] } ?? []))
            let scheduler = Scheduler(ledger: ledger, stateDirectory: dir, clock: SystemClock(), executor: executor,
                                      options: SchedulerOptions(maxParallel: maxParallel, retryDelay: retryDelay), log: SchedulerLog.line)
            let watcher = JobWatcher(roots: jobs, datasources: datasources)
            try await watcher.refresh(scheduler)
            let names = await scheduler.jobNames
            guard !names.isEmpty else {
                throw SluiceError.invalid("no scheduled job in \(jobs.joined(separator: ", "))", hint: "jobs need a schedule block")
            }
            SchedulerLog.line("scheduler started (pid \(getpid())) on \(dir): \(names.joined(separator: ", "))")

            let stopTimeout = self.stopTimeout
            let loop = Task { await scheduler.run(interval: pollInterval) }
            let reload = Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(2))
                    try? await watcher.refresh(scheduler)
                }
            }
            var signalled = 0
            for await sig in signals.stream {
                signalled += 1
                if signalled == 1 {
                    SchedulerLog.line("signal \(sig): no new instances; waiting up to \(stopTimeout) s for running ones")
                    await scheduler.stop(abort: false)
                    Task {
                        try? await Task.sleep(for: .seconds(stopTimeout))
                        SchedulerLog.line("aborting running instances")
                        await scheduler.stop(abort: true)
                    }
                    Task {
                        await loop.value
                        signals.finish()
                    }
                } else {
                    SchedulerLog.line("signal \(sig) again: aborting running instances")
                    await scheduler.stop(abort: true)
                }
            }
            reload.cancel()
            await loop.value
            SchedulerLog.line("scheduler stopped")
        }
    }
}

/// Timestamped lines on standard error.
enum SchedulerLog {
    @Sendable static func line(_ text: String) {
        printError("\(Date().formatted(.iso8601)) \(text)")
    }
}

/// Delivers signals as an async stream (the default action is disabled while it lives).
final class SignalWatcher: Sendable {
    let stream: AsyncStream<Int32>
    private let continuation: AsyncStream<Int32>.Continuation
    private let sources: Mutex<[any DispatchSourceSignal]>

    init(_ signals: [Int32]) {
        let (stream, continuation) = AsyncStream<Int32>.makeStream()
        self.stream = stream
        self.continuation = continuation
        sources = Mutex(signals.map { sig in
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler { continuation.yield(sig) }
            s.resume()
            return s
        })
    }

    func finish() { continuation.finish() }
}

/// The job files under the scheduler's arguments, reloaded when they change.
actor JobWatcher {
    let roots: [String]
    let datasources: String?
    /// Path → modification stamp of the version last loaded (valid or not).
    private var stamps: [String: String] = [:]
    private var names: [String: String] = [:]

    init(roots: [String], datasources: String?) {
        self.roots = roots
        self.datasources = datasources
    }

    func files() -> [String] {
        var result: [String] = []
        for root in roots {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: root, isDirectory: &isDir) else { continue }
            if !isDir.boolValue { result.append(root); continue }
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
            for e in entries.sorted() where [".yaml", ".yml", ".json"].contains(where: { e.hasSuffix($0) })
                && !e.hasSuffix(".schedule.yaml") && !e.hasSuffix(".schedule.yml") && !e.hasPrefix(".") {
                result.append((root as NSString).appendingPathComponent(e))
            }
        }
        return result
    }

    func stamp(_ path: String) -> String {
        let base = (path as NSString).deletingPathExtension
        return [path, base + ".schedule.yaml", base + ".schedule.yml", datasources].compactMap { $0 }.map { p in
            let a = try? FileManager.default.attributesOfItem(atPath: p)
            let m = (a?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
            let size = (a?[.size] as? NSNumber)?.intValue ?? -1
            return "\(m)/\(size)"
        }.joined(separator: ",")
    }

    /// Loads new and changed files into the scheduler; an invalid file keeps its last valid version.
    func refresh(_ scheduler: Scheduler) async throws {
        let current = files()
        for path in current {
            let s = stamp(path)
            guard stamps[path] != s else { continue }
            let known = stamps[path] != nil
            stamps[path] = s
            do {
                let loaded = try JobFiles.load(path: path, datasourcesPath: datasources)
                guard loaded.spec.schedule != nil else {
                    SchedulerLog.line("\(path): no schedule block; not scheduled")
                    continue
                }
                try await scheduler.setJob(loaded)
                names[path] = loaded.spec.name
                SchedulerLog.line("\(path): \(known ? "reloaded" : "loaded") job \(loaded.spec.name)")
            } catch let e as JobFileError {
                let why = e.diagnostics.map(\.description).joined(separator: "; ")
                SchedulerLog.line("\(path): invalid, \(names[path] != nil ? "keeping the last valid version" : "not scheduled"): \(why)")
            } catch {
                SchedulerLog.line("\(path): invalid, \(names[path] != nil ? "keeping the last valid version" : "not scheduled"): \(error)")
            }
        }
        for (path, name) in names where !current.contains(path) {
            names[path] = nil
            stamps[path] = nil
            await scheduler.removeJob(named: name)
            SchedulerLog.line("\(path): removed; job \(name) no longer scheduled")
        }
    }
}
