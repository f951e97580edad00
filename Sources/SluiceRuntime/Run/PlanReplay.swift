import Foundation
import SluiceCore
import SluiceScheduling
import SluiceJob

/// When a stored plan may be replayed: only while the job still resolves the instance to the window
/// the plan was made for. A rerun after the job changed would otherwise write the old window's
/// records while the ledger records the new window; such a rerun is refused, naming the change,
/// and `--replan` plans the new window instead (as DataWorks reruns with the latest configuration).
enum PlanReplay {
    /// What differs between the window `stored` was made for and the one the job gives now, one
    /// `what old → new` per difference; empty when replaying writes what the job describes.
    static func changes(stored: InstancePlan, now run: ResolvedRun, source: KafkaSourceSpec) -> [String] {
        var changes: [String] = []
        func compare(_ what: String, _ old: String, _ new: String) {
            if old != new { changes.append("\(what) \(old) → \(new)") }
        }
        compare("destination partition", stored.partition.isEmpty ? "(none)" : stored.partition,
                run.partition.description.isEmpty ? "(none)" : run.partition.description)
        compare("topic", stored.window.topic, source.topic)
        compare("windowMode", stored.windowMode.rawValue, source.windowMode.rawValue)
        let zone = run.context.zone
        if let old = stored.begin {
            compare("window begin", describe(old, zone), describe(run.resolved.begin.planText, zone))
        } else if let ms = stored.window.startMillis, case .instant(let now) = run.resolved.begin {
            compare("window begin", zone.iso8601(millis: ms), zone.iso8601(millis: now))
        }
        if let old = stored.end {
            compare("window end", describe(old, zone), describe(run.resolved.end.planText, zone))
        } else if let ms = stored.window.endMillis, case .instant(let now) = run.resolved.end {
            compare("window end", zone.iso8601(millis: ms), zone.iso8601(millis: now))
        }
        let planned = stored.window.partitions.map(\.partition)
        if let subset = source.partitions {
            if Set(subset) != Set(planned) {
                compare("Kafka partitions", list(planned), list(subset.sorted()))
            }
        } else if planned.count < Int(stored.window.topicPartitionCount) {
            compare("Kafka partitions", list(planned), "all")
        }
        return changes
    }

    /// The refusal of a replay that would not write what the ledger records.
    static func refusal(instance id: Int64, job: String, changes: [String]) -> SluiceError {
        SluiceError.invalid(
            "instance \(id) of \(job) has a stored plan for another window than the job gives it now (\(changes.joined(separator: "; "))): replaying the plan would write the old window while the ledger records the new one",
            hint: "pass --replan to plan the window anew with the job as it is (the ledger then records what is written), or restore the job to replay the stored plan")
    }

    private static func list(_ partitions: [Int32]) -> String {
        partitions.map(String.init).joined(separator: ",")
    }

    /// `time 1669078800000` as an ISO-8601 instant in `zone`; other bounds as they are.
    private static func describe(_ text: String, _ zone: SchedulingZone) -> String {
        guard text.hasPrefix("time "), let ms = Int64(text.dropFirst(5)) else { return text }
        return zone.iso8601(millis: ms)
    }
}

extension ResolvedBound {
    /// How a plan records the bound it was made for: `time <epoch ms>`, `offset N`, `earliest`,
    /// `latest`, `group offset`.
    var planText: String {
        switch self {
        case .instant(let ms): "time \(ms)"
        case .offset(let o): "offset \(o)"
        case .earliest: "earliest"
        case .latest: "latest"
        case .groupOffset: "group offset"
        }
    }
}
