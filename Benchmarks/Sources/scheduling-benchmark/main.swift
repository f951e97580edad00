// Scheduling benchmark: evaluation rate of a compiled hourly parameter set, and listing one year of
// 1-minute instances. Baseline in the same run: the same hourly values computed with Foundation's
// DateFormatter (what a straightforward implementation would do).
//
//   scheduling-benchmark [ZONE] [--quick]    (default Asia/Shanghai; run by `scripts/bench scheduling`)
// --quick: a tenth of the evaluations, to check that it works.
import Foundation
import SluiceCore
import SluiceScheduling

func measure(_ label: String, iterations: Int, _ body: () -> Int) -> Double {
    let clock = ContinuousClock()
    var checksum = 0
    let elapsed = clock.measure { checksum = body() }
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    let rate = Double(iterations) / seconds
    print("\(label): \(iterations) in \(String(format: "%.3f", seconds)) s = \(String(format: "%.0f", rate))/s  (checksum \(checksum))")
    return seconds
}

let arguments = CommandLine.arguments.dropFirst()
let quick = arguments.contains("--quick")
let zoneName = arguments.first { !$0.hasPrefix("--") } ?? "Asia/Shanghai"
let zone = try SchedulingZone.named(zoneName)
print("zone \(zoneName), one core")

let hourly = try CompiledParameterSet([
    ParameterDefinition(name: "startTime", expression: "$[yyyymmddhh24-1/24]0000"),
    ParameterDefinition(name: "endTime", expression: "$[yyyymmddhh24]0000"),
    ParameterDefinition(name: "partition", expression: "$[yyyymmddhh24]"),
])
let partition = try hourly.template("ds=${partition}")
let start: Int64 = 1_669_075_500  // 2022-11-22 00:05 +08:00
let n = quick ? 300_000 : 3_000_000

// 1. Evaluate the set per instance (context built per instance, values into a reused buffer).
let evalSeconds = measure("compiled hourly set, evaluate(into:) incl. context", iterations: n) {
    var values: [String] = []
    var sum = 0
    for i in 0..<n {
        let context = EvaluationContext(scheduledTime: start + Int64(i % 200_000) * 3600, zone: zone)
        hourly.evaluate(context, into: &values)
        sum &+= values[0].utf8.count &+ values[2].utf8.count
    }
    return sum
}

// 2. The same through the allocating API plus the partition template.
_ = measure("compiled hourly set, evaluate() + partition template", iterations: n) {
    var sum = 0
    for i in 0..<n {
        let context = EvaluationContext(scheduledTime: start + Int64(i % 200_000) * 3600, zone: zone)
        let r = hourly.evaluate(context)
        sum &+= partition.render(r).utf8.count
    }
    return sum
}

// Baseline: Foundation DateFormatter computing the same three values.
let baseN = quick ? 20_000 : 200_000
let formatter = DateFormatter()
formatter.locale = Locale(identifier: "en_US_POSIX")
formatter.timeZone = zone.timeZone
formatter.dateFormat = "yyyyMMddHH"
let baseSeconds = measure("baseline: Foundation DateFormatter, same 3 values", iterations: baseN) {
    var sum = 0
    for i in 0..<baseN {
        let date = Date(timeIntervalSince1970: Double(start + Int64(i) * 3600))
        let hour = formatter.string(from: date)
        let startTime = formatter.string(from: date.addingTimeInterval(-3600)) + "0000"
        let endTime = hour + "0000"
        sum &+= startTime.utf8.count &+ endTime.utf8.count &+ hour.utf8.count
    }
    return sum
}
print(String(format: "ratio: compiled set is %.1fx the DateFormatter baseline",
             (Double(n) / evalSeconds) / (Double(baseN) / baseSeconds)))

// 3. One year of 1-minute instances.
let minute = try InstanceCalendar(ScheduleSpec(cycle: .minute, start: "00:00", interval: 1, end: "23:59"), zone: zone)
let yearStart = zone.instant(for: try WallTime.parseDisplay("2025-01-01 00:00"))
let yearEnd = zone.instant(for: try WallTime.parseDisplay("2026-01-01 00:00"))
var count = 0
let listSeconds = measure("list one year of 1-minute instances", iterations: 525_600) {
    let list = minute.instances(from: yearStart, to: yearEnd)
    count = list.count
    return list.count
}
print("instances listed: \(count) (\(count == 525_600 || zoneName != "Asia/Shanghai" ? "ok" : "UNEXPECTED")) in \(String(format: "%.3f", listSeconds)) s")
_ = measure("visit one year of 1-minute instances (no array)", iterations: 525_600) {
    var c = 0
    minute.forEachInstance(from: yearStart, to: yearEnd) { _ in c += 1; return true }
    return c
}
