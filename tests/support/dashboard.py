"""The dashboard served for a test (uvicorn on loopback), HTTP calls to it, and a headless
Chromium (Debian's chromium and chromedriver) to look at it."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from orchestrator.dashboard.app import Site
from orchestrator.dashboard.fleet_feed import Reading
from orchestrator.dashboard.server import Background
from orchestrator.dashboard.settings import Listen

TOKEN = "test-token-0123456789abcdef"


class NoFleet:
    """A feed for pages that read only the history: it reads no load balancer (none is up)."""

    def latest(self) -> Reading:
        return Reading(None, None, None)

    def start(self) -> NoFleet:
        return self

    def stop(self) -> None:
        pass


@contextmanager
def serving(site: Site, *, host: str = "127.0.0.1", port: int = 0, feed=None) -> Iterator[str]:
    """The dashboard of ``site`` on ``host``:``port`` (0: any free port); yields its base URL."""
    web = Background(site, Listen(host, port), feed=feed).start()
    try:
        yield web.url
    finally:
        web.stop()


@dataclass
class Answer:
    status: int
    body: str
    headers: dict

    def json(self):
        return json.loads(self.body)


def call(url: str, *, method: str = "GET", data: dict | None = None, headers: dict | None = None) -> Answer:
    body = urllib.parse.urlencode(data).encode() if data is not None else (b"" if method == "POST" else None)
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return Answer(resp.status, resp.read().decode(), dict(resp.headers))
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, exc.read().decode(), dict(exc.headers))


@contextmanager
def browser(window: tuple[int, int] = (1400, 1000)) -> Iterator:
    """Headless Chromium through chromedriver (Selenium); quit after, also on failure."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    options.add_argument(f"--window-size={window[0]},{window[1]}")
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def screenshot(driver, path: Path) -> Path:
    """The whole page (the window made as tall as it), as a PNG."""
    height = driver.execute_script("return document.body.scrollHeight")
    driver.set_window_size(1400, max(800, int(height) + 40))
    path.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(path))
    return path
