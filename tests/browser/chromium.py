"""Headless Chromium for tests, driven by Playwright with Debian's ``chromium`` (``executable_path``: no browser
download, which this machine's closed network would refuse). ``open`` loads a page and records every console
message, uncaught exception and network request it makes."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser as PlaywrightBrowser
from playwright.sync_api import Page, Playwright, sync_playwright

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# The flags that work on these machines (closed network: no background connections; no sandbox as root).
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def available() -> bool:
    return Path(CHROMIUM).exists()


class Browser:
    """One headless Chromium and one page; ``console()`` is what the page logged or threw, ``requests`` what
    it fetched besides the page itself."""

    def __init__(self, timeout_s: float = 30.0) -> None:
        self.timeout_s = timeout_s
        self.messages: list[str] = []
        self.requests: list[str] = []
        self._playwright: Playwright | None = None
        self._browser: PlaywrightBrowser | None = None
        self._page: Page | None = None

    def __enter__(self) -> Browser:
        self._playwright = sync_playwright().start()
        self._browser = self._playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        self._page = self._browser.new_page()
        self._page.set_default_timeout(self.timeout_s * 1000)
        self._page.on("console", lambda m: self.messages.append(f"console.{m.type}: {m.text}"))
        self._page.on("pageerror", lambda e: self.messages.append(f"exception: {e}"))
        return self

    def __exit__(self, *exc: object) -> None:
        if self._browser is not None:
            self._browser.close()
        if self._playwright is not None:
            self._playwright.stop()

    @property
    def page(self) -> Page:
        assert self._page is not None, "use Browser() as a context manager"
        return self._page

    def open(self, url: str) -> None:
        self.page.on("request", lambda r: None if r.url == url else self.requests.append(r.url))
        self.page.goto(url, wait_until="load")

    def evaluate(self, expression: str) -> Any:
        return self.page.evaluate(expression)

    def console(self) -> list[str]:
        return list(self.messages)
