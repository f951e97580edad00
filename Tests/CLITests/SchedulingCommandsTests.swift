import Foundation
import SluiceTestSupport
import Testing

/// `sluice params` and `sluice schedule preview`, run as a user would.
@Suite struct SchedulingCommandsTests {
    static let hourlyJob = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/events_hourly.yaml").path

    @Test func expressionsPrintOneValuePerLine() async throws {
        let r = try await SluiceBinary.run(["params", "--at", "2022-11-22 10:05:00", "--tz", "Asia/Shanghai",
                                       "$[yyyymmddhh24-1/24]0000", "$[yyyymmddhh24]0000", "$[yyyymmddhh24]",
                                       "${yyyymmdd}", "$[add_months(yyyymmdd,-1)]000000"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "20221122090000\n20221122100000\n2022112210\n20221121\n20221022000000\n")
    }

    @Test func bizdateAndBackfill() async throws {
        let plain = try await SluiceBinary.run(["params", "--at", "2025-03-15 00:00", "--tz", "UTC", "--bizdate", "20250301",
                                           "${yyyymmdd}", "$[yyyymmddhh24miss]"])
        #expect(plain.stdout == "20250301\n20250315000000\n", "\(plain.stderr)")
        let backfill = try await SluiceBinary.run(["params", "--tz", "UTC", "--bizdate", "20250315", "--backfill",
                                              "${yyyymmdd}", "$[yyyymmddhh24miss]"])
        #expect(backfill.stdout == "20250315\n20250316000000\n", "\(backfill.stderr)")
    }

    @Test func invalidExpressionExitsTwoWithACaret() async throws {
        let r = try await SluiceBinary.run(["params", "--at", "2022-11-22 10:05:00", "${yyyy-mm-dd-1/24}"])
        #expect(r.status == 2)
        #expect(r.stderr.contains("column 15"))
        #expect(r.stderr.contains("    ${yyyy-mm-dd-1/24}\n" + String(repeating: " ", count: 4 + 14) + "^"))
        let zone = try await SluiceBinary.run(["params", "--at", "2022-11-22 10:05:00", "--tz", "Nowhere/City", "$bizdate"])
        #expect(zone.status == 2)
        #expect(zone.stderr.contains("Nowhere/City"))
    }

    @Test func jobParametersWindowAndPartition() async throws {
        let r = try await SluiceBinary.run(["params", Self.hourlyJob, "--at", "2022-11-22 10:05:00"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == """
            startTime=20221122090000
            endTime=20221122100000
            partition=2022112210
            window.begin=2022-11-22T09:00:00+08:00
            window.end=2022-11-22T10:00:00+08:00
            destination.partition=ds=2022112210

            """)
    }

    @Test func schedulePreviewListsADay() async throws {
        let r = try await SluiceBinary.run(["schedule", "preview", Self.hourlyJob,
                                       "--from", "2022-11-22 00:00", "--to", "2022-11-23 00:00"])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n")
        #expect(lines.count == 24)
        #expect(lines.first == "2022-11-22T00:15:00+08:00 bizdate=20221121 startTime=20221121230000 endTime=20221122000000 partition=2022112200")
        #expect(lines.last == "2022-11-22T23:15:00+08:00 bizdate=20221121 startTime=20221122220000 endTime=20221122230000 partition=2022112223")
    }

    @Test func helpHasExamples() async throws {
        for command in [["params"], ["schedule", "preview"]] {
            let r = try await SluiceBinary.run(command + ["--help"])
            #expect(r.status == 0)
            #expect(r.stdout.contains("sluice " + command.joined(separator: " ")))
        }
    }
}
