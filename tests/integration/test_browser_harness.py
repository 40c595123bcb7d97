"""The browser harness itself: Debian's Chromium starts under Playwright and renders a loopback page."""

from __future__ import annotations

import http.server
import threading

from tests.support.browser import chromium


class _Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        body = b"<!doctype html><title>igcds harness</title><p id='x'>rendered</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return None


def test_system_chromium_renders_a_loopback_page() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with chromium() as browser:
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{server.server_port}/")
            assert page.title() == "igcds harness"
            assert page.text_content("#x") == "rendered"
    finally:
        server.shutdown()
