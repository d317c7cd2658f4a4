import HashTreeCollections

/// A dictionary keyed by string whose copies share their structure (a hash array mapped trie,
/// swift-collections' `TreeDictionary`). The control plane publishes its state to readers by
/// copying it; the next write to a plain dictionary then copies every entry, and to this one only
/// the few nodes on the path to the key it changes — what keeps writes to a state of 100,000 tasks
/// as cheap as to one of 100.
public struct TrieDictionary<Value: Sendable>: Sendable {
    private var entries = TreeDictionary<String, Value>()

    public init() {}

    public var count: Int { entries.count }
    public var isEmpty: Bool { entries.isEmpty }

    public subscript(key: String) -> Value? {
        get { entries[key] }
        set { entries[key] = newValue }
    }

    @discardableResult
    public mutating func updateValue(_ value: Value, forKey key: String) -> Value? {
        entries.updateValue(value, forKey: key)
    }

    @discardableResult
    public mutating func removeValue(forKey key: String) -> Value? {
        entries.removeValue(forKey: key)
    }

    public var keys: some Sequence<String> { entries.keys }
    public var values: some Sequence<Value> { entries.values }
}

extension TrieDictionary: Sequence {
    public typealias Element = (key: String, value: Value)

    public func makeIterator() -> some IteratorProtocol<Element> {
        entries.lazy.map { (key: $0.key, value: $0.value) }.makeIterator()
    }

    public var underestimatedCount: Int { count }
}

extension TrieDictionary: Equatable where Value: Equatable {}
