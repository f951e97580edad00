import Foundation
import SluiceTestSupport
import SluiceCore
import SluiceScheduling
import SluiceJob
import Synchronization
import Testing
@testable import SluiceRuntime
@testable import SluiceLedger

/// DataWorks' scheduling time proximity between jobs of different cycles.
@Suite struct UpstreamDependencyRuleTests {
    let zone = "Europe/Berlin"

    func calendar(_ schedule: String) throws -> InstanceCalendar {
        try #require(try InstanceCalendar.forJob(testJob("x", schedule: schedule).spec, fallback: .machine))
    }

    func times(_ t: [String]) throws -> [Int64] { try t.map { Int64(try at($0).timeIntervalSince1970) } }

    @Test func aDailyJobWaitsForAllTwentyFourHoursOfItsDay() throws {
        let hourly = try calendar("cycle: hour\nstart: \"00:00\"\ninterval: 1\nend: \"23:59\"")
        let daily = try calendar("cycle: day\nstart: \"00:30\"")
        let t = Int64(try at("2026-05-04 00:30:00").timeIntervalSince1970)
        let up = UpstreamDependencies.upstreamTimes(of: t, downstream: daily, upstream: hourly)
        #expect(up.count == 24)
        #expect(up.first == Int64(try at("2026-05-04 00:00:00").timeIntervalSince1970))
        #expect(up.last == Int64(try at("2026-05-04 23:00:00").timeIntervalSince1970))
    }

    @Test func everyHourlyInstanceWaitsForItsDaysDailyInstance() throws {
        let daily = try calendar("cycle: day\nstart: \"02:00\"")
        let hourly = try calendar("cycle: hour\nstart: \"00:00\"\ninterval: 1\nend: \"23:59\"")
        let day = try times(["2026-05-04 02:00:00"])
        for h in ["00:00", "01:00", "02:00", "05:00", "23:00"] {
            let t = Int64(try at("2026-05-04 \(h):00").timeIntervalSince1970)
            #expect(UpstreamDependencies.upstreamTimes(of: t, downstream: hourly, upstream: daily) == day, "\(h)")
        }
    }

    @Test func sameCyclesPairOneToOneAndCoarserOnesByProximity() throws {
        let hourly = try calendar("cycle: hour\nstart: \"00:00\"\ninterval: 1\nend: \"23:59\"")
        let sixHourly = try calendar("cycle: hour\nstart: \"00:00\"\ninterval: 6\nend: \"23:59\"")
        let t = Int64(try at("2026-05-04 07:00:00").timeIntervalSince1970)
        #expect(UpstreamDependencies.upstreamTimes(of: t, downstream: hourly, upstream: hourly) == [t])
        // Hourly downstream of a 6-hourly job: the closest instance at or before it.
        #expect(UpstreamDependencies.upstreamTimes(of: t, downstream: hourly, upstream: sixHourly)
                == (try times(["2026-05-04 06:00:00"])))
        // 6-hourly downstream of an hourly job: the hours since its previous instance.
        let twelve = Int64(try at("2026-05-04 12:00:00").timeIntervalSince1970)
        #expect(UpstreamDependencies.upstreamTimes(of: twelve, downstream: sixHourly, upstream: hourly)
                == (try times((7...12).map { String(format: "2026-05-04 %02d:00:00", $0) })))
        // The day's last one also takes the hours after it.
        let eighteen = Int64(try at("2026-05-04 18:00:00").timeIntervalSince1970)
        #expect(UpstreamDependencies.upstreamTimes(of: eighteen, downstream: sixHourly, upstream: hourly).count == 11)
    }

    @Test func theDownstreamOfAnInstanceIsTheInverse() throws {
        let hourly = try calendar("cycle: hour\nstart: \"00:00\"\ninterval: 1\nend: \"23:59\"")
        let daily = try calendar("cycle: day\nstart: \"00:30\"")
        let t = Int64(try at("2026-05-04 13:00:00").timeIntervalSince1970)
        #expect(UpstreamDependencies.downstreamTimes(of: t, upstream: hourly, downstream: daily) == (try times(["2026-05-04 00:30:00"])))
        let d = Int64(try at("2026-05-04 00:30:00").timeIntervalSince1970)
        #expect(UpstreamDependencies.downstreamTimes(of: d, upstream: daily, downstream: hourly).count == 24)
    }

    @Test func graphsNameUnknownJobsAndCyclesAndOrderDownstreamJobs() {
        let graph = JobDependencyGraph(["a": [], "b": ["a"], "c": ["b", "a"], "d": ["c", "zz"], "e": ["f"], "f": ["e"]])
        #expect(graph.problems() == ["job d depends on zz, which is not among the jobs loaded", "dependency cycle: e → f → e"])
        #expect(graph.downstream(of: "a") == ["b", "c", "d"])
        #expect(JobDependencyGraph(["a": [], "b": ["a"]]).problems().isEmpty)
    }
}

/// Jobs chained by `schedule.dependsOn` under the scheduler.
@Suite struct DependencySchedulingTests {
    /// A daily job downstream of an hourly job runs only after all 24 hourly instances of its day
    /// succeeded; a failed hourly instance keeps it waiting (and says so), and it runs once that
    /// instance succeeds when run again.
    @Test func aDailyJobRunsOnlyAfterAllItsHoursSucceeded() async throws {
        let failing = try at("2026-05-04 13:00:00")
        let failedOnce = Mutex(false)
        let f = try await SchedulerFixture(start: try at("2026-05-03 23:59:00")) { r in
            if r.job == "hourly", r.scheduledAt == failing, !failedOnce.withLock({ let was = $0; $0 = true; return was }) {
                return .fail("broker gone")
            }
            return .succeed
        }
        let hourly = try testJob("hourly", schedule: "cycle: hour\nstart: \"00:00\"\ninterval: 1\nend: \"23:59\"")
        let daily = try testJob("daily", schedule: "cycle: day\nstart: \"00:30\"\ndependsOn: [hourly]")
        let s = try await f.scheduler([hourly, daily])
        try await f.drive(s, from: try at("2026-05-04 00:00:00"), through: try at("2026-05-04 23:30:00"), step: 1800)
        let waiting = try #require(try await f.instances("daily").first)
        #expect(waiting.status == .waiting)
        let reason = try await f.ledger.schedulingState(id: waiting.id).waitReason
        #expect(reason?.contains("upstream hourly") == true && reason?.contains("13:00") == true, "\(reason ?? "")")
        #expect(!f.executor.executed.contains { $0.job == "daily" })
        // The failed hour runs again (as a retry would); then the daily instance runs.
        let failed = try #require(try await f.instances("hourly").first { $0.scheduledAt == failing })
        #expect(failed.status == .failed)
        try await f.ledger.setRetry(id: failed.id, at: try at("2026-05-05 00:00:00"))
        try await f.drive(s, from: try at("2026-05-05 00:00:00"), through: try at("2026-05-05 00:30:00"), step: 1800)
        let runs = f.executor.executed
        let dailyRun = try #require(runs.firstIndex { $0.job == "daily" })
        let hourlyDone = try await f.instances("hourly").filter { $0.scheduledAt < (try at("2026-05-05 00:00:00")) }
        #expect(hourlyDone.count == 24 && hourlyDone.allSatisfy { $0.status == .succeeded })
        #expect(runs[..<dailyRun].filter { $0.job == "hourly" && $0.scheduledAt < (try! at("2026-05-05 00:00:00")) }.count == 25)
        #expect(try await f.instances("daily").first?.status == .succeeded)
        #expect(try await f.ledger.schedulingState(id: waiting.id).waitReason == nil)
    }

    @Test func unknownUpstreamJobsAndCyclesAreReported() async throws {
        let f = try await SchedulerFixture(start: try at("2026-05-03 23:59:00"))
        let a = try testJob("a", schedule: "cycle: day\nstart: \"00:30\"\ndependsOn: [b]")
        let b = try testJob("b", schedule: "cycle: day\nstart: \"00:30\"\ndependsOn: [a]")
        let c = try testJob("c", schedule: "cycle: day\nstart: \"00:30\"\ndependsOn: [nowhere]")
        let s = try await f.scheduler([a, b, c])
        #expect(await s.dependencyProblems == ["job c depends on nowhere, which is not among the jobs loaded",
                                               "dependency cycle: a → b → a"])
        try await f.drive(s, from: try at("2026-05-04 00:30:00"), through: try at("2026-05-04 01:00:00"), step: 1800)
        #expect(f.executor.executed.isEmpty)
        let c1 = try #require(try await f.instances("c").first)
        #expect(try await f.ledger.schedulingState(id: c1.id).waitReason == "upstream job nowhere is not loaded by this scheduler")
    }
}
