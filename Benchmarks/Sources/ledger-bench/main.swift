// The ledger's cost per instance, on SQLite and on PostgreSQL: what a scheduler and its run record for
// one instance (create, claim, start, store the plan, prepare the commit, finish, release the claim),
// first from one client, then from three clients at once racing for the same instances (three
// schedulers on one ledger: each instance is claimed by one of them).
//
//   ledger-bench --state-dir DIR [--postgres URL] [--instances N]
import Foundation
import SluiceCore
import SluiceLedger
import SluicePostgres

struct Options {
    var stateDirectory = ""
    var postgres: String?
    var instances = 2000

    init(_ args: [String]) {
        var i = 1
        while i < args.count {
            let value = i + 1 < args.count ? args[i + 1] : ""
            switch args[i] {
            case "--state-dir": stateDirectory = value
            case "--postgres": postgres = value
            case "--instances": instances = Int(value) ?? instances
            default: FileHandle.standardError.write(Data("unknown argument \(args[i])\n".utf8)); exit(2)
            }
            i += 2
        }
        if stateDirectory.isEmpty { FileHandle.standardError.write(Data("--state-dir is required\n".utf8)); exit(2) }
    }
}

/// The ledger calls of one instance, as the scheduler and `sluice run` make them; false when another
/// client claimed it first.
func lifecycle(_ ledger: any Ledger, job: String, at t: Int64, by scheduler: String) async throws -> Bool {
    let at = Date(timeIntervalSince1970: Double(t))
    let r = try await ledger.ensureInstance(NewInstance(job: job, scheduledAt: at, partition: "ds=\(t)"))
    guard let attempt = try await ledger.claimAttempt(id: r.id, by: scheduler, leaseUntil: Date().addingTimeInterval(60)) else {
        return false
    }
    let started = try await ledger.startAttempt(NewInstance(job: job, scheduledAt: at, partition: "ds=\(t)"), number: attempt)
    let plan = InstancePlan(job: job, scheduledTime: t, businessDate: "20221121", parameters: [:], partition: "ds=\(t)",
                            windowMode: .offsets,
                            window: WindowPlan(topic: "events", startMillis: t * 1000 - 60_000, endMillis: t * 1000,
                                               plannedAtMillis: t * 1000, topicPartitionCount: 3,
                                               partitions: (0..<3).map { PartitionPlan(partition: $0, fromOffset: 0, toOffset: 100, lowWatermark: 0, highWatermark: 100) }))
    try await ledger.storePlan(id: started.id, plan: plan)
    let counts = InstanceCounts(read: 300, written: 300)
    try await ledger.prepareCommit(CommitRecord(instanceId: started.id, attempt: attempt, mode: .overwrite, destination: "sqlite:t",
                                                partition: "ds=\(t)", token: nil, counts: counts, readEnds: [0: 100, 1: 100, 2: 100]))
    try await ledger.finishCommitted(id: started.id, attempt: attempt, counts: counts, readEnds: [0: 100, 1: 100, 2: 100])
    try await ledger.releaseClaim(id: started.id)
    return true
}

/// Runs `instances` lifecycles from `clients` clients (each its own ledger connection) over the
/// same instances; returns (seconds, instances run).
func measure(_ location: LedgerLocation, clients: Int, instances: Int, job: String) async throws -> (Double, Int) {
    var ledgers: [any Ledger] = []
    for _ in 0..<clients { ledgers.append(try await Ledgers.open(location)) }
    let start = ContinuousClock.now
    let ran = try await withThrowingTaskGroup(of: Int.self) { group in
        for (n, ledger) in ledgers.enumerated() {
            group.addTask {
                var mine = 0
                for i in 0..<instances where try await lifecycle(ledger, job: job, at: 1_669_075_200 + Int64(i) * 60, by: "s\(n)") {
                    mine += 1
                }
                return mine
            }
        }
        return try await group.reduce(0, +)
    }
    let seconds = start.duration(to: .now)
    for l in ledgers { await l.close() }
    return (Double(seconds.components.seconds) + Double(seconds.components.attoseconds) / 1e18, ran)
}

let options = Options(CommandLine.arguments)
var stores: [(String, LedgerLocation)] = [("sqlite", .stateDirectory(options.stateDirectory))]
if let url = options.postgres { stores.append(("postgresql", .postgres(try PostgresURL(parsing: url)))) }
print("ledger cost per instance: create, claim, start, plan, prepare commit, finish, release (\(options.instances) instances)")
print("store        clients  instances/s  ms/instance")
var perInstance: [String: Double] = [:]
for (name, location) in stores {
    for clients in [1, 3] {
        let (seconds, ran) = try await measure(location, clients: clients, instances: options.instances, job: "bench\(clients)")
        guard ran == options.instances else {
            print("error: \(name) with \(clients) clients ran \(ran) of \(options.instances) instances (each must run once)")
            exit(1)
        }
        let ms = seconds * 1000 / Double(ran)
        perInstance["\(name)/\(clients)"] = ms
        print(String(format: "%-12@ %7d  %11.0f  %11.2f", name, clients, Double(ran) / seconds, ms))
    }
}
if let pg = perInstance["postgresql/1"], let lite = perInstance["sqlite/1"] {
    print(String(format: "postgresql / sqlite, one client: %.2fx the time per instance", pg / lite))
}
