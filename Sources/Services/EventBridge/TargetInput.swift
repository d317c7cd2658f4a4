#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import EventsShapes
import StevedoreCore

/// The JSON paths targets use (`$.detail.state`, `$.resources[0]`): `$` then names and indexes.
struct JSONPath: Sendable, Equatable {
    enum Step: Sendable, Equatable {
        case field(String)
        case index(Int)
    }

    let steps: [Step]

    init?(_ text: String) {
        guard text.hasPrefix("$") else { return nil }
        var steps: [Step] = []
        var rest = Substring(text.dropFirst())
        while !rest.isEmpty {
            if rest.hasPrefix(".") {
                rest = rest.dropFirst()
                let name = rest.prefix { $0 != "." && $0 != "[" }
                guard !name.isEmpty else { return nil }
                steps.append(.field(String(name)))
                rest = rest.dropFirst(name.count)
            } else if rest.hasPrefix("[") {
                guard let close = rest.firstIndex(of: "]") else { return nil }
                let inside = rest[rest.index(after: rest.startIndex)..<close]
                if let index = Int(inside), index >= 0 {
                    steps.append(.index(index))
                } else if inside.count >= 2, let quote = inside.first, quote == "'" || quote == "\"", inside.last == quote {
                    steps.append(.field(String(inside.dropFirst().dropLast())))
                } else {
                    return nil
                }
                rest = rest[rest.index(after: close)...]
            } else {
                return nil
            }
        }
        self.steps = steps
    }

    func value(in root: JSONValue) -> JSONValue? {
        var current = root
        for step in steps {
            switch (step, current) {
            case (.field(let name), .object(let fields)):
                guard let next = fields[name] else { return nil }
                current = next
            case (.index(let index), .array(let items)):
                guard index < items.count else { return nil }
                current = items[index]
            default:
                return nil
            }
        }
        return current
    }
}

/// What a target receives for an event: the event itself, `Input`, the part `InputPath` selects,
/// or `InputTransformer`'s template filled in.
enum TargetInput {
    static func render(_ target: EVBTarget, event: MatchedEvent, ruleArn: String, ruleName: String) -> String {
        if let input = target.Input { return input }
        if let path = target.InputPath {
            return JSONPath(path).flatMap { $0.value(in: event.value) }.map(\.sortedText) ?? "null"
        }
        guard let transformer = target.InputTransformer else { return event.text }
        // A name whose path the event lacks maps to nil.
        var values: [String: JSONValue?] = [:]
        for (key, path) in transformer.InputPathsMap ?? [:] {
            values[key] = .some(JSONPath(path)?.value(in: event.value))
        }
        return fill(transformer.InputTemplate, values: values, event: event, ruleArn: ruleArn, ruleName: ruleName)
    }

    /// Replaces each `<name>` the paths map (or `aws.events.…`) defines. Inside a JSON string a
    /// string value goes in without its quotes (escaped); elsewhere every value goes in as JSON.
    static func fill(_ template: String, values: [String: JSONValue?], event: MatchedEvent, ruleArn: String, ruleName: String) -> String {
        func lookup(_ name: String) -> JSONValue?? {
            switch name {
            case "aws.events.rule-arn": return .some(.string(ruleArn))
            case "aws.events.rule-name": return .some(.string(ruleName))
            case "aws.events.event.ingestion-time": return .some(.string(event.time))
            case "aws.events.event.json": return .some(event.value)
            case "aws.events.event":
                // The envelope without its detail, `detail-type` spelled `detailType`.
                guard case .object(var fields) = event.value else { return .some(event.value) }
                fields["detail"] = nil
                fields["detailType"] = fields.removeValue(forKey: "detail-type")
                return .some(.object(fields))
            default: return values[name]
            }
        }
        let scalars = Array(template.unicodeScalars)
        var output = String.UnicodeScalarView()
        var inString = false
        var index = 0
        while index < scalars.count {
            let scalar = scalars[index]
            if scalar == "\\", inString, index + 1 < scalars.count {
                output.append(scalar)
                output.append(scalars[index + 1])
                index += 2
                continue
            }
            if scalar == "\"" { inString.toggle() }
            if scalar == "<", let close = scalars[(index + 1)...].firstIndex(of: ">") {
                let name = String(String.UnicodeScalarView(scalars[(index + 1)..<close]))
                if let found = lookup(name) {
                    let text: String
                    switch (found, inString) {
                    case (.some(.string(let value)), true): text = escaped(value)
                    case (.some(let value), true): text = escaped(value.sortedText)
                    case (.some(let value), false): text = value.sortedText
                    // A path the event lacks gives an empty string.
                    case (.none, true): text = ""
                    case (.none, false): text = "\"\""
                    }
                    output.append(contentsOf: text.unicodeScalars)
                    index = close + 1
                    continue
                }
            }
            output.append(scalar)
            index += 1
        }
        return String(output)
    }

    static let predefined: Set<String> = [
        "aws.events.rule-arn", "aws.events.rule-name", "aws.events.event.ingestion-time", "aws.events.event", "aws.events.event.json",
    ]

    /// The `<name>` placeholders of a template (names of letters, digits, `.`, `_` and `-`).
    static func placeholders(in template: String) -> [String] {
        var found: [String] = []
        var rest = Substring(template)
        while let open = rest.firstIndex(of: "<") {
            let after = rest[rest.index(after: open)...]
            guard let close = after.firstIndex(of: ">") else { break }
            let name = after[..<close]
            if !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || "._-".contains($0) }) {
                found.append(String(name))
                rest = after[after.index(after: close)...]
            } else {
                rest = after
            }
        }
        return found
    }


    /// A string's contents as they appear between JSON quotes.
    static func escaped(_ text: String) -> String {
        let quoted = JSONValue.string(text).sortedText
        return String(quoted.dropFirst().dropLast())
    }
}
