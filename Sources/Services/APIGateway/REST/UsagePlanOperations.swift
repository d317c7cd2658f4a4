import Foundation
import APIGatewayShapes
import StevedoreCore

/// API keys and usage plans: which keys may call which REST API stages, how fast and how often.
extension GatewayState {
    // MARK: API keys

    public mutating func createApiKey(_ input: V1CreateApiKeyRequest, now: Date, using random: inout Xoshiro256, changes: inout ChangeSet)
        throws(AWSError) -> V1ApiKey
    {
        if let value = input.value {
            guard (20...128).contains(value.count), value.allSatisfy({ $0.isASCII && !$0.isWhitespace }) else {
                throw .gatewayBadRequest("API Key value should be at least 20 characters")
            }
            guard !apiKeys.values.contains(where: { $0.key.value == value }) else {
                throw .gatewayConflict("API Key already exists")
            }
        }
        for stageKey in input.stageKeys ?? [] {
            _ = try restApi(stageKey.restApiId ?? "").stage(stageKey.stageName ?? "")
        }
        let id = Self.newId(length: 10, using: &random) { apiKeys[$0] == nil }
        let value = input.value ?? Self.newKeyValue(using: &random)
        let key = V1ApiKey(
            id: id, value: value, name: input.name ?? id, customerId: input.customerId, description: input.description,
            enabled: input.enabled ?? false, createdDate: now, lastUpdatedDate: now,
            stageKeys: (input.stageKeys ?? []).map { "\($0.restApiId ?? "")/\($0.stageName ?? "")" }, tags: input.tags ?? [:])
        let record = APIKeyRecord(key: key)
        apiKeys[id] = record
        changes.put(record)
        return key
    }

    /// 40 letters and digits, as API Gateway's generated keys.
    static func newKeyValue(using random: inout Xoshiro256) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        return String((0..<40).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] })
    }

    func apiKey(_ id: String) throws(AWSError) -> APIKeyRecord {
        guard let key = apiKeys[id] else { throw .restNotFound("Invalid API Key identifier specified") }
        return key
    }

    public func getApiKey(_ id: String, includeValue: Bool) throws(AWSError) -> V1ApiKey {
        var key = try apiKey(id).key
        if !includeValue { key.value = nil }
        return key
    }

    public func getApiKeys(includeValues: Bool, nameQuery: String?, limit: String?, position: String?) throws(AWSError) -> V1ApiKeys {
        let ids = apiKeys.values.filter { nameQuery == nil || ($0.key.name ?? "").hasPrefix(nameQuery ?? "") }.map(\.id).sorted()
        let (page, next) = try Self.restPage(ids, limit: limit, position: position)
        return V1ApiKeys(position: next, item: page.compactMap { id in
            apiKeys[id].map { record in
                var key = record.key
                if !includeValues { key.value = nil }
                return key
            }
        })
    }

    public mutating func updateApiKey(_ id: String, _ operations: [V1PatchOperation], now: Date, changes: inout ChangeSet) throws(AWSError)
        -> V1ApiKey
    {
        var record = try apiKey(id)
        for operation in operations {
            let (op, path, value) = try Patch.parts(operation)
            switch (op, path) {
            case (.replace, "/enabled"): record.key.enabled = value == "true"
            case (.replace, "/name"): record.key.name = value
            case (.replace, "/description"): record.key.description = value
            case (.replace, "/customerId"): record.key.customerId = value
            default: throw Patch.unsupported(operation)
            }
        }
        record.key.lastUpdatedDate = now
        apiKeys[id] = record
        changes.put(record)
        return record.key
    }

    public mutating func deleteApiKey(_ id: String, changes: inout ChangeSet) throws(AWSError) {
        _ = try apiKey(id)
        apiKeys[id] = nil
        changes.delete(APIKeyRecord.self, key: id)
        for var plan in usagePlans.values where plan.keyIds.contains(id) {
            plan.keyIds.removeAll { $0 == id }
            usagePlans[plan.id] = plan
            changes.put(plan)
        }
    }

    // MARK: Usage plans

    public mutating func createUsagePlan(_ input: V1CreateUsagePlanRequest, using random: inout Xoshiro256, changes: inout ChangeSet)
        throws(AWSError) -> V1UsagePlan
    {
        guard !input.name.isEmpty else { throw .gatewayBadRequest("Usage plan name must not be empty") }
        for stage in input.apiStages ?? [] { try checkApiStage(stage) }
        try Self.checkThrottle(input.throttle)
        try Self.checkQuota(input.quota)
        let id = Self.newId(length: 6, using: &random) { usagePlans[$0] == nil }
        var quota = input.quota
        if quota != nil, quota?.offset == nil { quota?.offset = 0 }
        let plan = V1UsagePlan(
            id: id, name: input.name, description: input.description, apiStages: input.apiStages ?? [], throttle: input.throttle,
            quota: quota, tags: input.tags ?? [:])
        let record = UsagePlanRecord(plan: plan)
        usagePlans[id] = record
        changes.put(record)
        return plan
    }

    func checkApiStage(_ stage: V1ApiStage) throws(AWSError) {
        guard let apiId = stage.apiId, let name = stage.stage, let api = restApis[apiId], api.stages[name] != nil else {
            throw .gatewayBadRequest("Invalid API Stage {api: \(stage.apiId ?? ""), stage: \(stage.stage ?? "")} specified for usageplan")
        }
    }

    static func checkThrottle(_ throttle: V1ThrottleSettings?) throws(AWSError) {
        guard let throttle else { return }
        if let rate = throttle.rateLimit, rate < 0 { throw .gatewayBadRequest("The rate limit must be a non-negative number") }
        if let burst = throttle.burstLimit, burst < 0 { throw .gatewayBadRequest("The burst limit must be a non-negative number") }
    }

    static func checkQuota(_ quota: V1QuotaSettings?) throws(AWSError) {
        guard let quota else { return }
        guard let limit = quota.limit, limit > 0, quota.period != nil else {
            throw .gatewayBadRequest("A quota needs a positive limit and a period (DAY, WEEK or MONTH)")
        }
        if let offset = quota.offset, offset != 0 { throw .gatewayBadRequest("Quota offsets are not supported by this endpoint; use 0.") }
    }

    func usagePlan(_ id: String) throws(AWSError) -> UsagePlanRecord {
        guard let plan = usagePlans[id] else { throw .restNotFound("Invalid Usage Plan ID specified") }
        return plan
    }

    public func getUsagePlan(_ id: String) throws(AWSError) -> V1UsagePlan { try usagePlan(id).plan }

    public func getUsagePlans(keyId: String?, limit: String?, position: String?) throws(AWSError) -> V1UsagePlans {
        let ids = usagePlans.values.filter { keyId == nil || $0.keyIds.contains(keyId ?? "") }.map(\.id).sorted()
        let (page, next) = try Self.restPage(ids, limit: limit, position: position)
        return V1UsagePlans(position: next, item: page.compactMap { usagePlans[$0]?.plan })
    }

    public mutating func updateUsagePlan(_ id: String, _ operations: [V1PatchOperation], changes: inout ChangeSet) throws(AWSError) -> V1UsagePlan {
        var record = try usagePlan(id)
        for operation in operations {
            let (op, path, value) = try Patch.parts(operation)
            switch (op, path) {
            case (.replace, "/name"): record.plan.name = value
            case (.replace, "/description"): record.plan.description = value
            case (.replace, "/throttle/rateLimit"):
                guard let rate = value.flatMap(Double.init) else { throw .gatewayBadRequest("Invalid rate limit: \(value ?? "")") }
                record.plan.throttle = V1ThrottleSettings(burstLimit: record.plan.throttle?.burstLimit, rateLimit: rate)
            case (.replace, "/throttle/burstLimit"):
                guard let burst = value.flatMap(Int.init) else { throw .gatewayBadRequest("Invalid burst limit: \(value ?? "")") }
                record.plan.throttle = V1ThrottleSettings(burstLimit: burst, rateLimit: record.plan.throttle?.rateLimit)
            case (.remove, "/throttle"): record.plan.throttle = nil
            case (.replace, "/quota/limit"):
                guard let limit = value.flatMap(Int.init) else { throw .gatewayBadRequest("Invalid quota limit: \(value ?? "")") }
                record.plan.quota = V1QuotaSettings(limit: limit, offset: 0, period: record.plan.quota?.period ?? .day)
            case (.replace, "/quota/period"):
                guard let period = value.flatMap(V1QuotaPeriodType.init(rawValue:)) else {
                    throw .gatewayBadRequest("Invalid quota period: \(value ?? ""); use DAY, WEEK or MONTH")
                }
                record.plan.quota = V1QuotaSettings(limit: record.plan.quota?.limit, offset: 0, period: period)
            case (.remove, "/quota"): record.plan.quota = nil
            case (.add, "/apiStages"), (.remove, "/apiStages"):
                let parts = (value ?? "").split(separator: ":", maxSplits: 1).map(String.init)
                guard parts.count == 2 else { throw .gatewayBadRequest("API stages are given as API_ID:STAGE") }
                let stage = V1ApiStage(apiId: parts[0], stage: parts[1])
                if op == .add {
                    try checkApiStage(stage)
                    // A key may be in one plan per API stage: the plan's keys must not already reach it through another.
                    for other in usagePlans.values where other.id != id && (other.plan.apiStages ?? []).contains(where: { $0.apiId == stage.apiId && $0.stage == stage.stage }) {
                        if let shared = record.keyIds.first(where: other.keyIds.contains) {
                            throw .gatewayConflict(
                                "API Key \(shared) cannot reference multiple Usage Plans with the same API Stage: \(stage.apiId ?? ""):\(stage.stage ?? "")")
                        }
                    }
                    if !(record.plan.apiStages ?? []).contains(where: { $0.apiId == stage.apiId && $0.stage == stage.stage }) {
                        record.plan.apiStages = (record.plan.apiStages ?? []) + [stage]
                    }
                } else {
                    record.plan.apiStages?.removeAll { $0.apiId == stage.apiId && $0.stage == stage.stage }
                }
            default: throw Patch.unsupported(operation)
            }
        }
        try Self.checkThrottle(record.plan.throttle)
        try Self.checkQuota(record.plan.quota)
        usagePlans[id] = record
        changes.put(record)
        return record.plan
    }

    public mutating func deleteUsagePlan(_ id: String, changes: inout ChangeSet) throws(AWSError) {
        _ = try usagePlan(id)
        usagePlans[id] = nil
        changes.delete(UsagePlanRecord.self, key: id)
    }

    // MARK: Usage plan keys

    public mutating func createUsagePlanKey(_ planId: String, _ input: V1CreateUsagePlanKeyRequest, changes: inout ChangeSet) throws(AWSError)
        -> V1UsagePlanKey
    {
        var record = try usagePlan(planId)
        guard input.keyType == "API_KEY" else { throw .gatewayBadRequest("Invalid key type \(input.keyType): use API_KEY") }
        let key = try apiKey(input.keyId).key
        guard !record.keyIds.contains(input.keyId) else { throw .gatewayConflict("Usage Plan \(planId) already has API Key \(input.keyId)") }
        // A key may be in one plan per API stage.
        for other in usagePlans.values where other.id != planId && other.keyIds.contains(input.keyId) {
            for stage in other.plan.apiStages ?? [] where (record.plan.apiStages ?? []).contains(where: { $0.apiId == stage.apiId && $0.stage == stage.stage }) {
                throw .gatewayConflict(
                    "Usage Plan \(other.id) cannot be added because API Key \(input.keyId) cannot reference multiple Usage Plans with the same API Stage: \(stage.apiId ?? ""):\(stage.stage ?? "")")
            }
        }
        record.keyIds.append(input.keyId)
        usagePlans[planId] = record
        changes.put(record)
        return V1UsagePlanKey(id: input.keyId, type: "API_KEY", value: key.value, name: key.name)
    }

    public func getUsagePlanKeys(_ planId: String, limit: String?, position: String?) throws(AWSError) -> V1UsagePlanKeys {
        let record = try usagePlan(planId)
        let (page, next) = try Self.restPage(record.keyIds.sorted(), limit: limit, position: position)
        return V1UsagePlanKeys(position: next, item: page.compactMap { id in
            apiKeys[id].map { V1UsagePlanKey(id: id, type: "API_KEY", value: $0.key.value, name: $0.key.name) }
        })
    }

    public mutating func deleteUsagePlanKey(_ planId: String, _ keyId: String, changes: inout ChangeSet) throws(AWSError) {
        var record = try usagePlan(planId)
        guard record.keyIds.contains(keyId) else { throw .restNotFound("Invalid API Key identifier specified") }
        record.keyIds.removeAll { $0 == keyId }
        usagePlans[planId] = record
        changes.put(record)
    }

    /// The plan through which an API key may call an API stage, if any.
    public func usagePlan(forKey keyId: String, apiId: String, stage: String) -> UsagePlanRecord? {
        usagePlans.values.first { plan in
            plan.keyIds.contains(keyId) && (plan.plan.apiStages ?? []).contains { $0.apiId == apiId && $0.stage == stage }
        }
    }
}
