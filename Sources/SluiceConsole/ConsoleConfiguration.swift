import Foundation
import Crypto
import SluiceCore
import SluiceLedger
import SluiceRuntime
import SluiceScheduling

/// How `sluice serve` (or the scheduler's `--listen`) runs the console.
public struct ConsoleConfiguration: Sendable {
    /// Where to listen; loopback unless told otherwise.
    public var host = "127.0.0.1"
    /// 0 picks a free port (tests).
    public var port = 8080
    public var ledger: LedgerLocation
    /// The PostgreSQL ledger's URL as given, passed to the runs the console starts in their
    /// environment (`SLUICE_LEDGER`), never in a command line.
    public var ledgerURL: String?
    /// The state directory: run locks and the output of the runs the console starts.
    public var stateDirectory: String
    /// Job files or directories of job files.
    public var jobRoots: [String] = []
    public var datasources: String?
    /// The tokens that may act; none makes the console read-only.
    public var tokens = ConsoleTokens()
    /// The `sluice` binary the console runs reruns and backfills with.
    public var sluiceBinary: String
    /// The zone times are shown in.
    public var zone: SchedulingZone = .machine
    /// Instances per page.
    public var pageSize = 50
    /// Seconds between the instances page's refreshes.
    public var refreshSeconds = 10
    /// Seconds an SQL-heavy answer (the instance list, /metrics) may be reused.
    public var cacheSeconds = 1.0

    public init(ledger: LedgerLocation, stateDirectory: String, sluiceBinary: String) {
        self.ledger = ledger
        self.stateDirectory = stateDirectory
        self.sluiceBinary = sluiceBinary
    }

    /// `host:port`, `:port` or `port`.
    public mutating func listen(_ address: String) throws {
        let text = address.trimmingCharacters(in: .whitespaces)
        var host = self.host, portText = text
        if let colon = text.lastIndex(of: ":") {
            host = String(text[..<colon])
            portText = String(text[text.index(after: colon)...])
            if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            if host.isEmpty { host = "127.0.0.1" }
        }
        guard let port = Int(portText), (0...65_535).contains(port) else {
            throw SluiceError.invalid("--listen \(address) is not HOST:PORT", hint: "e.g. --listen 127.0.0.1:8080")
        }
        self.host = host
        self.port = port
    }
}

/// The console's users: a name per token. Loaded from a file (`--token-file`) or the environment
/// (`SLUICE_CONSOLE_TOKEN`); never printed.
public struct ConsoleTokens: Sendable {
    /// SHA-256 of each token → the user's name; the tokens themselves are not kept.
    private var users: [(digest: [UInt8], name: String)] = []

    public init() {}

    public var isEmpty: Bool { users.isEmpty }

    /// Each line of `text` is `TOKEN` (user `operator`) or `NAME:TOKEN`; empty lines and `#` comments
    /// are skipped. Tokens shorter than 16 characters are refused.
    public init(text: String, source: String) throws {
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") { continue }
            var name = "operator", token = line
            if let colon = line.firstIndex(of: ":") {
                name = String(line[..<colon]).trimmingCharacters(in: .whitespaces)
                token = String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces)
            }
            guard token.count >= 16, !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.@".contains($0) }) else {
                throw SluiceError.invalid("\(source) line \(n + 1): a token must have at least 16 characters, and a user name only letters, digits and -_.@",
                                          hint: "write TOKEN or NAME:TOKEN, e.g. a token from `openssl rand -hex 24`")
            }
            users.append((Array(SHA256.hash(data: Data(token.utf8))), name))
        }
        guard !users.isEmpty else {
            throw SluiceError.invalid("\(source) holds no token", hint: "write one token per line: TOKEN or NAME:TOKEN")
        }
    }

    /// The tokens of `--token-file`, else of `SLUICE_CONSOLE_TOKEN`; none when neither is given.
    public static func load(file: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ConsoleTokens {
        if let file {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw SluiceError.invalid("cannot read the token file \(file)", hint: "check the path and its permissions")
            }
            return try ConsoleTokens(text: String(decoding: data, as: UTF8.self), source: file)
        }
        if let env = environment["SLUICE_CONSOLE_TOKEN"], !env.isEmpty {
            return try ConsoleTokens(text: env, source: "SLUICE_CONSOLE_TOKEN")
        }
        return ConsoleTokens()
    }

    /// The user whose token this is, comparing digests in constant time.
    func user(token: String) -> String? {
        let digest = Array(SHA256.hash(data: Data(token.utf8)))
        var found: String?
        for u in users where Self.equal(u.digest, digest) { found = u.name }
        return found
    }

    static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for i in a.indices { diff |= a[i] ^ b[i] }
        return diff == 0
    }
}

/// Random identifiers for sessions and CSRF tokens.
enum Random {
    static func token(bytes: Int = 24) -> String {
        var g = SystemRandomNumberGenerator()
        return (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &g)) }.joined()
    }
}
