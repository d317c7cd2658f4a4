import Foundation
import APIGatewayShapes
import StevedoreCore

/// REST APIs' models (JSON Schema draft 4 documents, by name) and request validators (whether a
/// method's body and required parameters are checked before its integration runs).
extension GatewayState {
    // MARK: Models

    public mutating func createModel(_ apiId: String, _ input: V1CreateModelRequest, using random: inout Xoshiro256, changes: inout ChangeSet)
        throws(AWSError) -> V1Model
    {
        try changeRestApi(apiId, changes: &changes) { record throws(AWSError) in
            guard !input.name.isEmpty, input.name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else {
                throw .gatewayBadRequest("Model name must be alphanumeric: \(input.name)")
            }
            guard record.models?[input.name] == nil else { throw .gatewayConflict("Model name already exists for this REST API") }
            try Self.checkModelSchema(input.schema)
            let model = V1Model(
                id: Self.newId(length: 6, using: &random) { id in !(record.models ?? [:]).values.contains { $0.id == id } }, name: input.name,
                description: input.description, schema: input.schema, contentType: input.contentType)
            record.models = (record.models ?? [:]).merging([input.name: model]) { _, new in new }
            return model
        }
    }

    /// A schema must be a JSON object (API Gateway checks it is a valid draft 4 document).
    static func checkModelSchema(_ schema: String?) throws(AWSError) {
        guard let schema else { return }
        guard case .object? = try? JSONDecoder().decode(JSONValue.self, from: Data(schema.utf8)) else {
            throw .gatewayBadRequest("Invalid model specified: Validation Result: warnings : [], errors : [Invalid model schema specified]")
        }
    }

    public func getModel(_ apiId: String, _ name: String) throws(AWSError) -> V1Model {
        guard let model = try restApi(apiId).models?[name] else { throw .restNotFound("Invalid model name specified: \(name)") }
        return model
    }

    public func getModels(_ apiId: String) throws(AWSError) -> V1Models {
        let models = try restApi(apiId).models ?? [:]
        return V1Models(item: models.keys.sorted().compactMap { models[$0] })
    }

    public mutating func updateModel(_ apiId: String, _ name: String, _ operations: [V1PatchOperation], changes: inout ChangeSet)
        throws(AWSError) -> V1Model
    {
        var model = try getModel(apiId, name)
        for operation in operations {
            let (op, path, value) = try Patch.parts(operation)
            switch (op, path) {
            case (.replace, "/schema"):
                try Self.checkModelSchema(value)
                model.schema = value
            case (.replace, "/description"): model.description = value
            default: throw Patch.unsupported(operation)
            }
        }
        let updated = model
        try changeRestApi(apiId, changes: &changes) { record throws(AWSError) in record.models?[name] = updated }
        return updated
    }

    /// Refused while a method names the model, as API Gateway refuses it.
    public mutating func deleteModel(_ apiId: String, _ name: String, changes: inout ChangeSet) throws(AWSError) {
        _ = try getModel(apiId, name)
        try changeRestApi(apiId, changes: &changes) { record throws(AWSError) in
            for resource in record.resources.values.sorted(by: { ($0.path ?? "") < ($1.path ?? "") }) {
                for (method, settings) in (resource.resourceMethods ?? [:]).sorted(by: { $0.key < $1.key })
                where (settings.requestModels ?? [:]).values.contains(name) {
                    throw .gatewayConflict("Cannot delete model '\(name)', is referenced in method request: \(resource.path ?? "/")/\(method)")
                }
            }
            record.models?[name] = nil
        }
    }

    // MARK: Request validators

    public mutating func createRequestValidator(
        _ apiId: String, _ input: V1CreateRequestValidatorRequest, using random: inout Xoshiro256, changes: inout ChangeSet
    ) throws(AWSError) -> V1RequestValidator {
        try changeRestApi(apiId, changes: &changes) { record throws(AWSError) in
            let name = input.name
            if let name, (record.requestValidators ?? [:]).values.contains(where: { $0.name == name }) {
                throw .gatewayConflict("Validator with name \(name) already exists")
            }
            let id = Self.newId(length: 6, using: &random) { record.requestValidators?[$0] == nil }
            let validator = V1RequestValidator(
                id: id, name: name, validateRequestBody: input.validateRequestBody ?? false,
                validateRequestParameters: input.validateRequestParameters ?? false)
            record.requestValidators = (record.requestValidators ?? [:]).merging([id: validator]) { _, new in new }
            return validator
        }
    }

    public func getRequestValidator(_ apiId: String, _ id: String) throws(AWSError) -> V1RequestValidator {
        guard let validator = try restApi(apiId).requestValidators?[id] else { throw .restNotFound("Invalid Request Validator identifier specified") }
        return validator
    }

    public func getRequestValidators(_ apiId: String) throws(AWSError) -> V1RequestValidators {
        let validators = try restApi(apiId).requestValidators ?? [:]
        return V1RequestValidators(item: validators.values.sorted { ($0.name ?? "") < ($1.name ?? "") })
    }

    public mutating func updateRequestValidator(_ apiId: String, _ id: String, _ operations: [V1PatchOperation], changes: inout ChangeSet)
        throws(AWSError) -> V1RequestValidator
    {
        var validator = try getRequestValidator(apiId, id)
        for operation in operations {
            let (op, path, value) = try Patch.parts(operation)
            switch (op, path) {
            case (.replace, "/name"): validator.name = value
            case (.replace, "/validateRequestBody"): validator.validateRequestBody = value == "true"
            case (.replace, "/validateRequestParameters"): validator.validateRequestParameters = value == "true"
            default: throw Patch.unsupported(operation)
            }
        }
        let updated = validator
        try changeRestApi(apiId, changes: &changes) { record throws(AWSError) in record.requestValidators?[id] = updated }
        return updated
    }

    public mutating func deleteRequestValidator(_ apiId: String, _ id: String, changes: inout ChangeSet) throws(AWSError) {
        _ = try getRequestValidator(apiId, id)
        try changeRestApi(apiId, changes: &changes) { record throws(AWSError) in
            record.requestValidators?[id] = nil
            // Methods that named it validate nothing any more.
            for (resourceId, var resource) in record.resources {
                guard var methods = resource.resourceMethods else { continue }
                for (name, var method) in methods where method.requestValidatorId == id {
                    method.requestValidatorId = nil
                    methods[name] = method
                }
                resource.resourceMethods = methods
                record.resources[resourceId] = resource
            }
        }
    }

    /// A method's request models and validator must exist.
    static func checkMethodRequest(_ method: V1Method, record: RestAPIRecord) throws(AWSError) {
        for (contentType, name) in method.requestModels ?? [:] {
            guard record.models?[name] != nil || name == "Empty" || name == "Error" else {
                throw .gatewayBadRequest("Invalid model identifier specified: \(name)")
            }
            _ = contentType
        }
        if let id = method.requestValidatorId {
            guard record.requestValidators?[id] != nil else { throw .gatewayBadRequest("Invalid Request Validator identifier specified") }
        }
        for name in (method.requestParameters ?? [:]).keys {
            let isParameter = [
                "method.request.querystring.", "method.request.header.", "method.request.path.", "method.request.multivaluequerystring.",
                "method.request.multivalueheader.",
            ]
                .contains { name.hasPrefix($0) && name.count > $0.count }
            guard isParameter else { throw .gatewayBadRequest("Invalid mapping expression specified: Validation Result: warnings : [], errors : [Invalid method request parameter name: \(name)]") }
        }
    }
}

/// What a request validator checks before a method's integration runs: its required parameters
/// (`method.request.querystring|header|path.NAME` marked `true`) and its body against the model
/// for its content type. Answers API Gateway's 400 messages.
public enum RequestValidation {
    public static func refusal(
        method: V1Method, validator: V1RequestValidator, models: [String: V1Model], request: GatewayRequest, pathParameters: [String: String]
    ) -> String? {
        if validator.validateRequestParameters == true {
            let query = Set(request.queryItems.map(\.name))
            var missing: [String] = []
            for (name, required) in (method.requestParameters ?? [:]).sorted(by: { $0.key < $1.key }) where required {
                let parts = name.split(separator: ".", maxSplits: 3).map(String.init)
                guard parts.count == 4 else { continue }
                let present =
                    switch parts[2] {
                    case "querystring", "multivaluequerystring": query.contains(parts[3])
                    case "header", "multivalueheader": request.header(parts[3]) != nil
                    case "path": pathParameters[parts[3]] != nil
                    default: true
                    }
                if !present { missing.append(parts[3]) }
            }
            if !missing.isEmpty { return "Missing required request parameters: [\(missing.joined(separator: ", "))]" }
        }
        if validator.validateRequestBody == true, let requestModels = method.requestModels, !requestModels.isEmpty {
            let contentType = request.header("content-type").map { String($0.split(separator: ";").first ?? "").trimmingWhitespace.lowercased() }
            let name = contentType.flatMap { requestModels[$0] } ?? requestModels["$default"] ?? (contentType == nil ? requestModels["application/json"] : nil)
            if let name, name != "Empty", let schemaText = models[name]?.schema,
                let schema = try? JSONDecoder().decode(JSONValue.self, from: Data(schemaText.utf8))
            {
                guard let body = try? JSONDecoder().decode(JSONValue.self, from: Data(request.body)),
                    JSONSchema.validates(body, against: schema, models: models)
                else { return "Invalid request body" }
            }
        }
        return nil
    }
}

/// JSON Schema draft 4, as API Gateway validates bodies with it: `type` (one or several),
/// `properties`, `required`, `additionalProperties`, `items`, `enum`, `minimum`/`maximum` (and their
/// exclusive flags), `minLength`/`maxLength`, `pattern`, `minItems`/`maxItems`, `uniqueItems`,
/// `minProperties`/`maxProperties`, `allOf`/`anyOf`/`oneOf`/`not`, and `$ref` to another model of the
/// API (`…/models/NAME`) or to `#/definitions/NAME`.
public enum JSONSchema {
    public static func validates(_ value: JSONValue, against schema: JSONValue, models: [String: V1Model] = [:]) -> Bool {
        var budget = Budget()
        return check(value, schema, root: schema, models: models, depth: 0, budget: &budget)
    }

    /// Schema rules applied so far: schemas that refer to themselves through `allOf` would
    /// otherwise take exponential time; past the budget a body is refused.
    struct Budget {
        var remaining = 100_000
    }

    static func check(_ value: JSONValue, _ schema: JSONValue, root: JSONValue, models: [String: V1Model], depth: Int, budget: inout Budget) -> Bool {
        budget.remaining -= 1
        guard budget.remaining > 0, depth < 32, case .object(let rules) = schema else { return budget.remaining > 0 && depth < 32 }
        if case .string(let reference)? = rules["$ref"] {
            if reference.hasPrefix("#/definitions/"), case .object(let top) = root, case .object(let definitions)? = top["definitions"],
                let target = definitions[String(reference.dropFirst("#/definitions/".count))]
            {
                return check(value, target, root: root, models: models, depth: depth + 1, budget: &budget)
            }
            if let name = reference.split(separator: "/").last, let text = models[String(name)]?.schema,
                let target = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
            {
                return check(value, target, root: target, models: models, depth: depth + 1, budget: &budget)
            }
            return false
        }
        if let type = rules["type"] {
            let allowed: [String] =
                switch type {
                case .string(let name): [name]
                case .array(let names): names.compactMap { if case .string(let name) = $0 { name } else { nil } }
                default: []
                }
            guard allowed.contains(where: { matchesType(value, $0) }) else { return false }
        }
        if case .array(let options)? = rules["enum"], !options.contains(value) { return false }
        for (name, combine) in [("allOf", 0), ("anyOf", 1), ("oneOf", 2)] {
            guard case .array(let schemas)? = rules[name] else { continue }
            let passed = schemas.filter { check(value, $0, root: root, models: models, depth: depth + 1, budget: &budget) }.count
            if combine == 0, passed != schemas.count { return false }
            if combine == 1, passed == 0 { return false }
            if combine == 2, passed != 1 { return false }
        }
        if let not = rules["not"], check(value, not, root: root, models: models, depth: depth + 1, budget: &budget) { return false }
        switch value {
        case .object(let members):
            if case .array(let required)? = rules["required"] {
                for case .string(let name) in required where members[name] == nil { return false }
            }
            let properties: [String: JSONValue]
            if case .object(let found)? = rules["properties"] { properties = found } else { properties = [:] }
            for (name, member) in members {
                if let rule = properties[name] {
                    if !check(member, rule, root: root, models: models, depth: depth + 1, budget: &budget) { return false }
                } else if let additional = rules["additionalProperties"] {
                    if case .bool(false) = additional { return false }
                    if case .object = additional, !check(member, additional, root: root, models: models, depth: depth + 1, budget: &budget) { return false }
                }
            }
            if case .number(let least)? = rules["minProperties"], Double(members.count) < least { return false }
            if case .number(let most)? = rules["maxProperties"], Double(members.count) > most { return false }
        case .array(let items):
            if let rule = rules["items"] {
                if case .array(let positional) = rule {
                    for (item, itemRule) in zip(items, positional) where !check(item, itemRule, root: root, models: models, depth: depth + 1, budget: &budget) {
                        return false
                    }
                } else if !items.allSatisfy({ check($0, rule, root: root, models: models, depth: depth + 1, budget: &budget) }) {
                    return false
                }
            }
            if case .number(let least)? = rules["minItems"], Double(items.count) < least { return false }
            if case .number(let most)? = rules["maxItems"], Double(items.count) > most { return false }
            if case .bool(true)? = rules["uniqueItems"] {
                for (index, item) in items.enumerated() where items[(index + 1)...].contains(item) { return false }
            }
        case .string(let text):
            if case .number(let least)? = rules["minLength"], Double(text.count) < least { return false }
            if case .number(let most)? = rules["maxLength"], Double(text.count) > most { return false }
            if case .string(let pattern)? = rules["pattern"] {
                guard let regex = try? Regex(pattern), text.contains(regex) else { return false }
            }
        case .number(let number):
            if case .number(let least)? = rules["minimum"] {
                if case .bool(true)? = rules["exclusiveMinimum"] { if number <= least { return false } } else if number < least { return false }
            }
            if case .number(let most)? = rules["maximum"] {
                if case .bool(true)? = rules["exclusiveMaximum"] { if number >= most { return false } } else if number > most { return false }
            }
            if case .number(let divisor)? = rules["multipleOf"], divisor > 0, (number / divisor).rounded() != number / divisor { return false }
        default: break
        }
        return true
    }

    static func matchesType(_ value: JSONValue, _ type: String) -> Bool {
        switch (type, value) {
        case ("object", .object), ("array", .array), ("string", .string), ("boolean", .bool), ("null", .null), ("number", .number): true
        case ("integer", .number(let number)): number == number.rounded()
        default: false
        }
    }
}
