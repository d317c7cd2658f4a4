#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import CCurlShim
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One thread that drives every libcurl transfer of the process through a multi handle.
///
/// Blocking libcurl calls never run on Swift's cooperative pool: callers submit a ``Transfer`` and
/// suspend; this thread adds it to the multi handle and resumes the caller when it completes. It
/// uses libcurl's socket-action interface over epoll, so the cost of a wake-up depends on the
/// sockets that are ready, not on how many transfers are open (a process holding a thousand long
/// polls stays cheap). The multi handle's connection cache gives keep-alive reuse for free.
final class CurlLoop: @unchecked Sendable {
    static let shared = CurlLoop()

    private struct Inbox {
        var submitted: [Transfer] = []
        var cancelled: [Transfer] = []
    }

    private let multi: UnsafeMutableRawPointer
    private let inbox = Mutex(Inbox())
    private let epoll: Int32
    private let wakeup: Int32
    // Owned by the loop thread only.
    private var active: [UnsafeMutableRawPointer: Transfer] = [:]
    private var idleHandles: [UnsafeMutableRawPointer] = []
    private var watched: Set<Int32> = []
    /// libcurl's requested timeout in milliseconds; -1 when it wants none.
    private var timeout = -1

    private init() {
        _ = stv_global_init()
        multi = curl_multi_init()
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        wakeup = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.fd = wakeup
        epoll_ctl(epoll, EPOLL_CTL_ADD, wakeup, &event)
        // Keep every connection alive between requests: a process holding many long polls (a
        // simulated fleet) would otherwise reconnect for each one.
        _ = stv_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, 8192)
        let me = Unmanaged.passUnretained(self).toOpaque()
        _ = stv_multi_setopt_socket_function(multi, socketCallback)
        _ = stv_multi_setopt_ptr(multi, CURLMOPT_SOCKETDATA, me)
        _ = stv_multi_setopt_timer_function(multi, timerCallback)
        _ = stv_multi_setopt_ptr(multi, CURLMOPT_TIMERDATA, me)
        // A plain pthread (no Foundation Thread): the loop lives as long as the process.
        var thread = pthread_t()
        pthread_create(&thread, nil, { context in
            Unmanaged<CurlLoop>.fromOpaque(context!).takeUnretainedValue().runLoop()
            return nil
        }, Unmanaged.passRetained(self).toOpaque())
        pthread_detach(thread)
    }

    func submit(_ transfer: Transfer) {
        inbox.withLock { $0.submitted.append(transfer) }
        signal()
    }

    func cancel(_ transfer: Transfer) {
        inbox.withLock { $0.cancelled.append(transfer) }
        signal()
    }

    private func signal() {
        var one: UInt64 = 1
        _ = write(wakeup, &one, 8)
    }

    // MARK: The loop thread

    private func runLoop() {
        var events = [epoll_event](repeating: epoll_event(), count: 256)
        var running: Int32 = 0
        while true {
            let ready = epoll_wait(epoll, &events, Int32(events.count), Int32(timeout < 0 ? 1000 : timeout))
            var sawTimeout = ready == 0
            for index in 0..<max(0, Int(ready)) {
                let fd = events[index].data.fd
                if fd == wakeup {
                    var value: UInt64 = 0
                    _ = read(wakeup, &value, 8)
                    drainInbox()
                    continue
                }
                let flags = events[index].events
                var mask: Int32 = 0
                if flags & EPOLLIN.rawValue != 0 { mask |= CURL_CSELECT_IN }
                if flags & EPOLLOUT.rawValue != 0 { mask |= CURL_CSELECT_OUT }
                if flags & (EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0 { mask |= CURL_CSELECT_ERR }
                curl_multi_socket_action(multi, fd, mask, &running)
            }
            if timeout == 0 { sawTimeout = true }
            if sawTimeout { curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running) }
            completeFinished()
        }
    }

    private func drainInbox() {
        let (submitted, cancelled) = inbox.withLock { inbox in
            defer { inbox = Inbox() }
            return (inbox.submitted, inbox.cancelled)
        }
        for transfer in submitted {
            start(transfer)
        }
        for transfer in cancelled {
            guard let handle = transfer.handle, active[handle] != nil else {
                transfer.cancelledBeforeStart = true
                continue
            }
            finish(handle, transfer: transfer, error: transfer.cancellationError())
        }
    }

    private func completeFinished() {
        var remaining: Int32 = 0
        while let message = curl_multi_info_read(multi, &remaining) {
            guard message.pointee.msg == CURLMSG_DONE, let handle = message.pointee.easy_handle,
                let transfer = active[handle]
            else { continue }
            let code = message.pointee.data.result
            finish(handle, transfer: transfer, error: code == CURLE_OK ? nil : transfer.error(for: code))
        }
    }

    private func start(_ transfer: Transfer) {
        if transfer.cancelledBeforeStart {
            transfer.complete(error: transfer.cancellationError())
            return
        }
        let handle = idleHandles.popLast() ?? curl_easy_init()!
        transfer.handle = handle
        if let error = transfer.configure(handle) {
            transfer.handle = nil
            curl_easy_reset(handle)
            idleHandles.append(handle)
            transfer.complete(error: error)
            return
        }
        active[handle] = transfer
        curl_multi_add_handle(multi, handle)
    }

    private func finish(_ handle: UnsafeMutableRawPointer, transfer: Transfer, error: HTTPClientError?) {
        curl_multi_remove_handle(multi, handle)
        active[handle] = nil
        var status = 0
        stv_easy_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        transfer.status = transfer.status ?? status
        transfer.handle = nil
        transfer.releaseResources()
        curl_easy_reset(handle)
        idleHandles.append(handle)
        transfer.complete(error: error)
    }

    /// libcurl tells which sockets to watch for what.
    fileprivate func watch(_ socket: Int32, what: Int32) {
        if what == CURL_POLL_REMOVE {
            if watched.remove(socket) != nil { epoll_ctl(epoll, EPOLL_CTL_DEL, socket, nil) }
            return
        }
        var event = epoll_event()
        event.data.fd = socket
        if what == CURL_POLL_IN || what == CURL_POLL_INOUT { event.events |= EPOLLIN.rawValue }
        if what == CURL_POLL_OUT || what == CURL_POLL_INOUT { event.events |= EPOLLOUT.rawValue }
        let operation = watched.insert(socket).inserted ? EPOLL_CTL_ADD : EPOLL_CTL_MOD
        epoll_ctl(epoll, operation, socket, &event)
    }

    fileprivate func setTimeout(_ milliseconds: Int) {
        timeout = milliseconds
    }
}

private let socketCallback: curl_socket_callback = { _, socket, what, userData, _ in
    Unmanaged<CurlLoop>.fromOpaque(userData!).takeUnretainedValue().watch(socket, what: what)
    return 0
}

private let timerCallback: curl_multi_timer_callback = { _, milliseconds, userData in
    Unmanaged<CurlLoop>.fromOpaque(userData!).takeUnretainedValue().setTimeout(milliseconds)
    return 0
}
