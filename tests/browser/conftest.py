"""The browser tests' shared fixture: Debian's Chromium through Playwright, once per module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser_support import CHROMIUM, CHROMIUM_ARGS
from tests.conftest import missing


# Module scope, not session: while Playwright's sync API is open, its event loop counts as running
# in the main thread, and the in-process Ctrl-C tests that run after the browser tests (which need
# asyncio.run and signal handlers in the main thread) would fail.
@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """A launched Chromium (``/usr/bin/chromium``); missing, it fails under ``nox -s tests``."""
    if not Path(CHROMIUM).exists():
        missing(f"Chromium at {CHROMIUM}", "`apt-get install -y chromium` (never a downloaded browser)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
