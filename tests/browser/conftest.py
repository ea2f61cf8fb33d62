"""Browser fixtures: Debian's chromium driven by Playwright, and the real app started with launch.py."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "assets" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
START_TIMEOUT_S = 90
# Playwright's assertions wait 5 s by default; on a loaded 2-core machine a queued Gradio event (an error toast after
# a click) took longer, and the suite failed at random. 20 s bounds a hang without racing a busy CPU.
expect.set_options(timeout=20_000)


def pytest_collection_modifyitems(config, items):
    """Skip browser tests only when Debian's chromium is missing (`make test` installs it)."""
    if CHROMIUM.exists():
        return
    skip = pytest.mark.skip(reason=f"{CHROMIUM} is missing: run `make browser` (apt-get install chromium)")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"app exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"app did not answer on {url} within {START_TIMEOUT_S} s:\n{log.read_text(errors='replace')[-3000:]}")


@pytest.fixture(scope="session")
def app_server(tmp_path_factory):
    """Factory: app_server(workspace) -> base URL of `launch.py --workspace W` (one server per workspace)."""
    servers: dict[Path, tuple[subprocess.Popen, str]] = {}
    logs = tmp_path_factory.mktemp("app_logs")

    def start(workspace: Path) -> str:
        workspace = Path(workspace).resolve()
        if workspace in servers:
            return servers[workspace][1]
        port = _free_port()
        log = logs / f"app_{port}.log"
        with open(log, "wb") as out:  # the child writes straight into the file: its pipe never fills
            proc = subprocess.Popen(
                [sys.executable, str(ROOT / "launch.py"), "--workspace", str(workspace), "--port", str(port)],
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1"},
            )
        url = f"http://127.0.0.1:{port}"
        servers[workspace] = (proc, url)
        _wait_for(url + "/", proc, log)
        return url

    yield start
    for proc, _ in servers.values():
        proc.terminate()
    for proc, _ in servers.values():
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    yield pg
    context.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory) -> Path:
    """Where each browser test saves its tab as <tab>.png: a temporary folder, so `make test` never changes a
    tracked file; `make screenshots` (LEP_SCREENSHOTS=assets) writes the README's images on purpose."""
    if os.environ.get("LEP_SCREENSHOTS") == "assets":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return SCREENSHOTS
    return tmp_path_factory.mktemp("screenshots")
