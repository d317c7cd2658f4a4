#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AgentProtocol
import CoreMetrics
import DockerClient
import Glibc
import StevedoreCore
import Synchronization

/// Ships an `awslogs` container's output to the control plane's CloudWatch Logs: its lines,
/// timed by Docker, assembled into events, sent in batches once the oldest waiting has waited
/// `linger` (or sooner when a batch fills), each sent again until it is taken. It runs until the
/// container's output ends.
struct AWSLogsShipper: Sendable {
    let docker: any DockerEngine
    let reporter: any TaskReporter
    let options: AWSLogsOptions
    let dockerId: String
    let instanceArn: String
    let taskArn: String
    /// How long a multi-line event waits for more lines.
    var interval: Duration = .seconds(1)
    /// How long an event waits for others to share its batch (so a container that writes a line at
    /// a time does not cost a request, and a disk sync, a line).
    var linger: Duration = .milliseconds(200)

    /// What the reader has for the sender.
    struct Outbox {
        var assembler: LogLineAssembler
        var events: [LogEventsBatch.Event] = []
        var bytes = 0
        var lastLine = ContinuousClock.now
        /// When the oldest event waiting came.
        var waitingSince: ContinuousClock.Instant?
        /// Until when what comes is sent without waiting: shortly after a backlog's batch.
        var hotUntil = ContinuousClock.now
        var ended = false
        var dropped = 0
    }

    /// The outbox the reader and the sender share, with a bell each: the sender's rings when
    /// events come or the output ends, the reader's when room was made.
    final class SharedOutbox: Sendable {
        private let state: Mutex<Outbox>
        let arrivals = Doorbell()
        let room = Doorbell()

        init(_ outbox: Outbox) { state = Mutex(outbox) }

        func withLock<Result>(_ body: (inout Outbox) -> Result) -> Result { state.withLock { body(&$0) } }
    }

    /// A batch on the agent's channel (the control plane stores it as one block): up to about
    /// PutLogEvents' size, each event counted with the 12 bytes it costs on the channel and on disk
    /// (not PutLogEvents' 26), and more events than PutLogEvents takes.
    static let batchEvents = 50_000
    static let batchBytes = 1_048_576 - 64 * 1024
    /// Events waiting that are sent without waiting for more.
    static let eagerEvents = 1_000

    func run(since: Double?) async {
        let outbox = SharedOutbox(Outbox(assembler: LogLineAssembler(multiline: options.eventStart != nil)))
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await read(into: outbox, since: since) }
            group.addTask { await send(from: outbox) }
        }
    }

    func read(into outbox: SharedOutbox, since: Double?) async {
        defer {
            outbox.withLock { $0.ended = true }
            outbox.arrivals.ring()
        }
        let start = EventStart(options.eventStart)
        // Where the reading is: the newest line's time, and how many lines of that millisecond were
        // read (a stream that broke is opened again from there, and those lines are not read twice).
        var newest: Int?
        var readAtNewest = 0
        // After a stream was opened again: the time it was opened from (lines before it were read
        // already) and how many lines of that very millisecond to pass over. Outside such a
        // replay, a line older than the newest (stdout and stderr are copied apart) is kept.
        var replayFrom: Int?
        var skipping = 0
        var partial: [LogFrame.Stream: [UInt8]] = [:]
        // A frame's lines go to the outbox together (one lock, not one a line).
        var lines: [AcceptedLine] = []
        func line(_ bytes: UnsafeBufferPointer<UInt8>) {
            let trimmed = bytes.last == 0x0D ? UnsafeBufferPointer(rebasing: bytes.dropLast()) : bytes
            let (timestamp, message) = DockerLogLine.split(trimmed)
                .map { ($0.timestamp, String(decoding: $0.message, as: UTF8.self)) } ?? (Int(Date().timeIntervalSince1970 * 1000), String(decoding: trimmed, as: UTF8.self))
            if let mark = replayFrom {
                if timestamp < mark { return }
                if timestamp == mark, skipping > 0 {
                    skipping -= 1
                    return
                }
                if timestamp > mark { replayFrom = nil }
            }
            if let last = newest, timestamp <= last {
                if timestamp == last { readAtNewest += 1 }
            } else {
                newest = timestamp
                readAtNewest = 1
            }
            guard !message.isEmpty else { return }
            lines.append(AcceptedLine(message: message, timestamp: timestamp, startsEvent: start.matches(message)))
        }
        // A stream that breaks (a stalled reader's connection closed by the engine…) is opened again,
        // a few times, from the newest line read; one that ends is the container's output ending.
        var attempts = 0
        while attempts < 5, !Task.isCancelled {
            let from = newest.map { Double($0) / 1000 } ?? since
            replayFrom = newest
            skipping = newest == nil ? 0 : readAtNewest
            guard let frames = try? await docker.timestampedLogStream(dockerId, since: from) else { break }
            do {
                for try await frame in frames {
                    var bytes = frame.bytes[...]
                    if let held = partial.removeValue(forKey: frame.stream) {
                        // The rest of a line Docker cut in pieces (past 16 KB): each piece came with its
                        // own timestamp, which goes; the line keeps its first's.
                        if let space = bytes.firstIndex(of: 0x20), CivilCalendar.milliseconds(rfc3339: bytes[..<space]) != nil {
                            bytes = bytes[(space + 1)...]
                        }
                        bytes = (held + bytes)[...]
                    }
                    bytes.withUnsafeBufferPointer { buffer in
                        var start = 0
                        while start < buffer.count, let newline = memchr(buffer.baseAddress! + start, 0x0A, buffer.count - start) {
                            let end = UnsafePointer(newline.assumingMemoryBound(to: UInt8.self)) - buffer.baseAddress!
                            line(UnsafeBufferPointer(rebasing: buffer[start..<end]))
                            start = end + 1
                        }
                        // What follows the last newline waits for the rest of its line.
                        if start < buffer.count { partial[frame.stream] = Array(buffer[start...]) }
                    }
                    if !lines.isEmpty {
                        await accept(lines, into: outbox)
                        lines.removeAll(keepingCapacity: true)
                    }
                }
                break
            } catch {
                attempts += 1
                partial.removeAll()
            }
        }
        // Output that ended without a newline is a line too.
        for (_, held) in partial.sorted(by: { $0.key.rawValue < $1.key.rawValue }) { held.withUnsafeBufferPointer { line($0) } }
        if !lines.isEmpty { await accept(lines, into: outbox) }
    }

    /// A line read, for the outbox.
    struct AcceptedLine {
        var message: String
        var timestamp: Int
        var startsEvent: Bool
    }

    /// Lines into the outbox; in blocking mode, waits while the outbox is full.
    func accept(_ lines: [AcceptedLine], into outbox: SharedOutbox) async {
        while !options.nonBlocking, outbox.withLock({ $0.bytes >= options.maxBufferBytes }), !Task.isCancelled {
            await outbox.room.wait(until: .now + .milliseconds(100))
        }
        defer { outbox.arrivals.ring() }
        outbox.withLock { box in
            box.lastLine = .now
            box.events.reserveCapacity(box.events.count + lines.count)
            for line in lines {
                if box.assembler.multiline {
                    for event in box.assembler.add(line.message, timestamp: line.timestamp, startsEvent: line.startsEvent) { box.append(event) }
                } else {
                    box.append(LogEventsBatch.Event(timestamp: line.timestamp, message: line.message))
                }
            }
            if options.nonBlocking {
                // Past the buffer's size, the oldest events go (together: one by one would move the rest each time).
                var dropping = 0
                while box.bytes > options.maxBufferBytes, dropping < box.events.count {
                    box.bytes -= box.events[dropping].message.utf8.count
                    dropping += 1
                }
                box.events.removeFirst(dropping)
                box.dropped += dropping
                if box.events.isEmpty { box.waitingSince = nil }
            }
        }
    }

    func send(from outbox: SharedOutbox) async {
        var failures = 0
        while true {
            let now = ContinuousClock.now
            let (batch, finished, wake) = outbox.withLock { box -> ([LogEventsBatch.Event], Bool, ContinuousClock.Instant?) in
                // A multi-line event waits for more lines only so long.
                if box.ended || now - box.lastLine >= interval {
                    for event in box.assembler.flush() { box.append(event) }
                }
                // A backlog goes at once, and so does what follows it for a while (the rest of a
                // burst); otherwise events wait to share a request.
                let backlog = box.events.count >= Self.eagerEvents || box.bytes >= Self.batchBytes
                if let since = box.waitingSince, !box.events.isEmpty, box.ended || backlog || now < box.hotUntil || now - since >= linger {
                    if backlog { box.hotUntil = now + linger * 2 }
                    return (box.takeBatch(), false, nil)
                }
                if box.ended && box.events.isEmpty && !box.assembler.isHolding { return ([], true, nil) }
                let waiting = box.events.isEmpty ? nil : box.waitingSince.map { $0 + linger }
                return ([], false, waiting ?? (box.assembler.isHolding ? box.lastLine + interval : nil))
            }
            if finished { return }
            guard !batch.isEmpty else {
                await outbox.arrivals.wait(until: wake)
                continue
            }
            outbox.room.ring()
            do {
                try await reporter.putLogEvents(
                    LogEventsBatch(
                        containerInstanceArn: instanceArn, taskArn: taskArn, group: options.group, stream: options.stream,
                        createGroup: options.createGroup, events: batch))
                Counter(label: "ecs_agent_log_events_shipped_total").increment(by: Int64(batch.count))
                failures = 0
            } catch let refusal as AWSError where !refusal.isRetryable {
                // Refused for good (the group deleted, a batch the control plane will never take):
                // sending it again would only hold up what follows.
                failures = 0
            } catch {
                // Back in front of the queue, to be sent again; after a minute of failures at the end, given up.
                failures += 1
                let ended = outbox.withLock { box in
                    box.events.insert(contentsOf: batch, at: 0)
                    box.bytes += batch.reduce(0) { $0 + $1.message.utf8.count }
                    box.waitingSince = box.waitingSince ?? .now
                    return box.ended
                }
                if ended && failures > 60 { return }
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }
}

extension AWSLogsShipper.Outbox {
    mutating func append(_ event: LogEventsBatch.Event) {
        if events.isEmpty { waitingSince = waitingSince ?? .now }
        events.append(event)
        bytes += event.message.utf8.count
    }

    /// The oldest events, as many as one batch takes, in time order (stdout's and stderr's lines
    /// may cross).
    mutating func takeBatch() -> [LogEventsBatch.Event] {
        var count = 0
        var size = 0
        while count < events.count, count < AWSLogsShipper.batchEvents {
            let cost = events[count].message.utf8.count + 12
            if size + cost > AWSLogsShipper.batchBytes, count > 0 { break }
            size += cost
            count += 1
        }
        var batch = Array(events.prefix(count))
        events.removeFirst(count)
        bytes -= batch.reduce(0) { $0 + $1.message.utf8.count }
        if events.isEmpty { waitingSince = nil }
        if zip(batch, batch.dropFirst()).contains(where: { $0.timestamp > $1.timestamp }) {
            batch = batch.enumerated().sorted { ($0.element.timestamp, $0.offset) < ($1.element.timestamp, $1.offset) }.map(\.element)
        }
        return batch
    }
}

