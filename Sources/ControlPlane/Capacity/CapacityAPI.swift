import ECSAPI
import ECSCore
import Foundation
import Hummingbird
import NIOCore

/// Stevedore's auto scaling groups over REST-JSON (EC2 Auto Scaling's field names), and the
/// CapacityProviderReservation metric. Errors use the AWS JSON shape (`__type`, `message`).
struct CapacityAPI: Sendable {
    let committer: Committer

    static let groupsPath = "/v1/autoscaling/groups"
    static let reservationsPath = "/v1/metrics/capacity-providers"

    func register(on router: Router<BasicRequestContext>) {
        router.post(RouterPath(Self.groupsPath)) { request, _ in
            await json(request, status: 201) { (input: AutoScalingGroupInput) throws(AWSError) in
                try await committer.write { state, mutation throws(AWSError) in
                    try state.createAutoScalingGroup(input, now: mutation.now, using: &mutation.random, changes: &mutation.changes)
                }
            }
        }
        router.get(RouterPath(Self.groupsPath)) { _, _ in
            await respond { () throws(AWSError) in try await committer.read { state, _ in state.describeAutoScalingGroups() } }
        }
        router.get(RouterPath(Self.groupsPath + "/{name}")) { _, context in
            let name = context.parameters.get("name") ?? ""
            return await respond { () throws(AWSError) in
                try await committer.read { state, _ throws(AWSError) in try state.autoScalingGroup(name) }
            }
        }
        router.put(RouterPath(Self.groupsPath + "/{name}")) { request, context in
            let name = context.parameters.get("name") ?? ""
            return await json(request) { (input: AutoScalingGroupInput) throws(AWSError) in
                try await committer.write { state, mutation throws(AWSError) in
                    try state.updateAutoScalingGroup(name, input, changes: &mutation.changes)
                }
            }
        }
        router.delete(RouterPath(Self.groupsPath + "/{name}")) { request, context in
            let name = context.parameters.get("name") ?? ""
            let force = request.uri.queryParameters.get("force") == "true"
            return await respond { () throws(AWSError) in
                try await committer.write { state, mutation throws(AWSError) -> [String: String] in
                    try state.deleteAutoScalingGroup(name, force: force, changes: &mutation.changes)
                    return [:]
                }
            }
        }
        router.get(RouterPath(Self.reservationsPath)) { _, _ in
            await respond { () throws(AWSError) in
                try await committer.read { state, _ in
                    ["capacityProviders": state.capacityProviders.keys.sorted().compactMap { state.capacityReservation($0) }]
                }
            }
        }
    }

    private func json<Input: Decodable & Sendable, Output: Encodable & Sendable>(
        _ request: Request, status: Int = 200, _ body: @Sendable (Input) async throws(AWSError) -> Output
    ) async -> Response {
        var request = request
        do throws(AWSError) {
            guard let buffer = try? await request.collectBody(upTo: 1 << 20) else {
                throw AWSError(type: "SerializationException", message: "The request body could not be read (at most 1 MiB of JSON).")
            }
            let input = try AWSJSONCodec.decode(Input.self, from: Array(buffer.readableBytesView))
            let output = try await body(input)
            return APIServer.response(APIResponse(status: status, headers: [("Content-Type", "application/json")], body: AWSJSONCodec.encode(output)), requestId: nil)
        } catch {
            return APIServer.response(.error(error, contentType: "application/json"), requestId: nil)
        }
    }

    private func respond<Output: Encodable & Sendable>(_ body: @Sendable () async throws(AWSError) -> Output) async -> Response {
        do throws(AWSError) {
            let output = try await body()
            return APIServer.response(APIResponse(status: 200, headers: [("Content-Type", "application/json")], body: AWSJSONCodec.encode(output)), requestId: nil)
        } catch {
            return APIServer.response(.error(error, contentType: "application/json"), requestId: nil)
        }
    }
}
