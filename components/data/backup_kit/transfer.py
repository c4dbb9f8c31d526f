"""A backup carried between the cluster's store and the machine that runs the CLI: `python -m
backup_kit.transfer` in a Job made from the restore template's `fetch` step (its store access and its
work folder), which `platform destroy --keep-data` and the `up` after it on a local stack reach
through the Kubernetes API's pod proxy (cli/backup/transfer.py): plain HTTP, so the CLI needs no
more of the cluster than its kubeconfig. Ref:
https://kubernetes.io/docs/tasks/access-application-cluster/access-cluster-services/#manually-constructing-apiserver-proxy-urls

Every path begins with TRANSFER_TOKEN, the secret the CLI made for this Job alone (any other path is
404), and names only a backup's own objects:
  GET  /TOKEN/keys/ID          the keys under backups/ID/, as JSON
  GET  /TOKEN/object/KEY       an object's bytes
  PUT  /TOKEN/object/KEY       writes an object
  POST /TOKEN/done             ends the server: exit 0, one JSON line with what it served
It also ends, exit 1, after TRANSFER_IDLE_SECONDS without a request (a CLI that went away).
"""

from __future__ import annotations

import hmac
import json
import os
import re
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional

from .errors import BackupFailed, BackupRefused
from .objects import Store
from .record import ID_PATTERN, PREFIX, folder

PORT = 8080
IDLE_SECONDS = 600
CHUNK = 1 << 20
_ID = re.compile(ID_PATTERN)
# A backup's own objects: backups/<id>/..., with no '..' or empty segment.
_KEY = re.compile(rf"{PREFIX}{ID_PATTERN.strip('^$')}/(?:[^/]+/)*[^/]+")


def backup_key(key: str) -> bool:
    return bool(_KEY.fullmatch(key)) and ".." not in key.split("/")


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, token: str, store: Store, work: str):
        super().__init__(("", port), Handler)
        self.token, self.store, self.work = token, store, work
        self.served = {"sent": 0, "received": 0}
        self.finished: Optional[bool] = None  # True: told to end; False: idle too long
        self.touched = threading.Event()


class Handler(BaseHTTPRequestHandler):
    server: Server

    def log_message(self, format: str, *args: Any) -> None:  # one line per request on stderr, no token
        print(f"{self.command} {self._route()[0] or '-'} {args[1] if len(args) > 1 else ''}", file=sys.stderr, flush=True)

    def _route(self) -> tuple[str, str]:
        """(action, argument) of a path that carries the token; ('', '') otherwise."""
        parts = self.path.split("?", 1)[0].lstrip("/").split("/", 2)
        if len(parts) < 2 or not hmac.compare_digest(parts[0].encode(), self.server.token.encode()):
            return "", ""
        return parts[1], parts[2] if len(parts) > 2 else ""

    def _answer(self, code: int, body: bytes, kind: str = "application/json") -> None:
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _refuse(self, code: int, message: str) -> None:
        self._answer(code, json.dumps({"error": message}).encode())

    def do_GET(self) -> None:
        self.server.touched.set()
        action, argument = self._route()
        try:
            if action == "keys" and _ID.fullmatch(argument):
                keys = sorted(self.server.store.keys(folder(argument)))
                return self._answer(200, json.dumps({"keys": keys}).encode())
            if action == "object" and backup_key(argument):
                return self._send(argument)
        except (BackupFailed, BackupRefused) as err:
            return self._refuse(502, str(err))
        self._refuse(404, "not found")

    def _send(self, key: str) -> None:
        with tempfile.TemporaryDirectory(dir=self.server.work) as folder:
            path = os.path.join(folder, "object")
            self.server.store.download(key, path)
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(os.path.getsize(path)))
            self.end_headers()
            with open(path, "rb") as source:
                while chunk := source.read(CHUNK):
                    self.wfile.write(chunk)
            self.server.served["sent"] += 1

    def do_PUT(self) -> None:
        self.server.touched.set()
        action, key = self._route()
        if action != "object" or not backup_key(key):
            return self._refuse(404, "not found")
        length = int(self.headers.get("Content-Length") or -1)
        if length < 0:
            return self._refuse(411, "a Content-Length is required")
        with tempfile.TemporaryDirectory(dir=self.server.work) as folder:
            path = os.path.join(folder, "object")
            with open(path, "wb") as target:
                left = length
                while left:
                    chunk = self.rfile.read(min(CHUNK, left))
                    if not chunk:
                        return self._refuse(400, f"the body ended after {length - left} of {length} bytes")
                    target.write(chunk)
                    left -= len(chunk)
            try:
                self.server.store.upload(key, path)
            except (BackupFailed, BackupRefused) as err:
                return self._refuse(502, str(err))
        self.server.served["received"] += 1
        self._answer(201, b"{}")

    def do_POST(self) -> None:
        self.server.touched.set()
        if self._route()[0] != "done":
            return self._refuse(404, "not found")
        self._answer(200, json.dumps(self.server.served).encode())
        self.server.finished = True
        threading.Thread(target=self.server.shutdown, daemon=True).start()


def _watch(server: Server, idle: float) -> None:
    """Ends the server after `idle` seconds without a request."""
    while server.finished is None:
        if not server.touched.wait(idle):
            server.finished = False
            server.shutdown()
            return
        server.touched.clear()


def main() -> int:
    from .stores import open_store

    env = dict(os.environ)
    token = env.get("TRANSFER_TOKEN", "")
    if len(token) < 32 or not token.isalnum():
        print("TRANSFER_TOKEN must be at least 32 letters and digits, set by the platform CLI", file=sys.stderr)
        return 2
    try:
        store = open_store(env)
    except BackupRefused as err:
        print(err, file=sys.stderr)
        return 2
    server = Server(int(env.get("TRANSFER_PORT") or PORT), token, store, env.get("BACKUP_FOLDER", tempfile.gettempdir()))
    threading.Thread(target=_watch, args=(server, float(env.get("TRANSFER_IDLE_SECONDS") or IDLE_SECONDS)), daemon=True).start()
    print(f"serving backups on port {server.server_address[1]}", file=sys.stderr, flush=True)
    server.serve_forever()
    server.server_close()
    if not server.finished:
        print(f"no request for {env.get('TRANSFER_IDLE_SECONDS') or IDLE_SECONDS} s: the CLI went away; ending", file=sys.stderr)
        return 1
    print(json.dumps({"transfer": server.served}, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
