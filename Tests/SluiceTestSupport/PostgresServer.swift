import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A private PostgreSQL server for the tests of this process: `initdb` and `pg_ctl` from Debian's
/// PostgreSQL 15, run as the `postgres` user (PostgreSQL refuses to run as root) under a temporary
/// directory, on a free port of 127.0.0.1, with password authentication. Started once, on first
/// use; stopped when the test process exits. Each test takes a database of its own.
public final class PostgresServer: Sendable {
    public let port: Int
    public let dataDirectory: String
    private let root: String
    /// `postgres` in the foreground, as a child (through `runuser`).
    private let process: Mutex<RunningProcess>
    /// The superuser the tests connect as, and its password.
    public static let user = "sluice_test"
    public static let password = "pw-\(UUID().uuidString.prefix(8))"

    private static let started = Mutex<Task<PostgresServer, any Error>?>(nil)
    private let databases = Atomic<Int>(0)

    private init(port: Int, dataDirectory: String, root: String, process: RunningProcess) {
        self.port = port
        self.dataDirectory = dataDirectory
        self.root = root
        self.process = Mutex(process)
    }

    /// The server of this test process, started when first asked for.
    public static func shared() async throws -> PostgresServer {
        let task = started.withLock { task in
            if let task { return task }
            let t = Task { try await start() }
            task = t
            return t
        }
        return try await task.value
    }

    /// The directory holding Debian's PostgreSQL programs (`initdb`, `pg_ctl`, `postgres`).
    public static var binDirectory: String? {
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        for v in versions.sorted(by: { (Int($0) ?? 0) > (Int($1) ?? 0) }) {
            let dir = "/usr/lib/postgresql/\(v)/bin"
            if FileManager.default.isExecutableFile(atPath: dir + "/pg_ctl") { return dir }
        }
        return nil
    }

    /// A server of its own, for a test that restarts or stops it (stopped at exit like the shared one).
    public static func startPrivate() async throws -> PostgresServer { try await start() }

    private static func start() async throws -> PostgresServer {
        guard let bin = binDirectory else {
            throw FixtureError("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/pg_ctl): run scripts/install-deps")
        }
        let root = "/tmp/sluice-test-pg-\(getpid())-\(UUID().uuidString.prefix(8))"
        let data = root + "/data"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try Data(password.utf8).write(to: URL(fileURLWithPath: root + "/pwfile"))
        try await asPostgres(["chown", "-R", "postgres:postgres", root], root: true)
        try await asPostgres([bin + "/initdb", "-D", data, "-U", user, "--pwfile=" + root + "/pwfile",
                              "--auth=scram-sha-256", "-E", "UTF8", "--no-locale", "--no-sync"])
        let port = try freePort()
        stopAtExit(bin: bin, data: data, root: root)
        let process = try await launch(bin: bin, data: data, root: root, port: port)
        return PostgresServer(port: port, dataDirectory: data, root: root, process: process)
    }

    /// Starts `postgres` in the foreground and waits for its readiness line. (`pg_ctl start` is not
    /// used: the daemon it leaves inherits the descriptor by which Foundation's `Process` learns that
    /// a child ended, so the end of `pg_ctl` would never be seen.)
    private static func launch(bin: String, data: String, root: String, port: Int) async throws -> RunningProcess {
        let runuser = Subprocess.which("runuser") ?? "/usr/sbin/runuser"
        let process = try RunningProcess(runuser, ["-u", "postgres", "--", bin + "/postgres", "-D", data, "-p", String(port),
                                                   "-k", root, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                                                   "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                                                   "-c", "max_connections=300", "-c", "client_connection_check_interval=200ms"],
                                         lines: [.standardError])
        var seen: [String] = []
        while let line = await process.readLine(from: .standardError, timeout: .seconds(60)) {
            seen.append(line)
            if line.contains("database system is ready to accept connections") { return process }
        }
        process.signal(SIGKILL)
        throw FixtureError("postgres did not become ready: \(seen.suffix(20).joined(separator: "\n"))")
    }

    /// Runs a command as the `postgres` user (as root itself when `root`), failing with its output.
    private static func asPostgres(_ command: [String], root: Bool = false) async throws {
        let runuser = Subprocess.which("runuser") ?? "/usr/sbin/runuser"
        let r = root ? try await Subprocess.run(Subprocess.which(command[0]) ?? command[0], Array(command.dropFirst()))
                     : try await Subprocess.run(runuser, ["-u", "postgres", "--"] + command)
        guard r.status == 0 else {
            throw FixtureError("\(command.joined(separator: " ")) exited \(r.status): \(r.stderr)\(r.stdout)")
        }
    }

    /// A port nobody listens on now (the kernel's choice for port 0).
    private static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard bound else { throw FixtureError("cannot find a free port") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    /// Stops the server (fast shutdown) and removes its files when this process exits.
    private static func stopAtExit(bin: String, data: String, root: String) {
        PostgresServerCleanup.add("runuser -u postgres -- \(bin)/pg_ctl -D \(data) -m immediate -w stop >/dev/null 2>&1; rm -rf \(root)")
    }

    /// A URL of the server with the test user's password in it.
    public func url(database: String) -> String {
        "postgresql://\(Self.user):\(Self.password)@127.0.0.1:\(port)/\(database)"
    }

    /// A URL without the password (give it as `PGPASSWORD`).
    public func urlWithoutPassword(database: String) -> String {
        "postgresql://\(Self.user)@127.0.0.1:\(port)/\(database)"
    }

    /// Creates a new, empty database and returns its name.
    public func createDatabase(prefix: String = "t") async throws -> String {
        let name = "\(prefix)_\(getpid())_\(databases.add(1, ordering: .relaxed).newValue)"
        try await psql("postgres", "CREATE DATABASE \(name)")
        return name
    }

    /// Runs SQL with `psql` against `database`; returns what it printed (unaligned, tuples only).
    @discardableResult
    public func psql(_ database: String, _ sql: String) async throws -> String {
        let psql = Self.binDirectory.map { $0 + "/psql" } ?? Subprocess.which("psql") ?? "/usr/bin/psql"
        let r = try await Subprocess.run(psql, ["-h", "127.0.0.1", "-p", String(port), "-U", Self.user, "-d", database,
                                               "-v", "ON_ERROR_STOP=1", "-A", "-t", "-c", sql],
                                         environment: ["PGPASSWORD": Self.password])
        guard r.status == 0 else { throw FixtureError("psql: \(sql): \(r.stderr)") }
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Stops the server (a fast shutdown: clients are disconnected) and starts it again, with the same
    /// data on the same port.
    public func restart() async throws {
        guard let bin = Self.binDirectory else { return }
        try await Self.asPostgres([bin + "/pg_ctl", "-D", dataDirectory, "-m", "fast", "-w", "-t", "60", "stop"])
        await process.withLock { $0 }.wait(timeout: .seconds(30))
        let next = try await Self.launch(bin: bin, data: dataDirectory, root: root, port: port)
        process.withLock { $0 = next }
    }
}

extension PostgresServer {
    /// Stops (SIGSTOP) or continues (SIGCONT) the server and all its processes: a server that keeps
    /// its connections open and answers nothing, as a hung host does.
    public func signalAll(_ signal: Int32) async throws {
        let text = try String(contentsOfFile: dataDirectory + "/postmaster.pid", encoding: .utf8)
        guard let postmaster = text.split(separator: "\n").first.flatMap({ Int32($0) }) else {
            throw FixtureError("no postmaster pid in \(dataDirectory)/postmaster.pid")
        }
        let children = try await Subprocess.run("/usr/bin/pgrep", ["-P", String(postmaster)])
        for pid in [postmaster] + children.stdout.split(separator: "\n").compactMap({ Int32($0) }) { kill(pid, signal) }
    }
}

/// The shell commands that stop the servers at exit (`atexit` takes no context).
enum PostgresServerCleanup {
    private static let commands = Mutex<[String]>([])
    static func add(_ c: String) {
        let first = commands.withLock { list in
            list.append(c)
            return list.count == 1
        }
        if first { atexit { PostgresServerCleanup.run() } }
    }
    static func run() {
        for c in commands.withLock({ $0 }) { _ = system(c) }
    }
}
