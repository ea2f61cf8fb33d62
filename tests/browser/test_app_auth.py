"""Issue 26 fault 10 in a real browser: `launch.py --host 0.0.0.0 --auth USER:PASSWORD` shows Gradio's login page,
refuses a wrong password, and lets the right one in; without --auth the same host prints the warning line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ROOT, _free_port, _wait_for

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def guarded_app(tmp_path_factory):
    ws, logs = tmp_path_factory.mktemp("ws_auth"), tmp_path_factory.mktemp("auth_logs")
    port = _free_port()
    log = logs / "app.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, str(ROOT / "launch.py"), "--workspace", str(ws), "--port", str(port),
                                 "--host", "0.0.0.0", "--auth", "anna:s3cret"], cwd=ROOT, stdout=out,
                                stderr=subprocess.STDOUT,
                                env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1"})
    try:
        _wait_for(f"http://127.0.0.1:{port}/", proc, log)
        yield f"http://127.0.0.1:{port}", log
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _log_in(page, user: str, password: str) -> None:
    page.locator("input:not([type=password])").first.fill(user)
    page.locator("input[type=password]").fill(password)
    page.get_by_role("button", name=re.compile("login", re.IGNORECASE)).click()


def test_fault_10_auth_shows_the_login_page_and_logging_in_works(guarded_app, page):
    url, log = guarded_app
    assert "without a login" not in Path(log).read_text(errors="replace")  # a login is set: no warning
    page.goto(url)
    expect(page.locator("input[type=password]")).to_be_visible()
    expect(page.get_by_role("tab", name="Workspace")).to_have_count(0)  # nothing of the app before the login
    _log_in(page, "anna", "wrong")
    expect(page.get_by_text(re.compile("incorrect", re.IGNORECASE))).to_be_visible()
    _log_in(page, "anna", "s3cret")
    expect(page.get_by_role("tab", name="Workspace")).to_be_visible(timeout=60_000)
    expect(page.locator("#lep-header")).to_contain_text("LEP Studio")
