"""Issue 26 fault 10: `lep app` beyond this machine warns without a login, and takes --auth / --auth-file."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from lep_core.errors import LepInputError
from lep_studio.access import credentials, exposure_warning, is_loopback

ROOT = Path(__file__).resolve().parents[2]


def test_fault_10_listening_beyond_loopback_without_a_login_prints_one_warning_line(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "lep_core.cli.main", "app", "--host", "0.0.0.0", "--port", "1",
                             "--workspace", str(tmp_path)], cwd=ROOT, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            text=True)
    try:
        line = proc.stderr.readline()  # printed before the app is even built
    finally:
        proc.kill()
        proc.wait()
    assert line.startswith("lep app: warning: LEP Studio listens on 0.0.0.0:1 without a login")
    assert "--auth" in line and line.count("\n") == 1


@pytest.mark.parametrize("host, warned", [("0.0.0.0", True), ("192.168.1.5", True), ("::", True), ("127.0.0.1", False),
                                          ("127.0.1.1", False), ("::1", False), ("localhost", False)])
def test_only_loopback_needs_no_login(host, warned):
    assert is_loopback(host) is not warned
    assert (exposure_warning(host, 7860, None) is not None) is warned
    assert exposure_warning(host, 7860, [("u", "p")]) is None


def test_auth_pairs_and_files(tmp_path):
    file = tmp_path / "logins"
    file.write_text("# who may log in\nanna:s3cret:with:colons\n\nboris:pw\n", encoding="utf-8")
    assert credentials(["me:pw"], file) == [("me", "pw"), ("anna", "s3cret:with:colons"), ("boris", "pw")]
    assert credentials(None, None) is None
    for bad in (["nopassword"], [":pw"], ["me:"]):
        with pytest.raises(LepInputError, match="expected USER:PASSWORD"):
            credentials(bad, None)
    (tmp_path / "empty").write_text("# nobody\n", encoding="utf-8")
    with pytest.raises(LepInputError, match="holds no USER:PASSWORD"):
        credentials(None, tmp_path / "empty")
    started = time.monotonic()
    bad = subprocess.run([sys.executable, "-m", "lep_core.cli.main", "app", "--auth", "nopassword"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "USER:PASSWORD" in bad.stderr
    assert time.monotonic() - started < 120
