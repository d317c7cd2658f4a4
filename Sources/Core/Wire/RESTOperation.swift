/// An operation of a REST service as its model declares it: name, method and path template
/// (`/2015-03-31/functions/{FunctionName}/policy`). Generated for every operation of the model, so
/// the server can name an operation it does not serve.
public struct RESTOperation: Sendable, Equatable {
    public var name: String
    public var method: String
    public var path: String

    public init(name: String, method: String, path: String) {
        self.name = name
        self.method = method
        self.path = path
    }

    /// Whether a request's method and path are this operation's (`{x}` matches one segment,
    /// `{x+}` the rest; a trailing slash is ignored).
    public func matches(method: String, path requestPath: String) -> Bool {
        guard method == self.method else { return false }
        let template = path.split(separator: "/", omittingEmptySubsequences: true)
        let segments = requestPath.split(separator: "/", omittingEmptySubsequences: true)
        for (index, part) in template.enumerated() {
            if part.hasPrefix("{"), part.hasSuffix("+}") { return segments.count > index }
            guard index < segments.count else { return false }
            if part.hasPrefix("{"), part.hasSuffix("}") { continue }
            guard part == segments[index] else { return false }
        }
        return template.count == segments.count
    }
}
