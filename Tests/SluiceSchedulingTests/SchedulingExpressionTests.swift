import Testing
@testable import SluiceCore
@testable import SluiceScheduling
@testable import SluiceJob

/// Evaluates `expression` for an instance scheduled at `at` (`yyyy-mm-dd hh:mm[:ss]`) in `zone`.
func evaluate(_ expression: String, at: String, zone: String = "Asia/Shanghai",
              bizdate: String? = nil) throws -> String {
    let z = try SchedulingZone.named(zone)
    let context = EvaluationContext(scheduledLocal: try WallTime.parseDisplay(at), zone: z,
                                    businessDate: try bizdate.map { try WallTime.parseDate($0) })
    return try ParameterExpression(expression).evaluate(context)
}

func parseError(_ expression: String) -> ExpressionError? {
    do {
        _ = try ParameterExpression(parsing: expression)
        return nil
    } catch {
        return error
    }
}

@Suite struct SchedulingSeedTableTests {
    /// The seed tutorial's "Scheduling parameter expressions" table, one row per cycle, each evaluated
    /// at an instance of that cycle (the tutorial's own examples for hour and 5 minutes).
    struct Row: Sendable, CustomTestStringConvertible {
        var cycle: String
        var at: String
        var startTime: (String, String)
        var endTime: (String, String)
        var partition: (String, String)
        var testDescription: String { cycle }
    }

    static let rows: [Row] = [
        Row(cycle: "Every 5 minutes", at: "2022-11-22 10:00:00",
            startTime: ("$[yyyymmddhh24mi-8/24/60]00", "20221122095200"),
            endTime: ("$[yyyymmddhh24mi-3/24/60]00", "20221122095700"),
            partition: ("$[yyyymmddhh24mi-8/24/60]", "202211220952")),
        Row(cycle: "Every hour", at: "2022-11-22 10:05:00",
            startTime: ("$[yyyymmddhh24-1/24]0000", "20221122090000"),
            endTime: ("$[yyyymmddhh24]0000", "20221122100000"),
            partition: ("$[yyyymmddhh24]", "2022112210")),
        Row(cycle: "Every 2 hours", at: "2022-11-22 10:05:00",
            startTime: ("$[yyyymmddhh24-2/24]0000", "20221122080000"),
            endTime: ("$[yyyymmddhh24]0000", "20221122100000"),
            partition: ("$[yyyymmddhh24]", "2022112210")),
        Row(cycle: "Every 3 hours", at: "2022-11-22 10:05:00",
            startTime: ("$[yyyymmddhh24-3/24]0000", "20221122070000"),
            endTime: ("$[yyyymmddhh24]0000", "20221122100000"),
            partition: ("$[yyyymmddhh24]", "2022112210")),
        Row(cycle: "Every day", at: "2022-11-22 00:15:00",
            startTime: ("$[yyyymmdd-1]000000", "20221121000000"),
            endTime: ("$[yyyymmdd]000000", "20221122000000"),
            partition: ("$[yyyymmdd-1]", "20221121")),
        Row(cycle: "Every week", at: "2022-11-21 00:15:00",
            startTime: ("$[yyyymmdd-7]000000", "20221114000000"),
            endTime: ("$[yyyymmdd]000000", "20221121000000"),
            partition: ("$[yyyymmdd-1]", "20221120")),
        Row(cycle: "Every month", at: "2022-12-01 00:15:00",
            startTime: ("$[add_months(yyyymmdd,-1)]000000", "20221101000000"),
            endTime: ("$[yyyymmdd]000000", "20221201000000"),
            partition: ("$[yyyymmdd-1]", "20221130")),
    ]

    @Test(arguments: rows)
    func expressionRow(_ row: Row) throws {
        #expect(try evaluate(row.startTime.0, at: row.at) == row.startTime.1)
        #expect(try evaluate(row.endTime.0, at: row.at) == row.endTime.1)
        #expect(try evaluate(row.partition.0, at: row.at) == row.partition.1)
    }

    /// The tutorial's worked examples, through a compiled parameter set and a job partition template.
    @Test func workedExamplesAsParameterSets() throws {
        let zone = try SchedulingZone.named("Asia/Shanghai")
        let hourly = try CompiledParameterSet([
            ParameterDefinition(name: "startTime", expression: "$[yyyymmddhh24-1/24]0000"),
            ParameterDefinition(name: "endTime", expression: "$[yyyymmddhh24]0000"),
            ParameterDefinition(name: "partition", expression: "$[yyyymmddhh24]"),
        ])
        let at1005 = EvaluationContext(scheduledLocal: try WallTime.parseDisplay("2022-11-22 10:05"), zone: zone)
        let r = hourly.evaluate(at1005)
        #expect(r.pairs.map { "\($0.name)=\($0.value)" }
            == ["startTime=20221122090000", "endTime=20221122100000", "partition=2022112210"])
        #expect(try hourly.template("ds=${partition}").render(r) == "ds=2022112210")

        let fiveMinutes = try CompiledParameterSet([
            ParameterDefinition(name: "startTime", expression: "$[yyyymmddhh24mi-8/24/60]00"),
            ParameterDefinition(name: "endTime", expression: "$[yyyymmddhh24mi-3/24/60]00"),
            ParameterDefinition(name: "partition", expression: "$[yyyymmddhh24mi-8/24/60]"),
        ])
        let at1000 = EvaluationContext(scheduledLocal: try WallTime.parseDisplay("2022-11-22 10:00"), zone: zone)
        #expect(fiveMinutes.evaluate(at1000).values == ["20221122095200", "20221122095700", "202211220952"])
    }

    /// The seed's "Scheduling cycle settings" table.
    @Test func cycleSettingsTable() throws {
        let zone = try SchedulingZone.named("Asia/Shanghai")
        func day(_ text: String) throws -> (Int64, Int64) {
            let d = try WallTime.parseDate(text)
            return (zone.instant(for: CivilDateTime(date: d, secondOfDay: 0)),
                    zone.instant(for: CivilDateTime(date: d.adding(days: 1), secondOfDay: 0)))
        }
        let (from, to) = try day("2022-11-22")

        let fiveMinutes = try InstanceCalendar(ScheduleSpec(cycle: .minute, start: "00:00", interval: 5, end: "23:59"), zone: zone)
        let m = fiveMinutes.instances(from: from, to: to)
        #expect(m.count == 288)
        #expect(m.first?.scheduledLocal.description == "2022-11-22 00:00:00")
        #expect(m.last?.scheduledLocal.description == "2022-11-22 23:55:00")

        let hourly = try InstanceCalendar(ScheduleSpec(cycle: .hour, start: "00:15", interval: 1, end: "23:59"), zone: zone)
        let h = hourly.instances(from: from, to: to)
        #expect(h.count == 24)
        #expect(h.map(\.scheduledLocal.minute).allSatisfy { $0 == 15 })
        #expect(h.map(\.scheduledLocal.hour) == Array(0..<24))

        let daily = try InstanceCalendar(ScheduleSpec(cycle: .day, start: "00:15"), zone: zone)
        let d = daily.instances(from: from, to: to)
        #expect(d.map(\.scheduledLocal.description) == ["2022-11-22 00:15:00"])
        #expect(d.map(\.businessDate.compact) == ["20221121"])

        // Monday 2022-11-21 … Sunday 2022-11-27: one real instance on Monday, dry runs the other days.
        let (weekFrom, _) = try day("2022-11-21")
        let (_, weekTo) = try day("2022-11-27")
        let weekly = try InstanceCalendar(ScheduleSpec(cycle: .week, start: "00:15", weekdays: [1]), zone: zone)
        let w = weekly.instances(from: weekFrom, to: weekTo)
        #expect(w.count == 7)
        #expect(w.filter { !$0.isDryRun }.map(\.scheduledLocal.description) == ["2022-11-21 00:15:00"])
        #expect(w.filter(\.isDryRun).count == 6)

        let (monthFrom, _) = try day("2022-11-01")
        let (_, monthTo) = try day("2022-12-31")
        let monthly = try InstanceCalendar(ScheduleSpec(cycle: .month, start: "00:15", monthDays: [.day(1)]), zone: zone)
        let mo = monthly.instances(from: monthFrom, to: monthTo)
        #expect(mo.count == 61)
        #expect(mo.filter { !$0.isDryRun }.map(\.scheduledLocal.description)
            == ["2022-11-01 00:15:00", "2022-12-01 00:15:00"])
    }
}

@Suite struct SchedulingReferenceExampleTests {
    @Test func businessAndScheduledFields() throws {
        let at = "2025-11-01 02:30:45"
        #expect(try evaluate("${mm}", at: at, bizdate: "20251031") == "10")
        #expect(try evaluate("${mm}", at: at) == "10")  // the default business date is the day before
        #expect(try evaluate("$[mm]", at: at) == "11")
        #expect(try evaluate("$[dd]", at: at) == "01")
        #expect(try evaluate("$[hh24]", at: at) == "02")
        #expect(try evaluate("$[mi]", at: at) == "30")
        #expect(try evaluate("$[ss]", at: at) == "45")
        #expect(try evaluate("$[yyyy-mm-dd]", at: at) == "2025-11-01")
    }

    @Test func cyctimeExamples() throws {
        let at = "2014-05-15 10:30:00"
        #expect(try evaluate("$[hh24:mi:ss-1/24]", at: at) == "09:30:00")
        #expect(try evaluate("$[add_months(yyyymmdd,-12*1)]", at: at) == "20130515")
        #expect(try evaluate("$cyctime", at: at) == "20140515103000")
        #expect(try evaluate("${bdp.system.cyctime}", at: at) == "20140515103000")
    }

    @Test func midnightHourOffsets() throws {
        #expect(try evaluate("$[yyyymmdd-1/24]", at: "2015-10-27 00:00") == "20151026")
        #expect(try evaluate("$[hh24-1/24]", at: "2015-10-27 00:00") == "23")
    }

    @Test func dailyMidnight() throws {
        #expect(try evaluate("${yyyymmdd}", at: "2025-03-15 00:00") == "20250314")
        #expect(try evaluate("$[yyyymmddhh24miss]", at: "2025-03-15 00:00") == "20250315000000")
        #expect(try evaluate("$bizdate", at: "2025-03-15 00:00") == "20250314")
        #expect(try evaluate("${bdp.system.bizdate}", at: "2025-03-15 00:00") == "20250314")
    }

    @Test func backfill() throws {
        let zone = try SchedulingZone.named("Asia/Shanghai")
        let context = EvaluationContext.backfill(businessDate: try WallTime.parseDate("20250315"), secondOfDay: 0, zone: zone)
        #expect(try ParameterExpression("$[yyyymmddhh24miss]").evaluate(context) == "20250316000000")
        #expect(try ParameterExpression("${yyyymmdd}").evaluate(context) == "20250315")
        #expect(try ParameterExpression("$gmtdate").evaluate(context) == "20250316")
        // The calendar's backfill gives the same instance.
        let daily = try InstanceCalendar(ScheduleSpec(cycle: .day, start: "00:00"), zone: zone)
        let instances = daily.backfill(businessDate: try WallTime.parseDate("20250315"))
        #expect(instances.map(\.scheduledLocal.description) == ["2025-03-16 00:00:00"])
        #expect(instances.first?.businessDate.compact == "20250315")
    }

    @Test func addMonthsClampsToMonthEnd() throws {
        #expect(try evaluate("$[add_months(yyyymmdd,-1)]", at: "2025-03-31 00:00") == "20250228")
        #expect(try evaluate("$[add_months(yyyymmdd,-1)]", at: "2024-03-31 00:00") == "20240229")
        #expect(try evaluate("$[add_months(yyyymmdd,+11)]", at: "2024-03-31 00:00") == "20250228")
        #expect(try evaluate("$[add_months(yyyy-mm-dd,-12*2)]", at: "2024-02-29 08:00") == "2022-02-28")
        #expect(try evaluate("$[add_months(yyyymm,1)]", at: "2024-12-15 08:00") == "202501")
    }

    @Test func offsetsAndFormats() throws {
        let at = "2022-11-22 10:05:09"
        #expect(try evaluate("$[yyyymmdd-1-1/24]", at: "2022-11-22 00:30") == "20221120")
        #expect(try evaluate("$[yyyymmddhh24-1-1/24]", at: "2022-11-22 00:30") == "2022112023")
        #expect(try evaluate("$[yyyymmdd-7*2]", at: at) == "20221108")
        #expect(try evaluate("$[yyyymmdd+1]", at: at) == "20221123")
        #expect(try evaluate("$[hh24mi+90/24/60]", at: at) == "1135")
        #expect(try evaluate("$[hh:mi]", at: "2022-11-22 13:05") == "01:05")
        #expect(try evaluate("$[hh12]", at: "2022-11-22 00:05") == "12")
        #expect(try evaluate("$[yy/mm/dd]", at: at) == "22/11/22")
        #expect(try evaluate("$[yyyy年mm月dd日]", at: at) == "2022年11月22日")
        #expect(try evaluate("${yyyy-1}", at: at) == "2021")
        #expect(try evaluate("${yyyymm-1}", at: at) == "202210")
        #expect(try evaluate("${yyyymmdd-7*1}", at: at) == "20221114")
        #expect(try evaluate("${yyyy-mm-dd}", at: at) == "2022-11-21")
        #expect(try evaluate("${yyyymm}01", at: at) == "20221101")
        #expect(try evaluate("${yyyymm-1}", at: "2025-04-01 00:00") == "202502")  // bizdate 03-31 clamps
        #expect(try evaluate("$bizmonth", at: "2025-11-01 02:00") == "202510")
        #expect(try evaluate("$bizmonth", at: "2025-11-15 02:00") == "202510")
        #expect(try evaluate("$bizmonth", at: "2025-01-10 02:00") == "202412")
        #expect(try evaluate("'abc'", at: at) == "abc")
        #expect(try evaluate("\"a b\"$[yyyy]'x'", at: at) == "a b2022x")
        #expect(try evaluate("ds=$[yyyymmdd]/hh=$[hh24]", at: at) == "ds=20221122/hh=10")
        #expect(try evaluate("cost $5", at: at) == "cost $5")
        #expect(try evaluate("", at: at) == "")
    }

    @Test func idsFromTheContext() throws {
        let zone = try SchedulingZone.named("UTC")
        let context = EvaluationContext(scheduledTime: 0, zone: zone, jobId: "j1", nodeId: "n2", taskId: "t3")
        #expect(try ParameterExpression("$jobid-$nodeid-$taskid").evaluate(context) == "j1-n2-t3")
    }
}

@Suite struct SchedulingRejectionTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var text: String
        var column: Int
        var reason: String
        var testDescription: String { text }
    }

    static let cases: [Case] = [
        Case(text: "${yyyy-mm-dd-1/24}", column: 15, reason: "hours and minutes are not available in ${...}"),
        Case(text: "$[yyyy-1]", column: 7, reason: "plain offset counts days"),
        Case(text: "$[mm-1]", column: 5, reason: "smallest field is the month"),
        Case(text: "$[yyyymm-1]", column: 9, reason: "smallest field is the month"),
        Case(text: "$[yyyy mm]", column: 7, reason: "a space inside a format"),
        Case(text: "$[yyyymmdd", column: 1, reason: "unclosed `$[`"),
        Case(text: "x${yyyymmdd", column: 2, reason: "unclosed `${`"),
        Case(text: "$[yyyymmdd]]", column: 12, reason: "unbalanced `]`"),
        Case(text: "abc}", column: 4, reason: "unbalanced `}`"),
        Case(text: "$[yyyymmdd}", column: 11, reason: "unbalanced `}`"),
        Case(text: "$[yyyy$[mm]]", column: 7, reason: "do not nest"),
        Case(text: "$[yyyymmddq]", column: 11, reason: "unknown token `q`"),
        Case(text: "$[YYYYMMDD]", column: 3, reason: "lower case"),
        Case(text: "$[yyyymmdd01]", column: 11, reason: "unexpected digit"),
        Case(text: "$bizdat", column: 1, reason: "unknown built-in `$bizdat`"),
        Case(text: "${bdp.system.foo}", column: 3, reason: "unknown built-in"),
        Case(text: "${startTime}", column: 3, reason: "unknown parameter `startTime`"),
        Case(text: "${yyyymmdd-1/24}", column: 13, reason: "not available in ${...}"),
        Case(text: "${hh24}", column: 3, reason: "`hh24` is not available"),
        Case(text: "$[yyyymmdd-1/12]", column: 14, reason: "only /24"),
        Case(text: "$[yyyymmdd-1/24/30]", column: 17, reason: "only /24"),
        Case(text: "$[yyyymmdd-]", column: 12, reason: "expected a number"),
        Case(text: "$[yyyymmdd+-1]", column: 12, reason: "expected a number after `+`"),
        Case(text: "$[yyyy-mm-dd--1]", column: 14, reason: "expected a number after `-`"),
        Case(text: "$[yyyymmdd-1x]", column: 13, reason: "unexpected `x`"),
        Case(text: "$[]", column: 3, reason: "empty"),
        Case(text: "${}", column: 3, reason: "empty"),
        Case(text: "$[-1]", column: 3, reason: "expected a format"),
        Case(text: "$[add_months(yyyymmdd)]", column: 23, reason: "expected `,`"),
        Case(text: "$[add_months(yyyymmdd,-1]", column: 25, reason: "expected `)`"),
        Case(text: "$[add_months(yyyymmdd,-1)-1]", column: 26, reason: "nothing may follow"),
        Case(text: "$[add_months(yyyymmdd,x)]", column: 23, reason: "expected a number"),
        Case(text: "'abc", column: 1, reason: "unterminated constant"),
        Case(text: "$[yyyymmdd-99999999]", column: 12, reason: "offset too large"),
    ]

    @Test(arguments: cases)
    func rejected(_ c: Case) throws {
        let error = try #require(parseError(c.text))
        #expect(error.column == c.column, "\(error)")
        #expect(error.reason.contains(c.reason), "\(error)")
        // The public API throws the same as SluiceError(.invalidInput) with a caret under the column.
        do {
            _ = try ParameterExpression(c.text)
            Issue.record("accepted \(c.text)")
        } catch let e as SluiceError {
            #expect(e.kind == .invalidInput)
            #expect(e.exitCode == 2)
            let lines = e.message.split(separator: "\n", omittingEmptySubsequences: false)
            #expect(lines.count == 3)
            if lines.count == 3 {
                #expect(lines[2].firstIndex(of: "^").map { lines[2].distance(from: lines[2].startIndex, to: $0) }
                    == 4 + c.column - 1)
            }
        }
    }

    @Test func columnsCountCharactersNotBytes() throws {
        let error = try #require(parseError("年月$[yyyyq]"))
        #expect(error.column == 9)
    }
}

@Suite struct SchedulingParameterSetTests {
    let zone = try! SchedulingZone.named("Asia/Shanghai")

    @Test func referencesResolveInDependencyOrder() throws {
        let set = try CompiledParameterSet([
            ParameterDefinition(name: "spec", expression: "ds=${day}/hh=${hour}"),
            ParameterDefinition(name: "day", expression: "$[yyyymmdd]"),
            ParameterDefinition(name: "hour", expression: "$[hh24]"),
            ParameterDefinition(name: "full", expression: "${spec}"),
        ])
        let context = EvaluationContext(scheduledLocal: try WallTime.parseDisplay("2022-11-22 10:05"), zone: zone)
        let r = set.evaluate(context)
        #expect(r.names == ["spec", "day", "hour", "full"])
        #expect(r["spec"] == "ds=20221122/hh=10")
        #expect(r["full"] == "ds=20221122/hh=10")
        #expect(try r.substitute("p=${day}, b=${bdp.system.bizdate}, x=$[mi]") == "p=20221122, b=20221121, x=05")
        var values: [String] = []
        set.evaluate(context, into: &values)
        #expect(values == r.values)
    }

    @Test func declaredNameWinsOverFormat() throws {
        let set = try CompiledParameterSet([ParameterDefinition(name: "dd", expression: "'x'")])
        let context = EvaluationContext(scheduledTime: 0, zone: zone)
        #expect(try set.template("${dd}/${mm}").render(set.evaluate(context)) == "x/12")
    }

    @Test func cyclesAreErrorsNamingTheCycle() throws {
        let defs = [
            ParameterDefinition(name: "a", expression: "x${b}"),
            ParameterDefinition(name: "b", expression: "${c}"),
            ParameterDefinition(name: "c", expression: "$[yyyy]${a}"),
        ]
        #expect {
            try CompiledParameterSet(defs)
        } throws: { error in
            guard let e = error as? SluiceError else { return false }
            return e.kind == .invalidInput && e.message.contains("a → b → c → a")
                && e.message.contains("parameter c") && e.message.contains("column 8")
        }
        #expect(throws: SluiceError.self) {
            try CompiledParameterSet([ParameterDefinition(name: "self", expression: "${self}")])
        }
    }

    @Test func unknownReferencesAndDuplicatesAreErrors() throws {
        let set = try CompiledParameterSet([ParameterDefinition(name: "partition", expression: "$[yyyymmddhh24]")])
        #expect {
            try set.template("ds=${partiton}", subject: "destination.partition")
        } throws: { error in
            let message = (error as? SluiceError)?.message ?? ""
            return message.contains("destination.partition") && message.contains("unknown parameter `partiton`")
                && message.contains("column 6")
        }
        #expect(throws: SluiceError.self) {
            try CompiledParameterSet([ParameterDefinition(name: "a", expression: "1"),
                                      ParameterDefinition(name: "a", expression: "2")])
        }
        #expect(throws: SluiceError.self) {
            try CompiledParameterSet([ParameterDefinition(name: "a b", expression: "1")])
        }
        let context = EvaluationContext(scheduledTime: 0, zone: zone)
        #expect(throws: SluiceError.self) { try set.evaluate(context).substitute("${nope}") }
    }

    @Test func quotesAreOrdinaryInJobStrings() throws {
        let set = try CompiledParameterSet([ParameterDefinition(name: "d", expression: "$[yyyymmdd]")])
        let context = EvaluationContext(scheduledTime: 0, zone: zone)
        #expect(try set.template("ds='${d}'").render(set.evaluate(context)) == "ds='19700101'")
    }

    @Test func jobWindowResolution() throws {
        var job = JobSpec(name: "j", source: KafkaSourceSpec(bootstrapServers: ["x:1"], topic: "t"), mapping: [],
                          destination: DestinationSpec(kind: .discard, table: "t", partition: "ds=${partition}"))
        job.schedule = ScheduleSpec(cycle: .hour, timeZone: "Asia/Shanghai", parameters: [
            ParameterDefinition(name: "startTime", expression: "$[yyyymmddhh24-1/24]0000"),
            ParameterDefinition(name: "endTime", expression: "$[yyyymmddhh24]0000"),
            ParameterDefinition(name: "partition", expression: "$[yyyymmddhh24]"),
        ])
        let compiled = try CompiledJobParameters(job: job, zone: SchedulingZone.forJob(job, fallback: .utc))
        let context = EvaluationContext(scheduledLocal: try WallTime.parseDisplay("2022-11-22 10:05"), zone: compiled.zone)
        let r = try compiled.resolve(context)
        #expect(r.partition == "ds=2022112210")
        #expect(r.beginText == "20221122090000")
        #expect(compiled.boundZone.iso8601(millis: { if case .instant(let m) = r.begin { m } else { 0 } }())
            == "2022-11-22T09:00:00+08:00")
        #expect(r.end == .instant(millis: 1_669_082_400_000))

        // A source zone different from the scheduling zone reads the bounds in the source's zone.
        job.source.timeZone = "UTC"
        let utcBounds = try CompiledJobParameters(job: job, zone: SchedulingZone.forJob(job, fallback: .utc)).resolve(context)
        #expect(utcBounds.end == .instant(millis: 1_669_082_400_000 + 8 * 3_600_000))

        job.source.begin = .timestampMillis("${startTime}")
        #expect(try CompiledJobParameters(job: job, zone: SchedulingZone.forJob(job, fallback: .utc)).resolve(context).begin == .instant(millis: 20_221_122_090_000))
        job.source.begin = .time("${startTime}x")
        #expect {
            try CompiledJobParameters(job: job, zone: SchedulingZone.forJob(job, fallback: .utc)).resolve(context)
        } throws: { error in
            let message = (error as? SluiceError)?.message ?? ""
            return message.contains("source.begin") && message.contains("column 15")
        }
    }
}
