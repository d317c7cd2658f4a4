#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import LambdaShapes
import StevedoreCore

/// A function URL: an HTTP endpoint of its own for `$LATEST` or an alias, served by the gateway's
/// listener at `<url-id>.lambda-url.<region>.localhost`.
public struct FunctionUrlRecord: Codable, Sendable, Equatable {
    /// 32 lower-case letters and digits, as Lambda's URL ids.
    public var urlId: String
    public var qualifier: String
    /// `NONE` or `AWS_IAM`.
    public var authType: String
    public var cors: LambdaCors?
    public var invokeMode: String
    public var created: Date
    public var modified: Date
}

/// Where function URLs are served: the gateway listener's scheme and port.
public struct FunctionUrlEndpoint: Sendable, Equatable {
    public var scheme = "http"
    public var port = 8380

    public init(scheme: String = "http", port: Int = 8380) {
        self.scheme = scheme
        self.port = port
    }

    public static func host(urlId: String, region: String) -> String { "\(urlId).lambda-url.\(region).localhost" }

    /// The URL id a request's `Host` names, if it is a function URL's.
    public static func urlId(fromHost host: String?) -> String? {
        guard let host, let dot = host.firstIndex(of: ".") else { return nil }
        let rest = host[host.index(after: dot)...]
        guard rest.hasPrefix("lambda-url.") else { return nil }
        let id = host[..<dot]
        return id.count == 32 && id.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 122) }) ? String(id) : nil
    }
}

/// What the gateway needs to serve a function URL.
public struct FunctionUrlTarget: Sendable, Equatable {
    public var functionName: String
    public var functionArn: String
    public var qualifier: String?
    public var authType: String
    public var cors: LambdaCors?
    /// Whether the function's resource-based policy lets anyone invoke the URL (an `AuthType` NONE URL needs it).
    public var publiclyInvokable: Bool
}

extension FunctionsState {
    public mutating func createFunctionUrl(
        _ reference: String, qualifier: String?, _ input: LambdaCreateFunctionUrlConfigRequest, now: Date, using generator: inout some RandomNumberGenerator,
        changes: inout ChangeSet
    ) throws(AWSError) -> LambdaCreateFunctionUrlConfigResponse {
        var (record, qualifier) = try urlOwner(reference, qualifier: qualifier)
        let arn = urlFunctionArn(record.name, qualifier: qualifier)
        guard record.urls?[qualifier] == nil else {
            throw AWSError(
                type: "ResourceConflictException",
                message: "Failed to create function url config for [functionArn = \(arn)]. Error message:  FunctionUrlConfig exists for this Lambda function",
                httpStatus: 409)
        }
        try Self.checkCors(input.Cors)
        var id = ""
        for _ in 0..<32 { id.append(Self.urlAlphabet.randomElement(using: &generator)!) }
        let url = FunctionUrlRecord(
            urlId: id, qualifier: qualifier, authType: input.AuthType.rawValue, cors: input.Cors, invokeMode: input.InvokeMode?.rawValue ?? "BUFFERED",
            created: now, modified: now)
        record.urls = (record.urls ?? [:]).merging([qualifier: url]) { $1 }
        functions[record.name] = record
        changes.put(record)
        return LambdaCreateFunctionUrlConfigResponse(
            FunctionUrl: functionUrl(id), FunctionArn: arn, AuthType: input.AuthType, Cors: input.Cors, CreationTime: Self.urlTime(now),
            InvokeMode: LambdaInvokeMode(rawValue: url.invokeMode))
    }

    public func functionUrlConfig(_ reference: String, qualifier: String?) throws(AWSError) -> LambdaGetFunctionUrlConfigResponse {
        let (record, qualifier) = try urlOwner(reference, qualifier: qualifier)
        guard let url = record.urls?[qualifier] else { throw Self.noUrl }
        let config = shape(url, function: record.name)
        return LambdaGetFunctionUrlConfigResponse(
            FunctionUrl: config.FunctionUrl, FunctionArn: config.FunctionArn, AuthType: config.AuthType, Cors: config.Cors, CreationTime: config.CreationTime,
            LastModifiedTime: config.LastModifiedTime, InvokeMode: config.InvokeMode)
    }

    public mutating func updateFunctionUrl(
        _ reference: String, qualifier: String?, _ input: LambdaUpdateFunctionUrlConfigRequest, now: Date, changes: inout ChangeSet
    ) throws(AWSError) -> LambdaUpdateFunctionUrlConfigResponse {
        var (record, qualifier) = try urlOwner(reference, qualifier: qualifier)
        guard var url = record.urls?[qualifier] else { throw Self.noUrl }
        try Self.checkCors(input.Cors)
        if let type = input.AuthType { url.authType = type.rawValue }
        if let cors = input.Cors { url.cors = cors }
        if let mode = input.InvokeMode { url.invokeMode = mode.rawValue }
        url.modified = now
        record.urls?[qualifier] = url
        functions[record.name] = record
        changes.put(record)
        let config = shape(url, function: record.name)
        return LambdaUpdateFunctionUrlConfigResponse(
            FunctionUrl: config.FunctionUrl, FunctionArn: config.FunctionArn, AuthType: config.AuthType, Cors: config.Cors, CreationTime: config.CreationTime,
            LastModifiedTime: config.LastModifiedTime, InvokeMode: config.InvokeMode)
    }

    public mutating func deleteFunctionUrl(_ reference: String, qualifier: String?, changes: inout ChangeSet) throws(AWSError) {
        var (record, qualifier) = try urlOwner(reference, qualifier: qualifier)
        guard record.urls?.removeValue(forKey: qualifier) != nil else { throw Self.noUrl }
        if record.urls?.isEmpty == true { record.urls = nil }
        functions[record.name] = record
        changes.put(record)
    }

    public func functionUrlConfigs(_ reference: String, marker: String?, maxItems: Int?) throws(AWSError) -> LambdaListFunctionUrlConfigsResponse {
        let (name, _) = try FunctionNames.parse(reference)
        guard let record = functions[name] else { throw functionNotFound(name) }
        let all = (record.urls ?? [:]).values.sorted { $0.qualifier < $1.qualifier }.map { shape($0, function: name) }
        let start = marker.flatMap(Int.init) ?? 0
        let size = min(max(maxItems ?? 50, 1), 50)
        guard (0...all.count).contains(start) else { throw FunctionValidation.constraint(marker ?? "", "marker", "Member must be a marker this call gave") }
        let end = min(all.count, start + size)
        return LambdaListFunctionUrlConfigsResponse(FunctionUrlConfigs: Array(all[start..<end]), NextMarker: end < all.count ? String(end) : nil)
    }

    /// The function URL a request's URL id names, with what the gateway needs to serve it.
    public func functionUrlTarget(_ urlId: String) -> FunctionUrlTarget? {
        for record in functions.values {
            guard let url = record.urls?.values.first(where: { $0.urlId == urlId }) else { continue }
            let qualifier = url.qualifier == FunctionNames.latest ? nil : url.qualifier
            let open = (record.permissions ?? []).contains { permission in
                // Anyone, with no condition on the caller's account, organization or source.
                permission.qualifier == url.qualifier && permission.principal == "*"
                    && ["lambda:InvokeFunctionUrl", "lambda:*", "*"].contains(permission.action)
                    && (permission.functionUrlAuthType == nil || permission.functionUrlAuthType == "NONE")
                    && permission.sourceArn == nil && permission.sourceAccount == nil && permission.principalOrgId == nil
            }
            return FunctionUrlTarget(
                functionName: record.name, functionArn: urlFunctionArn(record.name, qualifier: url.qualifier), qualifier: qualifier,
                authType: url.authType, cors: url.cors, publiclyInvokable: open)
        }
        return nil
    }

    // MARK: Helpers

    static let urlAlphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
    static let noUrl = AWSError.lambdaNotFound("The resource you requested does not exist.")

    /// The function and qualifier a URL belongs to: `$LATEST` or an alias (not a version number).
    func urlOwner(_ reference: String, qualifier given: String?) throws(AWSError) -> (FunctionRecord, String) {
        let (name, embedded) = try FunctionNames.parse(reference)
        let qualifier = given ?? embedded ?? FunctionNames.latest
        guard let record = functions[name] else { throw functionNotFound(name) }
        guard qualifier == FunctionNames.latest || !qualifier.allSatisfy(\.isNumber) else {
            throw FunctionValidation.constraint(
                qualifier, "qualifier", "Member must satisfy regular expression pattern: ((?!^\\d+$)^[0-9a-zA-Z-_]+$)")
        }
        guard qualifier == FunctionNames.latest || record.aliases[qualifier] != nil else { throw functionNotFound(name, qualifier: qualifier) }
        return (record, qualifier)
    }

    func urlFunctionArn(_ name: String, qualifier: String) -> String {
        qualifier == FunctionNames.latest ? names.function(name) : names.function(name, qualifier: qualifier)
    }

    func functionUrl(_ id: String) -> String {
        "\(settings.urlEndpoint.scheme)://\(FunctionUrlEndpoint.host(urlId: id, region: names.region)):\(settings.urlEndpoint.port)/"
    }

    func shape(_ url: FunctionUrlRecord, function: String) -> LambdaFunctionUrlConfig {
        LambdaFunctionUrlConfig(
            FunctionUrl: functionUrl(url.urlId), FunctionArn: urlFunctionArn(function, qualifier: url.qualifier), CreationTime: Self.urlTime(url.created),
            LastModifiedTime: Self.urlTime(url.modified), Cors: url.cors, AuthType: LambdaFunctionUrlAuthType(rawValue: url.authType) ?? .none_,
            InvokeMode: LambdaInvokeMode(rawValue: url.invokeMode))
    }

    /// `2021-10-12T19:15:50.425Z`.
    static func urlTime(_ date: Date) -> String {
        CivilCalendar.iso8601(millisecondsSince1970: Int64((date.timeIntervalSince1970 * 1000).rounded(.down)))
    }

    /// CORS settings within Lambda's limits: 100 origins, 100 headers, 6 methods, a day of caching.
    static func checkCors(_ cors: LambdaCors?) throws(AWSError) {
        guard let cors else { return }
        if let age = cors.MaxAge, !(0...86400).contains(age) {
            throw FunctionValidation.constraint(String(age), "cors.maxAge", "Member must have value less than or equal to 86400")
        }
        for method in cors.AllowMethods ?? [] where !["GET", "PUT", "HEAD", "POST", "PATCH", "DELETE", "*"].contains(method.uppercased()) {
            throw FunctionValidation.constraint(method, "cors.allowMethods", "Member must satisfy regular expression pattern: .*")
        }
    }
}
