import ECSAgent
import StevedoreCore
import Testing

/// The agent acts on a failed control-plane call by its kind: these are the kinds, by error type
/// and HTTP status, never by message text.
struct LinkFailureTests {
    @Test func unknownInstancesAndClustersAreTheirOwnKinds() {
        #expect(LinkFailure(AWSError(type: "InvalidInstanceException", message: "anything")) == .instanceUnknown)
        #expect(LinkFailure(AWSError(type: "ClusterNotFoundException", message: "Cluster not found.")) == .clusterUnknown)
    }

    @Test func serverFaultsAndThrottlingAreTransient() {
        #expect(LinkFailure(AWSError.server("disk full")) == .transient)
        #expect(LinkFailure(AWSError(type: "ThrottlingException", message: "Rate exceeded")) == .transient)
        #expect(LinkFailure(AWSError(type: "TooManyRequestsException", message: "x", httpStatus: 429)) == .transient)
    }

    @Test func transportFailuresAreTransient() {
        struct ConnectionRefused: Error {}
        #expect(LinkFailure(ConnectionRefused()) == .transient)
    }

    @Test func otherRefusalsAreFinal() {
        #expect(LinkFailure(AWSError.invalidParameter("Container instance x was deregistered")) == .refused)
        #expect(LinkFailure(AWSError.client("bad request")) == .refused)
        #expect(LinkFailure(AWSError(type: "AccessDeniedException", message: "no token", httpStatus: 403)) == .refused)
    }
}

extension LinkFailureTests {
    @Test func expiredInstanceCredentialsAreTheirOwnKind() {
        #expect(LinkFailure(AWSError(type: "ExpiredTokenException", message: "The security token included in the request is expired")) == .credentialsExpired)
    }
}
