import SluiceCore

/// The demo's day of events: JSON values shaped like the seed tutorial's example, keys, headers, and
/// timestamps spread over one day, with a few late and out-of-order records. Deterministic for a seed.
public struct DemoData: Sendable {
    public struct Event: Sendable {
        public var key: [UInt8]
        public var value: [UInt8]
        public var headers: [KafkaHeader]
        /// Epoch milliseconds.
        public var timestamp: Int64
        /// True when the record is produced after records with later timestamps (late / out of order).
        public var isLate: Bool
    }

    public var events: [Event]

    /// `count` events whose timestamps cover `[dayStartMillis, dayStartMillis + 24h)`, in production
    /// order; every 500th event is produced 20–80 minutes late (its timestamp is earlier than its
    /// neighbours'), which is exactly what loses data in a time-window sync that is not contiguous.
    public init(dayStartMillis: Int64, count: Int = 8640, seed: UInt64 = 20221122) {
        var rng = SplitMix64(seed: seed)
        let day: Int64 = 86_400_000
        let step = day / Int64(max(count, 1))
        var events: [Event] = []
        events.reserveCapacity(count)
        let users = ["alice", "bob", "carol", "dave", "erin", "frank"]
        for i in 0..<count {
            var ts = dayStartMillis + Int64(i) * step + Int64(rng.next() % UInt64(max(step, 1)))
            var late = false
            if i % 500 == 499 {
                let lateBy = Int64(20 + rng.next() % 60) * 60_000
                if ts - lateBy >= dayStartMillis {
                    ts -= lateBy
                    late = true
                }
            }
            let user = users[Int(rng.next() % UInt64(users.count))]
            let amount = Double(rng.next() % 100_000) / 100
            let value = """
            {"event_id":"e-\(i)","user":"\(user)","a":{"a1":"hello-\(i)"},"b":"world","c":["x\(i)","y\(i)"],\
            "d":[{"AA":"this","BB":"is_data"},{"AA":"that","BB":"is_also_data"}],"a.b":"unreachable","amount":\(amount)}
            """
            events.append(Event(key: Array(user.utf8), value: Array(value.utf8),
                                headers: [KafkaHeader(name: "source", value: Array("demo".utf8)),
                                          KafkaHeader(name: "seq", value: Array(String(i).utf8))],
                                timestamp: ts, isLate: late))
        }
        self.events = events
    }
}

/// A small, fast, seedable generator (SplitMix64) so demo and benchmark data are reproducible.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
