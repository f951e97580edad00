import Foundation
import PropertyBased
import Testing
@testable import SluiceCore

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
