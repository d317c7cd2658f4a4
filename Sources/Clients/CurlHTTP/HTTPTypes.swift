extension HTTPClient {
/// An HTTP request for ``HTTPClient``.
public struct Request: Sendable {
    public var method: String
    /// Path and query, e.g. `/v1.41/containers/json?all=1`; joined to the client's base URL.
    public var path: String
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]?
    /// Limit for the whole exchange; `nil` waits as long as the server takes (streams, long polls).
    public var timeout: Duration?

    public init(
        method: String = "GET",
        path: String,
        headers: [(name: String, value: String)] = [],
        body: [UInt8]? = nil,
        timeout: Duration? = .seconds(60)
    ) {
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
        self.timeout = timeout
    }
}

/// A complete HTTP response.
public struct Response: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(name: String, value: String)], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The first header with this name, compared case-insensitively.
    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    public var bodyText: String { String(decoding: body, as: UTF8.self) }
}

/// A response whose body arrives as it is received (event streams, logs, pull progress).
public struct StreamingResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    /// Chunks in arrival order; finishes when the server ends the body, throws on transfer errors.
    public var body: AsyncThrowingStream<[UInt8], any Error>

    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    /// Collects the whole body; for error responses of streaming endpoints.
    public func collect(upTo limit: Int = 1 << 20) async throws -> [UInt8] {
        var bytes: [UInt8] = []
        for try await chunk in body {
            bytes += chunk
            if bytes.count >= limit { break }
        }
        return bytes
    }
}

}

/// A transfer that failed below HTTP: connection refused, timeout, TLS, cancelled.
public struct HTTPClientError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable {
        case couldNotConnect
        case timedOut
        case cancelled
        case transfer
    }

    public var kind: Kind
    /// libcurl's code, `0` when the failure did not come from libcurl.
    public var curlCode: Int
    public var url: String
    public var message: String

    public var description: String { "\(message) (\(url))" }
}
