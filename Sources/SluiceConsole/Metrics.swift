import Foundation
import Hummingbird
import Prometheus
import SluiceCore
import SluiceLedger
import SluiceRuntime
import SluiceScheduling
import SluiceJob

/// /metrics: computed from the ledger at each scrape (reused for `cacheSeconds`), so the numbers
/// survive restarts and count the instances of every scheduler sharing the ledger. Scheduler and
/// `sluice run` push nothing. Every name is documented in docs/console.md.
struct MetricsExporter {
    static let durationBuckets: [Double] = [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600]

    let totals: LedgerTotals
    let attempts: [FinishedAttempt]
    /// Per job: its lag, or nil when it could not be measured.
    let lags: [String: JobLag?]
    /// Per job with a schedule: the seconds between instances.
    let cycles: [String: Double]

    func render() -> String {
        let registry = PrometheusCollectorRegistry()
        func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(namespace: "sluice", metricName: metric, unitName: unit, helpText: help)
        }
        gauges(registry, name)
        counters(registry, name)
        histograms(registry, name)
        return registry.emitToString()
    }

    private func gauges(_ r: PrometheusCollectorRegistry, _ name: (String, String, String) -> MetricNameDescriptor) {
        let instances = name("instances", "", "Instances in the ledger by job and current status.")
        for c in totals.instances { r.makeGauge(descriptor: instances, labels: [("job", c.job), ("status", c.status)]).set(to: Double(c.count)) }
        let queue = name("scheduler_queue_depth", "", "Instances whose time has come that wait to run (pending or waiting), by job.")
        let running = name("running_instances", "", "Instances running now, by job.")
        var queued: [String: Int64] = [:]
        for c in totals.queued { queued[c.job, default: 0] += c.count }
        for job in jobs { r.makeGauge(descriptor: queue, labels: [("job", job)]).set(to: Double(queued[job] ?? 0)) }
        for job in jobs {
            let n = totals.instances.filter { $0.job == job && $0.status == InstanceStatus.running.rawValue }.reduce(0) { $0 + $1.count }
            r.makeGauge(descriptor: running, labels: [("job", job)]).set(to: Double(n))
        }
        let success = name("last_success_scheduled", "timestamp_seconds", "Scheduled time of the job's latest succeeded instance (Unix seconds).")
        let businessDate = name("last_success_business_date", "timestamp_seconds", "Business date of the job's latest succeeded instance, as midnight UTC (Unix seconds).")
        for s in totals.lastSuccess {
            r.makeGauge(descriptor: success, labels: [("job", s.job)]).set(to: s.scheduledAt.timeIntervalSince1970)
            if let d = s.businessDate.flatMap({ try? WallTime.parseDate($0) }) {
                r.makeGauge(descriptor: businessDate, labels: [("job", s.job)]).set(to: Double(d.dayNumber) * 86_400)
            }
        }
        let cycle = name("job_cycle", "seconds", "Seconds between a job's scheduled instances (its cycle times its interval).")
        for (job, seconds) in cycles.sorted(by: { $0.key < $1.key }) { r.makeGauge(descriptor: cycle, labels: [("job", job)]).set(to: seconds) }
        lagGauges(r, name)
    }

    private func lagGauges(_ r: PrometheusCollectorRegistry, _ name: (String, String, String) -> MetricNameDescriptor) {
        let lag = name("consumer_lag", "records", "Records in Kafka after the last committed instance's end, by job and partition.")
        let up = name("consumer_lag_up", "", "1 when the job's lag could be measured from Kafka at this scrape, else 0.")
        for (job, measured) in lags.sorted(by: { $0.key < $1.key }) {
            r.makeGauge(descriptor: up, labels: [("job", job)]).set(to: measured == nil ? 0 : 1)
            for p in measured?.partitions ?? [] {
                r.makeGauge(descriptor: lag, labels: [("job", job), ("partition", String(p.partition))]).set(to: Double(p.lag))
            }
        }
    }

    private func counters(_ r: PrometheusCollectorRegistry, _ name: (String, String, String) -> MetricNameDescriptor) {
        let attempts = name("attempts", "total", "Finished attempts by job and final status.")
        for c in totals.attempts { r.makeCounter(descriptor: attempts, labels: [("job", c.job), ("status", c.status)]).increment(by: c.count) }
        let read = name("records_read", "total", "Records read by the finished attempts of a job.")
        let written = name("records_written", "total", "Records written by the finished attempts of a job.")
        let late = name("records_late", "total", "Late records (timestamp before the window) seen by the finished attempts of a job.")
        let dirty = name("records_dirty", "total", "Dirty records (not mapped or not written) of the finished attempts of a job.")
        let bytes = name("bytes_read", "total", "Key and value bytes read by the finished attempts of a job.")
        for j in totals.records {
            let labels = [("job", j.job)]
            r.makeCounter(descriptor: read, labels: labels).increment(by: j.read)
            r.makeCounter(descriptor: written, labels: labels).increment(by: j.written)
            r.makeCounter(descriptor: late, labels: labels).increment(by: j.late)
            r.makeCounter(descriptor: dirty, labels: labels).increment(by: j.dirty)
            r.makeCounter(descriptor: bytes, labels: labels).increment(by: j.bytes)
        }
    }

    private func histograms(_ r: PrometheusCollectorRegistry, _ name: (String, String, String) -> MetricNameDescriptor) {
        let duration = name("instance_duration", "seconds", "Duration of finished attempts, by job and final status.")
        let phase = name("phase_duration", "seconds", "Duration of each phase of finished attempts (setup, destination, plan, open, read, commit, finish), by job.")
        var made: [String: ValueHistogram] = [:]
        func histogram(_ d: MetricNameDescriptor, _ labels: [(String, String)]) -> ValueHistogram {
            let key = d.name + labels.map { "\($0.0)=\($0.1)" }.joined(separator: ",")
            if let h = made[key] { return h }
            let h = r.makeValueHistogram(descriptor: d, labels: labels, buckets: Self.durationBuckets)
            made[key] = h
            return h
        }
        for a in attempts {
            histogram(duration, [("job", a.job), ("status", a.status.rawValue)]).record(a.seconds)
            for (p, seconds) in a.phases { histogram(phase, [("job", a.job), ("phase", p)]).record(seconds) }
        }
    }

    private var jobs: [String] { Array(Set(totals.instances.map(\.job))).sorted() }

    /// Seconds between instances of a schedule.
    static func cycleSeconds(_ spec: JobSpec) -> Double? {
        guard let s = spec.schedule else { return nil }
        let unit: Double
        switch s.cycle {
        case .minute: unit = 60
        case .hour: unit = 3600
        case .day: unit = 86_400
        case .week: unit = 7 * 86_400
        case .month: unit = 30 * 86_400
        }
        return unit * Double(max(1, s.interval))
    }
}

extension Console {
    func metrics(_ call: Call) async throws -> Response {
        let text = try await cache.value(key: "metrics", ttl: config.cacheSeconds > 0 ? max(config.cacheSeconds, 5) : 0) {
            let ledger = self.reader
            let totals = try await ledger.totals(now: Date())
            let attempts = try await ledger.finishedAttempts()
            var lags: [String: JobLag?] = [:]
            var cycles: [String: Double] = [:]
            for name in await self.jobs.names() {
                guard let job = await self.jobs.entry(named: name, registeredPath: nil)?.job else { continue }
                cycles[name] = MetricsExporter.cycleSeconds(job.spec)
                guard job.spec.task == .sync else { continue }
                lags.updateValue(try? await self.lag.lag(job, ledger: ledger).get(), forKey: name)
            }
            return MetricsExporter(totals: totals, attempts: attempts, lags: lags, cycles: cycles).render()
        }
        return Self.text(text, type: "text/plain; version=0.0.4; charset=utf-8")
    }
}
