import AgentProtocol
import ApplicationAutoScalingShapes
import Archives
import AWSProtocols
import ECS
import ECSShapes
import Foundation
import LambdaShapes
import StevedoreClient
import StevedoreCore

/// A native Lambda runtime client for the function benchmark: a static C program that long-polls
/// the Runtime API over one kept-alive connection and answers every event with the event itself.
/// It is compiled (`cc -O2 -static`) when the benchmark runs and deployed as a `provided.al2023`
/// function's `bootstrap`.
enum NativeRuntime {
    static let source = #"""
        #include <arpa/inet.h>
        #include <netinet/in.h>
        #include <netinet/tcp.h>
        #include <stdio.h>
        #include <stdlib.h>
        #include <string.h>
        #include <strings.h>
        #include <sys/socket.h>
        #include <unistd.h>

        static char host[128];
        static int port;
        static int fd = -1;
        static char buf[7 * 1024 * 1024];
        static char out[7 * 1024 * 1024];

        static int dial(void) {
            int s = socket(AF_INET, SOCK_STREAM, 0);
            int one = 1;
            setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            struct sockaddr_in a = {0};
            a.sin_family = AF_INET;
            a.sin_port = htons(port);
            inet_pton(AF_INET, host, &a.sin_addr);
            if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) { close(s); return -1; }
            return s;
        }

        static int send_all(const char *p, size_t n) {
            while (n > 0) {
                ssize_t w = write(fd, p, n);
                if (w <= 0) return -1;
                p += w; n -= (size_t)w;
            }
            return 0;
        }

        /* Reads one response; returns the body length, or -1. Copies the request id if asked. */
        static long read_response(char *request_id, char **body) {
            size_t have = 0;
            char *end = NULL;
            while (!end) {
                ssize_t r = read(fd, buf + have, sizeof buf - 1 - have);
                if (r <= 0) return -1;
                have += (size_t)r;
                buf[have] = 0;
                end = strstr(buf, "\r\n\r\n");
            }
            size_t header_length = (size_t)(end - buf) + 4;
            long length = 0;
            for (char *line = strstr(buf, "\r\n"); line && line < end; line = strstr(line + 2, "\r\n")) {
                char *name = line + 2;
                if (strncasecmp(name, "Content-Length:", 15) == 0) length = atol(name + 15);
                if (request_id && strncasecmp(name, "Lambda-Runtime-Aws-Request-Id:", 30) == 0) {
                    char *v = name + 30;
                    while (*v == ' ') v++;
                    size_t n = strcspn(v, "\r");
                    memcpy(request_id, v, n);
                    request_id[n] = 0;
                }
            }
            while (have < header_length + (size_t)length) {
                ssize_t r = read(fd, buf + have, sizeof buf - 1 - have);
                if (r <= 0) return -1;
                have += (size_t)r;
            }
            *body = buf + header_length;
            return length;
        }

        int main(void) {
            const char *api = getenv("AWS_LAMBDA_RUNTIME_API");
            if (!api) { fprintf(stderr, "AWS_LAMBDA_RUNTIME_API is not set\n"); return 1; }
            const char *colon = strrchr(api, ':');
            memcpy(host, api, (size_t)(colon - api));
            port = atoi(colon + 1);
            static const char next[] = "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: runtime\r\n\r\n";
            for (;;) {
                if (fd < 0 && (fd = dial()) < 0) { sleep(1); continue; }
                char id[128] = {0};
                char *event;
                if (send_all(next, sizeof next - 1) != 0) { close(fd); fd = -1; continue; }
                long length = read_response(id, &event);
                if (length < 0) { close(fd); fd = -1; continue; }
                int head = snprintf(out, 512,
                    "POST /2018-06-01/runtime/invocation/%s/response HTTP/1.1\r\nHost: runtime\r\n"
                    "Content-Type: application/json\r\nContent-Length: %ld\r\n\r\n", id, length);
                memcpy(out + head, event, (size_t)length);
                char *ignored;
                if (send_all(out, (size_t)head + (size_t)length) != 0 || read_response(NULL, &ignored) < 0) { close(fd); fd = -1; }
            }
        }
        """#

    /// Compiles the runtime into `directory/bootstrap`.
    static func build(in directory: String) throws -> String {
        let sourcePath = directory + "/runtime.c"
        try source.write(toFile: sourcePath, atomically: true, encoding: .utf8)
        let output = directory + "/bootstrap"
        guard let compiler = which("cc") ?? which("gcc") else { throw BenchError("no C compiler (cc or gcc) on PATH") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: compiler)
        process.arguments = ["-O2", "-static", "-o", output, sourcePath]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw BenchError("compiling the native runtime failed (needs a static libc: libc6-dev)") }
        return output
    }
}
