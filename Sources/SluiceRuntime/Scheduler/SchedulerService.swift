import Dispatch
import Foundation
import Logging
import SluiceCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif
import SluiceLedger
import ServiceLifecycle
import UnixSignals

/// How `sluice scheduler` is set up.
public struct SchedulerServiceOptions: Sendable {
    /// Job files, or directories of job files.
    public var jobs: [String]
    /// The ledger directory; nil = `.sluice/` next to the first job file, or in the first directory.
    /// With a PostgreSQL ledger it holds only the runs' output files.
    public var stateDirectory: String?
    /// `--ledger`: a PostgreSQL URL (else `SLUICE_LEDGER`, else the SQLite ledger in the state
    /// directory). Several schedulers may share a PostgreSQL ledger.
    public var ledgerURL: String?
    /// This scheduler's id (default: host name and pid), recorded on every attempt it launches.
    public var id: String = SchedulerOptions.defaultId
    /// How long its claims last without renewal (another scheduler takes over after that).
    public var lease: Double = 30
    public var maxParallel = 4
    /// How long running instances may take to finish after the first stop signal before they are aborted.
    public var stopTimeout: Duration = .seconds(30)
    /// Named connections, passed to every run.
    public var datasources: String?
    /// Seconds between scheduler passes.
    public var pollInterval: Double = 1
    /// How often job files are checked for changes.
    public var reloadInterval: Duration = .seconds(2)
    /// For the fault tests: children wait this long (ms) before they take their run lock.
    public var runStartDelay: Int?
    /// For the fault tests: seconds before an automatic retry instead of the job's `retryInterval`.
    public var retryDelay: Double?

    public init(jobs: [String]) { self.jobs = jobs }

    /// The ledger directory these options name.
    public var resolvedStateDirectory: String {
        if let stateDirectory { return stateDirectory }
        let first = jobs.first ?? "."
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: first, isDirectory: &isDir) && isDir.boolValue
            ? (first as NSString).appendingPathComponent(".sluice")
            : Ledgers.defaultStateDirectory(forJobFile: first)
    }
}

/// The scheduler daemon: the state directory's scheduler lock, the ledger, the executor that runs
/// instances as child processes, the job files (reloaded when they change), and the shutdown on
/// stop signals. `make` assembles it; `run` serves until stopped. Tests drive both directly.
public final class SchedulerService: Sendable {
    public let scheduler: Scheduler
    public let stateDirectory: String
    let options: SchedulerServiceOptions
    /// The state directory's scheduler lock; nil on a shared (PostgreSQL) ledger.
    let lock: SchedulerLock?
    let watcher: JobWatcher
    let logger: Logger

    init(scheduler: Scheduler, stateDirectory: String, options: SchedulerServiceOptions, lock: SchedulerLock?,
         watcher: JobWatcher, logger: Logger) {
        self.scheduler = scheduler
        self.stateDirectory = stateDirectory
        self.options = options
        self.lock = lock
        self.watcher = watcher
        self.logger = logger
    }

    /// Opens the ledger and loads the jobs. On the embedded ledger it first takes the state
    /// directory's scheduler lock (one scheduler per state directory); schedulers sharing a
    /// PostgreSQL ledger run side by side. `executor` defaults to child processes of this binary
    /// (`sluice run … --attempt N`), which inherit the ledger and this scheduler's id.
    public static func make(_ options: SchedulerServiceOptions, executor: (any InstanceExecutor)? = nil,
                            logger: Logger = Logger(label: "sluice.scheduler")) async throws -> SchedulerService {
        let dir = options.resolvedStateDirectory
        let location = try LedgerLocation.resolve(url: options.ledgerURL, stateDirectory: dir)
        let lock = location.isShared ? nil : try SchedulerLock.acquire(stateDirectory: dir)
        do {
            let ledger = try await Ledgers.open(location, origin: .thisProcess(launchedBy: options.id))
            var childEnvironment = ["SLUICE_SCHEDULER_ID": options.id]
            if let url = options.ledgerURL { childEnvironment["SLUICE_LEDGER"] = url }
            let executor = executor ?? ProcessExecutor(
                binary: ProcessExecutor.currentBinary, ledger: ledger,
                extraArguments: (options.datasources.map { ["--datasources", $0] } ?? [])
                    + (options.runStartDelay.map { ["--start-delay", String($0)] } ?? []),
                environment: childEnvironment)
            let schedulerOptions = SchedulerOptions(maxParallel: options.maxParallel, retryDelay: options.retryDelay,
                                                    id: options.id, lease: options.lease, exclusive: !location.isShared)
            let scheduler = Scheduler(ledger: ledger, stateDirectory: dir, clock: SystemClock(), executor: executor,
                                      options: schedulerOptions, logger: logger)
            let watcher = JobWatcher(roots: options.jobs, datasources: options.datasources, logger: logger)
            try await watcher.refresh(scheduler)
            guard !(await scheduler.jobNames).isEmpty else {
                throw SluiceError.invalid("no scheduled job in \(options.jobs.joined(separator: ", "))", hint: "jobs need a schedule block")
            }
            let problems = await scheduler.dependencyProblems
            guard problems.isEmpty else {
                throw SluiceError.invalid(problems.joined(separator: "; "), hint: "fix schedule.dependsOn in the job files")
            }
            return SchedulerService(scheduler: scheduler, stateDirectory: dir, options: options, lock: lock,
                                    watcher: watcher, logger: logger)
        } catch {
            lock?.release()
            throw error
        }
    }

    /// Serves until SIGTERM or SIGINT (through ServiceLifecycle): the signal starts no more
    /// instances and lets running ones finish for `stopTimeout`; then they are aborted (destinations
    /// unchanged; they run again at the next start).
    /// `alongside` are services that share the scheduler's lifetime (the console of `--listen`):
    /// they are shut down gracefully with it.
    public func serve(alongside: [any Service] = []) async throws {
        try await ServiceGroup(configuration: groupConfiguration(signals: [.sigterm, .sigint], alongside: alongside)).run()
    }

    /// The service group of the scheduler: graceful shutdown on `signals`, cancellation (which aborts
    /// running instances) after `stopTimeout`. When one of `alongside` ends, the scheduler goes on.
    public func groupConfiguration(signals: [UnixSignal], alongside: [any Service] = []) -> ServiceGroupConfiguration {
        let others = alongside.map {
            ServiceGroupConfiguration.ServiceConfiguration(service: $0, successTerminationBehavior: .ignore,
                                                           failureTerminationBehavior: .ignore)
        }
        var config = ServiceGroupConfiguration(services: [.init(service: self)] + others, gracefulShutdownSignals: signals,
                                               logger: logger)
        config.maximumGracefulShutdownDuration = options.stopTimeout
        return config
    }
}

extension SchedulerService: Service {
    /// Runs the scheduler until a graceful shutdown (no new instances; running ones finish) or a
    /// cancellation (running ones are aborted), then releases the ledger and the lock.
    public func run() async throws {
        let scheduler = self.scheduler, watcher = self.watcher, logger = self.logger, options = self.options
        let log: @Sendable (String) -> Void = { logger.info("\($0)") }
        log("scheduler started (pid \(getpid()), id \(options.id)) on \(scheduler.ledger.description): \(await scheduler.jobNames.joined(separator: ", "))")
        let loop = Task { await scheduler.run(interval: options.pollInterval) }
        let reload = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: options.reloadInterval)
                try? await watcher.refresh(scheduler)
            }
        }
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await loop.value
            } onGracefulShutdown: {
                Task {
                    await scheduler.stop(abort: false)
                    log("stopping: no new instances; waiting up to \(options.stopTimeout.components.seconds) s for running ones")
                }
            }
        } onCancel: {
            log("aborting running instances")
            Task { await scheduler.stop(abort: true) }
        }
        await loop.value
        reload.cancel()
        await scheduler.ledger.close()
        lock?.release()
        log("scheduler stopped")
    }
}

/// The job files under the scheduler's arguments, reloaded when they change.
public actor JobWatcher {
    let roots: [String]
    let datasources: String?
    let logger: Logger
    /// Path → modification stamp of the version last loaded (valid or not).
    private var stamps: [String: String] = [:]
    /// The dependency problems last logged.
    private var problems: [String] = []
    private var names: [String: String] = [:]

    public init(roots: [String], datasources: String?, logger: Logger = Logger(label: "sluice.scheduler")) {
        self.logger = logger
        self.roots = roots
        self.datasources = datasources
    }

    func files() -> [String] { JobFiles.files(in: roots) }

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
    public func refresh(_ scheduler: Scheduler) async throws {
        let current = files()
        for path in current {
            let s = stamp(path)
            guard stamps[path] != s else { continue }
            let known = stamps[path] != nil
            stamps[path] = s
            do {
                let loaded = try JobFiles.load(path: path, datasourcesPath: datasources)
                guard loaded.spec.schedule != nil else {
                    logger.info("\(path): no schedule block; not scheduled")
                    continue
                }
                try await scheduler.setJob(loaded)
                names[path] = loaded.spec.name
                logger.info("\(path): \(known ? "reloaded" : "loaded") job \(loaded.spec.name)")
            } catch let e as JobFileError {
                let why = e.diagnostics.map(\.description).joined(separator: "; ")
                logger.warning("\(path): invalid, \(names[path] != nil ? "keeping the last valid version" : "not scheduled"): \(why)")
            } catch {
                logger.warning("\(path): invalid, \(names[path] != nil ? "keeping the last valid version" : "not scheduled"): \(error)")
            }
        }
        for (path, name) in names where !current.contains(path) {
            names[path] = nil
            stamps[path] = nil
            await scheduler.removeJob(named: name)
            logger.info("\(path): removed; job \(name) no longer scheduled")
        }
        let now = await scheduler.dependencyProblems
        if now != problems {
            for p in now { logger.warning("\(p): the jobs on it wait until it is fixed") }
            problems = now
        }
    }
}
