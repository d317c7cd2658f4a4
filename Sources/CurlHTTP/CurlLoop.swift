import CCurlShim
import Foundation
import Synchronization

/// One thread that drives every libcurl transfer of the process through a multi handle.
///
/// Blocking libcurl calls never run on Swift's cooperative pool: callers submit a ``Transfer`` and
/// suspend; this thread adds it to the multi handle, pumps `curl_multi_perform`, and resumes the
/// caller when the transfer completes. The multi handle's connection cache gives keep-alive reuse
/// across requests for free (unix sockets and TCP alike).
final class CurlLoop: @unchecked Sendable {
    static let shared = CurlLoop()

    private struct Inbox {
        var submitted: [Transfer] = []
        var cancelled: [Transfer] = []
    }

    private let multi: UnsafeMutableRawPointer
    private let inbox = Mutex(Inbox())
    // Owned by the loop thread only.
    private var active: [UnsafeMutableRawPointer: Transfer] = [:]
    private var idleHandles: [UnsafeMutableRawPointer] = []

    private init() {
        _ = stv_global_init()
        multi = curl_multi_init()
        // Keep every connection alive between requests: a process holding many long polls (a
        // simulated fleet) would otherwise reconnect for each one.
        _ = stv_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, 8192)
        let thread = Thread { [self] in runLoop() }
        thread.name = "curl-loop"
        thread.start()
    }

    func submit(_ transfer: Transfer) {
        inbox.withLock { $0.submitted.append(transfer) }
        curl_multi_wakeup(multi)
    }

    func cancel(_ transfer: Transfer) {
        inbox.withLock { $0.cancelled.append(transfer) }
        curl_multi_wakeup(multi)
    }

    private func runLoop() {
        var running: Int32 = 0
        while true {
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
            curl_multi_perform(multi, &running)
            var remaining: Int32 = 0
            while let message = curl_multi_info_read(multi, &remaining) {
                guard message.pointee.msg == CURLMSG_DONE, let handle = message.pointee.easy_handle,
                    let transfer = active[handle]
                else { continue }
                let code = message.pointee.data.result
                finish(handle, transfer: transfer, error: code == CURLE_OK ? nil : transfer.error(for: code))
            }
            curl_multi_poll(multi, nil, 0, 1000, nil)
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
}
