"""Browser fixtures: Debian's chromium driven by Playwright, and the real app started with launch.py."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect

ROOT = Path(__file__).resolve().parents[2]


def _find_chromium() -> Path | None:
    """$LEP_CHROMIUM when set, else Debian's /usr/bin/chromium, else a chromium on PATH."""
    if os.environ.get("LEP_CHROMIUM"):
        path = Path(os.environ["LEP_CHROMIUM"])
        return path if path.exists() else None
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    for path in (Path("/usr/bin/chromium"), Path(found) if found else None):
        if path is not None and path.exists():
            return path
    return None


CHROMIUM = _find_chromium()
# Under CI a missing browser fails every browser test: a green run must have run them.
IN_CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
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


NO_CHROMIUM = "no chromium (/usr/bin/chromium, $LEP_CHROMIUM or on PATH): install it with `make browser`"


def pytest_collection_modifyitems(config, items):
    """Without chromium, browser tests are skipped on a developer's machine; under CI the browser fixture fails them."""
    if CHROMIUM is not None or IN_CI:
        return
    skip = pytest.mark.skip(reason=NO_CHROMIUM)
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


@pytest.fixture(scope="module")
def app_server(tmp_path_factory):
    """Factory: app_server(workspace) -> base URL of `launch.py --workspace W` (one server per workspace).

    Module-scoped: a test module's servers stop when it ends (every module has its own workspace), so a suite
    never has a dozen idle servers running at once."""
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

    if CHROMIUM is None:  # only under CI: elsewhere the tests were skipped at collection
        pytest.fail(f"CI is set and there is {NO_CHROMIUM}: a green run must have run the browser tests", pytrace=False)
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
