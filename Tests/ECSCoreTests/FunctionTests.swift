@testable import ECSCore
import Foundation
import Testing

struct DigestTests {
    @Test func sha256MatchesPublishedVectors() {
        #expect(Digest.hex(Digest.sha256(Array("".utf8))) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(Digest.hex(Digest.sha256(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let long = Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)
        #expect(Digest.hex(Digest.sha256(long)) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        let million = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        #expect(Digest.hex(Digest.sha256(million)) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func sha256IsTheSameFedInPieces() {
        let bytes = (0..<1000).map { UInt8($0 % 251) }
        var state = SHA256State()
        for chunk in stride(from: 0, to: bytes.count, by: 37) { state.update(Array(bytes[chunk..<min(bytes.count, chunk + 37)])) }
        #expect(state.finish() == Digest.sha256(bytes))
    }

    @Test func md5MatchesRFC1321() {
        #expect(Digest.hex(Digest.md5(Array("".utf8))) == "d41d8cd98f00b204e9800998ecf8427e")
        #expect(Digest.hex(Digest.md5(Array("message digest".utf8))) == "f96b697d7cb7938d525a2f31aaf161d0")
        let digits = Array("12345678901234567890123456789012345678901234567890123456789012345678901234567890".utf8)
        #expect(Digest.hex(Digest.md5(digits)) == "57edf4a22be3c955ac49da2e2107b67a")
    }

    @Test func crc32MatchesTheCheckValue() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
    }

    @Test func sqsAttributeDigestFollowsTheDocumentedEncoding() {
        // One string attribute: name, type, transport byte 1, value, each length-prefixed.
        var expected: [UInt8] = []
        for part in ["a", "String"] { expected += [0, 0, 0, UInt8(part.utf8.count)] + Array(part.utf8) }
        expected += [1, 0, 0, 0, 1] + Array("x".utf8)
        let digest = ECSState.md5OfMessageAttributes(["a": SQSMessageAttributeValue(StringValue: "x", DataType: "String")])
        #expect(digest == Digest.hex(Digest.md5(expected)))
    }
}

struct ZipTests {
    @Test func writerOutputIsReadBack() throws {
        var writer = ZipWriter()
        writer.add(path: "bin/", contents: [], mode: 0o755)
        writer.add(path: "bin/bootstrap", contents: Array("#!/bin/sh\n".utf8), mode: 0o755)
        writer.add(path: "data.txt", contents: Array("hello".utf8), mode: 0o644)
        let zip = writer.finish()
        let directory = try ZipDirectory(zip)
        #expect(directory.entries.map(\.path) == ["bin/", "bin/bootstrap", "data.txt"])
        #expect(directory.entries[0].isDirectory)
        #expect(directory.entries[1].unixMode & 0o777 == 0o755)
        #expect(directory.uncompressedSize == 15)
        let entry = directory.entries[2]
        let start = try #require(ZipDirectory.dataOffset(of: entry, in: zip))
        #expect(Array(zip[start..<(start + entry.compressedSize)]) == Array("hello".utf8))
        #expect(entry.crc32 == CRC32.checksum(Array("hello".utf8)))
    }

    @Test func refusesWhatIsNotASafeZip() {
        #expect(throws: ZipDirectory.FormatError.self) { try ZipDirectory(Array("not a zip at all, just text".utf8)) }
        var writer = ZipWriter()
        writer.add(path: "../escape", contents: [1], mode: 0o644)
        #expect(throws: ZipDirectory.FormatError.self) { try ZipDirectory(writer.finish()) }
        var truncated = ZipWriter()
        truncated.add(path: "f", contents: [UInt8](repeating: 7, count: 100), mode: 0o644)
        let bytes = truncated.finish()
        #expect(throws: ZipDirectory.FormatError.self) { try ZipDirectory(Array(bytes.suffix(60))) }
    }

    @Test func bundlesAreMeasuredAndLimited() throws {
        var writer = ZipWriter()
        writer.add(path: "f", contents: [UInt8](repeating: 1, count: 2000), mode: 0o644)
        let zip = writer.finish()
        let bundle = try CodeBundle.inspect(zip, settings: FunctionSettings())
        #expect(bundle.size == zip.count && bundle.unzippedSize == 2000)
        #expect(bundle.sha256 == Data(Digest.sha256(zip)).base64EncodedString())
        var small = FunctionSettings()
        small.maximumUnzippedSize = 1000
        #expect(throws: AWSError.self) { try CodeBundle.inspect(zip, settings: small) }
        do {
            _ = try CodeBundle.inspect(Array("junk".utf8), settings: FunctionSettings())
            Issue.record("junk accepted")
        } catch {
            #expect(error.type == "InvalidParameterValueException" && error.message.hasPrefix("Could not unzip uploaded file"))
        }
    }
}

struct FunctionOperationTests {
    var state = ECSState(names: ResourceNames())
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
        let created = try state.createFunction(request("hello"), code: code, now: now, using: &random, changes: &changes)
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
            try state.createFunction(request("hello"), code: code, now: now, using: &random, changes: &changes)
        }
    }

    @Test mutating func limitsAreTheSeedsAndConfigurable() throws {
        var changes = ChangeSet()
        for (memory, timeout) in [(100, 3), (3072, 3), (200, 3), (128, 0), (128, 901)] {
            #expect(throws: AWSError.self) {
                try state.createFunction(request("f", memory: memory, timeout: timeout), code: bundle(), now: now, using: &random, changes: &changes)
            }
        }
        _ = try state.createFunction(request("ok", memory: 3008, timeout: 900), code: bundle(), now: now, using: &random, changes: &changes)
        state.functionSettings.memoryRange = 128...10240
        state.functionSettings.memoryStep = 1
        _ = try state.createFunction(request("big", memory: 10000), code: bundle(), now: now, using: &random, changes: &changes)
    }

    @Test mutating func versionsAliasesAndResolution() throws {
        var changes = ChangeSet()
        let created = try state.createFunction(request("v"), code: bundle(), now: now, using: &random, changes: &changes)
        state.activateFunction("v", revisionId: created.RevisionId!, changes: &changes)
        let one = try state.publishVersion("v", LambdaPublishVersionRequest(), now: now, using: &random, changes: &changes)
        #expect(one.Version == "1" && one.FunctionArn == "arn:aws:lambda:us-east-1:000000000000:function:v:1")
        #expect(try state.publishVersion("v", LambdaPublishVersionRequest(), now: now, using: &random, changes: &changes).Version == "1")
        let updated = try state.updateFunctionConfiguration(
            "v", LambdaUpdateFunctionConfigurationRequest(MemorySize: 256), now: now, using: &random, changes: &changes)
        #expect(updated.LastUpdateStatus == .inProgress)
        #expect(throws: AWSError.self) {
            try state.updateFunctionConfiguration("v", LambdaUpdateFunctionConfigurationRequest(Timeout: 9), now: now, using: &random, changes: &changes)
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
        _ = try state.createFunction(request("a"), code: bundle(), now: now, using: &random, changes: &changes)
        _ = try state.createFunction(request("b"), code: bundle(), now: now, using: &random, changes: &changes)
        _ = try state.putFunctionConcurrency("a", reserved: 800, changes: &changes)
        #expect(throws: AWSError.self) { try state.putFunctionConcurrency("b", reserved: 101, changes: &changes) }
        _ = try state.putFunctionConcurrency("b", reserved: 100, changes: &changes)
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
    var state = ECSState(names: ResourceNames())
    var random = Xoshiro256(seed: 3)
    let start = Date(timeIntervalSince1970: 1_800_000_000)

    init() throws {
        var changes = ChangeSet()
        var writer = ZipWriter()
        writer.add(path: "bootstrap", contents: [1], mode: 0o755)
        let code = try CodeBundle.inspect(writer.finish(), settings: FunctionSettings())
        _ = try state.createQueue(SQSCreateQueueRequest(QueueName: "dlq"), now: start, changes: &changes)
        _ = try state.createFunction(
            LambdaCreateFunctionRequest(
                FunctionName: "f", Runtime: .providedAl2023, Role: "arn:aws:iam::000000000000:role/r", Handler: "h",
                Code: LambdaFunctionCode(ZipFile: Data([1])),
                DeadLetterConfig: LambdaDeadLetterConfig(TargetArn: "arn:aws:sqs:us-east-1:000000000000:dlq")),
            code: code, now: start, using: &random, changes: &changes)
        state.functionSettings.asyncRetryDelay = 60
        state.enqueueAsyncEvent(
            AsyncEventRecord(requestId: "r1", functionName: "f", qualifier: nil, payload: Data(#"{"k":1}"#.utf8), enqueuedAt: start),
            changes: &changes)
    }

    let failure = AsyncFailure(statusCode: 200, errorType: "Oops", errorMessage: "it broke")

    @Test mutating func twoRetriesOneAndTwoMinutesApartThenTheDeadLetterQueue() throws {
        var changes = ChangeSet()
        #expect(state.prepareAsyncAttempt("r1", now: start, using: &random, changes: &changes))
        state.recordAsyncDelivery("r1", .functionFailed(failure), now: start, using: &random, changes: &changes)
        #expect(state.asyncEvents["r1"]?.nextAttemptAt == start.addingTimeInterval(60))
        state.recordAsyncDelivery("r1", .functionFailed(failure), now: start.addingTimeInterval(60), using: &random, changes: &changes)
        #expect(state.asyncEvents["r1"]?.nextAttemptAt == start.addingTimeInterval(180))
        state.recordAsyncDelivery("r1", .functionFailed(failure), now: start.addingTimeInterval(180), using: &random, changes: &changes)
        #expect(state.asyncEvents["r1"] == nil)
        let message = try #require(state.queueMessages["dlq"]?.values.first)
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
            #expect(state.asyncEvents["r1"]?.nextAttemptAt == now.addingTimeInterval(expected))
            now = now.addingTimeInterval(expected)
        }
        #expect(state.asyncEvents["r1"]?.failedAttempts == 0)
        #expect(!state.prepareAsyncAttempt("r1", now: start.addingTimeInterval(21601), using: &random, changes: &changes))
        #expect(state.asyncEvents["r1"] == nil)
        #expect(state.queueMessages["dlq"]?.values.first?.attributes?["ErrorCode"]?.StringValue == "429")
    }

    @Test mutating func zeroReservedConcurrencyDeadLettersAtOnce() throws {
        var changes = ChangeSet()
        _ = try state.putFunctionConcurrency("f", reserved: 0, changes: &changes)
        #expect(!state.prepareAsyncAttempt("r1", now: start, using: &random, changes: &changes))
        #expect(state.queueMessages["dlq"]?.count == 1)
    }
}
