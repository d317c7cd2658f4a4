import Foundation
import StevedoreCore

/// An HTTP API route key: `$default`, or a method (or `ANY`) and a path whose segments are
/// literals, `{name}` parameters, or a last greedy `{name+}`.
public struct RouteKey: Sendable, Equatable {
    public enum Segment: Sendable, Equatable {
        case literal(String)
        case parameter(String)
        case greedy(String)
    }

    public static let methods: Set<String> = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
    public static let `default` = "$default"

    /// nil for `ANY`.
    public var method: String?
    public var segments: [Segment]

    /// Parses a route key; nil for `$default` or a key that is not one.
    public init?(_ key: String) {
        let parts = key.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[1].hasPrefix("/") else { return nil }
        let method = String(parts[0])
        guard method == "ANY" || Self.methods.contains(method) else { return nil }
        self.method = method == "ANY" ? nil : method
        var segments: [Segment] = []
        let pieces = parts[1].split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        for (index, piece) in pieces.enumerated() {
            if piece.isEmpty {
                // Only `/` itself (the root) may end in an empty segment.
                guard pieces.count == 1 else { return nil }
                continue
            }
            if piece.hasPrefix("{"), piece.hasSuffix("}") {
                var name = piece.dropFirst().dropLast()
                let greedy = name.hasSuffix("+")
                if greedy { name = name.dropLast() }
                guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == "." }) else { return nil }
                if greedy {
                    guard index == pieces.count - 1 else { return nil }
                    segments.append(.greedy(String(name)))
                } else {
                    segments.append(.parameter(String(name)))
                }
            } else {
                guard !piece.contains("{"), !piece.contains("}") else { return nil }
                segments.append(.literal(String(piece)))
            }
        }
        let names = segments.compactMap { segment -> String? in
            switch segment {
            case .parameter(let name), .greedy(let name): name
            case .literal: nil
            }
        }
        guard Set(names).count == names.count else { return nil }
        self.segments = segments
    }

    /// Refuses a key that is neither `$default` nor a method and a path.
    public static func check(_ key: String) throws(AWSError) {
        guard key == Self.default || RouteKey(key) != nil else {
            throw AWSError(
                type: "BadRequestException",
                message: "Invalid route key \(key): expected $default or an HTTP method (or ANY) and a path such as GET /pets/{id} or ANY /{proxy+}",
                httpStatus: 400)
        }
    }

    var isGreedy: Bool {
        if case .greedy = segments.last { return true }
        return false
    }

    /// The path parameters when `path`'s segments match, else nil.
    func match(_ path: [Substring]) -> [String: String]? {
        var parameters: [String: String] = [:]
        for (index, segment) in segments.enumerated() {
            switch segment {
            case .literal(let text):
                guard index < path.count, path[index] == text else { return nil }
            case .parameter(let name):
                guard index < path.count else { return nil }
                parameters[name] = Self.decoded(path[index])
            case .greedy(let name):
                // A greedy variable takes one segment at least, and everything after it.
                guard index < path.count else { return nil }
                parameters[name] = path[index...].map(Self.decoded).joined(separator: "/")
                return parameters
            }
        }
        return path.count == segments.count ? parameters : nil
    }

    /// How specific a matching route is, lower first: literal segments before parameters before a
    /// greedy tail, position by position; then a named method before `ANY`.
    var rank: [Int] {
        segments.map { segment in
            switch segment {
            case .literal: 0
            case .parameter: 1
            case .greedy: 2
            }
        } + [method == nil ? 1 : 0]
    }

    static func decoded(_ segment: Substring) -> String {
        String(segment).removingPercentEncoding ?? String(segment)
    }
}

/// A deployment's routes, ready to select from, as HTTP APIs select: routes matching without a
/// greedy variable first (the most specific), then greedy ones (the longest literal prefix),
/// then `$default`.
public struct RouteTable: Sendable {
    public struct Selection: Sendable, Equatable {
        public var routeKey: String
        public var target: String?
        public var pathParameters: [String: String]
        /// The route's position in the list the table was made from.
        public var index: Int
    }

    private var routes: [(key: RouteKey, routeKey: String, target: String?, index: Int)] = []
    private var defaultRoute: (routeKey: String, target: String?, index: Int)?

    public init(routes: [(routeKey: String, target: String?)]) {
        for (index, route) in routes.enumerated() {
            if route.routeKey == RouteKey.default {
                defaultRoute = (route.routeKey, route.target, index)
            } else if let key = RouteKey(route.routeKey) {
                self.routes.append((key, route.routeKey, route.target, index))
            }
        }
    }

    /// The route a request takes, or nil (404).
    public func select(method: String, path: String) -> Selection? {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        var best: (rank: (Int, [Int]), selection: Selection)?
        for route in routes {
            if let wanted = route.key.method, wanted != method { continue }
            guard let parameters = route.key.match(segments) else { continue }
            let rank = (route.key.isGreedy ? 1 : 0, route.key.rank)
            if let current = best?.rank, !(rank.0 < current.0 || (rank.0 == current.0 && rank.1.lexicographicallyPrecedes(current.1))) {
                continue
            }
            best = (rank, Selection(routeKey: route.routeKey, target: route.target, pathParameters: parameters, index: route.index))
        }
        if let best { return best.selection }
        return defaultRoute.map { Selection(routeKey: $0.routeKey, target: $0.target, pathParameters: [:], index: $0.index) }
    }
}
