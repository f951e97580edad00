import Foundation
import Synchronization

/// The scheduler's source of time. Tests use `ManualClock`; the service uses `SystemClock`.
public protocol SchedulerClock: Sendable {
    func now() -> Date
    /// Waits until `deadline` (or returns early when the task is cancelled).
    func sleep(until deadline: Date) async
}

/// Wall-clock time.
public struct SystemClock: SchedulerClock {
    public init() {}
    public func now() -> Date { Date() }
    public func sleep(until deadline: Date) async {
        let seconds = deadline.timeIntervalSinceNow
        guard seconds > 0 else { return }
        try? await Task.sleep(for: .milliseconds(Int64(seconds * 1000)))
    }
}

/// A clock that moves only when told to, so tests drive days of schedules in milliseconds.
public final class ManualClock: SchedulerClock {
    private let current: Mutex<Date>

    public init(_ start: Date) { current = Mutex(start) }

    public func now() -> Date { current.withLock { $0 } }

    public func set(_ date: Date) { current.withLock { $0 = date } }

    public func advance(by seconds: TimeInterval) { current.withLock { $0 = $0.addingTimeInterval(seconds) } }

    /// Returns at once: whoever drives the clock calls `Scheduler.tick()` after moving it.
    public func sleep(until deadline: Date) async { await Task.yield() }
}
