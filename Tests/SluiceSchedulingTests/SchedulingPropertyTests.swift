import Foundation
import PropertyBased
import Testing
@testable import SluiceCore
@testable import SluiceScheduling

@Suite struct SchedulingPropertyTests {
    static let zones = ["Asia/Shanghai", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe",
                        "Asia/Kolkata", "America/Sao_Paulo", "Pacific/Chatham", "UTC", "Europe/London"]

    /// Formats `instant` in `zone` with Foundation, independently of Sluice's civil arithmetic.
    static func foundationFormat(_ instant: Int64, _ zone: String) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: zone)!
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second],
                                        from: Date(timeIntervalSince1970: Double(instant)))
        return String(format: "%04d%02d%02d%02d%02d%02d", c.year!, c.month!, c.day!, c.hour!, c.minute!, c.second!)
    }

    @Test func hourOffsetsEqualTheInstantPlusHours() async throws {
        await propertyCheck(count: 300, input: Gen.int64(in: 0...4_102_444_800), Gen<String?>.element(of: Self.zones),
                            Gen.int(in: -1000...1000)) { instant, zoneName, k in
            let zoneName = zoneName!
            let zone = try SchedulingZone.named(zoneName)
            let text = k < 0 ? "$[yyyymmddhh24miss\(k)/24]" : "$[yyyymmddhh24miss+\(k)/24]"
            let value = try ParameterExpression(text).evaluate(EvaluationContext(scheduledTime: instant, zone: zone))
            #expect(value == Self.foundationFormat(instant + Int64(k) * 3600, zoneName), "\(text) at \(instant) in \(zoneName)")
        }
    }

    @Test func minuteOffsetsEqualTheInstantPlusMinutes() async throws {
        await propertyCheck(count: 200, input: Gen.int64(in: 0...4_102_444_800), Gen<String?>.element(of: Self.zones),
                            Gen.int(in: -5000...5000)) { instant, zoneName, k in
            let zone = try SchedulingZone.named(zoneName!)
            let text = k < 0 ? "$[yyyymmddhh24miss\(k)/24/60]" : "$[yyyymmddhh24miss+\(k)/24/60]"
            let value = try ParameterExpression(text).evaluate(EvaluationContext(scheduledTime: instant, zone: zone))
            #expect(value == Self.foundationFormat(instant + Int64(k) * 60, zoneName!))
        }
    }

    @Test func addMonthsAlwaysGivesAValidDate() async throws {
        await propertyCheck(count: 300, input: Gen.int64(in: -2_000_000_000...4_102_444_800), Gen.int(in: -600...600)) { instant, n in
            let zone = try SchedulingZone.named("Asia/Shanghai")
            let value = try ParameterExpression("$[add_months(yyyymmdd,\(n))]")
                .evaluate(EvaluationContext(scheduledTime: instant, zone: zone))
            let parsed = try WallTime.parseCompact(value)  // throws on an invalid date
            let start = zone.civil(at: instant).date
            #expect((parsed.date.year * 12 + parsed.date.month) - (start.year * 12 + start.month) == n)
            #expect(parsed.date.day == min(start.day, CivilDate.daysInMonth(year: parsed.date.year, month: parsed.date.month)))
        }
    }

    @Test func businessDateIsScheduledDateMinusOne() async throws {
        await propertyCheck(count: 300, input: Gen.int64(in: -2_000_000_000...4_102_444_800), Gen<String?>.element(of: Self.zones)) { instant, zoneName in
            let zone = try SchedulingZone.named(zoneName!)
            let context = EvaluationContext(scheduledTime: instant, zone: zone)
            let biz = try ParameterExpression("${yyyymmdd}").evaluate(context)
            let sched = try ParameterExpression("$[yyyymmdd-1]").evaluate(context)
            #expect(biz == sched)
            let scheduledDay = try WallTime.parseCompact(String(Self.foundationFormat(instant, zoneName!).prefix(8))).date
            #expect(biz == scheduledDay.adding(days: -1).compact)
        }
    }

    @Test func civilDayNumbersRoundTrip() async throws {
        await propertyCheck(count: 500, input: Gen.int64(in: -1_000_000...1_000_000)) { n in
            let date = CivilDate(dayNumber: n)
            #expect(date.dayNumber == n)
            #expect(CivilDate(validatingYear: date.year, month: date.month, day: date.day) != nil)
            #expect(date.adding(days: 1).dayNumber == n + 1)
        }
    }

    @Test func wallTimesRoundTripExceptInGaps() async throws {
        await propertyCheck(count: 300, input: Gen.int64(in: 0...4_102_444_800), Gen<String?>.element(of: Self.zones)) { instant, zoneName in
            let zone = try SchedulingZone.named(zoneName!)
            let wall = zone.civil(at: instant)
            let back = zone.instant(for: wall)
            // Either the same instant, or an earlier occurrence of the same wall time (fall back).
            #expect(back == instant || (back < instant && zone.civil(at: back) == wall))
        }
    }

    @Test func wallTimesFollowTheDSTRules() async throws {
        // Random wall times near transitions of DST zones: an existing time maps to its first
        // occurrence; a skipped time maps to the transition right after the gap.
        await propertyCheck(count: 500, input: Gen.int64(in: 946_684_800...2_524_608_000),
                            Gen<String?>.element(of: ["America/New_York", "Europe/Berlin", "Australia/Lord_Howe",
                                                      "America/Sao_Paulo", "Pacific/Chatham"]),
                            Gen.int(in: -7200...7200)) { base, zoneName, jitter in
            let zone = try SchedulingZone.named(zoneName!)
            // Snap to the zone's next transition so that gaps and overlaps are actually hit.
            let tz = zone.timeZone
            let transition = tz.nextDaylightSavingTimeTransition(after: Date(timeIntervalSince1970: Double(base)))
            let center = transition.map { Int64($0.timeIntervalSince1970) } ?? base
            let wall = zone.civil(at: center + Int64(jitter))
            let probe = CivilDateTime(localSeconds: wall.localSeconds + Int64(jitter % 3600))
            let r = zone.instant(for: probe)
            if zone.civil(at: r) == probe {
                // First occurrence: no earlier instant within 3 hours shows the same wall time.
                for back in stride(from: Int64(60), through: 3 * 3600, by: 60) {
                    #expect(zone.civil(at: r - back) != probe)
                }
            } else {
                // In a gap: the wall clock jumps over `probe` exactly at r.
                #expect(zone.civil(at: r - 1) < probe)
                #expect(probe < zone.civil(at: r))
            }
        }
    }

    @Test func calendarsAreOrderedAndSplitRangesAgree() async throws {
        await propertyCheck(count: 60, input: Gen<String?>.element(of: Self.zones), Gen.int(in: 1...180),
                            Gen.int64(in: 1_577_836_800...1_893_456_000), Gen.int64(in: 1...40 * 86_400)) { zoneName, interval, from, length in
            let zone = try SchedulingZone.named(zoneName!)
            let spec = interval < 60
                ? ScheduleSpec(cycle: .minute, start: "00:07", interval: interval, end: "23:59")
                : ScheduleSpec(cycle: .hour, start: "00:15", interval: interval % 6 + 1, end: "22:00")
            let cal = try InstanceCalendar(spec, zone: zone)
            let to = from + length
            let all = cal.instances(from: from, to: to)
            for (a, b) in zip(all, all.dropFirst()) { #expect(a.scheduledTime < b.scheduledTime) }
            for i in all {
                #expect(i.scheduledTime >= from && i.scheduledTime < to)
                #expect(i.businessDate == i.scheduledLocal.date.adding(days: -1))
                #expect(zone.civil(at: i.scheduledTime) == i.scheduledLocal)
            }
            let middle = from + length / 3
            #expect(cal.instances(from: from, to: middle) + cal.instances(from: middle, to: to) == all)
            if let first = all.first {
                #expect(cal.next(after: from - 1) == first)
            }
        }
    }

    @Test func fuzzWallTimeParsers() async {
        await propertyCheck(count: 2000, input: Gen<String?>.element(of: ["0", "1", "2", "9", "-", ":", " ", "T", "x", "31", "12", "2024", "é"]).map { $0! }.array(of: 0...12)) { parts in
            let text = parts.joined()
            func check(_ parse: (String) throws(ExpressionError) -> Void) {
                do {
                    try parse(text)
                } catch {
                    #expect(error.offset >= 0 && error.offset <= text.count, "\(text.debugDescription): \(error)")
                }
            }
            check { (t: String) throws(ExpressionError) in _ = try WallTime.parseCompact(parsing: t) }
            check { (t: String) throws(ExpressionError) in _ = try WallTime.parseDisplay(parsing: t) }
            check { (t: String) throws(ExpressionError) in _ = try WallTime.parseEpochMillis(parsing: t) }
        }
    }

    // MARK: fuzzing the parser

    static let pieces = ["$[", "${", "]", "}", "[", "{", "yyyy", "yy", "mm", "dd", "hh24", "hh", "mi", "ss", "-",
                         "+", "1", "24", "60", "/", "*", "7", "add_months(", ",", ")", "(", "'", "\"", " ", "$",
                         "bizdate", "cyctime", "x", "q", "A", "é", "年", "bdp.system.", "partition", ":", ".", "_",
                         "\t", "\n", "0000", "999999999"]

    static func checkParser(_ text: String) {
        do {
            let e = try ParameterExpression(parsing: text)
            _ = e.evaluate(EvaluationContext(scheduledTime: 1_669_082_700, zone: try! SchedulingZone.named("Asia/Shanghai")))
        } catch {
            #expect(error.offset >= 0 && error.offset <= text.count, "\(text.debugDescription): \(error)")
            #expect(!error.reason.isEmpty)
            #expect(error.description.contains("column \(error.column)"))
        }
        let set = try? CompiledParameterSet([ParameterDefinition(name: "p", expression: "1")])
        do {
            _ = try set?.template(parsing: text)
        } catch {
            #expect(error.offset >= 0 && error.offset <= text.count)
        }
    }

    @Test func fuzzGrammarPieces() async {
        await propertyCheck(count: 3000, input: Gen<String?>.element(of: Self.pieces).map { $0! }.array(of: 0...14)) { parts in
            Self.checkParser(parts.joined())
        }
    }

    @Test func fuzzArbitraryText() async {
        await propertyCheck(count: 2000, input: Gen.latin1.string(of: 0...40)) { text in
            Self.checkParser(text)
        }
    }

    @Test func fuzzMutationsOfValidExpressions() {
        // Deterministic: every single-character deletion and substitution of valid expressions.
        let valid = ["$[yyyymmddhh24mi-8/24/60]00", "${yyyymmdd-7*1}", "$[add_months(yyyymmdd,-12*1)]000000",
                     "'x'$[hh24:mi:ss-1/24]${yyyy-mm}$bizdate"]
        let alphabet: [Character] = ["$", "[", "]", "{", "}", "-", "/", "*", "(", ")", ",", "'", " ", "y", "1"]
        for text in valid {
            let chars = Array(text)
            for i in chars.indices {
                var deleted = chars
                deleted.remove(at: i)
                Self.checkParser(String(deleted))
                for c in alphabet {
                    var changed = chars
                    changed[i] = c
                    Self.checkParser(String(changed))
                }
            }
        }
    }
}
