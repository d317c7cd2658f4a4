import StevedoreCore

/// Containers' output for CloudWatch Logs: what the agent ships for containers whose task
/// definition asks for the `awslogs` driver.
extension WorkChannel {
    /// `POST`: a batch of a container's log events; with no events, only makes sure the group
    /// (when `createGroup`) and the stream exist, before the container starts.
    public static let logEventsPath = "/v1/agent/log-events"
}

public struct LogEventsBatch: Codable, Sendable, Equatable {
    public struct Event: Codable, Sendable, Equatable {
        /// Milliseconds since the epoch.
        public var timestamp: Int
        public var message: String

        public init(timestamp: Int, message: String) {
            self.timestamp = timestamp
            self.message = message
        }
    }

    public var containerInstanceArn: String
    public var taskArn: String
    public var group: String
    public var stream: String
    /// `awslogs-create-group`: a missing group is made instead of refused.
    public var createGroup: Bool
    /// In time order.
    public var events: [Event]

    public init(containerInstanceArn: String, taskArn: String, group: String, stream: String, createGroup: Bool, events: [Event]) {
        self.containerInstanceArn = containerInstanceArn
        self.taskArn = taskArn
        self.group = group
        self.stream = stream
        self.createGroup = createGroup
        self.events = events
    }
}

/// What the control plane answers a batch with: the stream's newest event time, so an agent that
/// restarts while a container runs goes on from there.
public struct LogEventsAccepted: Codable, Sendable, Equatable {
    public var lastEventTimestamp: Int?

    public init(lastEventTimestamp: Int?) {
        self.lastEventTimestamp = lastEventTimestamp
    }
}

/// The work channel's binary form of a ``LogEventsBatch``: JSON costs more than the rest of the
/// way from a container's output to the disk, so batches travel as the bytes the control plane
/// stores. After the magic `SLE1`: a flags byte (1: `createGroup`), the instance, task, group and
/// stream names (each a little-endian UInt16 byte count and UTF-8), the event count (UInt32), then
/// each event as its time (Int64), its message's byte count (UInt32) and the message: the layout of
/// a stored block's payload, written as it comes.
extension LogEventsBatch {
    public static let binaryContentType = "application/vnd.stevedore.log-events"
    static let magic: [UInt8] = Array("SLE1".utf8)

    /// Nil when a name is longer than its count can say (the JSON form carries any).
    public func binaryEncoded() -> [UInt8]? {
        guard [containerInstanceArn, taskArn, group, stream].allSatisfy({ $0.utf8.count <= Int(UInt16.max) }) else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(64 + containerInstanceArn.utf8.count + taskArn.utf8.count + group.utf8.count + stream.utf8.count
            + events.reduce(0) { $0 + 12 + $1.message.utf8.count })
        bytes += Self.magic
        bytes.append(createGroup ? 1 : 0)
        for name in [containerInstanceArn, taskArn, group, stream] {
            LittleEndian.append(UInt16(name.utf8.count), to: &bytes)
            bytes += name.utf8
        }
        LittleEndian.append(UInt32(events.count), to: &bytes)
        for event in events { Self.appendEvent(timestamp: event.timestamp, message: event.message, to: &bytes) }
        return bytes
    }

    /// One event in the stored layout: its time (Int64), its message's byte count (UInt32) and the
    /// message, little-endian.
    public static func appendEvent(timestamp: Int, message: String, to bytes: inout [UInt8]) {
        LittleEndian.append(Int64(timestamp), to: &bytes)
        LittleEndian.append(UInt32(message.utf8.count), to: &bytes)
        bytes += message.utf8
    }

    /// A binary batch as read: its names, and its events still as the bytes that are stored.
    public struct Binary: Sendable {
        public let containerInstanceArn: String
        public let taskArn: String
        public let group: String
        public let stream: String
        public let createGroup: Bool
        public let count: Int
        /// The events, in the stored layout.
        public let payload: ArraySlice<UInt8>
        public let minimumTimestamp: Int
        public let maximumTimestamp: Int
        /// Whether every event is at or after the one before it.
        public let inTimeOrder: Bool
        /// The longest message's byte count.
        public let longestMessage: Int
        /// Whether every message is UTF-8 (as the JSON form's strings are).
        public let messagesAreUTF8: Bool

        /// The events, decoded.
        public var events: [Event] {
            var events: [Event] = []
            events.reserveCapacity(count)
            var position = payload.startIndex
            for _ in 0..<count {
                let timestamp = Int(LittleEndian.read(Int64.self, from: payload, at: position))
                let length = Int(LittleEndian.read(UInt32.self, from: payload, at: position + 8))
                position += 12
                events.append(Event(timestamp: timestamp, message: String(decoding: payload[position..<position + length], as: UTF8.self)))
                position += length
            }
            return events
        }

        /// The batch as its Codable form.
        public var batch: LogEventsBatch {
            LogEventsBatch(containerInstanceArn: containerInstanceArn, taskArn: taskArn, group: group, stream: stream, createGroup: createGroup, events: events)
        }
    }

    /// Reads a binary batch, checking every length against the body; nil when it is not one
    /// (cut short, a count that does not match, names that are not UTF-8).
    public static func binary(_ body: ArraySlice<UInt8>) -> Binary? {
        guard body.count >= magic.count + 1, body.prefix(magic.count).elementsEqual(magic) else { return nil }
        var position = body.startIndex + magic.count
        let createGroup = body[position] == 1
        position += 1
        var names: [String] = []
        for _ in 0..<4 {
            guard position + 2 <= body.endIndex else { return nil }
            let length = Int(LittleEndian.read(UInt16.self, from: body, at: position))
            position += 2
            guard position + length <= body.endIndex, let name = String(validating: body[position..<position + length], as: UTF8.self) else { return nil }
            names.append(name)
            position += length
        }
        guard position + 4 <= body.endIndex else { return nil }
        let count = Int(LittleEndian.read(UInt32.self, from: body, at: position))
        position += 4
        let payloadStart = position
        var minimum = Int.max
        var maximum = Int.min
        var previous = Int.min
        var inOrder = true
        var longest = 0
        var utf8 = true
        for _ in 0..<count {
            guard position + 12 <= body.endIndex else { return nil }
            let timestamp = Int(LittleEndian.read(Int64.self, from: body, at: position))
            let length = Int(LittleEndian.read(UInt32.self, from: body, at: position + 8))
            position += 12
            guard length <= body.endIndex - position else { return nil }
            if utf8, !Self.isUTF8(body[position..<position + length]) { utf8 = false }
            position += length
            minimum = min(minimum, timestamp)
            maximum = max(maximum, timestamp)
            if timestamp < previous { inOrder = false }
            previous = timestamp
            longest = max(longest, length)
        }
        guard position == body.endIndex else { return nil }
        return Binary(
            containerInstanceArn: names[0], taskArn: names[1], group: names[2], stream: names[3], createGroup: createGroup, count: count,
            payload: body[payloadStart..<position], minimumTimestamp: count == 0 ? 0 : minimum, maximumTimestamp: count == 0 ? 0 : maximum,
            inTimeOrder: inOrder, longestMessage: longest, messagesAreUTF8: utf8)
    }

    /// Whether the bytes are UTF-8: ASCII at a glance, anything else checked.
    static func isUTF8(_ bytes: ArraySlice<UInt8>) -> Bool {
        bytes.withUnsafeBufferPointer { buffer in
            buffer.allSatisfy { $0 < 0x80 } || String(validating: buffer, as: UTF8.self) != nil
        }
    }
}
