import CCurlShim

/// One request in flight. After ``CurlLoop/submit(_:)`` every field is touched only by the loop
/// thread; the caller learns the outcome through the continuation it handed in.
final class Transfer: @unchecked Sendable {
    enum Delivery {
        case buffered(CheckedContinuation<HTTPClient.Response, any Error>)
        case streaming(
            head: CheckedContinuation<HTTPClient.StreamingResponse, any Error>?,
            body: AsyncThrowingStream<[UInt8], any Error>.Continuation,
            stream: AsyncThrowingStream<[UInt8], any Error>
        )
    }

    let url: String
    let request: HTTPClient.Request
    let unixSocketPath: String?
    let connectTimeout: Duration
    let caFile: String?
    var delivery: Delivery

    var handle: UnsafeMutableRawPointer?
    var cancelledBeforeStart = false
    var status: Int?
    private var headers: [(name: String, value: String)] = []
    private var body: [UInt8] = []
    private var headerList: UnsafeMutablePointer<curl_slist>?
    private var errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)

    init(url: String, request: HTTPClient.Request, unixSocketPath: String?, connectTimeout: Duration, caFile: String?, delivery: Delivery) {
        self.url = url
        self.request = request
        self.unixSocketPath = unixSocketPath
        self.connectTimeout = connectTimeout
        self.caFile = caFile
        self.delivery = delivery
        errorBuffer[0] = 0
    }

    deinit {
        errorBuffer.deallocate()
        if let headerList { curl_slist_free_all(headerList) }
    }

    /// Sets every option for this request; returns an error instead of starting a broken transfer.
    func configure(_ handle: UnsafeMutableRawPointer) -> HTTPClientError? {
        var code = CURLE_OK
        func set(_ option: CURLoption, _ value: Int) {
            if code == CURLE_OK { code = stv_easy_setopt_long(handle, option, value) }
        }
        func set(_ option: CURLoption, _ value: String) {
            // CURLOPT_* string options are copied by libcurl (since 7.17).
            if code == CURLE_OK { code = value.withCString { stv_easy_setopt_ptr(handle, option, $0) } }
        }
        func set(_ option: CURLoption, pointer: UnsafeRawPointer?) {
            if code == CURLE_OK { code = stv_easy_setopt_ptr(handle, option, pointer) }
        }

        set(CURLOPT_URL, url)
        if let unixSocketPath { set(CURLOPT_UNIX_SOCKET_PATH, unixSocketPath) }
        // Peer and host name verification stay on (libcurl's defaults); only the trusted roots change.
        if let caFile { set(CURLOPT_CAINFO, caFile) }
        set(CURLOPT_NOSIGNAL, 1)
        set(CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1)
        set(CURLOPT_TCP_NODELAY, 1)
        set(CURLOPT_CONNECTTIMEOUT_MS, Int(connectTimeout.milliseconds))
        if let timeout = request.timeout { set(CURLOPT_TIMEOUT_MS, Int(timeout.milliseconds)) }
        set(CURLOPT_ERRORBUFFER, pointer: errorBuffer)

        switch request.method {
        case "GET" where request.body == nil:
            set(CURLOPT_HTTPGET, 1)
        case "HEAD":
            set(CURLOPT_NOBODY, 1)
        default:
            let body = request.body ?? []
            if code == CURLE_OK { code = stv_easy_setopt_off(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count)) }
            // COPYPOSTFIELDS: libcurl keeps its own copy, so the Swift array need not outlive this call.
            body.withUnsafeBytes { set(CURLOPT_COPYPOSTFIELDS, pointer: $0.baseAddress ?? UnsafeRawPointer(bitPattern: 1)) }
            if request.method != "POST" { set(CURLOPT_CUSTOMREQUEST, request.method) }
        }

        // No "Expect: 100-continue" round trip, and no implicit content type.
        var list: UnsafeMutablePointer<curl_slist>? = curl_slist_append(nil, "Expect:")
        if request.body != nil, !request.headers.contains(where: { $0.name.lowercased() == "content-type" }) {
            list = curl_slist_append(list, "Content-Type:")
        }
        for (name, value) in request.headers {
            list = curl_slist_append(list, "\(name): \(value)")
        }
        headerList = list
        set(CURLOPT_HTTPHEADER, pointer: list)

        let me = Unmanaged.passUnretained(self).toOpaque()
        if code == CURLE_OK { code = stv_easy_setopt_write_function(handle, CURLOPT_HEADERFUNCTION, headerCallback) }
        set(CURLOPT_HEADERDATA, pointer: me)
        if code == CURLE_OK { code = stv_easy_setopt_write_function(handle, CURLOPT_WRITEFUNCTION, writeCallback) }
        set(CURLOPT_WRITEDATA, pointer: me)
        return code == CURLE_OK ? nil : error(for: code)
    }

    func releaseResources() {
        if let headerList { curl_slist_free_all(headerList) }
        headerList = nil
    }

    fileprivate func receivedHeader(_ line: String) {
        let trimmed = line.trimmingSuffix()
        if trimmed.hasPrefix("HTTP/") {
            // A new response head (after 1xx): start over.
            headers = []
            let parts = trimmed.split(separator: " ", maxSplits: 2)
            status = parts.count > 1 ? Int(parts[1]) : nil
        } else if trimmed.isEmpty {
            if let status, status >= 200 { headersComplete() }
        } else if let colon = trimmed.firstIndex(of: ":") {
            let name = String(trimmed[..<colon])
            let value = String(trimmed[trimmed.index(after: colon)...]).trimmingPrefixSpaces()
            headers.append((name, value))
        }
    }

    private func headersComplete() {
        guard case .streaming(let head?, let bodyContinuation, let stream) = delivery else { return }
        delivery = .streaming(head: nil, body: bodyContinuation, stream: stream)
        head.resume(returning: HTTPClient.StreamingResponse(status: status ?? 0, headers: headers, body: stream))
    }

    fileprivate func receivedBody(_ bytes: UnsafeBufferPointer<UInt8>) {
        switch delivery {
        case .buffered:
            body.append(contentsOf: bytes)
        case .streaming(_, let continuation, _):
            continuation.yield(Array(bytes))
        }
    }

    /// Resumes the caller; called exactly once, on the loop thread.
    func complete(error: HTTPClientError?) {
        switch delivery {
        case .buffered(let continuation):
            if let error {
                continuation.resume(throwing: error)
            } else {
                continuation.resume(returning: HTTPClient.Response(status: status ?? 0, headers: headers, body: body))
            }
        case .streaming(let head, let continuation, let stream):
            if let head {
                // The body ended (or failed) before a complete head was seen.
                if let error {
                    head.resume(throwing: error)
                } else {
                    head.resume(returning: HTTPClient.StreamingResponse(status: status ?? 0, headers: headers, body: stream))
                }
            }
            continuation.finish(throwing: error)
        }
    }

    func error(for code: CURLcode) -> HTTPClientError {
        let detail = String(cString: errorBuffer)
        let summary = String(cString: curl_easy_strerror(code))
        let kind: HTTPClientError.Kind
        switch code {
        case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST: kind = .couldNotConnect
        case CURLE_OPERATION_TIMEDOUT: kind = .timedOut
        default: kind = .transfer
        }
        let message = detail.isEmpty ? summary : "\(summary): \(detail)"
        return HTTPClientError(kind: kind, curlCode: Int(code.rawValue), url: url, message: message)
    }

    func cancellationError() -> HTTPClientError {
        HTTPClientError(kind: .cancelled, curlCode: 0, url: url, message: "request cancelled")
    }
}

private let headerCallback: curl_write_callback = { pointer, size, count, userData in
    let transfer = Unmanaged<Transfer>.fromOpaque(userData!).takeUnretainedValue()
    let length = size * count
    let bytes = UnsafeRawBufferPointer(start: pointer, count: length)
    transfer.receivedHeader(String(decoding: bytes, as: UTF8.self))
    return length
}

private let writeCallback: curl_write_callback = { pointer, size, count, userData in
    let transfer = Unmanaged<Transfer>.fromOpaque(userData!).takeUnretainedValue()
    let length = size * count
    guard let pointer else { return length }
    pointer.withMemoryRebound(to: UInt8.self, capacity: length) {
        transfer.receivedBody(UnsafeBufferPointer(start: $0, count: length))
    }
    return length
}

extension Duration {
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}

extension String {
    fileprivate func trimmingSuffix() -> String {
        var result = Substring(self)
        while let last = result.last, last.isNewline { result.removeLast() }
        return String(result)
    }

    fileprivate func trimmingPrefixSpaces() -> String {
        String(drop { $0 == " " || $0 == "\t" })
    }
}
