import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Stops the process running an instance: SIGTERM, then SIGKILL when it is still there after `grace`.
public enum InstanceKiller {
    /// `stillRunning` says whether the process still holds the instance (e.g. its run lock); it is
    /// polled every 100 ms.
    public static func terminate(pid: Int32, grace: Duration, stillRunning: @Sendable () async -> Bool) async throws {
        guard pid > 0 else { return }
        kill(pid, SIGTERM)
        let deadline = ContinuousClock.now.advanced(by: grace)
        while await stillRunning() {
            if ContinuousClock.now >= deadline {
                kill(pid, SIGKILL)
                try await Task.sleep(for: .milliseconds(200))
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }
}
