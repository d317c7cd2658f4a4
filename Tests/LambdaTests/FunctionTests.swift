import AgentProtocol
import Archives
import ECS
import Foundation
@testable import Lambda
import LambdaShapes
import SQS
import SQSShapes
import StevedoreCore
import StevedoreTestSupport
import Testing

struct CodeBundleTests {
    static let unusable = "Could not unzip uploaded file. Please check your file, then try to upload again."

    func refusal(_ zip: [UInt8], settings: FunctionSettings = FunctionSettings()) -> AWSError? {
        #expect(throws: AWSError.self) { try CodeBundle.inspect(zip, settings: settings) }
    }

    @Test func bundlesAreMeasuredAndLimited() throws {
        var writer = ZipWriter()
        writer.add(path: "f", contents: [UInt8](repeating: 1, count: 2000), mode: 0o644, deflate: true)
        let zip = writer.finish()
        let bundle = try CodeBundle.inspect(zip, settings: FunctionSettings())
        #expect(bundle.size == zip.count && bundle.unzippedSize == 2000)
        #expect(bundle.sha256 == Data(Digest.sha256(zip)).base64EncodedString())
        #expect(bundle.paths == ["f"])
        // The limit is exclusive, as Lambda's: 2000 bytes are refused under a 2000-byte limit.
        var small = FunctionSettings()
        small.maximumUnzippedSize = 2000
        let tooLarge = refusal(zip, settings: small)
        #expect(tooLarge?.type == "InvalidParameterValueException")
        #expect(tooLarge?.message == "Unzipped size must be smaller than 2000 bytes")
        small.maximumZipSize = zip.count - 1
        let zipped = refusal(zip, settings: small)
        #expect(zipped?.type == "RequestEntityTooLargeException" && zipped?.httpStatus == 413)
        #expect(zipped?.message == "Zipped size must be smaller than \(zip.count - 1) bytes")
    }

    @Test func whatIsNotAUsableZipIsRefusedInLambdasWords() {
        var onlyDirectories = ZipWriter()
        onlyDirectories.add(path: "bin/", contents: [], mode: 0o755)
        var escaping = ZipWriter()
        escaping.add(path: "../../etc/passwd", contents: [1], mode: 0o644)
        var lying = ZipWriter()
        lying.add(path: "f", contents: Array("abc".utf8), mode: 0o644, deflate: true, declaredSize: 2)
        for zip in [Array("junk".utf8), ZipWriter().finish(), onlyDirectories.finish(), escaping.finish(), lying.finish()] {
            let error = refusal(zip)
            #expect(error?.type == "InvalidParameterValueException")
            #expect(error?.message == Self.unusable)
            #expect(error?.extraFields["Type"] == "User")
        }
    }

    @Test func aZipBombIsMeasuredByWhatItInflatesTo() {
        // 3 MiB of zeros that declares 100 bytes, under a 1 MiB limit.
        var writer = ZipWriter()
        writer.add(path: "bomb", contents: [UInt8](repeating: 0, count: 3 << 20), mode: 0o644, deflate: true, declaredSize: 100)
        var settings = FunctionSettings()
        settings.maximumUnzippedSize = 1 << 20
        #expect(refusal(writer.finish(), settings: settings)?.message == "Unzipped size must be smaller than 1048576 bytes")
    }
}

struct FunctionOperationTests {
    var state = FunctionsState(names: ResourceNames())
    let sqs = SQSState(names: ResourceNames())
    var random = Xoshiro256(seed: 7)
    let now = Date(timeIntervalSince1970: 1_800_000_000)
    let role = "arn:aws:iam::000000000000:role/lambda"

    func bundle(_ text: String = "x") -> CodeBundle {
        var writer = ZipWriter()
        writer.add(path: "bootstrap", contents: Array(text.utf8), mode: 0o755)
        return try! CodeBundle.inspect(writer.finish(), settings: FunctionSettings())
    }

    func request(_ name: String, memory: Int? = nil, timeout: Int? = nil) -> LambdaCreateFunctionRequest {
        LambdaCreateFunctionRequest(
            FunctionName: name, Runtime: .providedAl2023, Role: role, Handler: "function.handler", Code: LambdaFunctionCode(ZipFile: Data([1])),
            Timeout: timeout, MemorySize: memory)
    }

    @Test mutating func createsWithLambdaDefaultsAndActivates() throws {
        var changes = ChangeSet()
        let code = bundle()
        let created = try state.createFunction(request("hello"), code: code, sqs: sqs, now: now, using: &random, changes: &changes)
        #expect(created.FunctionArn == "arn:aws:lambda:us-east-1:000000000000:function:hello")
        #expect(created.MemorySize == 128 && created.Timeout == 3 && created.Version == "$LATEST")
        #expect(created.State == .pending && created.StateReasonCode == .creating)
        #expect(created.CodeSha256 == code.sha256 && created.CodeSize == code.size)
        #expect(created.LastModified == "2027-01-15T08:00:00.000+0000")
        #expect(changes.changes.map(\.kind) == [.functions])
        state.activateFunction("hello", revisionId: created.RevisionId!, changes: &changes)
        #expect(state.functions["hello"]?.latest.configuration.State == .active)
        #expect(state.functions["hello"]?.latest.configuration.LastUpdateStatus == .successful)
        #expect(throws: AWSError.lambdaConflict("Function already exist: hello")) {
            try state.createFunction(request("hello"), code: code, sqs: sqs, now: now, using: &random, changes: &changes)
        }
    }

    @Test mutating func limitsAreTheSeedsAndConfigurable() throws {
        var changes = ChangeSet()
        for (memory, timeout) in [(100, 3), (3072, 3), (200, 3), (128, 0), (128, 901)] {
            #expect(throws: AWSError.self) {
                try state.createFunction(request("f", memory: memory, timeout: timeout), code: bundle(), sqs: sqs, now: now, using: &random, changes: &changes)
            }
        }
        let largest = try state.createFunction(request("ok", memory: 3008, timeout: 900), code: bundle(), sqs: sqs, now: now, using: &random, changes: &changes)
        #expect(largest.MemorySize == 3008 && largest.Timeout == 900)
        state.settings.memoryRange = 128...10240
        state.settings.memoryStep = 1
        let big = try state.createFunction(request("big", memory: 10000), code: bundle(), sqs: sqs, now: now, using: &random, changes: &changes)
        #expect(big.MemorySize == 10000)
    }

    @Test mutating func versionsAliasesAndResolution() throws {
        var changes = ChangeSet()
        let created = try state.createFunction(request("v"), code: bundle(), sqs: sqs, now: now, using: &random, changes: &changes)
        state.activateFunction("v", revisionId: created.RevisionId!, changes: &changes)
        let one = try state.publishVersion("v", LambdaPublishVersionRequest(), now: now, using: &random, changes: &changes)
        #expect(one.Version == "1" && one.FunctionArn == "arn:aws:lambda:us-east-1:000000000000:function:v:1")
        #expect(try state.publishVersion("v", LambdaPublishVersionRequest(), now: now, using: &random, changes: &changes).Version == "1")
        let updated = try state.updateFunctionConfiguration(
            "v", LambdaUpdateFunctionConfigurationRequest(MemorySize: 256), sqs: sqs, now: now, using: &random, changes: &changes)
        #expect(updated.LastUpdateStatus == .inProgress)
        #expect(throws: AWSError.self) {
            try state.updateFunctionConfiguration("v", LambdaUpdateFunctionConfigurationRequest(Timeout: 9), sqs: sqs, now: now, using: &random, changes: &changes)
        }
        state.activateFunction("v", revisionId: updated.RevisionId!, changes: &changes)
        #expect(try state.publishVersion("v", LambdaPublishVersionRequest(), now: now, using: &random, changes: &changes).Version == "2")
        _ = try state.createAlias(
            "v", LambdaCreateAliasRequest(Name: "live", FunctionVersion: "1", RoutingConfig: LambdaAliasRoutingConfiguration(AdditionalVersionWeights: ["2": 0.3])),
            using: &random, changes: &changes)
        #expect(try state.functionVersion("v:live", qualifier: nil).1.version == "1")
        #expect(try state.functionVersion("arn:aws:lambda:us-east-1:000000000000:function:v", qualifier: "2").1.configuration.MemorySize == 256)
        #expect(throws: AWSError.self) { try state.functionVersion("v", qualifier: "9") }
        #expect(throws: AWSError.self) { try state.deleteFunction("v", qualifier: "2", changes: &changes) }
        #expect(throws: AWSError.self) {
            try state.createAlias("v", LambdaCreateAliasRequest(Name: "123", FunctionVersion: "1"), using: &random, changes: &changes)
        }
    }

    @Test mutating func reservedConcurrencyKeepsTheUnreservedMinimum() throws {
        var changes = ChangeSet()
        _ = try state.createFunction(request("a"), code: bundle(), sqs: sqs, now: now, using: &random, changes: &changes)
        _ = try state.createFunction(request("b"), code: bundle(), sqs: sqs, now: now, using: &random, changes: &changes)
        _ = try state.putFunctionConcurrency("a", reserved: 800, changes: &changes)
        #expect(throws: AWSError.self) { try state.putFunctionConcurrency("b", reserved: 101, changes: &changes) }
        #expect(try state.putFunctionConcurrency("b", reserved: 100, changes: &changes).ReservedConcurrentExecutions == 100)
        #expect(state.accountSettings().AccountLimit?.UnreservedConcurrentExecutions == 100)
    }

    @Test func functionReferencesParse() throws {
        #expect(try FunctionNames.parse("f") == ("f", nil))
        #expect(try FunctionNames.parse("f:live") == ("f", "live"))
        #expect(try FunctionNames.parse("000000000000:function:f:$LATEST") == ("f", "$LATEST"))
        #expect(try FunctionNames.parse("arn:aws:lambda:us-east-1:000000000000:function:f:3") == ("f", "3"))
        #expect(throws: AWSError.self) { try FunctionNames.parse("bad name") }
        #expect(throws: AWSError.self) { try FunctionNames.parse(String(repeating: "x", count: 65)) }
    }

    @Test func timestampsAreLambdas() {
        #expect(LambdaTimestamp.format(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00.000+0000")
        #expect(LambdaTimestamp.format(Date(timeIntervalSince1970: 951_782_400.5)) == "2000-02-29T00:00:00.500+0000")
    }
}

struct AsyncPolicyTests {
    var state = SchedulerFixture()
    var random = Xoshiro256(seed: 3)
    let start = Date(timeIntervalSince1970: 1_800_000_000)

    init() throws {
        var changes = ChangeSet()
        var writer = ZipWriter()
        writer.add(path: "bootstrap", contents: [1], mode: 0o755)
        let code = try CodeBundle.inspect(writer.finish(), settings: FunctionSettings())
        _ = try state.sqs.createQueue(SQSCreateQueueRequest(QueueName: "dlq"), now: start, changes: &changes)
        _ = try state.lambda.createFunction(
            LambdaCreateFunctionRequest(
                FunctionName: "f", Runtime: .providedAl2023, Role: "arn:aws:iam::000000000000:role/r", Handler: "h",
                Code: LambdaFunctionCode(ZipFile: Data([1])),
                DeadLetterConfig: LambdaDeadLetterConfig(TargetArn: "arn:aws:sqs:us-east-1:000000000000:dlq")),
            code: code, sqs: state.sqs, now: start, using: &random, changes: &changes)
        state.lambda.settings.asyncRetryDelay = 60
        state.lambda.enqueueAsyncEvent(
            AsyncEventRecord(requestId: "r1", functionName: "f", qualifier: nil, payload: Data(#"{"k":1}"#.utf8), enqueuedAt: start),
            changes: &changes)
    }

    let failure = AsyncFailure(statusCode: 200, errorType: "Oops", errorMessage: "it broke")

    @Test mutating func twoRetriesOneAndTwoMinutesApartThenTheDeadLetterQueue() throws {
        var changes = ChangeSet()
        #expect(state.prepareAsyncAttempt("r1", now: start, using: &random, changes: &changes))
        state.recordAsyncDelivery("r1", .functionFailed(failure), now: start, using: &random, changes: &changes)
        #expect(state.lambda.asyncEvents["r1"]?.nextAttemptAt == start.addingTimeInterval(60))
        state.recordAsyncDelivery("r1", .functionFailed(failure), now: start.addingTimeInterval(60), using: &random, changes: &changes)
        #expect(state.lambda.asyncEvents["r1"]?.nextAttemptAt == start.addingTimeInterval(180))
        state.recordAsyncDelivery("r1", .functionFailed(failure), now: start.addingTimeInterval(180), using: &random, changes: &changes)
        #expect(state.lambda.asyncEvents["r1"] == nil)
        let message = try #require(state.sqs.messages["dlq"]?.values.first)
        #expect(message.body == #"{"k":1}"#)
        #expect(message.attributes?["RequestID"]?.StringValue == "r1")
        #expect(message.attributes?["ErrorCode"] == SQSMessageAttributeValue(StringValue: "200", DataType: "Number"))
        #expect(message.attributes?["ErrorMessage"]?.StringValue == "it broke")
    }

    @Test mutating func throttlesBackOffUntilTheEventIsTooOld() throws {
        var changes = ChangeSet()
        let throttled = AsyncFailure(statusCode: 429, errorType: "TooManyRequestsException", errorMessage: "Rate Exceeded.")
        var now = start
        for expected in [1.0, 2, 4, 8] {
            state.recordAsyncDelivery("r1", .deferred(throttled), now: now, using: &random, changes: &changes)
            #expect(state.lambda.asyncEvents["r1"]?.nextAttemptAt == now.addingTimeInterval(expected))
            now = now.addingTimeInterval(expected)
        }
        #expect(state.lambda.asyncEvents["r1"]?.failedAttempts == 0)
        #expect(!state.prepareAsyncAttempt("r1", now: start.addingTimeInterval(21601), using: &random, changes: &changes))
        #expect(state.lambda.asyncEvents["r1"] == nil)
        #expect(state.sqs.messages["dlq"]?.values.first?.attributes?["ErrorCode"]?.StringValue == "429")
    }

    @Test mutating func zeroReservedConcurrencyDeadLettersAtOnce() throws {
        var changes = ChangeSet()
        _ = try state.lambda.putFunctionConcurrency("f", reserved: 0, changes: &changes)
        #expect(!state.prepareAsyncAttempt("r1", now: start, using: &random, changes: &changes))
        #expect(state.sqs.messages["dlq"]?.count == 1)
    }
}

/// Requests to Lambda's paths that no route takes.
struct LambdaFallbackTests {
    @Test func operationsOfTheModelThatAreNotServedAreNamed() {
        let error = LambdaAPI.unrouted(method: "PUT", path: "/2019-09-30/functions/f/provisioned-concurrency")
        #expect(error.type == "InternalFailure" && error.httpStatus == 501)
        #expect(error.message == "The PutProvisionedConcurrencyConfig operation is not implemented by this endpoint.")
        #expect(LambdaAPI.unrouted(method: "GET", path: "/2015-03-31/event-source-mappings/").message.contains("ListEventSourceMappings"))
    }

    @Test func anythingElseIsWhatLambdaAnswersWhenItCannotRoute() {
        for (method, path) in [("PATCH", "/2015-03-31/functions/f"), ("GET", "/2015-03-31/nothing")] {
            let error = LambdaAPI.unrouted(method: method, path: path)
            #expect(error.type == "AccessDeniedException" && error.httpStatus == 403)
            #expect(error.message == "Unable to determine service/operation name to be authorized")
        }
    }

    @Test func lambdaClaimsItsDatedPrefixesOnly() {
        #expect(LambdaAPI.isLambdaPath("/2015-03-31/functions"))
        #expect(LambdaAPI.isLambdaPath("/2021-10-31/functions/f/url"))
        #expect(!LambdaAPI.isLambdaPath("/v1/agent/poll"))
        #expect(!LambdaAPI.isLambdaPath("/"))
        #expect(!LambdaAPI.isLambdaPath("/2015-3-31/functions"))
    }
}
