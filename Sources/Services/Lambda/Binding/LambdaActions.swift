/// The IAM action each Lambda route is, for access policies (`lambda:InvokeFunction`…), keyed by
/// the route's method and path template as the routes register them.
extension LambdaAPI {
    public static let iamActions: [String: String] = {
        let function = functions + "/{name}"
        let aliases = function + "/aliases"
        let layers = "/2018-10-31/layers"
        let eventConfig = "/2019-09-25/functions/{name}/event-invoke-config"
        let pairs: [(String, String, String)] = [
            ("POST", functions, "CreateFunction"), ("GET", functions, "ListFunctions"),
            ("GET", function, "GetFunction"), ("DELETE", function, "DeleteFunction"),
            ("GET", function + "/configuration", "GetFunctionConfiguration"),
            ("PUT", function + "/configuration", "UpdateFunctionConfiguration"),
            ("PUT", function + "/code", "UpdateFunctionCode"), ("POST", function + "/invocations", "InvokeFunction"),
            ("POST", function + "/versions", "PublishVersion"), ("GET", function + "/versions", "ListVersionsByFunction"),
            ("GET", "/2016-08-19/account-settings", "GetAccountSettings"),
            ("POST", function + "/policy", "AddPermission"), ("DELETE", function + "/policy/{statementId}", "RemovePermission"),
            ("GET", function + "/policy", "GetPolicy"),
            ("POST", aliases, "CreateAlias"), ("GET", aliases, "ListAliases"), ("GET", aliases + "/{alias}", "GetAlias"),
            ("PUT", aliases + "/{alias}", "UpdateAlias"), ("DELETE", aliases + "/{alias}", "DeleteAlias"),
            ("POST", layers + "/{layer}/versions", "PublishLayerVersion"), ("GET", layers + "/{layer}/versions", "ListLayerVersions"),
            ("GET", layers + "/{layer}/versions/{version}", "GetLayerVersion"),
            ("DELETE", layers + "/{layer}/versions/{version}", "DeleteLayerVersion"), ("GET", layers, "ListLayers"),
            ("PUT", "/2017-10-31/functions/{name}/concurrency", "PutFunctionConcurrency"),
            ("DELETE", "/2017-10-31/functions/{name}/concurrency", "DeleteFunctionConcurrency"),
            ("POST", "/2021-10-31/functions/{name}/url", "CreateFunctionUrlConfig"), ("GET", "/2021-10-31/functions/{name}/url", "GetFunctionUrlConfig"),
            ("PUT", "/2021-10-31/functions/{name}/url", "UpdateFunctionUrlConfig"), ("DELETE", "/2021-10-31/functions/{name}/url", "DeleteFunctionUrlConfig"),
            ("GET", "/2021-10-31/functions/{name}/urls", "ListFunctionUrlConfigs"),
            ("GET", "/2019-09-30/functions/{name}/concurrency", "GetFunctionConcurrency"),
            ("PUT", eventConfig, "PutFunctionEventInvokeConfig"), ("POST", eventConfig, "UpdateFunctionEventInvokeConfig"),
            ("GET", eventConfig, "GetFunctionEventInvokeConfig"), ("DELETE", eventConfig, "DeleteFunctionEventInvokeConfig"),
            ("GET", eventConfig + "/list", "ListFunctionEventInvokeConfigs"),
            ("POST", "/2017-03-31/tags/{arn}", "TagResource"), ("DELETE", "/2017-03-31/tags/{arn}", "UntagResource"),
            ("GET", "/2017-03-31/tags/{arn}", "ListTags"),
            ("POST", eventSourceMappings, "CreateEventSourceMapping"), ("GET", eventSourceMappings, "ListEventSourceMappings"),
            ("GET", eventSourceMappings + "/{uuid}", "GetEventSourceMapping"), ("PUT", eventSourceMappings + "/{uuid}", "UpdateEventSourceMapping"),
            ("DELETE", eventSourceMappings + "/{uuid}", "DeleteEventSourceMapping"),
        ]
        return Dictionary(uniqueKeysWithValues: pairs.map { ("\($0.0) \($0.1)", "lambda:" + $0.2) })
    }()
}
