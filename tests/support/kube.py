"""A Kubernetes API server on loopback for the CLI's Kubernetes calls: each test's own small cluster
answers (its `answer(method, path, query, body)`), in the API's own shapes; this serves it over HTTP
and hands out a kubeconfig for it."""

from __future__ import annotations

import json
import threading
import urllib.parse
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterator

Answer = Callable[[str, str, dict[str, list[str]], Any], tuple[int, Any]]


def status(code: int, reason: str, message: str) -> dict[str, Any]:
    """The API's Status object, as it answers a refusal."""
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message, "reason": reason,
            "code": code}


@contextmanager
def serving(answer: Answer) -> Iterator[str]:
    """Serves `answer` (bytes are sent as text, anything else as JSON); yields the kubeconfig."""

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            # JSON, as the client sends objects; any other body (a proxied upload) as its bytes.
            body = (json.loads(raw) if "json" in (self.headers.get("Content-Type") or "") else raw) if raw else None
            code, out = answer(self.command, url.path, urllib.parse.parse_qs(url.query), body)
            data = out if isinstance(out, bytes) else json.dumps(out).encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain" if isinstance(out, bytes) else "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = do_PATCH = do_PUT = _serve

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield (f"apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: 'http://127.0.0.1:{server.server_address[1]}'}}}}]\n"
               "users: [{name: u, user: {token: not-a-real-token}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\n"
               "current-context: c\n")
    finally:
        server.shutdown()
        server.server_close()
