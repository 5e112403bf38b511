"""Local stand-ins for cloud APIs (real HTTP servers on 127.0.0.1, port 0), and the plumbing
they share: a handler that keeps quiet, one whole answer, a server on a free port."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that logs nothing (pytest's captured stderr stays the test's)."""

    def log_message(self, *args: object) -> None:
        pass


def send(
    handler: BaseHTTPRequestHandler,
    status: int,
    data: bytes,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
) -> None:
    """One whole answer. A client that left (a killed carbonplan child, an abandoned wait)
    gets nothing: a traceback here would land in a later test's stderr."""
    try:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(data)
    except (BrokenPipeError, ConnectionResetError):
        pass


def serve(handler: type[BaseHTTPRequestHandler]) -> tuple[ThreadingHTTPServer, str]:
    """``handler`` on 127.0.0.1 at a free port, served from a daemon thread: the server (to
    shut down) and its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    host, port = server.server_address[:2]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://{host!s}:{port}"
