import Foundation
import Testing
@testable import SluiceCore
@testable import SluiceScheduling

/// DataWorks' page "Impacts exerted by the switching of daylight saving time on the running of
/// nodes", rule by rule, in America/Los_Angeles (the page's UTC-8 region): clocks jump from 02:00 to
/// 03:00 on 2025-03-09 and fall back from 02:00 to 01:00 on 2025-11-02.
@Suite struct DaylightSavingRulesTests {
    let la = try! SchedulingZone.named("America/Los_Angeles")

    func utc(_ iso: String) -> Int64 {
        Int64(ISO8601DateFormatter().date(from: iso)!.timeIntervalSince1970)
    }

    func day(_ date: String, _ schedule: ScheduleSpec) throws -> [ScheduledInstance] {
        let calendar = try InstanceCalendar(schedule, zone: la)
        let d = try WallTime.parseDate(date)
        return calendar.instances(from: la.instant(for: CivilDateTime(date: d, secondOfDay: 0)),
                                  to: la.instant(for: CivilDateTime(date: d.adding(days: 1), secondOfDay: 0)))
    }

    func value(_ expression: String, _ instance: ScheduledInstance) throws -> String {
        try ParameterExpression(expression).evaluate(instance.context(zone: la))
    }

    @Test func springForwardHourAndMinuteCyclesHaveNoInstanceInTheSkippedHour() throws {
        let hourly = try day("2025-03-09", ScheduleSpec(cycle: .hour, start: "00:00", interval: 1, end: "23:59"))
        #expect(hourly.count == 23)
        #expect(!hourly.contains { $0.scheduledLocal.hour == 2 })
        #expect(hourly.allSatisfy { !$0.isDryRun })
        // Every instance after the gap comes an hour earlier in the day's order: the one at index 4
        // is 04:00 on other days and 05:00 on this one.
        let normal = try day("2025-03-10", ScheduleSpec(cycle: .hour, start: "00:00", interval: 1, end: "23:59"))
        #expect(normal[4].scheduledLocal.hour == 4 && hourly[4].scheduledLocal.hour == 5)
        let minutes = try day("2025-03-09", ScheduleSpec(cycle: .minute, start: "00:00", interval: 30, end: "23:59"))
        #expect(minutes.count == 46 && !minutes.contains { $0.scheduledLocal.hour == 2 })
        // A single time point in the gap makes no instance either: it is an hour cycle.
        #expect(try day("2025-03-09", ScheduleSpec(cycle: .hour, timePoints: ["02:00"])).isEmpty)
    }

    @Test func springForwardDayInstanceInTheSkippedHourIsDelayedAnHourAndRunsDry() throws {
        let daily = try day("2025-03-09", ScheduleSpec(cycle: .day, start: "02:30"))
        let instance = try #require(daily.first)
        #expect(daily.count == 1)
        #expect(instance.scheduledTime == utc("2025-03-09T10:30:00Z"))  // 03:30 PDT
        #expect(instance.scheduledLocal.description == "2025-03-09 03:30:00")
        #expect(instance.dryRunReason == .skippedByDaylightSaving(named: try WallTime.parseDisplay("2025-03-09 02:30")))
        #expect(instance.businessDate.compact == "20250308")
        #expect(try value("$cyctime", instance) == "20250309033000")
        #expect(instance.dryRunNote(cycle: .day)?.contains("delayed to 2025-03-09 03:30:00") == true)
        // Outside the skipped hour the day runs normally, on the same day and the day after.
        let early = try #require(try day("2025-03-09", ScheduleSpec(cycle: .day, start: "01:59")).first)
        #expect(!early.isDryRun && early.scheduledTime == utc("2025-03-09T09:59:00Z"))
        let next = try #require(try day("2025-03-10", ScheduleSpec(cycle: .day, start: "02:30")).first)
        #expect(!next.isDryRun && next.scheduledLocal.description == "2025-03-10 02:30:00")
    }

    @Test func springForwardWeekAndMonthInstancesInTheSkippedHourRunDryToo() throws {
        // 2025-03-09 is a Sunday and the 9th.
        let weekly = try #require(try day("2025-03-09", ScheduleSpec(cycle: .week, start: "02:00", weekdays: [7])).first)
        #expect(weekly.isDryRun && weekly.scheduledLocal.description == "2025-03-09 03:00:00")
        let monthly = try #require(try day("2025-03-09", ScheduleSpec(cycle: .month, start: "02:15", monthDays: [.day(9)])).first)
        #expect(monthly.isDryRun && monthly.scheduledLocal.description == "2025-03-09 03:15:00")
        // An unselected day's dry run in the gap is delayed as well, and keeps its reason.
        let other = try #require(try day("2025-03-09", ScheduleSpec(cycle: .week, start: "02:00", weekdays: [1])).first)
        #expect(other.dryRunReason == .unselectedDay && other.scheduledLocal.description == "2025-03-09 03:00:00")
    }

    @Test func springForwardParametersMoveTheInstant() throws {
        let hourly = try day("2025-03-09", ScheduleSpec(cycle: .hour, start: "00:00", interval: 1, end: "23:59"))
        let three = try #require(hourly.first { $0.scheduledLocal.hour == 3 })
        // $[hh24-1/24] of the 03:00 instance: 02 on other days, 01 on this one.
        #expect(try value("$[hh24-1/24]", three) == "01")
        // Ten minutes before 03:00 is 01:50.
        #expect(try value("$[hh24:mi-10/24/60]", three) == "01:50")
        // A day instance scheduled at 02:00: $[hh24-1/24] is 01, as on other days, and it runs dry.
        let daily = try #require(try day("2025-03-09", ScheduleSpec(cycle: .day, start: "02:00")).first)
        #expect(daily.isDryRun)
        #expect(try value("$[hh24-1/24]", daily) == "01")
    }

    @Test func fallBackKeepsTheSecondOccurrenceOfTheRepeatedHour() throws {
        let hourly = try day("2025-11-02", ScheduleSpec(cycle: .hour, start: "00:00", interval: 1, end: "23:59"))
        #expect(hourly.count == 24)
        let one = hourly.filter { $0.scheduledLocal.hour == 1 }
        #expect(one.map(\.scheduledTime) == [utc("2025-11-02T09:00:00Z")])  // 01:00 PST, not 01:00 PDT
        let minutes = try day("2025-11-02", ScheduleSpec(cycle: .minute, start: "00:00", interval: 15, end: "23:59"))
        #expect(minutes.count == 96)
        #expect(minutes.filter { $0.scheduledLocal.hour == 1 }.allSatisfy { $0.scheduledTime >= utc("2025-11-02T09:00:00Z") })
        // The page gives day cycles no rule of their own; Sluice places them by the same one.
        let daily = try #require(try day("2025-11-02", ScheduleSpec(cycle: .day, start: "01:30")).first)
        #expect(daily.scheduledTime == utc("2025-11-02T09:30:00Z") && !daily.isDryRun)
    }

    @Test func fallBackParametersMoveTheInstant() throws {
        let hourly = try day("2025-11-02", ScheduleSpec(cycle: .hour, start: "00:00", interval: 1, end: "23:59"))
        let one = try #require(hourly.first { $0.scheduledLocal.hour == 1 })
        // Ten minutes before the second 01:00 is 01:50 (of the first occurrence).
        #expect(try value("$[hh24:mi-10/24/60]", one) == "01:50")
        // Two hours before 02:00 is 01 on this day (00 on other days).
        let two = try #require(hourly.first { $0.scheduledLocal.hour == 2 })
        #expect(try value("$[hh24-2/24]", two) == "01")
        let normal = try day("2025-11-03", ScheduleSpec(cycle: .hour, start: "00:00", interval: 1, end: "23:59"))
        #expect(try value("$[hh24-2/24]", normal[2]) == "00")
    }

    @Test func onlyZonesWithDaylightSavingAreAffected() throws {
        let shanghai = try SchedulingZone.named("Asia/Shanghai")
        let calendar = try InstanceCalendar(ScheduleSpec(cycle: .day, start: "02:30"), zone: shanghai)
        let list = calendar.instances(from: shanghai.instant(for: try WallTime.parseDisplay("2025-03-01 00:00")),
                                      to: shanghai.instant(for: try WallTime.parseDisplay("2025-12-01 00:00")))
        #expect(list.count == 275 && list.allSatisfy { !$0.isDryRun && $0.scheduledLocal.secondOfDay == 9000 })
    }

    @Test func backfillAndAScheduledTimeGivenByHandArePlacedTheSameWay() throws {
        let daily = try InstanceCalendar(ScheduleSpec(cycle: .day, start: "02:30"), zone: la)
        let backfill = daily.backfill(businessDate: try WallTime.parseDate("20250308"))
        #expect(backfill.map(\.scheduledTime) == [utc("2025-03-09T10:30:00Z")] && backfill.allSatisfy(\.isDryRun))
        // `sluice params --at` / `sluice run --at` name a wall time: the same instant as the instance.
        let byHand = EvaluationContext(scheduledLocal: try WallTime.parseDisplay("2025-03-09 02:30"), zone: la)
        #expect(byHand.scheduledTime == utc("2025-03-09T10:30:00Z"))
        let repeated = EvaluationContext(scheduledLocal: try WallTime.parseDisplay("2025-11-02 01:30"), zone: la)
        #expect(repeated.scheduledTime == utc("2025-11-02T09:30:00Z"))
        // Window bounds keep their own rule: a skipped time is the first instant after the gap, a
        // repeated one its first occurrence.
        #expect(try WallTime.instant("20250309023000", in: la) == utc("2025-03-09T10:00:00Z"))
        #expect(try WallTime.instant("20251102013000", in: la) == utc("2025-11-02T08:30:00Z"))
    }

    @Test func aHalfHourGapDelaysByHalfAnHour() throws {
        // Australia/Lord_Howe springs forward from 02:00 to 02:30 (2025-10-05).
        let zone = try SchedulingZone.named("Australia/Lord_Howe")
        let calendar = try InstanceCalendar(ScheduleSpec(cycle: .day, start: "02:15"), zone: zone)
        let d = try WallTime.parseDate("2025-10-05")
        let list = calendar.instances(from: zone.instant(for: CivilDateTime(date: d, secondOfDay: 0)),
                                      to: zone.instant(for: CivilDateTime(date: d.adding(days: 1), secondOfDay: 0)))
        #expect(list.map(\.scheduledLocal.description) == ["2025-10-05 02:45:00"] && list.allSatisfy(\.isDryRun))
    }
}
