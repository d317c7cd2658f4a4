/// Reads the YAML that API definitions and templates are written in, into a ``Document``: block
/// mappings and sequences by indentation, flow `[…]` and `{…}`, plain, quoted and block (`|`, `>`)
/// scalars, comments. CloudFormation's short tags become their long forms (`!Ref X` is
/// `{"Ref": "X"}`, `!Sub s` is `{"Fn::Sub": s}`). Anchors and aliases are refused.
public struct YAMLReader {
    public struct Failure: Error, CustomStringConvertible {
        public var line: Int
        public var reason: String
        public var description: String { "line \(line): \(reason)" }
    }

    private var lines: [String]
    private var index = 0
    /// How deep the current node is nested (documents deeper than `maximumDepth` are refused
    /// rather than risking the stack).
    private var depth = 0
    static let maximumDepth = 256

    public static func read(_ text: String) throws(Failure) -> Document {
        var reader = YAMLReader(lines: text.replacingTabsAndSplitting())
        reader.skipEmpty()
        guard reader.index < reader.lines.count else { return .object([]) }
        let document = try reader.node(minimumIndent: 0) ?? .object([])
        reader.skipEmpty()
        if reader.index < reader.lines.count, reader.lines[reader.index].trimmed != "..." {
            throw Failure(line: reader.index + 1, reason: "unexpected content at this indentation: \(reader.lines[reader.index].trimmed)")
        }
        return document
    }

    private init(lines: [String]) {
        self.lines = lines
    }

    // MARK: Blocks

    private mutating func skipEmpty() {
        while index < lines.count {
            let text = lines[index].withoutComment.trimmed
            if text.isEmpty || text == "---" || text.hasPrefix("%") { index += 1 } else { return }
        }
    }

    private func indent(of line: String) -> Int { line.prefix { $0 == " " }.count }

    /// The node starting at the current line, if it is indented at least `minimumIndent`.
    private mutating func node(minimumIndent: Int) throws(Failure) -> Document? {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maximumDepth else { throw Failure(line: index + 1, reason: "nested more than \(Self.maximumDepth) levels deep") }
        skipEmpty()
        guard index < lines.count else { return nil }
        let line = lines[index]
        let column = indent(of: line)
        guard column >= minimumIndent else { return nil }
        let text = line.withoutComment.trimmed
        if text == "-" || text.hasPrefix("- ") { return try sequence(at: column) }
        if Self.splitEntry(text) != nil { return try mapping(at: column) }
        index += 1
        return try value(text, parentIndent: column - 1)
    }

    private mutating func mapping(at column: Int) throws(Failure) -> Document {
        var members: [(String, Document)] = []
        while true {
            skipEmpty()
            guard index < lines.count, indent(of: lines[index]) == column else { break }
            let text = lines[index].withoutComment.trimmed
            guard let (rawKey, rest) = Self.splitEntry(text) else {
                throw Failure(line: index + 1, reason: "expected `key: value` in this mapping, found: \(text)")
            }
            let key = try scalarText(rawKey)
            if members.contains(where: { $0.0 == key }) { throw Failure(line: index + 1, reason: "duplicate key \(key)") }
            index += 1
            let value: Document?
            if rest.isEmpty {
                // A nested block, or a sequence at the key's own indentation.
                skipEmpty()
                if index < lines.count, indent(of: lines[index]) == column, lines[index].withoutComment.trimmed.hasPrefix("-") {
                    value = try sequence(at: column)
                } else {
                    value = try node(minimumIndent: column + 1)
                }
            } else {
                value = try self.value(rest, parentIndent: column)
            }
            if let value { members.append((key, value)) }
        }
        return .object(members)
    }

    private mutating func sequence(at column: Int) throws(Failure) -> Document {
        var items: [Document] = []
        while true {
            skipEmpty()
            guard index < lines.count, indent(of: lines[index]) == column else { break }
            let text = lines[index].withoutComment.trimmed
            guard text == "-" || text.hasPrefix("- ") else { break }
            let rest = text.dropFirst().drop { $0 == " " }
            if rest.isEmpty {
                index += 1
                if let item = try node(minimumIndent: column + 1) { items.append(item) }
                continue
            }
            let restColumn = column + (text.count - rest.count)
            if rest.hasPrefix("- ") || rest == "-" || Self.splitEntry(String(rest)) != nil {
                // `- key: value` opens a mapping (or `- - x` a sequence) at the column of its content.
                lines[index] = String(repeating: " ", count: restColumn) + rest
                if let item = try node(minimumIndent: restColumn) { items.append(item) }
            } else {
                index += 1
                if let item = try value(String(rest), parentIndent: column) { items.append(item) }
            }
        }
        return .array(items)
    }

    /// A value written after `key:` or `-`: a block scalar, a flow collection or a scalar.
    private mutating func value(_ text: String, parentIndent: Int) throws(Failure) -> Document? {
        var text = text
        var tag: String?
        if text.hasPrefix("!") {
            let name = text.prefix { $0 != " " }
            tag = String(name.dropFirst())
            text = String(text.dropFirst(name.count)).trimmed
            if text.isEmpty {
                return Self.tagged(tag, try node(minimumIndent: parentIndent + 1) ?? .string(""))
            }
        }
        if text.hasPrefix("&") || text.hasPrefix("*") { throw Failure(line: index, reason: "anchors and aliases are not supported") }
        if text.hasPrefix("|") || text.hasPrefix(">") {
            return Self.tagged(tag, .string(blockScalar(text, parentIndent: parentIndent)))
        }
        if text.hasPrefix("[") || text.hasPrefix("{") {
            // A flow collection may go on over the lines below until its brackets close.
            while true {
                var flow = FlowReader(text: Array(text), line: index)
                do {
                    let document = try flow.read()
                    return Self.tagged(tag, document ?? .object([]))
                } catch {
                    guard error.reason.hasPrefix("unterminated"), index < lines.count, indent(of: lines[index]) > parentIndent || lines[index].trimmed.isEmpty
                    else { throw error }
                    text += " " + lines[index].withoutComment.trimmed
                    index += 1
                }
            }
        }
        if text.hasPrefix("\"") || text.hasPrefix("'") {
            text = continuedQuoted(text, parentIndent: parentIndent)
        } else if !text.isEmpty {
            text = continuedPlain(text, parentIndent: parentIndent)
        }
        let scalar = try self.scalar(text, quotedAsString: true)
        return tag == nil ? scalar : Self.tagged(tag, scalar ?? .string(""))
    }

    /// A quoted scalar that goes on over the lines below, folded as YAML folds them: a line
    /// break between two lines is a space, each empty line a line break.
    private mutating func continuedQuoted(_ first: String, parentIndent: Int) -> String {
        var text = first
        var emptyLines = 0
        while Self.isUnterminatedQuote(text), index < lines.count {
            let line = lines[index].trimmed
            index += 1
            if line.isEmpty {
                emptyLines += 1
                continue
            }
            text += emptyLines == 0 ? " " + line : String(repeating: "\n", count: emptyLines) + line
            emptyLines = 0
        }
        return text
    }

    /// A plain scalar that goes on over more-indented lines below, folded like a quoted one.
    private mutating func continuedPlain(_ first: String, parentIndent: Int) -> String {
        var text = first
        var lookahead = index
        var emptyLines = 0
        while lookahead < lines.count {
            let line = lines[lookahead].withoutComment
            if line.trimmed.isEmpty {
                emptyLines += 1
                lookahead += 1
                continue
            }
            guard indent(of: line) > parentIndent, !lines[lookahead].trimmed.hasPrefix("#") else { break }
            text += emptyLines == 0 ? " " + line.trimmed : String(repeating: "\n", count: emptyLines) + line.trimmed
            emptyLines = 0
            lookahead += 1
            index = lookahead
        }
        return text
    }

    static func isUnterminatedQuote(_ text: String) -> Bool {
        var flow = FlowReader(text: Array(text), line: 0)
        do {
            _ = try flow.quoted()
            return false
        } catch {
            return error.reason == "unterminated quoted string"
        }
    }

    private mutating func blockScalar(_ header: String, parentIndent: Int) -> String {
        let folded = header.hasPrefix(">")
        let chomping = header.dropFirst().first { $0 == "-" || $0 == "+" }
        var collected: [String] = []
        var blockIndent: Int?
        while index < lines.count {
            let line = lines[index]
            if line.trimmed.isEmpty {
                collected.append("")
                index += 1
                continue
            }
            let column = indent(of: line)
            if column <= parentIndent { break }
            if blockIndent == nil { blockIndent = column }
            guard let blockIndent, column >= blockIndent else { break }
            collected.append(String(line.dropFirst(blockIndent)))
            index += 1
        }
        var trailing = 0
        while collected.last == "" {
            collected.removeLast()
            trailing += 1
        }
        var text: String
        if folded {
            text = ""
            // A line break between two lines is a space; each blank line is one line break;
            // more-indented lines keep theirs.
            for (position, line) in collected.enumerated() {
                if line.isEmpty {
                    text += "\n"
                    continue
                }
                if position > 0, !collected[position - 1].isEmpty {
                    text += line.hasPrefix(" ") || collected[position - 1].hasPrefix(" ") ? "\n" : " "
                }
                text += line
            }
        } else {
            text = collected.joined(separator: "\n")
        }
        switch chomping {
        case "-": return text
        case "+": return text + String(repeating: "\n", count: trailing + 1)
        default: return collected.isEmpty ? "" : text + "\n"
        }
    }

    // MARK: Scalars

    private func scalarText(_ text: String) throws(Failure) -> String {
        switch try scalar(text, quotedAsString: true) {
        case .string(let value)?: value
        case let other?: other.string ?? text
        case nil: ""
        }
    }

    /// A scalar; nil for null (`~`, `null`, nothing).
    private func scalar(_ text: String, quotedAsString: Bool) throws(Failure) -> Document? {
        if text.hasPrefix("\"") || text.hasPrefix("'") {
            var flow = FlowReader(text: Array(text), line: index)
            guard let value = try flow.quoted(), flow.atEnd else {
                throw Failure(line: index, reason: "unexpected text after a quoted string: \(text)")
            }
            return .string(value)
        }
        return Self.resolve(text)
    }

    /// YAML 1.2's core schema for plain scalars.
    static func resolve(_ text: String) -> Document? {
        switch text {
        case "", "~", "null", "Null", "NULL": return nil
        case "true", "True", "TRUE": return .bool(true)
        case "false", "False", "FALSE": return .bool(false)
        default:
            if let value = Int(text), !text.hasPrefix("+") || text.count > 1 { return .integer(value) }
            return .string(text)
        }
    }

    /// CloudFormation's short tags in their long forms.
    static func tagged(_ tag: String?, _ value: Document) -> Document {
        guard let tag else { return value }
        switch tag {
        case "Ref", "Condition": return .object([(tag, value)])
        case "GetAtt":
            if case .string(let text) = value, let dot = text.firstIndex(of: ".") {
                return .object([("Fn::GetAtt", .array([.string(String(text[..<dot])), .string(String(text[text.index(after: dot)...]))]))])
            }
            return .object([("Fn::GetAtt", value)])
        default: return .object([("Fn::" + tag, value)])
        }
    }

    /// `key: rest` split at the first `:` followed by a space (or the end) outside quotes and
    /// brackets; nil when the text is not a mapping entry.
    static func splitEntry(_ text: String) -> (key: String, rest: String)? {
        let characters = Array(text)
        guard let first = characters.first, first != "[", first != "{", first != "-" || characters.count > 1 && characters[1] != " " else { return nil }
        var position = 0
        if first == "\"" || first == "'" {
            position = 1
            while position < characters.count {
                if characters[position] == "\\" && first == "\"" {
                    position += 2
                    continue
                }
                if characters[position] == first {
                    if first == "'", position + 1 < characters.count, characters[position + 1] == "'" {
                        position += 2
                        continue
                    }
                    break
                }
                position += 1
            }
            position += 1
        }
        while position < characters.count {
            if characters[position] == ":", position + 1 == characters.count || characters[position + 1] == " " {
                let key = String(characters[..<position]).trimmed
                let rest = String(characters[(position + 1)...]).trimmed
                return key.isEmpty ? nil : (key, rest)
            }
            position += 1
        }
        return nil
    }
}

/// Flow collections and quoted scalars, character by character.
private struct FlowReader {
    let text: [Character]
    let line: Int
    var position = 0
    var depth = 0

    var atEnd: Bool {
        var probe = position
        while probe < text.count, text[probe] == " " { probe += 1 }
        return probe == text.count
    }

    mutating func skipSpaces() {
        while position < text.count, text[position] == " " { position += 1 }
    }

    mutating func read() throws(YAMLReader.Failure) -> Document? {
        let value = try node()
        guard atEnd else { throw YAMLReader.Failure(line: line + 1, reason: "unexpected text after a flow collection") }
        return value
    }

    mutating func node() throws(YAMLReader.Failure) -> Document? {
        depth += 1
        defer { depth -= 1 }
        guard depth <= YAMLReader.maximumDepth else {
            throw YAMLReader.Failure(line: line + 1, reason: "nested more than \(YAMLReader.maximumDepth) levels deep")
        }
        skipSpaces()
        guard position < text.count else { throw YAMLReader.Failure(line: line + 1, reason: "unterminated flow collection") }
        // A tag inside a flow collection (`[!Ref A, !GetAtt B.Arn]`) applies to the node after it.
        if text[position] == "!" {
            let start = position + 1
            while position < text.count, text[position] != " ", text[position] != ",", text[position] != "]", text[position] != "}" { position += 1 }
            let tag = String(text[start..<position])
            return YAMLReader.tagged(tag, try node() ?? .string(""))
        }
        switch text[position] {
        case "[":
            position += 1
            var items: [Document] = []
            while true {
                skipSpaces()
                guard position < text.count else { throw YAMLReader.Failure(line: line + 1, reason: "unterminated [") }
                if text[position] == "]" {
                    position += 1
                    return .array(items)
                }
                if let item = try node() { items.append(item) }
                try separator(closing: "]")
            }
        case "{":
            position += 1
            var members: [(String, Document)] = []
            while true {
                skipSpaces()
                guard position < text.count else { throw YAMLReader.Failure(line: line + 1, reason: "unterminated {") }
                if text[position] == "}" {
                    position += 1
                    return .object(members)
                }
                let key = try scalarText(stoppingAt: [":", ",", "}"])
                skipSpaces()
                var value: Document?
                if position < text.count, text[position] == ":" {
                    position += 1
                    value = try node()
                }
                if let value { members.append((key, value)) }
                try separator(closing: "}")
            }
        case "\"", "'":
            return .string(try quoted() ?? "")
        default:
            return YAMLReader.resolve(try scalarText(stoppingAt: [",", "]", "}"]))
        }
    }

    /// After an item: a `,` (consumed) or the closing bracket (left for the caller); anything else is refused.
    mutating func separator(closing: Character) throws(YAMLReader.Failure) {
        skipSpaces()
        guard position < text.count else { throw YAMLReader.Failure(line: line + 1, reason: "unterminated flow collection") }
        if text[position] == "," {
            position += 1
        } else if text[position] != closing {
            throw YAMLReader.Failure(line: line + 1, reason: "expected , or \(closing) in a flow collection, found \(text[position])")
        }
    }

    /// A plain scalar up to one of `stops`; a `:` stops it only when a space, a comma, a bracket
    /// or the end follows (`http://x` and `pets:read` are scalars).
    mutating func scalarText(stoppingAt stops: Set<Character>) throws(YAMLReader.Failure) -> String {
        skipSpaces()
        if position < text.count, text[position] == "\"" || text[position] == "'" { return try quoted() ?? "" }
        let start = position
        while position < text.count {
            let character = text[position]
            if character == ":" {
                let next = position + 1 < text.count ? text[position + 1] : " "
                if stops.contains(":") && (next == " " || next == "," || next == "]" || next == "}") { break }
            } else if stops.contains(character) {
                break
            }
            position += 1
        }
        return String(text[start..<position]).trimmed
    }

    mutating func quoted() throws(YAMLReader.Failure) -> String? {
        guard position < text.count else { return nil }
        let quote = text[position]
        position += 1
        var value = ""
        while position < text.count {
            let character = text[position]
            if quote == "'" {
                if character == "'" {
                    if position + 1 < text.count, text[position + 1] == "'" {
                        value.append("'")
                        position += 2
                        continue
                    }
                    position += 1
                    return value
                }
                value.append(character)
                position += 1
                continue
            }
            if character == "\"" {
                position += 1
                return value
            }
            if character == "\\", position + 1 < text.count {
                let escaped = text[position + 1]
                position += 2
                switch escaped {
                case "n": value.append("\n")
                case "t": value.append("\t")
                case "r": value.append("\r")
                case "0": value.append("\0")
                case "\"", "\\", "/", " ": value.append(escaped)
                case "u":
                    let digits = String(text[position..<min(position + 4, text.count)])
                    guard digits.count == 4, let code = UInt32(digits, radix: 16), let scalar = Unicode.Scalar(code) else {
                        throw YAMLReader.Failure(line: line + 1, reason: "bad \\u escape")
                    }
                    value.unicodeScalars.append(scalar)
                    position += 4
                default: throw YAMLReader.Failure(line: line + 1, reason: "unknown escape \\\(escaped)")
                }
                continue
            }
            value.append(character)
            position += 1
        }
        throw YAMLReader.Failure(line: line + 1, reason: "unterminated quoted string")
    }
}

extension String {
    fileprivate var trimmed: String {
        var text = Substring(self)
        while text.first == " " { text = text.dropFirst() }
        while text.last == " " { text = text.dropLast() }
        return String(text)
    }

    /// The line without a comment: `#` at the start or after a space, outside quotes.
    fileprivate var withoutComment: String {
        var quote: Character?
        var previous: Character = " "
        for (offset, character) in enumerated() {
            if let open = quote {
                if character == open { quote = nil }
            } else if character == "\"" || character == "'" {
                if previous == " " || previous == "[" || previous == "{" || previous == "," || previous == ":" { quote = character }
            } else if character == "#", previous == " " {
                return String(prefix(offset))
            }
            previous = character
        }
        return self
    }

    fileprivate func replacingTabsAndSplitting() -> [String] {
        split(separator: "\n", omittingEmptySubsequences: false).map { line in
            var text = String(line)
            if text.hasSuffix("\r") { text.removeLast() }
            return text
        }
    }
}
