"""A loopback HTTP server answering each (method, path) with a response written from the service's
REST reference, for the clouds whose APIs have no server to run here (Azure Resource Manager,
Compute Engine, Cloud Storage, Cloud SQL Admin). It records every request it receives, with its
query and body, so a test asserts what the real SDK sent. It answers, it does not imitate: no state
changes unless a test changes the routes between steps."""

from __future__ import annotations

import http.server
import json
import threading
import urllib.parse
from dataclasses import dataclass
from typing import Any, Callable, Union


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # as sent (percent-encoded)
    query: dict[str, list[str]]
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def parts(self) -> list[bytes]:
        """The parts of a multipart body (an upload's metadata, then its bytes)."""
        import email.parser
        import email.policy

        head = f"Content-Type: {self.headers.get('content-type', '')}\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + self.body)
        return [bytes(part.get_payload(decode=True) or b"") for part in message.iter_parts()]


# A response: (status, body); body None (empty), bytes (as they are) or JSON. Or a function of the request.
Answer = Union[tuple[int, Any], Callable[[Request], tuple[int, Any]]]


class Replay:
    def __init__(self, routes: dict[tuple[str, str], Answer]):
        self.routes = {(m, p.lower()): v for (m, p), v in routes.items()}
        self.seen: list[Request] = []
        replay = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(self.command, url.path, urllib.parse.parse_qs(url.query), self.rfile.read(length) if length else b"",
                                  {k.lower(): v for k, v in self.headers.items()})
                replay.seen.append(request)
                answer = replay.routes.get((self.command, url.path.lower()),
                                           (404, {"error": {"code": "NotFound", "message": f"no route {url.path}"}}))
                status, body = answer(request) if callable(answer) else answer
                data = b"" if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/octet-stream" if isinstance(body, bytes) else "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_DELETE = do_HEAD = do_POST = do_PUT = do_PATCH = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def requests(self) -> list[tuple[str, str, dict[str, list[str]]]]:
        return [(r.method, r.path, r.query) for r in self.seen]

    def deleted(self) -> set[str]:
        return {r.path for r in self.seen if r.method == "DELETE"}

    def close(self) -> None:
        self.server.shutdown()
