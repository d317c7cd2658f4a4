import AgentProtocol
@testable import ECS
import ECSShapes
import Foundation
import StevedoreCore
import StevedoreTestSupport
import Testing

/// Stopped tasks are stored apart behind a summary line: a restart reads the summaries without
/// decoding the tasks, and every read still finds them.
struct StoppedTaskArchiveTests {
    /// Runs three tasks, stops two as their agent would report, and restarts from the rows written.
    func restarted() throws -> (state: ECSState, arns: [String], fixture: SchedulerFixture) {
        var fixture = SchedulerFixture()
        try fixture.addInstance()
        try fixture.register()
        let arns = try fixture.apply {
            try $0.runTask(RunTaskRequest(cluster: "c", count: 3, startedBy: "batch", taskDefinition: "web"), now: $1, using: &$2, changes: &$3)
        }.tasks!.map { $0.taskArn! }
        for arn in arns { try fixture.report(arn, "RUNNING") }
        for arn in arns.prefix(2) {
            _ = try fixture.ecs.stopTask(StopTaskRequest(cluster: "c", task: arn, reason: "finished"), now: fixture.now, changes: &fixture.changes)
            try fixture.report(arn, "STOPPED", exitCode: 0)
        }
        let store = InMemoryStateStore()
        store.submit(fixture.changes.changes) { _ in }
        let rows = store.loadAll()
        #expect(rows[.stoppedTasks]?.count == 2)
        #expect(rows[.tasks]?.count == 1, "a stopped task's row leaves the live table")
        return (try ECSState.restore(names: ResourceNames(), rows: rows), arns, fixture)
    }

    @Test func aRestartKeepsStoppedTasksEncodedAndStillDescribesThem() throws {
        let (state, arns, fixture) = try restarted()
        #expect(state.archive.count == 2)
        #expect(state.tasks.keys.sorted() == [arns[2]])
        let described = try state.describeTasks(DescribeTasksRequest(cluster: "c", tasks: arns))
        #expect(described.tasks?.map(\.taskArn) == arns)
        #expect(described.tasks?.prefix(2).map(\.lastStatus) == ["STOPPED", "STOPPED"])
        #expect(described.tasks?.first?.stoppedReason == "finished")
        let withTags = try state.describeTasks(DescribeTasksRequest(cluster: "c", tasks: [arns[0]], include: [.tags]))
        #expect(withTags.tasks?.first == fixture.ecs.tasks[arns[0]]?.task, "the task as it was, field for field")
        // By id as well as ARN.
        let id = ARN(arns[0])!.lastPathComponent
        #expect(try state.describeTasks(DescribeTasksRequest(cluster: "c", tasks: [id])).tasks?.count == 1)
        #expect(state.counters.assignmentSequence == fixture.ecs.counters.assignmentSequence)
    }

    @Test func listTasksFiltersArchivedTasksByTheirSummary() throws {
        let (state, arns, _) = try restarted()
        func list(_ request: ListTasksRequest) throws -> [String] { try state.listTasks(request).taskArns ?? [] }
        #expect(try list(ListTasksRequest(cluster: "c", desiredStatus: .stopped)) == arns.prefix(2).sorted())
        #expect(try list(ListTasksRequest(cluster: "c", family: "web", startedBy: "batch", desiredStatus: .stopped)) == arns.prefix(2).sorted())
        #expect(try list(ListTasksRequest(cluster: "c", startedBy: "someone-else", desiredStatus: .stopped)).isEmpty)
        #expect(try list(ListTasksRequest(cluster: "c", family: "other", desiredStatus: .stopped)).isEmpty)
        #expect(try list(ListTasksRequest(cluster: "c")) == [arns[2]])
    }

    @Test func clusterTaskCountsFollowEveryChangeAndARestart() throws {
        var fixture = SchedulerFixture()
        try fixture.addInstance()
        try fixture.register()
        func counts(_ state: ECSState) throws -> [Int] {
            let cluster = try #require(try state.describeClusters(DescribeClustersRequest(clusters: ["c"])).clusters?.first)
            // What a scan of every task says, against what DescribeClusters answers.
            let live = state.tasks.values.filter { state.clusterName(ofTask: $0) == "c" }
            #expect(cluster.runningTasksCount == live.filter { $0.lastStatus == .running }.count)
            #expect(cluster.pendingTasksCount == live.filter { [.provisioning, .pending, .activating].contains($0.lastStatus) }.count)
            return [cluster.runningTasksCount ?? -1, cluster.pendingTasksCount ?? -1]
        }
        let arns = try fixture.apply {
            try $0.runTask(RunTaskRequest(cluster: "c", count: 4, taskDefinition: "web"), now: $1, using: &$2, changes: &$3)
        }.tasks!.map { $0.taskArn! }
        #expect(try counts(fixture.ecs) == [0, 4])
        for arn in arns.prefix(3) { try fixture.report(arn, "RUNNING") }
        #expect(try counts(fixture.ecs) == [3, 1])
        try fixture.report(arns[0], "STOPPED", exitCode: 0)
        try fixture.report(arns[3], "STOPPED", exitCode: 1)
        #expect(try counts(fixture.ecs) == [2, 0])
        let store = InMemoryStateStore()
        store.submit(fixture.changes.changes) { _ in }
        var restored = try ECSState.restore(names: ResourceNames(), rows: store.loadAll())
        #expect(try counts(restored) == [2, 0])
        var changes = ChangeSet()
        restored.pruneStopped(now: fixture.now.addingTimeInterval(7200), retention: 3600, changes: &changes)
        #expect(try counts(restored) == [2, 0])
    }

    @Test func retentionPrunesArchivedTasks() throws {
        var (state, arns, fixture) = try restarted()
        var changes = ChangeSet()
        state.pruneStopped(now: fixture.now.addingTimeInterval(60), retention: 3600, changes: &changes)
        #expect(state.archive.count == 2)
        state.pruneStopped(now: fixture.now.addingTimeInterval(3601), retention: 3600, changes: &changes)
        #expect(state.archive.count == 0)
        #expect(Set(changes.changes.filter { $0.kind == .stoppedTasks && $0.body == nil }.map(\.key)) == Set(arns.prefix(2)))
        // Their rows in the live table go too (a stopped task kept there from before the archive).
        #expect(Set(changes.changes.filter { $0.kind == .tasks && $0.body == nil }.map(\.key)) == Set(arns.prefix(2)))
        #expect(try state.describeTasks(DescribeTasksRequest(cluster: "c", tasks: [arns[0]])).failures?.first?.reason == "MISSING")
    }

    @Test func aChangeToAnArchivedTaskMovesItBackAmongTheLive() throws {
        var (state, arns, fixture) = try restarted()
        var changes = ChangeSet()
        // The agent reports the stop again after the restart.
        _ = try state.submitTaskStateChange(
            SubmitTaskStateChangeRequest(cluster: "c", task: arns[0], status: "STOPPED"), now: fixture.now, changes: &changes)
        #expect(!state.archive.contains(arns[0]))
        #expect(state.tasks[arns[0]]?.isStopped == true)
        #expect(changes.changes.contains { $0.kind == .stoppedTasks && $0.key == arns[0] && $0.body != nil })
        #expect(!changes.changes.contains { $0.kind == .tasks && $0.body != nil }, "a stopped task is never written to the live table")
    }

    @Test func rowsAreCompressedAndRowsWrittenBeforeStillLoad() throws {
        let (state, arns, fixture) = try restarted()
        let record = try #require(fixture.ecs.tasks[arns[0]])
        let row = StoppedTaskArchive.row(record, cluster: "c")
        let json = RecordCoding.encode(record)
        #expect(row.starts(with: Array("=v2\t".utf8)))
        #expect(row.count < json.count, "the body is compressed")
        // A row as written before compression: the same summary, marked v1, with plain JSON.
        let newline = try #require(row.firstIndex(of: UInt8(ascii: "\n")))
        let v1 = Array("=v1".utf8) + row[3...newline] + json
        var archive = StoppedTaskArchive()
        let loaded = archive.load(row: v1)
        #expect(loaded)
        #expect(archive.record(arns[0]) == record && state.archive.record(arns[0]) == record)
        // A damaged body is not a task.
        var damaged = StoppedTaskArchive()
        let loadedDamaged = damaged.load(row: Array(row[...newline]) + [0xff, 0x00, 0x13])
        #expect(loadedDamaged)
        #expect(damaged.record(arns[0]) == nil && damaged.contains(arns[0]))
    }

    @Test func summaryLinesEscapeWhatCouldBreakThem() {
        let field = "a\tb\nc\\d"
        #expect(StoppedTaskArchive.unescape(Array(StoppedTaskArchive.escape(field).utf8)[...]) == field)
        #expect(StoppedTaskArchive.unescape(Array(StoppedTaskArchive.escape(nil).utf8)[...]) == nil)
        #expect(StoppedTaskArchive.unescape(Array(StoppedTaskArchive.escape("").utf8)[...]) == "")
        var archive = StoppedTaskArchive()
        let notASummary = archive.load(row: Array("not a summary\n{}".utf8))
        let noNewline = archive.load(row: Array("no newline at all".utf8))
        #expect(!notASummary)
        #expect(!noNewline)
    }

    /// Rows of many stopped tasks (only the summary line matters to the index).
    func rows(_ count: Int, cluster: String = "c") -> [(arn: String, row: [UInt8])] {
        (0..<count).map { index in
            // Every tenth ARN holds a tab, stored escaped.
            let arn = "arn:aws:ecs:us-east-1:000000000000:task/\(cluster)/\(String(index, radix: 16))" + (index % 10 == 0 ? "\tx" : "")
            let line = ["=v1", StoppedTaskArchive.escape(arn), "=" + cluster, "", "", "", "", "", "=STOPPED", "=1700000000.5", "=\(index)"].joined(separator: "\t")
            return (arn, Array((line + "\n{}").utf8))
        }
    }

    /// The index finds, replaces and removes every task, in any order, also when every ARN's
    /// digest is the same (the path a real 64-bit collision takes).
    @Test(arguments: [UInt64.max, 0])
    func theIndexFollowsEveryRemovalEvenWhenDigestsCollide(mask: UInt64) throws {
        var archive = StoppedTaskArchive(digestMask: mask)
        let tasks = rows(200)
        archive.load(tasks.map { StoppedTaskArchive.entry(row: $0.row)! })
        #expect(archive.count == 200)
        #expect(tasks.allSatisfy { archive.contains($0.arn) })
        #expect(archive.summary(tasks[7].arn)?.assignmentSequence == 7)
        #expect(archive.summary(tasks[7].arn)?.stoppedAt == Date(timeIntervalSince1970: 1_700_000_000.5))
        // The same row again replaces, never duplicates.
        archive.load(row: tasks[3].row)
        #expect(archive.count == 200)
        // Remove from the front, the middle and the end: each removal moves the last entry.
        var random = Xoshiro256(seed: 7)
        var kept = Set(tasks.map(\.arn))
        for task in tasks.shuffled(using: &random).prefix(150) {
            let removed = archive.remove(task.arn)
            let again = archive.remove(task.arn)
            kept.remove(task.arn)
            #expect(removed?.arn == task.arn)
            #expect(again == nil, "removed once")
        }
        #expect(archive.count == 50)
        #expect(Set(archive.summaries.map(\.arn)) == kept)
        #expect(tasks.allSatisfy { archive.contains($0.arn) == kept.contains($0.arn) })
        #expect(!archive.contains("arn:aws:ecs:us-east-1:000000000000:task/c/unknown"))
    }

    @Test func summaryFieldsAreReadInPlaceAndEscapedOnesStillMatch() throws {
        let arn = "arn:aws:ecs:us-east-1:000000000000:task/c/0123"
        let line = ["=v1", "=" + arn, "=c", "=def", "=by\\tme", "", "", "=EC2", "=STOPPED", "", "=4"].joined(separator: "\t")
        var archive = StoppedTaskArchive()
        let loaded = archive.load(row: Array((line + "\n{}").utf8))
        #expect(loaded)
        let summary = try #require(archive.summary(arn))
        #expect(summary.startedBy == "by\tme" && summary.serviceArn == nil && summary.launchType == "EC2" && summary.stoppedAt == nil)
        #expect(summary.isIn(cluster: "c") && !summary.isIn(cluster: "cc") && !summary.isIn(cluster: ""))
        #expect(StoppedTaskArchive.Summary.holds(summary.field(4), "by\tme"))
        #expect(!StoppedTaskArchive.Summary.holds(summary.field(4), "by\\tme"))
        #expect(!StoppedTaskArchive.Summary.holds(summary.field(5), ""), "an absent field holds nothing, not the empty string")
        // A summary line with too many fields is not one this archive wrote.
        let extra = archive.load(row: Array((line + "\t=extra\n{}").utf8))
        #expect(!extra)
    }
}
