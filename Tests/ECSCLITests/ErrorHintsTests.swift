@testable import ECSCLI
import StevedoreCore
import Testing

/// The control plane answers in AWS's words; ecsctl adds what to type next.
struct ErrorHintsTests {
    @Test func errorsWithAWSWordsGetEcsctlsHints() {
        let scaled = AWSError(type: "InvalidParameterException", message: "The service cannot be stopped while it is scaled above 0.", httpStatus: 400)
        #expect(ErrorHints.hint(for: scaled)?.contains("ecsctl service scale") == true)
        let busy = AWSError(
            type: "InvalidParameterException", message: "Container instance 1f2e still has 2 task(s) to run. Stop them, or pass force to deregister it anyway.",
            httpStatus: 400)
        #expect(ErrorHints.hint(for: busy)?.contains("ecsctl node drain") == true)
        #expect(ErrorHints.hint(for: AWSError(type: "ClusterNotFoundException", message: "Cluster not found.", httpStatus: 400))?.contains("ecsctl cluster ls") == true)
        let shown = HintedError(error: scaled, hint: ErrorHints.hint(for: scaled)!).description
        #expect(shown.hasPrefix("InvalidParameterException: The service cannot be stopped while it is scaled above 0.\nHint: "))
    }

    @Test func otherErrorsGetNone() {
        #expect(ErrorHints.hint(for: AWSError(type: "InvalidParameterException", message: "Container instance cannot be empty.", httpStatus: 400)) == nil)
        #expect(ErrorHints.hint(for: AWSError(type: "ClientException", message: "Container.name should not be null or empty.", httpStatus: 400)) == nil)
    }
}
