import Foundation
import StevedoreCore

extension Velocity {
    // MARK: Rendering

    struct Renderer {
        var variables: [String: Value]
        let host: any Host
        /// Output written so far, bounded: a template cannot make an answer of unbounded size.
        var budget = 1 << 20
        var iterations = 0
        /// Nodes run and expressions evaluated: a template's work per request is bounded too.
        var steps = 2_000_000

        /// Runs nodes; false when `#break`/`#stop` ended them (or the work ran out).
        mutating func run(_ nodes: [Node], into output: inout String) -> Bool {
            for node in nodes {
                steps -= 1
                guard steps > 0 else { return false }
                switch node {
                case .text(let text): write(text, to: &output)
                case .reference(let reference, let quiet, let source):
                    let value = evaluate(reference)
                    if let value, value != .null {
                        write(value.text, to: &output)
                    } else if !quiet {
                        write(source, to: &output)
                    }
                case .set(let target, let expression):
                    // A null leaves the variable as it was, as Velocity 1.7 does.
                    if let value = evaluate(expression), value != .null { assign(value, to: target) }
                case .conditional(let branches, let otherwise):
                    var taken = false
                    for (condition, body) in branches where (evaluate(condition) ?? .null).truthy {
                        taken = true
                        if !run(body, into: &output) { return false }
                        break
                    }
                    if !taken, let otherwise, !run(otherwise, into: &output) { return false }
                case .loop(let variable, let over, let body):
                    let items: [Value]
                    switch evaluate(over) ?? .null {
                    case .list(let list): items = list
                    case .map(let members): items = members.map(\.1)
                    case .null: items = []
                    case let single: items = [single]
                    }
                    let saved = (variables[variable], variables["foreach"], variables["velocityCount"])
                    for (position, item) in items.enumerated() {
                        iterations += 1
                        // Velocity's own limit on a loop is off by default; a template's loops are bounded here.
                        guard iterations <= 100_000 else { break }
                        variables[variable] = item
                        variables["foreach"] = .map([
                            ("index", .number(Double(position))), ("count", .number(Double(position + 1))),
                            ("hasNext", .bool(position + 1 < items.count)), ("first", .bool(position == 0)), ("last", .bool(position + 1 == items.count)),
                        ])
                        variables["velocityCount"] = .number(Double(position + 1))
                        if !run(body, into: &output) { break }
                    }
                    variables[variable] = saved.0
                    variables["foreach"] = saved.1
                    variables["velocityCount"] = saved.2
                case .stop: return false
                }
            }
            return true
        }

        mutating func write(_ text: String, to output: inout String) {
            guard budget > 0 else { return }
            budget -= text.utf8.count
            output += text
        }

        mutating func assign(_ value: Value, to target: Reference) {
            guard !target.path.isEmpty else {
                variables[target.name] = value
                return
            }
            // `#set($map.key = …)`: a member of a map variable.
            guard case .member(let key)? = target.path.last, target.path.count == 1, case .map(var members)? = variables[target.name] else { return }
            if let position = members.firstIndex(where: { $0.0 == key }) {
                members[position].1 = value
            } else {
                members.append((key, value))
            }
            variables[target.name] = .map(members)
        }

        mutating func evaluate(_ reference: Reference) -> Value? {
            var value = variables[reference.name]
            if value == nil, ["input", "util"].contains(reference.name) { value = .object(reference.name) }
            var steps = reference.path[...]
            // `$context.identity.sourceIp`: flat names with dots, as the gateway keeps them.
            if case .map(let members)? = value {
                var dotted: [String] = []
                for step in steps {
                    guard case .member(let name) = step else { break }
                    dotted.append(name)
                }
                while dotted.count > 1 {
                    if let found = members.first(where: { $0.0 == dotted.joined(separator: ".") })?.1 {
                        value = found
                        steps = steps.dropFirst(dotted.count)
                        break
                    }
                    dotted.removeLast()
                }
            }
            for step in steps {
                guard let current = value else { return nil }
                switch step {
                case .member(let name):
                    if case .object(let object) = current {
                        value = host.call(object, name, [])
                    } else {
                        value = current.member(name) ?? Self.getter(current, name)
                    }
                case .method(let name, let arguments):
                    let values = arguments.map { evaluate($0) ?? .null }
                    if case .object(let object) = current {
                        value = host.call(object, name, values)
                    } else {
                        value = Self.method(current, name, values)
                    }
                case .index(let expression):
                    value = Self.element(current, evaluate(expression) ?? .null)
                }
            }
            return value
        }

        /// `$map.keyName` Java bean style: `size`, `empty` as `isEmpty()`.
        static func getter(_ value: Value, _ name: String) -> Value? {
            switch name {
            case "size", "length": method(value, "size", [])
            case "empty": method(value, "isEmpty", [])
            default: nil
            }
        }

        static func element(_ value: Value, _ key: Value) -> Value? {
            switch (value, key) {
            case (.list(let items), .number(let number)):
                guard let position = Velocity.integer(number) else { return nil }
                return items.indices.contains(position) ? items[position] : nil
            case (.map(let members), .string(let name)): return members.first { $0.0 == name }?.1
            default: return nil
            }
        }

        /// The Java methods templates call on strings, lists and maps.
        static func method(_ value: Value, _ name: String, _ arguments: [Value]) -> Value? {
            func string(_ index: Int) -> String? {
                guard arguments.indices.contains(index) else { return nil }
                return arguments[index].text
            }
            func number(_ index: Int) -> Int? {
                guard arguments.indices.contains(index), case .number(let value) = arguments[index] else { return nil }
                return Velocity.integer(value)
            }
            switch value {
            case .string(let text):
                switch name {
                case "length", "size": return .number(Double(text.count))
                case "toLowerCase": return .string(text.lowercased())
                case "toUpperCase": return .string(text.uppercased())
                case "trim": return .string(text.trimmingWhitespace)
                case "isEmpty": return .bool(text.isEmpty)
                case "contains": return string(0).map { .bool(text.contains($0)) }
                case "startsWith": return string(0).map { .bool(text.hasPrefix($0)) }
                case "endsWith": return string(0).map { .bool(text.hasSuffix($0)) }
                case "equals": return .bool(arguments.first == value)
                case "equalsIgnoreCase": return string(0).map { .bool($0.lowercased() == text.lowercased()) }
                case "indexOf":
                    guard let needle = string(0) else { return nil }
                    return .number(Double(text.range(of: needle).map { text.distance(from: text.startIndex, to: $0.lowerBound) } ?? -1))
                case "replace":
                    guard let target = string(0), let replacement = string(1), !target.isEmpty else { return nil }
                    return bounded(.string(text.replacingOccurrences(of: target, with: replacement)))
                case "replaceAll", "replaceFirst":
                    guard let pattern = string(0), let replacement = string(1), let regex = JavaRegex.compile(pattern) else { return nil }
                    return bounded(.string(JavaRegex.replace(text, regex, with: replacement, all: name == "replaceAll")))
                case "matches":
                    guard let pattern = string(0), let regex = JavaRegex.compile(pattern) else { return nil }
                    return .bool(text.wholeMatch(of: regex) != nil)
                case "substring":
                    let characters = Array(text)
                    guard let start = number(0), start >= 0, start <= characters.count else { return nil }
                    let end = min(number(1) ?? characters.count, characters.count)
                    guard end >= start else { return nil }
                    return .string(String(characters[start..<end]))
                case "split":
                    // Java's: a regex, and trailing empty strings dropped.
                    guard let pattern = string(0), let regex = JavaRegex.compile(pattern) else { return nil }
                    var parts = text.split(separator: regex, omittingEmptySubsequences: false).map { Value.string(String($0)) }
                    while parts.count > 1, parts.last == .string("") { parts.removeLast() }
                    return bounded(.list(parts))
                case "toString": return value
                default: return nil
                }
            case .list(let items):
                switch name {
                case "size": return .number(Double(items.count))
                case "isEmpty": return .bool(items.isEmpty)
                case "get": return number(0).flatMap { items.indices.contains($0) ? items[$0] : nil }
                case "contains": return .bool(arguments.first.map { items.contains($0) } ?? false)
                default: return nil
                }
            case .map(let members):
                switch name {
                case "size": return .number(Double(members.count))
                case "isEmpty": return .bool(members.isEmpty)
                case "get": return string(0).flatMap { key in members.first { $0.0 == key }?.1 }
                case "containsKey": return .bool(string(0).map { key in members.contains { $0.0 == key } } ?? false)
                case "keySet": return .list(members.map { .string($0.0) })
                case "values": return .list(members.map(\.1))
                case "entrySet": return .list(members.map { .map([("key", .string($0.0)), ("value", $0.1)]) })
                default: return nil
                }
            case .number(let number):
                switch name {
                case "toString": return .string(value.text)
                case "intValue": return .number(number.rounded(.towardZero))
                default: return nil
                }
            default:
                return name == "toString" ? .string(value.text) : nil
            }
        }

        mutating func evaluate(_ expression: Expression) -> Value? {
            steps -= 1
            guard steps > 0 else { return nil }
            switch expression {
            case .literal(let value): return value
            case .interpolated(let nodes):
                // Run by this renderer: its work and output count against the same bounds.
                var output = ""
                _ = run(nodes, into: &output)
                return .string(output)
            case .reference(let reference): return evaluate(reference)
            case .list(let items): return Self.bounded(.list(items.map { evaluate($0) ?? .null }))
            case .map(let members): return Self.bounded(.map(members.map { ((evaluate($0.0) ?? .null).text, evaluate($0.1) ?? .null) }))
            case .range(let first, let last):
                guard case .number(let from)? = evaluate(first), case .number(let to)? = evaluate(last), abs(to - from) <= 10_000 else { return .list([]) }
                let step: Double = from <= to ? 1 : -1
                return .list(stride(from: from, through: to, by: step).map { .number($0) })
            case .not(let inner): return .bool(!(evaluate(inner) ?? .null).truthy)
            case .negate(let inner):
                guard case .number(let number)? = evaluate(inner) else { return nil }
                return .number(-number)
            case .binary(let operation, let leftExpression, let rightExpression):
                if operation == "&&" { return .bool((evaluate(leftExpression) ?? .null).truthy && (evaluate(rightExpression) ?? .null).truthy) }
                if operation == "||" { return .bool((evaluate(leftExpression) ?? .null).truthy || (evaluate(rightExpression) ?? .null).truthy) }
                let left = evaluate(leftExpression) ?? .null
                let right = evaluate(rightExpression) ?? .null
                switch operation {
                case "==": return .bool(Self.equal(left, right))
                case "!=": return .bool(!Self.equal(left, right))
                case "<", "<=", ">", ">=":
                    guard let order = Self.compare(left, right) else { return .bool(false) }
                    switch operation {
                    case "<": return .bool(order < 0)
                    case "<=": return .bool(order <= 0)
                    case ">": return .bool(order > 0)
                    default: return .bool(order >= 0)
                    }
                case "+":
                    if case .number(let a) = left, case .number(let b) = right { return .number(a + b) }
                    return Self.bounded(.string(left.text + right.text))
                default:
                    guard case .number(let a) = left, case .number(let b) = right else { return nil }
                    // Integers divide as Java's integers do; any other number as a double.
                    let integral = Velocity.integer(a) != nil && Velocity.integer(b) != nil
                    switch operation {
                    case "-": return .number(a - b)
                    case "*": return .number(a * b)
                    case "/": return b == 0 ? nil : .number(integral ? (a / b).rounded(.towardZero) : a / b)
                    default: return b == 0 ? nil : .number(a.truncatingRemainder(dividingBy: b))
                    }
                }
            }
        }

        /// A value made by the template, unless it is larger than a template may make.
        static func bounded(_ value: Value) -> Value? {
            var budget = Velocity.valueLimit
            return Velocity.exceeds(value, &budget) ? nil : value
        }

        /// Velocity compares numbers by value and anything else by its text.
        static func equal(_ a: Value, _ b: Value) -> Bool {
            switch (a, b) {
            case (.number(let x), .number(let y)): x == y
            case (.null, .null): true
            case (.null, _), (_, .null): false
            default: a.text == b.text
            }
        }

        static func compare(_ a: Value, _ b: Value) -> Int? {
            switch (a, b) {
            case (.number(let x), .number(let y)): x < y ? -1 : x == y ? 0 : 1
            case (.string(let x), .string(let y)): x < y ? -1 : x == y ? 0 : 1
            default: nil
            }
        }
    }
}

/// Java regular expressions as templates write them (`replaceAll("\\'", "'")`), through Swift's
/// Regex: patterns long or slow to compile are refused, and inputs are bounded by the renderer.
enum JavaRegex {
    static func compile(_ pattern: String) -> Regex<AnyRegexOutput>? {
        guard pattern.utf8.count <= 1024 else { return nil }
        return try? Regex(pattern)
    }

    /// `$1`…`$9` in the replacement stand for groups; `\\x` for `x`.
    static func replace(_ text: String, _ regex: Regex<AnyRegexOutput>, with replacement: String, all: Bool) -> String {
        var output = ""
        var rest = text[...]
        var replaced = false
        while !(replaced && !all), let match = rest.firstMatch(of: regex) {
            output += rest[..<match.range.lowerBound]
            var scalars = replacement.unicodeScalars[...]
            while let scalar = scalars.popFirst() {
                if scalar == "\\", let next = scalars.popFirst() {
                    output.unicodeScalars.append(next)
                } else if scalar == "$", let digit = scalars.first, let group = Int(String(digit)), group < match.output.count {
                    scalars.removeFirst()
                    if let captured = match.output[group].substring { output += captured }
                } else {
                    output.unicodeScalars.append(scalar)
                }
            }
            replaced = true
            if match.range.isEmpty {
                // An empty match moves on by one character, as Java's does.
                guard match.range.upperBound < rest.endIndex else {
                    rest = rest[rest.endIndex...]
                    break
                }
                output.append(rest[match.range.upperBound])
                rest = rest[rest.index(after: match.range.upperBound)...]
            } else {
                rest = rest[match.range.upperBound...]
            }
        }
        return output + rest
    }
}
