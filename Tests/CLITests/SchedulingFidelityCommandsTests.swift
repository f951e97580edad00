import Foundation
import SluiceTestSupport
import Testing

/// The DataWorks-fidelity rules of `sluice params`, `schedule preview`, `validate` and `instance
/// rerun`, run as a user would.
@Suite struct SchedulingFidelityCommandsTests {
    static let hourlyJob = SchedulingCommandsTests.hourlyJob

    func write(_ dir: TemporaryDirectory, _ schedule: String) throws -> String {
        let path = dir.file("job.yaml")
        try """
        name: la_job
        source: { bootstrapServers: "127.0.0.1:9", topic: t, timeZone: America/Los_Angeles, begin: { time: "${startTime}" }, end: { time: "${endTime}" } }
        columns: [__value__]
        destination: { path: w.db, table: t, partition: "ds=${partition}", columns: [v] }
        schedule:
        \(schedule.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func expressionsUseTheParamDefinitions() async throws {
        let r = try await SluiceBinary.run(["params", "--at", "2022-11-22 10:05:00", "--tz", "Asia/Shanghai",
                                            "--param", "x=$[hh24]", "--param", "y=${x}30", "${x}00", "ds=${y}"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "1000\nds=1030\n")
        let unknown = try await SluiceBinary.run(["params", "--at", "2022-11-22 10:05:00", "--param", "x=1", "${z}"])
        #expect(unknown.status == 2 && unknown.stderr.contains("unknown parameter `z`"))
    }

    @Test func jobIdentitiesNeedAJob() async throws {
        for builtin in ["$jobid", "$nodeid", "$taskid"] {
            let r = try await SluiceBinary.run(["params", "--at", "2022-11-22 10:05:00", "p_" + builtin])
            #expect(r.status == 2, "\(builtin)")
            #expect(r.stdout.isEmpty)
            #expect(r.stderr.contains("`\(builtin)` names a job's instance") && r.stderr.contains("sluice params JOB"), "\(r.stderr)")
        }
        let viaParam = try await SluiceBinary.run(["params", "--at", "2022-11-22 10:05:00", "--param", "id=$jobid", "${id}"])
        #expect(viaParam.status == 2)
        let withJob = try await SluiceBinary.run(["params", Self.hourlyJob, "--at", "2022-11-22 10:05:00",
                                                  "--param", "job=$jobid", "--param", "task=$taskid"])
        #expect(withJob.status == 0, "\(withJob.stderr)")
        #expect(withJob.stdout.contains("job=events_hourly\n") && withJob.stdout.contains("task=events_hourly.20221122100500\n"))
    }

    @Test func aDateOutsideTheYearsOneToNineThousandIsAnError() async throws {
        let r = try await SluiceBinary.run(["params", "--at", "2025-07-15 12:05:00", "--tz", "UTC", "$[yyyymmdd-1000000]"])
        #expect(r.status == 2)
        #expect(r.stdout.isEmpty)
        #expect(r.stderr.contains("`$[yyyymmdd-1000000]` gives a date in the year -713") && r.stderr.contains("0001 to 9999"), "\(r.stderr)")
        let ahead = try await SluiceBinary.run(["params", "--at", "2025-07-15 12:05:00", "--tz", "UTC", "${yyyy+8000}"])
        #expect(ahead.status == 2 && ahead.stderr.contains("year 10025"))
        // In a job, the error names the parameter.
        let job = try await SluiceBinary.run(["params", Self.hourlyJob, "--at", "2022-11-22 10:05:00",
                                              "--param", "startTime=$[yyyymmddhh24-1000000]0000"])
        #expect(job.status == 2 && job.stderr.contains("parameter startTime"), "\(job.stderr)")
        let fine = try await SluiceBinary.run(["params", "--at", "2025-07-15 12:05:00", "--tz", "UTC", "$[yyyymmdd-700000]"])
        #expect(fine.status == 0 && fine.stdout == "01090101\n", "\(fine.stderr)")
    }

    @Test func previewShowsTheSpringForwardDryRun() async throws {
        let dir = try TemporaryDirectory()
        let job = try write(dir, """
            cycle: day
            start: "02:30"
            parameters: { startTime: "${yyyymmdd}000000", endTime: "$[yyyymmdd]000000", partition: "$[yyyymmddhh24mi]" }
            """)
        let r = try await SluiceBinary.run(["schedule", "preview", job, "--from", "2025-03-08 00:00", "--to", "2025-03-11 00:00"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == """
            2025-03-08T02:30:00-08:00 bizdate=20250307 startTime=20250307000000 endTime=20250308000000 partition=202503080230
            2025-03-09T03:30:00-07:00 bizdate=20250308 dry-run startTime=20250308000000 endTime=20250309000000 partition=202503090330
            2025-03-10T02:30:00-07:00 bizdate=20250309 startTime=20250309000000 endTime=20250310000000 partition=202503100230

            """)
        let params = try await SluiceBinary.run(["params", job, "--at", "2025-03-09 02:30"])
        #expect(params.stdout.contains("partition=202503090330\n"), "\(params.stderr)")
    }

    @Test func validateChecksIntervalsInTheirUnit() async throws {
        let dir = try TemporaryDirectory()
        let minutes = try write(dir, "cycle: minute\ninterval: 90\nparameters: { startTime: \"$[yyyymmddhh24mi-90/24/60]00\", endTime: \"$[yyyymmddhh24mi]00\", partition: \"$[yyyymmddhh24mi]\" }")
        let r = try await SluiceBinary.run(["validate", minutes])
        #expect(r.status == 2)
        #expect(r.stderr.contains("job.yaml:schedule.interval: 90 minutes is not an interval of a minute cycle, which takes 1–59 minutes"), "\(r.stderr)")
        let hours = try write(dir, "cycle: hour\ninterval: 25\nparameters: { startTime: \"$[yyyymmddhh24-1/24]0000\", endTime: \"$[yyyymmddhh24]0000\", partition: \"$[yyyymmddhh24]\" }")
        let h = try await SluiceBinary.run(["validate", hours])
        #expect(h.status == 2)
        #expect(h.stderr.contains("job.yaml:schedule.interval: 25 hours is not an interval of an hour cycle, which takes 1–23 hours"), "\(h.stderr)")
        let preview = try await SluiceBinary.run(["schedule", "preview", hours, "--from", "2025-01-01 00:00", "--to", "2025-01-02 00:00"])
        #expect(preview.status == 2 && preview.stderr.contains("schedule.interval"))
    }

    @Test func rerunHasReplan() async throws {
        let r = try await SluiceBinary.run(["instance", "rerun", "--help"])
        #expect(r.status == 0)
        #expect(r.stdout.contains("--replan"))
    }
}
