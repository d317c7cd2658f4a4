import Foundation
import StevedoreCore

/// The Velocity Template Language as API Gateway's mapping templates use it: references
/// (`$name`, `${name}`, `$!name`, members, method calls, indexes), `#set`, `#if`/`#elseif`/`#else`,
/// `#foreach` (with `$foreach.hasNext`, `$foreach.index`, `$foreach.count`), `#break`, comments,
/// and expressions with Velocity's operators. No macros, includes or evaluation of text: a
/// template using them is refused when it is put.
public enum Velocity {
    /// A value a template computes with.
    public indirect enum Value: Sendable, Equatable {
        case null
        case bool(Bool)
        case number(Double)
        case string(String)
        case list([Value])
        /// Members in the order given (Velocity's maps keep insertion order here).
        case map([(String, Value)])
        /// An object of the environment answering members and methods (`$input`, `$util`).
        case object(String)

        public static func == (a: Value, b: Value) -> Bool {
            switch (a, b) {
            case (.null, .null): true
            case (.bool(let x), .bool(let y)): x == y
            case (.number(let x), .number(let y)): x == y
            case (.string(let x), .string(let y)): x == y
            case (.list(let x), .list(let y)): x == y
            case (.map(let x), .map(let y)): x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
            case (.object(let x), .object(let y)): x == y
            default: false
            }
        }

        /// As Velocity writes it into the output (Java's `toString`).
        var text: String {
            switch self {
            case .null: ""
            case .bool(let flag): flag ? "true" : "false"
            // Whole numbers as Java prints a long; others as a double.
            case .number(let number):
                number.isFinite && number == number.rounded() && abs(number) < 9.2e18 ? String(Int64(number)) : String(number)
            case .string(let string): string
            case .list(let items): "[" + items.map(\.text).joined(separator: ", ") + "]"
            case .map(let members): "{" + members.map { "\($0.0)=\($0.1.text)" }.joined(separator: ", ") + "}"
            case .object(let name): name
            }
        }

        var truthy: Bool {
            switch self {
            case .null: false
            case .bool(let flag): flag
            default: true
            }
        }

        init(_ json: JSONValue) {
            switch json {
            case .null: self = .null
            case .bool(let flag): self = .bool(flag)
            case .number(let number): self = .number(number)
            case .string(let string): self = .string(string)
            case .array(let items): self = .list(items.map(Value.init))
            case .object(let members): self = .map(members.sorted { $0.key < $1.key }.map { ($0.key, Value($0.value)) })
            }
        }

        func member(_ name: String) -> Value? {
            if case .map(let members) = self { return members.first { $0.0 == name }?.1 }
            return nil
        }
    }

    /// What a template's environment answers beyond its variables: `$input` and `$util` calls.
    public protocol Host {
        func call(_ object: String, _ method: String, _ arguments: [Value]) -> Value?
    }

    public struct Failure: Error, Equatable, Sendable {
        public var message: String
    }

    /// A number as an integer when it is one that fits (NaN, infinities and huge values are not).
    static func integer(_ number: Double) -> Int? {
        guard number.isFinite, number == number.rounded(), abs(number) < 9.0e15 else { return nil }
        return Int(number)
    }

    /// What a value costs to hold: its nodes and its strings' bytes, counted until `budget` runs out
    /// (so a value built by doubling itself is measured without walking all of it).
    static func exceeds(_ value: Value, _ budget: inout Int) -> Bool {
        budget -= 1
        if budget < 0 { return true }
        switch value {
        case .string(let text): budget -= text.utf8.count
        case .list(let items):
            for item in items where exceeds(item, &budget) { return true }
        case .map(let members):
            for (key, item) in members {
                budget -= key.utf8.count
                if exceeds(item, &budget) { return true }
            }
        default: break
        }
        return budget < 0
    }

    /// The most a value made while rendering may hold (its nodes and bytes).
    static let valueLimit = 1 << 20

    // MARK: Parsing

    indirect enum Node: Sendable {
        case text(String)
        case reference(Reference, quiet: Bool, source: String)
        case set(Reference, Expression)
        case conditional([(Expression, [Node])], otherwise: [Node]?)
        case loop(variable: String, over: Expression, body: [Node])
        case stop
    }

    struct Reference: Sendable {
        var name: String
        var path: [Step]
    }

    enum Step: Sendable {
        case member(String)
        case method(String, [Expression])
        case index(Expression)
    }

    indirect enum Expression: Sendable {
        case literal(Value)
        case interpolated([Node])
        case reference(Reference)
        case list([Expression])
        case map([(Expression, Expression)])
        case range(Expression, Expression)
        case not(Expression)
        case negate(Expression)
        case binary(String, Expression, Expression)
    }

    /// A template parsed, or why it cannot be.
    public struct Template: Sendable {
        let nodes: [Node]

        public init(_ source: String) throws(Failure) {
            var parser = Parser(Array(source.unicodeScalars))
            nodes = try parser.nodes(until: [])
            guard parser.atEnd else { throw parser.failure("unexpected #\(parser.pendingDirective ?? "end")") }
        }

        /// The output, with `variables` (`$context`, `$stageVariables`, …) and the host's objects.
        public func render(variables: [String: Value], host: any Host) -> String {
            var renderer = Renderer(variables: variables, host: host)
            var output = ""
            _ = renderer.run(nodes, into: &output)
            return output
        }
    }

}
