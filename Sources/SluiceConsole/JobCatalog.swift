import Foundation
import Logging
import SluiceCore
import SluiceJob
import SluiceKafka
import SluiceLedger
import SluiceRuntime
import SluiceProcess
import Synchronization

/// The job files the console knows: those under its arguments (rescanned at most every two
/// seconds, a file reloaded when it changes), else the file a scheduler registered for the job.
actor JobCatalog {
    struct Entry: Sendable {
        var path: String
        var job: LoadedJob?
        /// Why the file could not be loaded (its diagnostics; never a secret).
        var problem: String?
        var stamp: String
    }

    let roots: [String]
    let datasources: String?
    private var byPath: [String: Entry] = [:]
    private var scanned: Date?

    init(roots: [String], datasources: String?) {
        self.roots = roots
        self.datasources = datasources
    }

    /// The names of the loaded jobs.
    func names() -> [String] {
        refresh()
        return byPath.values.compactMap { $0.job?.spec.name }.sorted()
    }

    /// The job named `name`: from the console's files, else from `registeredPath` (the scheduler's).
    func entry(named name: String, registeredPath: String?) -> Entry? {
        refresh()
        if let e = byPath.values.first(where: { $0.job?.spec.name == name }) { return e }
        guard let path = registeredPath else { return nil }
        let e = load(path, previous: nil)
        return e.job?.spec.name == name || e.job == nil ? e : nil
    }

    private func refresh() {
        if let scanned, Date().timeIntervalSince(scanned) < 2 { return }
        scanned = Date()
        var seen: [String: Entry] = [:]
        for path in files() { seen[path] = load(path, previous: byPath[path]) }
        byPath = seen
    }

    private func load(_ path: String, previous: Entry?) -> Entry {
        let stamp = Self.stamp(path)
        if let previous, previous.stamp == stamp { return previous }
        do {
            return Entry(path: path, job: try JobFiles.load(path: path, datasourcesPath: datasources), problem: nil, stamp: stamp)
        } catch let e as JobFileError {
            return Entry(path: path, job: nil, problem: e.diagnostics.map(\.description).joined(separator: "; "), stamp: stamp)
        } catch {
            return Entry(path: path, job: nil, problem: "\(error)", stamp: stamp)
        }
    }

    private func files() -> [String] { JobFiles.files(in: roots) }

    static func stamp(_ path: String) -> String {
        let a = try? FileManager.default.attributesOfItem(atPath: path)
        let m = (a?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
        return "\(m)/\((a?[.size] as? NSNumber)?.intValue ?? -1)"
    }
}

/// Consumer lag per job, measured at most every `ttl` seconds with one Kafka client per job.
actor LagCache {
    private struct Measured {
        var source: KafkaSource
        var spec: KafkaSourceSpec
        var directory: String
        var last: (at: Date, result: Result<JobLag, ConsoleError>)?
    }

    private var byJob: [String: Measured] = [:]
    let ttl: TimeInterval

    init(ttl: TimeInterval = 10) { self.ttl = ttl }

    func lag(_ job: LoadedJob, ledger: any Ledger) async -> Result<JobLag, ConsoleError> {
        let name = job.spec.name
        guard job.spec.task == .sync else {
            return .failure(ConsoleError(status: .notFound, message: "\(name) is an SQL node: it reads no topic, so it has no lag"))
        }
        if var m = byJob[name], m.spec == job.spec.source, m.directory == job.directory {
            if let last = m.last, Date().timeIntervalSince(last.at) < ttl { return last.result }
            let result = await Self.measure(job, source: m.source, ledger: ledger)
            m.last = (Date(), result)
            byJob[name] = m
            return result
        }
        let source: KafkaSource
        do {
            let settings = try KafkaConnectionSettings.resolve(job, secrets: SecretResolver(relativeTo: job.directory))
            source = try KafkaSource(spec: job.spec.source, settings: settings, requestTimeout: .seconds(5))
        } catch {
            return .failure(ConsoleError(status: .serviceUnavailable, message: "cannot set up a Kafka client for \(name): \(ConsoleError.from(error).message)"))
        }
        let result = await Self.measure(job, source: source, ledger: ledger)
        byJob[name] = Measured(source: source, spec: job.spec.source, directory: job.directory, last: (Date(), result))
        return result
    }

    private static func measure(_ job: LoadedJob, source: KafkaSource, ledger: any Ledger) async -> Result<JobLag, ConsoleError> {
        do {
            return .success(try await JobViews.lag(job, source: source, ledger: ledger))
        } catch {
            return .failure(ConsoleError(status: .serviceUnavailable, message: "cannot measure the lag of \(job.spec.name): \(ConsoleError.from(error).message)",
                                         hint: "check that Kafka (\(job.spec.source.bootstrapServers.joined(separator: ","))) is reachable"))
        }
    }
}

/// Answers reused for a short while (the instance list under load, /metrics): one computation per
/// key at a time, the others wait for it.
actor AnswerCache {
    private var entries: [String: (at: Date, value: any Sendable)] = [:]
    private var pending: [String: Task<any Sendable, any Error>] = [:]

    func value<T: Sendable>(key: String, ttl: TimeInterval, _ compute: @escaping @Sendable () async throws -> T) async throws -> T {
        if ttl > 0, let e = entries[key], Date().timeIntervalSince(e.at) < ttl, let v = e.value as? T { return v }
        if let p = pending[key], let v = try await p.value as? T { return v }
        let task = Task<any Sendable, any Error> { try await compute() }
        pending[key] = task
        defer { pending[key] = nil }
        let v = try await task.value
        if entries.count > 512 { entries.removeAll() }
        if ttl > 0 { entries[key] = (Date(), v) }
        guard let typed = v as? T else { throw ConsoleError(status: .internalServerError, message: "cache type mismatch for \(key)") }
        return typed
    }
}

/// The `sluice` child processes the console starts for reruns and backfills: same commands as
/// the CLI, their output in the state directory's runs/ folder while they run.
final class Launcher: Sendable {
    let config: ConsoleConfiguration
    let logger: Logger

    init(config: ConsoleConfiguration, logger: Logger) {
        self.config = config
        self.logger = logger
    }

    /// The arguments that name the ledger for a child (`SLUICE_LEDGER` carries a PostgreSQL URL).
    var ledgerArguments: [String] { ["--state-dir", config.stateDirectory] + (config.datasources.map { ["--datasources", $0] } ?? []) }

    /// Starts `sluice ARGS…` as `actor`; returns its pid.
    func start(_ arguments: [String], actor: String) throws -> Int32 {
        let dir = config.stateDirectory + "/runs"
        let outputPath = dir + "/console-" + UUID().uuidString + ".log"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        guard FileManager.default.createFile(atPath: outputPath, contents: nil) else {
            throw SluiceError(.state, "cannot create \(outputPath)", hint: "check that the state directory is writable")
        }
        var environment = ProcessInfo.processInfo.environment
        environment["SLUICE_ACTOR"] = actor
        environment["SLUICE_CONSOLE_TOKEN"] = nil
        if let url = config.ledgerURL { environment["SLUICE_LEDGER"] = url }
        let output = try ChildProcess.open(outputPath, writing: true)
        let input = try ChildProcess.open("/dev/null", writing: false)
        defer { close(output); close(input) }
        let pid = try ChildProcess.spawn(config.sluiceBinary, arguments, environment: environment,
                                         stdin: input, stdout: output, stderr: output)
        let logger = self.logger, command = arguments.prefix(2).joined(separator: " ")
        Task {
            let (status, signalled) = await ProcessExit(pid: pid).wait()
            logger.info("\(command) (pid \(pid)) ended with \(signalled ? "signal" : "status") \(status)")
            try? FileManager.default.removeItem(atPath: outputPath)
        }
        return pid
    }
}
