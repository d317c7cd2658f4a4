import AWSProtocols
import Foundation
import Lambda
import Logs
import LogsShapes
import StevedoreCore

/// CloudWatch Logs' subscription filter operations (`Logs_20140328.*SubscriptionFilter*`), bound
/// beside the rest of CloudWatch Logs' (they need Lambda's state as well as the groups).
public enum LogSubscriptionsAPI {
    public static func operations<Committer: StateCommitting>(committer: Committer) -> JSONOperations<Committer>
    where Committer.Root: LogsHost & LambdaHost {
        var api = JSONOperations(targetPrefix: LogsAPI.targetPrefix, committer: committer)
        api.write("PutSubscriptionFilter") { (root, input: CWLPutSubscriptionFilterRequest, m, _) throws(AWSError) in
            try root.putSubscriptionFilter(input, now: m.now, changes: &m.changes)
            return EmptyOutput()
        }
        api.read("DescribeSubscriptionFilters", reads: { _ in [.logGroups] }) { (root, input: CWLDescribeSubscriptionFiltersRequest, _) throws(AWSError) in
            try root.logs.describeSubscriptionFilters(input)
        }
        api.write("DeleteSubscriptionFilter") { (root, input: CWLDeleteSubscriptionFilterRequest, m, _) throws(AWSError) in
            try root.logs.deleteSubscriptionFilter(input.logGroupName, input.filterName, changes: &m.changes)
            return EmptyOutput()
        }
        return api
    }
}
