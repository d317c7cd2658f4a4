@testable import ControlPlane
import Testing

/// When a leader holds on to its lease, when it stops serving and when it gives up (the renewal's answer, and the time
/// since its last good renewal began, against the term).
struct LeaseRenewalTests {
    let term = Duration.seconds(6)

    @Test func aRenewedLeaseKeepsTheLeaderLeadingHoweverLateTheAnswer() {
        #expect(LeaseRenewal.verdict(renewed: true, sinceLastRenewal: .seconds(5), term: term) == .leading)
        #expect(LeaseRenewal.verdict(renewed: true, sinceLastRenewal: .seconds(60), term: term) == .leading)
    }

    @Test func aRefusedRenewalDeposesAtOnce() {
        guard case .deposed(let reason) = LeaseRenewal.verdict(renewed: false, sinceLastRenewal: .milliseconds(10), term: term) else {
            Issue.record("a refused renewal left the leader leading")
            return
        }
        #expect(reason.contains("another ecsd took the leader lease"))
    }

    @Test func noAnswerStopsServingOnlyOnceTheTermRanOutAndDeposesNothing() {
        #expect(LeaseRenewal.verdict(renewed: nil, sinceLastRenewal: .seconds(5), term: term) == .leading)
        #expect(LeaseRenewal.verdict(renewed: nil, sinceLastRenewal: .seconds(6), term: term) == .lapsed)
        #expect(LeaseRenewal.verdict(renewed: nil, sinceLastRenewal: .seconds(7), term: term) == .lapsed)
    }
}
