import Foundation
import Hummingbird
import Logging
import NIOCore
import SluiceCore
import SluiceLedger

/// The console as a Hummingbird application: `make` opens the ledger and builds it; tests call it
/// with port 0 and learn the port from `onListening`.
public enum ConsoleApp {
    public static func make(_ config: ConsoleConfiguration, logger: Logger = Logger(label: "sluice.console"),
                            onListening: @escaping @Sendable (_ host: String, _ port: Int) async -> Void = { _, _ in })
        async throws -> some ApplicationProtocol {
        let ledger = try await Ledgers.open(config.ledger, origin: .thisProcess(launchedBy: "console"))
        var readers: [any Ledger] = []
        if case .stateDirectory = config.ledger {
            // SQLite answers one statement at a time per connection: two more for the pages.
            for _ in 0..<2 { readers.append(try await Ledgers.open(config.ledger, origin: .thisProcess(launchedBy: "console"))) }
        }
        let console = Console(config: config, ledger: ledger, readers: readers, logger: logger)
        let host = config.host
        return Application(
            responder: ConsoleResponder(console: console),
            configuration: ApplicationConfiguration(address: .hostname(host, port: config.port), serverName: nil),
            onServerRunning: { channel in await onListening(host, channel.localAddress?.port ?? config.port) },
            logger: logger)
    }
}

extension ConsoleApp {
    /// Serves until SIGTERM or SIGINT (`sluice serve`), stopping gracefully.
    public static func serveUntilSignalled(_ config: ConsoleConfiguration, logger: Logger = Logger(label: "sluice.console"),
                                           onListening: @escaping @Sendable (String, Int) async -> Void) async throws {
        try await make(config, logger: logger, onListening: onListening).runService()
    }

    /// Serves until the calling task is cancelled (tests).
    public static func serve(_ config: ConsoleConfiguration, logger: Logger = Logger(label: "sluice.console"),
                             onListening: @escaping @Sendable (String, Int) async -> Void) async throws {
        try await make(config, logger: logger, onListening: onListening).run()
    }
}

/// Hands every request to the console.
struct ConsoleResponder: HTTPResponder {
    typealias Context = BasicRequestContext
    let console: Console

    func respond(to request: Request, context: BasicRequestContext) async throws -> Response {
        await console.respond(request)
    }
}

extension Console {
    static func addRoutes(to t: inout RouteTable) {
        t.add(.get, "/") { _ in Console.redirect("/instances") }
        t.add(.get, "/static/console.css") { _ in Console.asset(Assets.css, type: "text/css; charset=utf-8") }
        t.add(.get, "/static/console.js") { _ in Console.asset(Assets.js, type: "text/javascript; charset=utf-8") }
        t.add(.get, "/healthz") { call in try await call.console.healthz(call) }
        t.add(.get, "/readyz") { call in try await call.console.readyz(call) }
        t.add(.get, "/metrics") { call in try await call.console.metrics(call) }
        t.add(.get, "/login") { call in try await call.console.loginPage(call) }
        t.add(.post, "/login") { call in try await call.console.login(call) }
        t.add(.post, "/logout") { call in try await call.console.logout(call) }
        t.add(.get, "/instances") { call in try await call.console.instancesPage(call) }
        t.add(.get, "/instances/:id") { call in try await call.console.instancePage(call) }
        t.add(.get, "/jobs") { call in try await call.console.jobsPage(call) }
        t.add(.get, "/jobs/:name") { call in try await call.console.jobPage(call) }
        t.add(.get, "/jobs/:name/partitions") { call in try await call.console.partitionsPage(call) }
        t.add(.get, "/actions") { call in try await call.console.actionsPage(call) }
        t.add(.get, "/api/instances") { call in try await call.console.apiInstances(call) }
        t.add(.get, "/api/instances/:id") { call in try await call.console.apiInstance(call) }
        t.add(.get, "/api/instances/:id/log") { call in try await call.console.apiLog(call) }
        t.add(.get, "/api/jobs") { call in try await call.console.apiJobs(call) }
        t.add(.get, "/api/jobs/:name") { call in try await call.console.apiJob(call) }
        t.add(.get, "/api/jobs/:name/lag") { call in try await call.console.apiLag(call) }
        t.add(.get, "/api/jobs/:name/partitions") { call in try await call.console.apiPartitions(call) }
        t.add(.get, "/api/actions") { call in try await call.console.apiActions(call) }
        for prefix in ["", "/api"] {
            t.add(.post, prefix + "/instances/:id/rerun") { call in try await call.console.rerun(call) }
            t.add(.post, prefix + "/instances/:id/kill") { call in try await call.console.kill(call) }
            t.add(.post, prefix + "/instances/:id/set-success") { call in try await call.console.setSuccess(call) }
            t.add(.post, prefix + "/jobs/:name/backfill") { call in try await call.console.backfill(call) }
        }
    }

    static func asset(_ body: String, type: String) -> Response {
        var r = text(body, type: type)
        r.headers[.cacheControl] = "public, max-age=300"
        return r
    }
}
