"""Headless Chromium for browser tests: Debian's ``/usr/bin/chromium`` driven by Playwright's Python API.

No browser is downloaded (none can be on these machines): Playwright launches the system browser
through ``executable_path``. ``make test`` installs it (``scripts/browser.sh``); a missing browser
fails the test that asked for one, with the command that installs it, and never skips it.

The flags keep Chromium off the network it cannot reach here (background updates, sync, QUIC) and
off the GPU; ``--no-sandbox`` because the suite may run as root.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = (
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
)


@contextmanager
def chromium() -> Iterator[Any]:
    """A launched headless Chromium (a ``playwright.sync_api.Browser``), closed on exit."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (scripts/browser.sh installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=list(CHROMIUM_ARGS))
        try:
            yield browser
        finally:
            browser.close()
