#!/usr/bin/env python3
"""An HTTP CONNECT proxy for tests/fetch.rs: listens on 127.0.0.1, port 0 (printed as the first
line of stdout), appends each CONNECT target to the file named by its argument, and relays
bytes both ways."""
import http.server
import select
import socket
import sys


def main():
    log = sys.argv[1]

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):
            pass

        def do_CONNECT(self):
            with open(log, "a") as f:
                f.write(self.path + "\n")
            host, port = self.path.rsplit(":", 1)
            try:
                up = socket.create_connection((host, int(port)), timeout=10)
            except OSError:
                self.send_error(502)
                return
            self.send_response(200, "Connection established")
            self.end_headers()
            conns = [self.connection, up]
            while True:
                r, _, _ = select.select(conns, [], [], 30)
                if not r:
                    break
                for s in r:
                    data = s.recv(65536)
                    if not data:
                        up.close()
                        return
                    (up if s is self.connection else self.connection).sendall(data)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    sys.stdout.close()
    server.serve_forever()


if __name__ == "__main__":
    main()
