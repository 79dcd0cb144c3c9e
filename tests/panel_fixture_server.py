"""A local HTTP server that plays TensorBoard for the panel: the same entry page (with TensorBoard's
Content-Security-Policy), the panel's files from tb_stuckplugin/static/, and fixture JSON for the
`/runs` and `/report` routes. Tests change `reports` or `fail_status` while it runs.

    with PanelFixtureServer(fixture_reports()) as server:
        page.goto(server.entry_url)

Run it (`python tests/panel_fixture_server.py`) to look at the panel in a browser while changing it.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import threading
from collections import Counter
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from panel_fixtures import fixture_reports, runs_listing

STATIC = Path(__file__).resolve().parent.parent / "tb_stuckplugin" / "static"
PLUGIN = "/data/plugin/stuck"

# What TensorBoard's /data/plugin_entry.html serves (tensorboard/backend/application.py, 2.21).
ENTRY_SCRIPT = 'import("./index.js").then((m) => void m.render());'
ENTRY_HTML = (
    '\n<!DOCTYPE html>\n<head><base href="plugin/stuck/" /></head>\n'
    f'<body><script type="module">{ENTRY_SCRIPT}</script></body>\n'
)
_SCRIPT_SHA = base64.b64encode(hashlib.sha256(ENTRY_SCRIPT.encode()).digest()).decode()
# TensorBoard's CSP for HTML responses (tensorboard/backend/http_util.py, 2.21).
ENTRY_CSP = ";".join(
    [
        "default-src 'self'",
        "font-src 'self' data:",
        "frame-src 'self' https://ui.perfetto.dev",
        "img-src 'self' data: blob:",
        "object-src 'none'",
        "style-src 'self' https://www.gstatic.com data: 'unsafe-inline'",
        "connect-src 'self'",
        f"script-src 'self' 'unsafe-eval' 'sha256-{_SCRIPT_SHA}'",
    ]
)

CONTENT_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


class PanelFixtureServer:
    """Serves the panel over fixture reports on 127.0.0.1 on a free port, in a background thread."""

    def __init__(self, reports: dict[str, dict]):
        self.reports = reports
        # When set, the JSON routes answer this HTTP status (a TensorBoard that fails).
        self.fail_status: int | None = None
        self.requests: Counter[str] = Counter()
        self.lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def entry_url(self) -> str:
        """The page TensorBoard puts in the plugin's iframe."""
        return f"{self.url}/data/plugin_entry.html?name=stuck"

    def start(self) -> PanelFixtureServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> PanelFixtureServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, str, bytes]:
        """(status, content type, body) for a GET."""
        with self.lock:
            self.requests[path] += 1
        if path == "/favicon.ico":
            return HTTPStatus.NO_CONTENT, "image/x-icon", b""
        if path == "/data/plugin_entry.html":
            return HTTPStatus.OK, "text/html; charset=utf-8", ENTRY_HTML.encode()
        if path == f"{PLUGIN}/index.js":
            return self._file("index.js")
        if path.startswith(f"{PLUGIN}/static/"):
            return self._file(path.removeprefix(f"{PLUGIN}/static/"))
        if path in (f"{PLUGIN}/runs", f"{PLUGIN}/report"):
            return self._json(path, query)
        return _error(HTTPStatus.NOT_FOUND, "not found")

    def _file(self, name: str) -> tuple[int, str, bytes]:
        # Only plain files directly in static/: no path traversal.
        served = {p.name: p for p in STATIC.iterdir() if p.is_file()}
        if name not in served or Path(name).suffix not in CONTENT_TYPES:
            return _error(HTTPStatus.NOT_FOUND, "not found")
        return HTTPStatus.OK, CONTENT_TYPES[Path(name).suffix], served[name].read_bytes()

    def _json(self, path: str, query: dict[str, list[str]]) -> tuple[int, str, bytes]:
        with self.lock:
            if self.fail_status is not None:
                return _error(self.fail_status, "the fixture server was told to fail")
            if path.endswith("/runs"):
                return _ok(runs_listing(self.reports))
            run = query.get("run", [None])[0]
            if run is None:
                return _error(HTTPStatus.BAD_REQUEST, "missing run parameter")
            if run not in self.reports:
                return _error(HTTPStatus.NOT_FOUND, f"no run named {run!r}")
            return _ok(self.reports[run])


def _ok(body: dict) -> tuple[int, str, bytes]:
    return HTTPStatus.OK, "application/json", json.dumps(body).encode()


def _error(status: int, message: str) -> tuple[int, str, bytes]:
    return status, "application/json", json.dumps({"error": message}).encode()


def _handler_for(server: PanelFixtureServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            url = urlsplit(self.path)
            status, content_type, body = server.answer(url.path, parse_qs(url.query))
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-cache, must-revalidate")
            self.send_header("X-Content-Type-Options", "nosniff")
            if content_type.startswith("text/html"):
                self.send_header("Content-Security-Policy", ENTRY_CSP)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args) -> None:  # noqa: A002
            """Quiet: tests read `server.requests` instead."""

    return Handler


def main() -> None:
    """Serve the fixture runs until Ctrl+C, to look at the panel while changing frontend/."""
    with PanelFixtureServer(fixture_reports()) as server, contextlib.suppress(KeyboardInterrupt):
        print(f"The panel over fixture runs: {server.entry_url}")
        print("After editing frontend/, run python frontend/sync.py and reload the page.")
        threading.Event().wait()


if __name__ == "__main__":
    main()
