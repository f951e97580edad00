import Foundation
import Testing
@testable import SluiceCore
@testable import SluiceScheduling
@testable import SluiceJob

/// `sluice validate`'s checks of the schedule block and of parameter references.
@Suite struct ScheduleValidationTests {
    static func job(schedule: String, windowMode: String = "offsets", zone: String = "Asia/Shanghai",
                    partition: String = "ds=${partition}") -> String {
        """
        name: j
        source: { bootstrapServers: "h:1", topic: t, timeZone: \(zone), windowMode: \(windowMode), begin: { time: "${startTime}" }, end: { time: "${endTime}" } }
        columns: [__value__]
        destination: { table: t, columns: [v], partition: "\(partition)" }
        schedule:
        \(schedule.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
        """
    }

    static let hourlyParameters = """
        parameters: { startTime: "$[yyyymmddhh24-1/24]0000", endTime: "$[yyyymmddhh24]0000", partition: "$[yyyymmddhh24]" }
        """

    func errors(_ yaml: String) -> [Diagnostic] { JobLoaderTests.errors(yaml: yaml) }

    @Test func aMinuteCycleTakesOneToFiftyNineMinutes() throws {
        let ninety = errors(Self.job(schedule: "cycle: minute\ninterval: 90\n" + Self.hourlyParameters))
        #expect(ninety.map(\.path) == ["schedule.interval"])
        #expect(ninety.first?.message.contains("90 minutes is not an interval of a minute cycle, which takes 1–59 minutes") == true)
        #expect(ninety.first?.message.contains("hour cycle") == true)
        #expect(errors(Self.job(schedule: "cycle: minute\ninterval: 60\n" + Self.hourlyParameters)).map(\.path) == ["schedule.interval"])
        #expect(errors(Self.job(schedule: "cycle: minute\ninterval: 0\n" + Self.hourlyParameters)).first?.message
            .contains("0 is not an interval of a minute cycle") == true)
        // Below DataWorks' 5 minutes, on purpose.
        let one = try JobLoaderTests.load(yaml: Self.job(schedule: "cycle: minute\ninterval: 1\n" + Self.hourlyParameters))
        #expect(one.spec.schedule?.interval == 1)
        #expect(try JobLoaderTests.load(yaml: Self.job(schedule: "cycle: minute\ninterval: 59\n" + Self.hourlyParameters))
            .spec.schedule?.interval == 59)
    }

    @Test func anHourCycleTakesOneToTwentyThreeHours() throws {
        let late = errors(Self.job(schedule: "cycle: hour\ninterval: 25\n" + Self.hourlyParameters))
        #expect(late.map(\.path) == ["schedule.interval"])
        #expect(late.first?.message.contains("25 hours is not an interval of an hour cycle, which takes 1–23 hours") == true)
        #expect(errors(Self.job(schedule: "cycle: hour\ninterval: 24\n" + Self.hourlyParameters)).map(\.path) == ["schedule.interval"])
        #expect(try JobLoaderTests.load(yaml: Self.job(schedule: "cycle: hour\ninterval: 23\n" + Self.hourlyParameters))
            .spec.schedule?.interval == 23)
        // The calendar states the same rule for a schedule built in code.
        #expect(throws: SluiceError.self) { try InstanceCalendar(ScheduleSpec(cycle: .hour, interval: 24), zone: .of(TimeZone(identifier: "UTC")!)) }
        #expect(throws: SluiceError.self) { try InstanceCalendar(ScheduleSpec(cycle: .minute, interval: 60), zone: .of(TimeZone(identifier: "UTC")!)) }
    }

    @Test func theMissingParameterHintFitsEachParameter() {
        let yaml = """
        source: { bootstrapServers: "h:1", topic: t, begin: { time: "${startTime}" }, end: { time: "${endTime}" } }
        columns: [__value__]
        destination: { table: t, columns: [v], partition: "ds=${partition}/h=${hour}" }
        """
        let messages = Dictionary(grouping: errors(yaml), by: \.path).mapValues { $0.map(\.message) }
        #expect(messages["source.begin"]?.first?.contains(#"startTime: "$[yyyymmddhh24-1/24]0000""#) == true)
        #expect(messages["source.end"]?.first?.contains(#"endTime: "$[yyyymmddhh24]0000""#) == true)
        let partition = messages["destination.partition"] ?? []
        #expect(partition.contains { $0.contains(#"partition: "$[yyyymmddhh24]""#) })
        #expect(partition.contains { $0.contains(#"hour: "$[yyyymmddhh24]""#) && $0.contains("--param hour=EXPR") })
        #expect(!(messages["source.end"] ?? []).contains { $0.contains("-1/24") })
        #expect(!partition.contains { $0.contains("-1/24") })
    }

    @Test func validateWarnsWhenFallBackLeavesRecordsToNoWindow() throws {
        let hourly = "cycle: hour\ninterval: 1\n" + Self.hourlyParameters
        let la = try JobLoaderTests.load(yaml: Self.job(schedule: hourly, zone: "America/Los_Angeles"))
        let warning = try #require(la.warnings.first { $0.path == "schedule.cycle" })
        #expect(warning.message.contains("no instance's window holds") && warning.message.contains("windowMode: contiguous"))
        // 00:00–01:00 of the first occurrence: the hour before the repeated one.
        #expect(warning.message.contains("T00:00:00-07:00 – ") && warning.message.contains("T01:00:00-07:00"))
        // Not for contiguous windows, a zone without daylight saving time, or a day cycle.
        #expect(try JobLoaderTests.load(yaml: Self.job(schedule: hourly, windowMode: "contiguous", zone: "America/Los_Angeles"))
            .warnings.isEmpty)
        #expect(try JobLoaderTests.load(yaml: Self.job(schedule: hourly, zone: "Asia/Shanghai")).warnings.isEmpty)
        let daily = """
        cycle: day
        start: "00:30"
        parameters: { startTime: "${yyyymmdd}000000", endTime: "$[yyyymmdd]000000", partition: "${yyyymmdd}" }
        """
        #expect(try JobLoaderTests.load(yaml: Self.job(schedule: daily, zone: "America/Los_Angeles")).warnings.isEmpty)
    }
}
