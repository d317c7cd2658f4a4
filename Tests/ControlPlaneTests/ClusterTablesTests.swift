import Athena
@testable import ControlPlane
import ECSShapes
import Foundation
import Logs
import Testing

/// The `stevedore` database's rows: a task's state changes from its times, and functions'
/// invocations from their REPORT lines.
struct ClusterTablesTests {
    @Test func aTasksChangesAreTheTimesItHasInLifecycleOrder() {
        let start = Date(timeIntervalSince1970: 1_700_000_000)
        var task = ECSTask(
            clusterArn: "arn:aws:ecs:us-east-1:000000000000:cluster/shop", createdAt: start, startedAt: start.addingTimeInterval(2),
            taskArn: "arn:aws:ecs:us-east-1:000000000000:task/shop/1", taskDefinitionArn: "arn:aws:ecs:us-east-1:000000000000:task-definition/web:3")
        #expect(ClusterTables.stateChangeRows(task).map { $0[3] } == [.text("PROVISIONING"), .text("RUNNING")])
        task.stoppingAt = start.addingTimeInterval(5)
        task.stoppedAt = start.addingTimeInterval(6)
        task.stoppedReason = "Scaling activity initiated by deployment"
        let rows = ClusterTables.stateChangeRows(task)
        #expect(rows.map { $0[3] } == [.text("PROVISIONING"), .text("RUNNING"), .text("STOPPING"), .text("STOPPED")])
        #expect(rows[3] == [.text(task.taskArn!), .text("shop"), .text("web"), .text("STOPPED"), .text("2023-11-14 22:13:26.000"), .text(task.stoppedReason!)])
        #expect(rows[0][5] == .null)
    }

    @Test func invocationsComeFromReportLinesWithTheirErrors() {
        let stream = ClusterLogTables.Stream(group: "/aws/lambda/fn", name: "2026/12/02/[$LATEST]abc", groupStorage: "g", streamStorage: "s")
        let messages = [
            "START RequestId: a Version: $LATEST", "[ERROR] KeyError: 'x'\rTraceback", "END RequestId: a",
            "REPORT RequestId: a\tDuration: 2.50 ms\tBilled Duration: 3 ms\tMemory Size: 128 MB\tMax Memory Used: 30 MB\tInit Duration: 99.10 ms\t",
            // Another request's error line does not carry over.
            "START RequestId: b Version: $LATEST", "END RequestId: b",
            "REPORT RequestId: b\tDuration: 1.00 ms\tBilled Duration: 1 ms\tMemory Size: 128 MB\tMax Memory Used: 30 MB\tStatus: error\tError Type: Runtime.ExitError\t",
            "START RequestId: c Version: $LATEST", "END RequestId: c",
            "REPORT RequestId: c\tDuration: 1.00 ms\tBilled Duration: 1 ms\tMemory Size: 128 MB\tMax Memory Used: 31 MB\t",
            "REPORT without an id",
        ]
        let events = messages.enumerated().map { StoredLogEvent(timestamp: 1_000 + $0.offset, ingestionTime: 2_000, message: $0.element, sequence: $0.offset) }
        let rows = ClusterLogTables.invocationRows(events, stream: stream)
        #expect(rows.count == 3)
        // Events given out of order (blocks whose times overlap) are read in the order they were put.
        #expect(ClusterLogTables.invocationRows(events.reversed(), stream: stream) == rows)
        #expect(rows[0] == [
            .text("fn"), .text("$LATEST"), .text("a"), .text("1970-01-01 00:00:01.003"), .real(2.5), .integer(3), .integer(128), .integer(30), .real(99.1),
            .integer(1), .text("KeyError"), .text(stream.name),
        ])
        #expect(rows[1][10] == .text("Runtime.ExitError") && rows[1][9] == .integer(0) && rows[1][8] == .null)
        #expect(rows[2][10] == .null && rows[2][7] == .integer(31))
    }
}
