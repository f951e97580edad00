import Foundation

/// When a read ends.
public enum CompletionPolicy: Sendable, Hashable {
    /// Stop when every partition reached its planned end offset (DataWorks "stop at the specified end
    /// position"). The default.
    case endOffset
    /// After the planned end, keep reading while records arrive; stop after `seconds` without a new
    /// record on any partition (DataWorks `stopWhenPollEmpty` / "no new data for 1 minute").
    /// `alsoStopAtLatest` is DataWorks `stopWhenReachEndOffset`.
    case idle(seconds: Double, alsoStopAtLatest: Bool)
}

/// How an instance's start offsets are chosen.
public enum WindowMode: String, Sendable, Hashable, Codable, CaseIterable {
    /// Start and end offsets from the window's time bounds (DataWorks-compatible).
    case offsets
    /// Each partition starts where the previous successful instance of the job ended, so consecutive
    /// windows tile the offset space exactly.
    case contiguous
}

/// What to do when a planned offset is outside the retained log.
public enum AutoOffsetReset: String, Sendable, Hashable, CaseIterable {
    case none, earliest, latest
}
