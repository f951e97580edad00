import Foundation
import Testing
@testable import SluiceCore
@testable import SluiceJob
@testable import SluiceScheduling

/// `type: sql` job files: what they hold, how they resolve per instance, their errors, and the
/// round trip through `sluice show`'s YAML.
@Suite struct SQLNodeJobTests {
    static let node = """
        name: events_daily_summary
        type: sql
        target: { type: sqlite, path: warehouse.db }
        sql: |
          DELETE FROM events_daily WHERE ds = '${bizdate}';
          -- one row per user; a ';' in a comment or 'a;string' does not split
          INSERT INTO events_daily SELECT user, COUNT(*), '${bizdate}' FROM ods_events
          WHERE ds LIKE '${bizdate}%' AND note <> 'a;b' GROUP BY user;
        schedule:
          cycle: day
          start: "00:30"
          timeZone: Asia/Shanghai
          dependsOn: [events_hourly]
          parameters: { bizdate: "$[yyyymmdd-1]" }
        """

    @Test func anSQLNodeLoadsWithItsTargetStatementsAndSchedule() throws {
        let job = try JobLoaderTests.load(yaml: Self.node)
        #expect(job.spec.name == "events_daily_summary")
        #expect(job.spec.destination.kind == .sqlite(path: "warehouse.db"))
        let statements = try #require(job.spec.sqlStatements)
        #expect(statements.count == 2)
        #expect(statements[0] == "DELETE FROM events_daily WHERE ds = '${bizdate}'")
        #expect(statements[1].hasPrefix("-- one row per user"))
        #expect(statements[1].hasSuffix("GROUP BY user"))
        #expect(job.spec.schedule?.dependsOn == ["events_hourly"])
        #expect(job.spec.schedule?.cycle == .day)
    }

    @Test func statementsResolveTheInstancesParameters() throws {
        let job = try JobLoaderTests.load(yaml: Self.node)
        let compiled = try CompiledJobParameters(job: job.spec, zone: SchedulingZone.forJob(job.spec, fallback: .utc))
        let context = EvaluationContext(scheduledLocal: try WallTime.parseDisplay("2022-11-23 00:30"), zone: compiled.zone)
        let resolved = try compiled.resolve(context)
        #expect(resolved.statements?[0] == "DELETE FROM events_daily WHERE ds = '20221122'")
        #expect(resolved.statements?[1].contains("WHERE ds LIKE '20221122%'") == true)
    }

    @Test func aListOfStatementsIsAcceptedToo() throws {
        let job = try JobLoaderTests.load(yaml: """
            name: n
            type: sql
            target: { type: postgresql, url: "postgresql://sluice@db:5432/warehouse" }
            sql:
              - "UPDATE a SET b = 1"
              - "DELETE FROM c; DELETE FROM d"
            """)
        #expect(job.spec.sqlStatements == ["UPDATE a SET b = 1", "DELETE FROM c", "DELETE FROM d"])
    }

    @Test func mistakesAreNamedByTheirPath() {
        let missing = JobLoaderTests.errors(yaml: "name: n\ntype: sql\n")
        #expect(missing.contains { $0.message.contains("missing `target`") })
        #expect(missing.contains { $0.message.contains("missing `sql`") })

        let discard = JobLoaderTests.errors(yaml: "name: n\ntype: sql\ntarget: { type: discard }\nsql: SELECT 1\n")
        #expect(discard.contains { $0.path == "target.type" && $0.message.contains("runs on a database") })

        let transaction = JobLoaderTests.errors(yaml: "name: n\ntype: sql\ntarget: { type: sqlite, path: w.db }\nsql: \"BEGIN; UPDATE a SET b = 1; COMMIT\"\n")
        #expect(transaction.count == 2)
        #expect(transaction.allSatisfy { $0.path == "sql" && $0.message.contains("controls the transaction") })

        let empty = JobLoaderTests.errors(yaml: "name: n\ntype: sql\ntarget: { type: sqlite, path: w.db }\nsql: \" ; -- nothing\"\n")
        #expect(empty.contains { $0.path == "sql" && $0.message.contains("no statement") })

        let unknownParameter = JobLoaderTests.errors(yaml: "name: n\ntype: sql\ntarget: { type: sqlite, path: w.db }\nsql: \"DELETE FROM a WHERE ds = '${nope}'\"\n")
        #expect(unknownParameter.contains { $0.path == "sql" && $0.message.contains("nope") })

        let sourceKey = JobLoaderTests.errors(yaml: "name: n\ntype: sql\ntarget: { type: sqlite, path: w.db }\nsql: SELECT 1\nsource: {}\n")
        #expect(sourceKey.contains { $0.message.contains("source") })

        let unknownType = JobLoaderTests.errors(yaml: "name: n\ntype: shell\n")
        #expect(unknownType.contains { $0.path == "type" })
    }

    @Test func showPrintsYAMLThatLoadsIntoTheSameNode() throws {
        let job = try JobLoaderTests.load(yaml: Self.node)
        let text = JobEmitter.yaml(job.spec, secrets: .redact).text
        #expect(text.contains("type: sql"))
        let again = try JobLoaderTests.load(yaml: text)
        #expect(again.spec == job.spec)
    }
}
