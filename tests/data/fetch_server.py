#!/usr/bin/env python3
"""A feed server for tests/fetch.rs: serves the files of a directory over HTTP or HTTPS
(--cert/--key) on 127.0.0.1, port 0 (printed as the first line of stdout), with a strong ETag
(SHA-256 of the content) and Last-Modified, honouring If-None-Match and If-Modified-Since
(304). Every request's path is appended to <dir>/../requests.log (one line each) so the test
can count them. Behaviours by path prefix:

  /500/<file>       answer 500
  /truncate/<file>  announce the whole Content-Length, send half the body, close
  /slow/<file>      wait 30 s before answering (the client's timeout must cut it)
  /gzip/<file>      send the file gzip-compressed with Content-Encoding: gzip
"""
import argparse
import email.utils
import gzip
import hashlib
import http.server
import os
import ssl
import sys
import threading
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    args = ap.parse_args()
    root = os.path.abspath(args.dir)
    log_path = os.path.join(os.path.dirname(root), "requests.log")
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):
            pass

        def do_GET(self):
            with lock:
                with open(log_path, "a") as f:
                    f.write(self.path + "\n")
            path = self.path.split("?", 1)[0]
            mode = None
            for m in ("500", "truncate", "slow", "gzip"):
                if path.startswith("/" + m + "/"):
                    mode = m
                    path = path[len(m) + 1:]
            if mode == "500":
                self.send_error(500)
                return
            if mode == "slow":
                time.sleep(30)
            full = os.path.normpath(os.path.join(root, path.lstrip("/")))
            if not full.startswith(root) or not os.path.isfile(full):
                self.send_error(404)
                return
            with open(full, "rb") as f:
                body = f.read()
            etag = '"' + hashlib.sha256(body).hexdigest() + '"'
            mtime = email.utils.formatdate(os.path.getmtime(full), usegmt=True)
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", mtime)
            if mode == "gzip":
                body = gzip.compress(body)
                self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if mode == "truncate":
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if args.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print(server.server_address[1], flush=True)
    sys.stdout.close()
    server.serve_forever()


if __name__ == "__main__":
    main()
