import Console
import ECS
import ECSShapes
import Foundation
import Lambda
import StevedoreCore
import StevedoreTestSupport
import Testing

@Suite struct ConsoleViewsTests {
    @Test func instanceBarsShowWhatTasksReserve() throws {
        var fixture = SchedulerFixture()
        try fixture.addInstance(zone: "b", cpu: 2048, memory: 4096)
        try fixture.addInstance(zone: "a", cpu: 1024, memory: 2048)
        try fixture.register("web", memory: 512)
        var page = try #require(ClusterViews.cluster("c", in: fixture))
        #expect(page.zones == ["a", "b"])
        #expect(page.instances.map(\.zone) == ["a", "b"])
        #expect(page.instances.allSatisfy { $0.memory.remaining == $0.memory.registered && $0.connected })
        try fixture.createService("svc", taskDefinition: "web", desired: 2)
        fixture.pass()
        page = try #require(ClusterViews.cluster("c", in: fixture))
        let reserved = page.instances.reduce(0) { $0 + $1.memory.registered - $1.memory.remaining }
        #expect(reserved == 1024)
        #expect(page.services.map(\.name) == ["svc"] && page.services[0].desired == 2)
        #expect(page.instances.reduce(0) { $0 + $1.pendingTasks + $1.runningTasks } == 2)
        #expect(ClusterViews.cluster("nope", in: fixture) == nil)
        let overview = ClusterViews.overview(fixture.ecs)
        #expect(overview.clusters.map(\.name) == ["c"] && overview.clusters[0].instances == 2 && overview.clusters[0].services == 1)
    }

    @Test func tasksFilterByStatusFamilyInstanceAndService() throws {
        var fixture = SchedulerFixture()
        let instance = try fixture.addInstance()
        try fixture.register("web")
        try fixture.register("worker")
        try fixture.createService("svc", taskDefinition: "web", desired: 2)
        fixture.pass()
        _ = try fixture.apply { ecs, now, random, changes in
            try ecs.runTask(RunTaskRequest(cluster: "c", taskDefinition: "worker"), now: now, using: &random, changes: &changes)
        }
        try fixture.agentsReport()
        let all = TaskViews.tasks(fixture.ecs, filter: .init(cluster: "c"))
        #expect(all.total == 3)
        #expect(TaskViews.tasks(fixture.ecs, filter: .init(cluster: "c", family: "worker")).total == 1)
        #expect(TaskViews.tasks(fixture.ecs, filter: .init(cluster: "c", service: "svc")).total == 2)
        #expect(TaskViews.tasks(fixture.ecs, filter: .init(cluster: "c", status: "RUNNING")).total == 3)
        #expect(TaskViews.tasks(fixture.ecs, filter: .init(cluster: "c", status: "STOPPED")).total == 0)
        let instanceId = String(instance.split(separator: "/").last!)
        #expect(TaskViews.tasks(fixture.ecs, filter: .init(cluster: "c", instance: instanceId)).total == 3)
        #expect(TaskViews.tasks(fixture.ecs, filter: .init(cluster: "c", instance: "unknown")).total == 0)
        #expect(TaskViews.tasks(fixture.ecs, filter: .init(cluster: "other")).total == 0)
        let limited = TaskViews.tasks(fixture.ecs, filter: .init(cluster: "c", limit: 2))
        #expect(limited.total == 3 && limited.tasks.count == 2)
        let task = all.tasks[0]
        #expect(TaskViews.task(fixture.ecs, cluster: "c", id: task.id)?.arn == task.arn)
        #expect(task.containers.map(\.name) == ["app"] && task.instanceId == instanceId)
    }

    @Test func serviceHistoryKeepsTheLastSamplesOfLiveServices() throws {
        var fixture = SchedulerFixture()
        try fixture.addInstance()
        try fixture.register("web")
        try fixture.createService("svc", taskDefinition: "web", desired: 2)
        var history = ServiceHistory()
        history.record(fixture.ecs, now: fixture.now)
        fixture.pass()
        try fixture.agentsReport()
        history.record(fixture.ecs, now: fixture.now.addingTimeInterval(2))
        let samples = history.samples(of: fixture.serviceArn)
        #expect(samples.map(\.running) == [0, 2])
        #expect(samples.map(\.desired) == [2, 2])
        #expect(samples[1].time - samples[0].time == 2000)
        for second in 0..<(ServiceHistory.limit + 10) { history.record(fixture.ecs, now: fixture.now.addingTimeInterval(Double(10 + second))) }
        #expect(history.samples(of: fixture.serviceArn).count == ServiceHistory.limit)
        let page = try #require(
            ServiceViews.service(cluster: "c", name: "svc", ecs: fixture.ecs, scaling: fixture.scaling, history: samples, now: fixture.now.addingTimeInterval(3)))
        #expect(page.running == 2 && page.deployments.count == 1 && page.deployments[0].status == "PRIMARY")
        // The chart ends with the counts at the moment the page is read.
        #expect(page.history.count == 3 && page.history.last == ServiceHistory.Sample(time: samples[0].time + 3000, running: 2, pending: 0, desired: 2))
        #expect(!page.events.isEmpty)
        #expect(ServiceViews.service(cluster: "c", name: "missing", ecs: fixture.ecs, scaling: fixture.scaling, history: [], now: fixture.now) == nil)
    }

    @Test func functionChartsBucketByMinuteWithPercentiles() {
        let now = Date(timeIntervalSince1970: 1_800_000_030)  // 30 s into a minute
        let end = Int64(1_800_000_030_000)
        var invocations: [FunctionViews.Invocation] = []
        for index in 1...100 {
            invocations.append(.init(endedAt: end - 1000, durationMs: Double(index), coldStart: index == 1, errorType: index % 10 == 0 ? "Boom" : nil, report: "REPORT \(index)"))
        }
        // One from two minutes ago, and one too old to show.
        invocations.append(.init(endedAt: end - 120_000, durationMs: 500, coldStart: false, errorType: nil, report: "REPORT old"))
        invocations.append(.init(endedAt: end - 3_600_000, durationMs: 9, coldStart: false, errorType: nil, report: "REPORT gone"))
        // One throttle this minute, and one an hour ago (outside the window).
        let (totals, buckets) = FunctionViews.chart(invocations: invocations, throttles: [30_000_000: 1, 29_999_940: 4], now: now)
        #expect(buckets.count == 30)
        #expect(buckets.last!.time == 1_800_000_000_000)
        #expect(buckets.last!.invocations == 100 && buckets.last!.errors == 10 && buckets.last!.coldStarts == 1 && buckets.last!.throttles == 1)
        #expect(buckets.last!.p50 == 50 && buckets.last!.p99 == 99)
        #expect(buckets[buckets.count - 3].invocations == 1 && buckets[buckets.count - 3].p50 == 500)
        #expect(buckets[buckets.count - 2].p50 == nil)
        #expect(totals.invocations == 101 && totals.errors == 10 && totals.throttles == 1 && totals.coldStarts == 1)
        #expect(FunctionViews.percentile([1, 2, 3, 4], 0.5) == 2)
        #expect(FunctionViews.percentile([7], 0.99) == 7)
    }
}
