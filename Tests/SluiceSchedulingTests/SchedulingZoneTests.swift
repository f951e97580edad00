import Foundation
import Testing
@testable import SluiceCore
@testable import SluiceScheduling

@Suite struct SchedulingZoneTests {
    func instant(_ wall: String, _ zone: String) throws -> Int64 {
        try WallTime.instant(wall, in: try SchedulingZone.named(zone))
    }

    func utc(_ iso: String) -> Int64 {
        let f = ISO8601DateFormatter()
        return Int64(f.date(from: iso)!.timeIntervalSince1970)
    }

    @Test func newYorkSpringForwardGapMeansFirstInstantAfter() throws {
        // 2025-03-09: 02:00 EST jumps to 03:00 EDT at 07:00Z.
        #expect(try instant("20250309023000", "America/New_York") == utc("2025-03-09T07:00:00Z"))
        #expect(try instant("20250309020000", "America/New_York") == utc("2025-03-09T07:00:00Z"))
        #expect(try instant("20250309015959", "America/New_York") == utc("2025-03-09T06:59:59Z"))
        #expect(try instant("20250309030000", "America/New_York") == utc("2025-03-09T07:00:00Z"))
        #expect(try instant("2025030903", "America/New_York") == utc("2025-03-09T07:00:00Z"))
    }

    @Test func newYorkFallBackMeansFirstOccurrence() throws {
        // 2025-11-02: 02:00 EDT falls back to 01:00 EST at 06:00Z; 01:30 happens at 05:30Z and 06:30Z.
        #expect(try instant("20251102013000", "America/New_York") == utc("2025-11-02T05:30:00Z"))
        #expect(try instant("20251102010000", "America/New_York") == utc("2025-11-02T05:00:00Z"))
        #expect(try instant("20251102020000", "America/New_York") == utc("2025-11-02T07:00:00Z"))
    }

    @Test func berlinTransitions() throws {
        // 2025-03-30: 02:00 CET → 03:00 CEST at 01:00Z. 2025-10-26: 03:00 CEST → 02:00 CET at 01:00Z.
        #expect(try instant("20250330023000", "Europe/Berlin") == utc("2025-03-30T01:00:00Z"))
        #expect(try instant("20250330013000", "Europe/Berlin") == utc("2025-03-30T00:30:00Z"))
        #expect(try instant("20251026023000", "Europe/Berlin") == utc("2025-10-26T00:30:00Z"))
        #expect(try instant("20251026033000", "Europe/Berlin") == utc("2025-10-26T02:30:00Z"))
    }

    @Test func shanghaiHasNoTransitions() throws {
        let zone = try SchedulingZone.named("Asia/Shanghai")
        var t = utc("2025-01-01T00:00:00Z")
        while t < utc("2026-01-01T00:00:00Z") {
            #expect(zone.secondsFromGMT(at: t) == 8 * 3600)
            t += 3600 * 7
        }
        #expect(try instant("20250309023000", "Asia/Shanghai") == utc("2025-03-08T18:30:00Z"))
    }

    @Test func offsetsMatchFoundationAcrossZones() throws {
        for id in ["America/New_York", "Europe/Berlin", "Asia/Shanghai", "Australia/Lord_Howe", "Europe/Moscow",
                   "Asia/Kolkata", "America/Sao_Paulo", "Pacific/Apia", "UTC"] {
            let zone = try SchedulingZone.named(id)
            let tz = TimeZone(identifier: id)!
            var t: Int64 = -2_000_000_000
            while t < 4_000_000_000 {
                #expect(zone.secondsFromGMT(at: t) == tz.secondsFromGMT(for: Date(timeIntervalSince1970: Double(t))),
                        "\(id) at \(t)")
                t += 86_400 * 13 + 3_607
            }
        }
    }

    @Test func unknownZoneIsInvalidInput() {
        #expect {
            try SchedulingZone.named("Mars/Olympus")
        } throws: { ($0 as? SluiceError)?.kind == .invalidInput }
    }

    @Test func hourOffsetsMoveTheInstantDayOffsetsKeepTheWallClock() throws {
        // 03:00 EDT on the spring-forward day minus one hour is 01:00 EST.
        #expect(try evaluate("$[hh24-1/24]", at: "2025-03-09 03:00", zone: "America/New_York") == "01")
        // The day before 2025-03-10 02:30 keeps 02:30 even though that wall time does not exist.
        #expect(try evaluate("$[yyyymmddhh24mi-1]", at: "2025-03-10 02:30", zone: "America/New_York")
            == "202503090230")
        // Day then hour: 2025-03-09 02:30 is read as 03:00 EDT (after the gap), minus one hour.
        #expect(try evaluate("$[yyyymmddhh24mi-1-1/24]", at: "2025-03-10 02:30", zone: "America/New_York")
            == "202503090100")
        // Across the Berlin fall-back night 24 hours are 23 wall-clock hours.
        #expect(try evaluate("$[yyyymmddhh24-24/24]", at: "2025-10-26 12:00", zone: "Europe/Berlin") == "2025102513")
        #expect(try evaluate("$[yyyymmddhh24-1]", at: "2025-10-26 12:00", zone: "Europe/Berlin") == "2025102512")
    }

    @Test func wallTimeRejectionsHavePositions() throws {
        let cases: [(String, Int)] = [("2022112", 7), ("20221322", 4), ("20220230", 6), ("2024022924", 8),
                                      ("202201011260", 10), ("20220101000060", 12), ("2022-01-01", 4),
                                      ("202201010000001", 14)]
        for (text, offset) in cases {
            do {
                _ = try WallTime.parseCompact(parsing: text)
                Issue.record("accepted \(text)")
            } catch {
                #expect(error.offset == offset, "\(text): \(error)")
            }
        }
        #expect(throws: SluiceError.self) { try WallTime.parseEpochMillis("12a") }
        #expect(try WallTime.parseEpochMillis("1669082400000") == 1_669_082_400_000)
        #expect(try WallTime.parseDisplay("2022-11-22 10:05").description == "2022-11-22 10:05:00")
        #expect(try WallTime.parseDisplay("2022-11-22T10:05:07").description == "2022-11-22 10:05:07")
        #expect(try WallTime.parseDisplay("2022-11-22").description == "2022-11-22 00:00:00")
        do {
            _ = try WallTime.parseDisplay(parsing: "2022-11-31 10:05")
            Issue.record("accepted 2022-11-31")
        } catch {
            #expect(error.offset == 8)
        }
    }

    @Test func iso8601() throws {
        let zone = try SchedulingZone.named("Asia/Kolkata")
        #expect(zone.iso8601(0) == "1970-01-01T05:30:00+05:30")
        #expect(zone.iso8601(millis: 250) == "1970-01-01T05:30:00.250+05:30")
        #expect(try SchedulingZone.named("UTC").iso8601(86_400) == "1970-01-02T00:00:00Z")
    }
}

@Suite struct SchedulingCalendarTests {
    let shanghai = try! SchedulingZone.named("Asia/Shanghai")

    func range(_ from: String, _ to: String, _ zone: SchedulingZone) throws -> (Int64, Int64) {
        (zone.instant(for: try WallTime.parseDisplay(from)), zone.instant(for: try WallTime.parseDisplay(to)))
    }

    @Test func hourTimePointsAndClosedInterval() throws {
        let points = try InstanceCalendar(ScheduleSpec(cycle: .hour, timePoints: ["03:00", "00:00"]), zone: shanghai)
        let (from, to) = try range("2022-11-22 00:00", "2022-11-23 00:00", shanghai)
        #expect(points.instances(from: from, to: to).map(\.scheduledLocal.hour) == [0, 3])
        // [00:00, 03:00] every hour = 4 instances.
        let closed = try InstanceCalendar(ScheduleSpec(cycle: .hour, start: "00:00", interval: 1, end: "03:00"), zone: shanghai)
        #expect(closed.instances(from: from, to: to).count == 4)
        let everyThree = try InstanceCalendar(ScheduleSpec(cycle: .hour, start: "01:30", interval: 3, end: "23:59"), zone: shanghai)
        #expect(everyThree.instances(from: from, to: to).map(\.scheduledLocal.hour) == [1, 4, 7, 10, 13, 16, 19, 22])
    }

    @Test func monthLastDayAndDryRuns() throws {
        let cal = try InstanceCalendar(ScheduleSpec(cycle: .month, start: "00:15", monthDays: [.day(31), .last]), zone: shanghai)
        let (from, to) = try range("2024-01-01", "2025-01-01", shanghai)
        let real = cal.instances(from: from, to: to).filter { !$0.isDryRun }.map(\.scheduledLocal.date.compact)
        #expect(real == ["20240131", "20240229", "20240331", "20240430", "20240531", "20240630", "20240731",
                         "20240831", "20240930", "20241031", "20241130", "20241231"])
        #expect(cal.instances(from: from, to: to).count == 366)
    }

    @Test func weekdays() throws {
        let cal = try InstanceCalendar(ScheduleSpec(cycle: .week, start: "08:00", weekdays: [6, 7]), zone: shanghai)
        let (from, to) = try range("2022-11-21", "2022-11-28", shanghai)
        let real = cal.instances(from: from, to: to).filter { !$0.isDryRun }
        #expect(real.map(\.scheduledLocal.date.compact) == ["20221126", "20221127"])
        #expect(real.map(\.businessDate.compact) == ["20221125", "20221126"])
    }

    @Test func effectiveRange() throws {
        let cal = try InstanceCalendar(ScheduleSpec(cycle: .day, start: "00:15", effectiveFrom: "2022-11-23",
                                                    effectiveTo: "2022-11-24"), zone: shanghai)
        let (from, to) = try range("2022-11-20", "2022-11-30", shanghai)
        #expect(cal.instances(from: from, to: to).map(\.scheduledLocal.date.compact) == ["20221123", "20221124"])
        #expect(cal.next(after: from)?.scheduledLocal.description == "2022-11-23 00:15:00")
    }

    @Test func invalidSchedulesNameTheField() {
        let bad: [(ScheduleSpec, String)] = [
            (ScheduleSpec(cycle: .hour, start: "25:00"), "schedule.start"),
            (ScheduleSpec(cycle: .minute, start: "00:00", interval: 0), "schedule.interval"),
            (ScheduleSpec(cycle: .hour, start: "10:00", end: "09:00"), "schedule.end"),
            (ScheduleSpec(cycle: .week), "schedule.weekdays"),
            (ScheduleSpec(cycle: .week, weekdays: [8]), "schedule.weekdays"),
            (ScheduleSpec(cycle: .month, monthDays: [.day(32)]), "schedule.monthDays"),
            (ScheduleSpec(cycle: .hour, timePoints: ["3:00"]), "schedule.timePoints[0]"),
            (ScheduleSpec(cycle: .day, effectiveFrom: "2022-13-01"), "schedule.effectiveFrom"),
        ]
        for (spec, field) in bad {
            #expect {
                try InstanceCalendar(spec, zone: shanghai)
            } throws: { error in
                guard let e = error as? SluiceError else { return false }
                return e.kind == .invalidInput && e.message.contains(field)
            }
        }
    }

    @Test func dstDaysInNewYork() throws {
        let ny = try SchedulingZone.named("America/New_York")
        let hourly = try InstanceCalendar(ScheduleSpec(cycle: .hour, start: "00:15", interval: 1, end: "23:59"), zone: ny)
        // Spring forward: 02:15 does not exist and is skipped; 23 instances.
        let (s0, s1) = try range("2025-03-09", "2025-03-10", ny)
        let spring = hourly.instances(from: s0, to: s1)
        #expect(spring.count == 23)
        #expect(!spring.map(\.scheduledLocal.hour).contains(2))
        // Fall back: 01:15 once, at its second occurrence (DataWorks keeps the second); 24 instances.
        let (f0, f1) = try range("2025-11-02", "2025-11-03", ny)
        let fall = hourly.instances(from: f0, to: f1)
        #expect(fall.count == 24)
        let oneAM: [Int64] = fall.filter { $0.scheduledLocal.hour == 1 }.map(\.scheduledTime)
        #expect(oneAM == [Int64(1_762_064_100)])  // 06:15Z = 01:15 EST
        // With the usual hourly parameters the windows then leave 00:15–01:15 EDT to no instance, as
        // in DataWorks (offsets move the instant; window bounds read the first occurrence).
        let set = try CompiledParameterSet([
            ParameterDefinition(name: "startTime", expression: "$[yyyymmddhh24mi-1/24]00"),
            ParameterDefinition(name: "endTime", expression: "$[yyyymmddhh24mi]00"),
        ])
        var uncovered: [(Int64, Int64)] = []
        var previousEnd: Int64?
        for instance in fall {
            let r = set.evaluate(instance.context(zone: ny))
            let start = try WallTime.instant(r.values[0], in: ny)
            let end = try WallTime.instant(r.values[1], in: ny)
            if let previousEnd, start > previousEnd { uncovered.append((previousEnd, start)) }
            previousEnd = max(previousEnd ?? end, end)
        }
        #expect(uncovered.count == 1)
        #expect(uncovered.first.map { [$0.0, $0.1] } == [1_762_060_500 - 3600, 1_762_060_500])
        // A daily instance inside the gap is delayed by the gap (03:30 EDT) and runs dry.
        let daily = try InstanceCalendar(ScheduleSpec(cycle: .day, start: "02:30"), zone: ny)
        #expect(daily.instances(from: s0, to: s1).map(\.scheduledTime) == [1_741_505_400])
        #expect(daily.instances(from: s0, to: s1).allSatisfy { $0.isDryRun })
        #expect(daily.backfill(businessDate: try WallTime.parseDate("20250308")).map(\.scheduledTime) == [1_741_505_400])
    }

    @Test func backfillRange() throws {
        let hourly = try InstanceCalendar(ScheduleSpec(cycle: .hour, start: "00:15", interval: 6, end: "23:59"), zone: shanghai)
        let list = hourly.backfill(businessDates: try WallTime.parseDate("20250301"), through: try WallTime.parseDate("20250302"))
        #expect(list.map(\.scheduledLocal.description) == [
            "2025-03-02 00:15:00", "2025-03-02 06:15:00", "2025-03-02 12:15:00", "2025-03-02 18:15:00",
            "2025-03-03 00:15:00", "2025-03-03 06:15:00", "2025-03-03 12:15:00", "2025-03-03 18:15:00",
        ])
        #expect(list.map(\.businessDate.compact) == Array(repeating: "20250301", count: 4) + Array(repeating: "20250302", count: 4))
    }
}
