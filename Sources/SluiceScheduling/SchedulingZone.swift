import Foundation
import Synchronization
import SluiceCore

/// An IANA time zone with its UTC-offset transitions precomputed (years 1800–2500), so that converting
/// between instants and wall-clock times is a binary search instead of a Foundation call.
///
/// Instants are whole seconds since the Unix epoch (`Int64`). Converting a wall time that does not
/// exist or exists twice follows the Sluice rules (see `instant(for:)`).
public final class SchedulingZone: Sendable, Hashable, CustomStringConvertible {
    public let identifier: String
    public let timeZone: TimeZone
    /// Instants at which `offsets[i + 1]` takes effect, ascending.
    private let transitions: [Int64]
    /// UTC offsets in seconds; `offsets[0]` applies before the first transition.
    private let offsets: [Int]
    private let tableStart: Int64
    private let tableEnd: Int64

    static let tableStartInstant: Int64 = -5_364_662_400  // 1800-01-01T00:00Z
    static let tableEndInstant: Int64 = 16_725_225_600  // 2500-01-01T00:00Z

    /// Loads the zone named `identifier` (an IANA name such as `Asia/Shanghai`, or `UTC`).
    /// Throws `SluiceError(.invalidInput)` for an unknown name. Zones are cached by name.
    public static func named(_ identifier: String) throws -> SchedulingZone {
        if let zone = cache.get(identifier) { return zone }
        guard let tz = TimeZone(identifier: identifier) else {
            throw SluiceError.invalid("unknown time zone `\(identifier)`",
                                      hint: "use an IANA zone name such as Asia/Shanghai, Europe/Berlin or UTC")
        }
        let zone = SchedulingZone(timeZone: tz, identifier: identifier)
        cache.put(identifier, zone)
        return zone
    }

    /// UTC.
    public static var utc: SchedulingZone { of(TimeZone(identifier: "UTC")!) }

    /// The zone of `timeZone`, cached by its identifier like `named` (the application passes the
    /// machine's zone this way: this module reads no system state).
    public static func of(_ timeZone: TimeZone) -> SchedulingZone {
        if let zone = cache.get(timeZone.identifier) { return zone }
        let zone = SchedulingZone(timeZone: timeZone, identifier: timeZone.identifier)
        cache.put(timeZone.identifier, zone)
        return zone
    }

    public init(timeZone: TimeZone, identifier: String? = nil) {
        self.identifier = identifier ?? timeZone.identifier
        self.timeZone = timeZone
        let start = SchedulingZone.tableStartInstant
        let end = SchedulingZone.tableEndInstant
        var transitions: [Int64] = []
        var offsets = [timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(start)))]
        var cursor = Date(timeIntervalSince1970: Double(start))
        while let next = timeZone.nextDaylightSavingTimeTransition(after: cursor) {
            let t = Int64(next.timeIntervalSince1970.rounded(.up))
            if t >= end || t <= Int64(cursor.timeIntervalSince1970) { break }
            let offset = timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(t)))
            if offset != offsets[offsets.count - 1] {
                transitions.append(t)
                offsets.append(offset)
            }
            cursor = next
        }
        self.transitions = transitions
        self.offsets = offsets
        self.tableStart = start
        self.tableEnd = end
    }

    /// Seconds east of UTC at `instant`.
    @inline(__always)
    public func secondsFromGMT(at instant: Int64) -> Int {
        if transitions.isEmpty { return offsets[0] }
        if instant < tableStart || instant >= tableEnd {
            return timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(instant)))
        }
        return offsets[transitionIndex(atOrBefore: instant)]
    }

    /// Number of transitions at or before `instant` (= the index into `offsets`).
    @inline(__always)
    private func transitionIndex(atOrBefore instant: Int64) -> Int {
        var lo = 0
        var hi = transitions.count
        while lo < hi {
            let mid = (lo + hi) >> 1
            if transitions[mid] <= instant { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// The wall-clock time at `instant`.
    @inline(__always)
    public func civil(at instant: Int64) -> CivilDateTime {
        CivilDateTime(localSeconds: instant + Int64(secondsFromGMT(at: instant)))
    }

    /// The instant of a wall-clock time. A time that occurs twice (the hour repeated when clocks fall
    /// back) means its first occurrence; a time that does not exist (skipped when clocks spring
    /// forward) means the first instant after the gap, i.e. the transition itself. This is how window
    /// bounds (`yyyymmddhhmmss`) are read; scheduled times follow `scheduledInstant(for:)`.
    public func instant(for wall: CivilDateTime) -> Int64 {
        instant(localSeconds: wall.localSeconds)
    }

    func instant(localSeconds local: Int64) -> Int64 {
        switch resolve(localSeconds: local) {
        case .exists(let first, _): first
        case .skipped(let transition, _): transition
        }
    }

    /// The instant of an instance scheduled at a wall-clock time, by DataWorks' rules for the days
    /// clocks change: a time that occurs twice means its **second** occurrence (DataWorks keeps the
    /// second of the two instances), and a time skipped by a spring-forward gap is delayed by the
    /// gap's length (02:30 becomes 03:30 when clocks jump from 02:00 to 03:00); `skipped` says so.
    public func scheduledInstant(for wall: CivilDateTime) -> (instant: Int64, skipped: Bool) {
        scheduledInstant(localSeconds: wall.localSeconds)
    }

    func scheduledInstant(localSeconds local: Int64) -> (instant: Int64, skipped: Bool) {
        switch resolve(localSeconds: local) {
        case .exists(_, let last): (last, false)
        case .skipped(_, let offsetBefore): (local - offsetBefore, true)
        }
    }

    /// Where a wall-clock time falls: its first and last occurrence, or the gap that skips it (the
    /// transition and the UTC offset before it).
    private enum LocalTime {
        case exists(first: Int64, last: Int64)
        case skipped(transition: Int64, offsetBefore: Int64)
    }

    private func resolve(localSeconds local: Int64) -> LocalTime {
        if transitions.isEmpty { return .exists(first: local - Int64(offsets[0]), last: local - Int64(offsets[0])) }
        // Offsets are within ±18 h, so only transitions in this window can matter.
        let window: Int64 = 18 * 3600 + 1
        if local - window < tableStart || local + window >= tableEnd {
            let guess = local - Int64(secondsFromGMT(at: local))
            let instant = local - Int64(secondsFromGMT(at: guess))
            return .exists(first: instant, last: instant)
        }
        let first = transitionIndex(atOrBefore: local - window)
        let last = transitionIndex(atOrBefore: local + window)
        var earliest: Int64?
        var latest: Int64?
        for i in first...last {
            let candidate = local - Int64(offsets[i])
            // Valid when the candidate instant lies in the segment where offset i applies.
            let segmentStart = i == 0 ? Int64.min : transitions[i - 1]
            let segmentEnd = i == transitions.count ? Int64.max : transitions[i]
            if candidate >= segmentStart && candidate < segmentEnd {
                earliest = min(earliest ?? candidate, candidate)
                latest = max(latest ?? candidate, candidate)
            }
        }
        if let earliest, let latest { return .exists(first: earliest, last: latest) }
        // In a gap: find the transition whose skipped wall-clock range contains `local`.
        for i in max(first, 1)...last {
            let t = transitions[i - 1]
            let before = Int64(offsets[i - 1])
            let after = Int64(offsets[i])
            if after > before && local >= t + before && local < t + after {
                return .skipped(transition: t, offsetBefore: before)
            }
        }
        let instant = local - Int64(offsets[last])
        return .exists(first: instant, last: instant)
    }

    /// `+08:00`, `-04:00`, `Z` for zero (ISO 8601).
    public func offsetText(at instant: Int64) -> String {
        SchedulingZone.offsetText(secondsFromGMT(at: instant))
    }

    static func offsetText(_ seconds: Int) -> String {
        if seconds == 0 { return "Z" }
        let sign = seconds < 0 ? "-" : "+"
        let minutes = abs(seconds) / 60
        let h = minutes / 60, m = minutes % 60
        return "\(sign)\(h < 10 ? "0" : "")\(h):\(m < 10 ? "0" : "")\(m)"
    }

    /// `2022-11-22T10:05:00+08:00`: the instant as a wall time in this zone with its offset.
    public func iso8601(_ instant: Int64) -> String {
        let civil = civil(at: instant)
        var text = civil.description
        text.replaceSubrange(text.index(text.startIndex, offsetBy: 10)...text.index(text.startIndex, offsetBy: 10),
                             with: "T")
        return text + offsetText(at: instant)
    }

    /// `2022-11-22T10:05:00.250+08:00` for an epoch-milliseconds instant.
    public func iso8601(millis: Int64) -> String {
        let seconds = millis >= 0 ? millis / 1000 : (millis - 999) / 1000
        let ms = Int(millis - seconds * 1000)
        guard ms != 0 else { return iso8601(seconds) }
        let base = iso8601(seconds)
        let offset = offsetText(at: seconds)
        let wall = base.dropLast(offset.count)
        let frac = String(ms + 1000).dropFirst()
        return "\(wall).\(frac)\(offset)"
    }

    public static func == (a: SchedulingZone, b: SchedulingZone) -> Bool { a.identifier == b.identifier }
    public func hash(into hasher: inout Hasher) { hasher.combine(identifier) }
    public var description: String { identifier }

    private static let cache = ZoneCache()
}

private final class ZoneCache: Sendable {
    private let zones = Mutex<[String: SchedulingZone]>([:])

    func get(_ id: String) -> SchedulingZone? { zones.withLock { $0[id] } }

    func put(_ id: String, _ zone: SchedulingZone) { zones.withLock { $0[id] = zone } }
}
