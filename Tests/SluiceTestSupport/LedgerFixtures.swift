import Foundation
import SluiceCore
import Synchronization

/// A clock a test moves by hand.
public final class ManualTestClock: Sendable {
    private let current: Mutex<Date>
    public init(_ start: Date = Date(timeIntervalSince1970: 1_669_111_500)) { current = Mutex(start) }
    public var now: Date { current.withLock { $0 } }
    public func advance(seconds: Double) { current.withLock { $0 = $0.addingTimeInterval(seconds) } }
}

/// 2022-11-22 00:00 UTC plus `h` hours.
public func hour(_ h: Int) -> Date { Date(timeIntervalSince1970: 1_669_075_200 + Double(h) * 3600) }

/// An instance plan of job `j` over topic `events` with these partitions.
public func testPlan(_ partitions: [PartitionPlan], mode: WindowMode = .offsets, plannedAtMillis: Int64 = 1) -> InstancePlan {
    InstancePlan(job: "j", scheduledTime: 1_669_078_800, businessDate: "20221121", parameters: ["partition": "1"],
                 partition: "ds=1", windowMode: mode,
                 window: WindowPlan(topic: "events", startMillis: 1_669_075_200_000, endMillis: 1_669_078_800_000,
                                    plannedAtMillis: plannedAtMillis, topicPartitionCount: 3, partitions: partitions))
}

/// The `schedule:` block of the test jobs: hourly at :05 in UTC, the window the previous hour, the
/// partition that hour (`previousHour`) or the scheduled one.
public func hourlyScheduleYAML(partitionOfPreviousHour: Bool = true) -> String {
    """
    schedule:
      cycle: hour
      start: "00:05"
      timeZone: UTC
      parameters:
        startTime: "$[yyyymmddhh24-1/24]0000"
        endTime: "$[yyyymmddhh24]0000"
        partition: "$[yyyymmddhh24\(partitionOfPreviousHour ? "-1/24" : "")]"
    """
}
