"""A forwarding proxy in front of a real `mlflow server`, for the tests and
the export benchmark. Each request goes on as it came (MLflow's own error
answers come back too); hooks see it before and after, and may answer it
themselves."""

from __future__ import annotations

import http.server
import threading
import urllib.error
import urllib.request
from collections.abc import Callable

FORWARDED = ("Content-Type", "Authorization", "x-mlflow-experiment-id", "x-mlflow-run-id")

# (handler, body) -> True when the hook answered the request itself.
Before = Callable[[http.server.BaseHTTPRequestHandler, bytes | None], bool]
# (handler, body, forwarded headers, MLflow's answer) -> True when the hook
# dealt with the reply itself (for example, lost it).
After = Callable[[http.server.BaseHTTPRequestHandler, bytes | None, dict[str, str], bytes], bool]


def answer(handler: http.server.BaseHTTPRequestHandler, status: int, data: bytes = b"") -> None:
    handler.send_response(status)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def start(upstream: str, before: Before | None = None, after: After | None = None) -> http.server.ThreadingHTTPServer:
    """Serves the proxy on a free loopback port, in a thread."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            if before and before(self, body):
                return
            headers = {k: self.headers[k] for k in FORWARDED if self.headers.get(k)}
            req = urllib.request.Request(upstream + self.path, data=body, method=self.command, headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=120) as r:
                    data, status = r.read(), r.status
            except urllib.error.HTTPError as e:  # MLflow's own 404s pass through
                data, status = e.read(), e.code
            if after and after(self, body, headers, data):
                return
            answer(self, status, data)

        do_GET = do_POST = do_PUT = _forward

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
