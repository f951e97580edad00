import Foundation
import SluiceCore
import SluiceLedger
import SluiceRuntime
import Testing
import SluiceTestSupport

/// Every failure after the job is loaded and the instance resolved is a failed attempt in the
/// ledger, with its error: the console, the metrics and alerts see it.
@Suite struct FailureRecordedTests {
    static func job(_ dir: String, servers: String, kafkaConfig: String = "") throws -> String {
        let path = (dir as NSString).appendingPathComponent("unreachable.yaml")
        try """
        name: unreachable
        source:
          bootstrapServers: \(servers)
          topic: events
          timeZone: UTC\(kafkaConfig)
        columns: [__key__]
        destination:
          path: warehouse.db
          table: t
          partition: "ds=${partition}"
          columns: [k]
        \(hourlyScheduleYAML(partitionOfPreviousHour: false))

        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// `sluice run` against a broker nobody listens on: exit 1, and a failed instance with the error.
    @Test func aRunThatCannotReachKafkaIsAFailedInstance() async throws {
        let dir = try TemporaryDirectory(prefix: "sluice-unreachable")
        let job = try Self.job(dir.path, servers: "127.0.0.1:1")
        let run = try await SluiceBinary.run(["run", job, "--at", "2022-11-22 10:05", "--create-table"], timeout: .seconds(120))
        #expect(run.status == 1, "\(run.stderr)")
        let list = try await SluiceBinary.run(["instance", "list", job, "--json"])
        #expect(list.status == 0, "\(list.stderr)")
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let rows = try decoder.decode([InstanceListRow].self, from: Data(list.stdout.utf8))
        #expect(rows.count == 1)
        let r = try #require(rows.first?.instance)
        #expect(r.status == .failed && r.attempts == 1 && r.partition == "ds=2022112210")
        #expect(r.error?.isEmpty == false)
        let ledger = try await Ledgers.open(.stateDirectory(dir.path + "/.sluice"))
        let attempts = try await ledger.attempts(id: r.id)
        #expect(attempts.count == 1 && attempts[0].status == .failed && attempts[0].error == r.error)
        await ledger.close()
    }

    /// A Kafka client that cannot even be set up (its password file is missing) fails before the
    /// attempt would start: it is recorded all the same.
    @Test func aSourceThatCannotBeSetUpIsAFailedAttempt() async throws {
        let dir = try TemporaryDirectory(prefix: "sluice-unreachable")
        let job = try Self.job(dir.path, servers: "127.0.0.1:1", kafkaConfig: """

          kafkaConfig: { security.protocol: SASL_PLAINTEXT, sasl.mechanism: PLAIN, sasl.username: u, sasl.password: "${file:missing-password.txt}" }
        """)
        var options = RunOptions()
        options.scheduledTime = 1_669_111_500
        options.showProgress = false
        await #expect(throws: RunFailure.self) { try await InstanceRunner(job: try JobFiles.load(path: job), options: options).run() }
        let ledger = try await Ledgers.open(.stateDirectory(dir.path + "/.sluice"))
        let failed = try await ledger.instances()
        #expect(failed.count == 1 && failed.first?.status == .failed && failed.first?.attempts == 1)
        #expect(failed.first?.error?.contains("missing-password.txt") == true)
        await ledger.close()
    }
}
