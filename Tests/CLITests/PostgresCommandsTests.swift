import Foundation
import SluiceTestSupport
import Testing

/// A job whose destination is PostgreSQL, through the commands that need no server: `ddl` prints the
/// PostgreSQL table, `validate` and `show` keep a password in the URL out of sight.
@Suite struct PostgresCommandsTests {
    func job(_ dir: TemporaryDirectory, url: String) throws -> String {
        let path = dir.path + "/events.yaml"
        try """
        name: events_hourly
        source: { bootstrapServers: 127.0.0.1:9092, topic: events }
        columns: [__key__, __value__, __timestamp__, amount]
        destination:
          type: postgresql
          url: \(url)
          table: analytics.ods_events
          partition: "ds=${day},hh=${hour}"
          columns: [k, payload, ts, amount]
          columnTypes: { payload: JSON, ts: DATETIME, amount: "DECIMAL(18,2)" }
        schedule:
          cycle: hour
          parameters: { startTime: "$[yyyymmddhh24-1/24]0000", endTime: "$[yyyymmddhh24]0000", day: "$[yyyymmdd]", hour: "$[hh24]" }
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func ddlPrintsThePostgresTable() async throws {
        let dir = try TemporaryDirectory()
        let r = try await SluiceBinary.run(["ddl", try job(dir, url: "postgresql://etl@db.internal/warehouse")])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == """
            CREATE TABLE IF NOT EXISTS "analytics"."ods_events" (
              "k" text,
              "payload" jsonb,
              "ts" timestamp(3) with time zone,
              "amount" numeric(18,2),
              "ds" text NOT NULL,
              "hh" text NOT NULL
            );
            CREATE INDEX IF NOT EXISTS "sluice_partition__ods_events" ON "analytics"."ods_events" ("ds", "hh");

            """)
        let lite = try await SluiceBinary.run(["ddl", try job(dir, url: "postgresql://etl@db.internal/warehouse"), "--dialect", "sqlite"])
        #expect(lite.stdout.contains("\"payload\" TEXT,"), "\(lite.stdout)")
    }

    @Test func aPasswordInTheURLIsAWarningAndNeverShown() async throws {
        let dir = try TemporaryDirectory()
        let path = try job(dir, url: "postgresql://etl:hunter2@db.internal/warehouse")
        let validated = try await SluiceBinary.run(["validate", path])
        #expect(validated.status == 0 && validated.stderr.contains("destination.url: warning: a password in the job file's URL"),
                "\(validated.stdout)\(validated.stderr)")
        let shown = try await SluiceBinary.run(["show", path])
        #expect(shown.status == 0 && shown.stdout.contains("url: postgresql://etl:******@db.internal/warehouse"), "\(shown.stdout)")
        #expect(!(validated.stdout + validated.stderr + shown.stdout + shown.stderr).contains("hunter2"))
    }
}
