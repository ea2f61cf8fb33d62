"""The Export tab in a real browser: pick an adapted model and a format, watch the job, download, read the Ollama lines."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.ui import JOB_WAIT_MS, pick, shoot
from tests.export.conftest import adapted_family, export_ws  # noqa: F401 (fixtures shared with tests/export)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, adapted_family) -> Path:
    """adapted/tiny_llama-ru: the tiny LLaMA extended with Russian tokens and propagated (tests/export/conftest.py)."""
    ws = tmp_path_factory.mktemp("ws_export")
    shutil.copytree(adapted_family("tiny_llama"), ws / "adapted" / "tiny-ru")
    return ws


def test_export_q8_0_and_download(app_server, page, workspace, screenshots):
    page.goto(app_server(workspace))
    page.get_by_role("tab", name="6 · Export").click()
    # llama-cpp-python is installed for the tests: Q4_K_M is the default and the check is on
    expect(page.locator("#exp-type input[value='q4_k_m']")).to_be_checked()
    expect(page.locator("#exp-check input")).to_be_checked()
    pick(page, "exp-model", "adapted · tiny-ru")
    page.locator("#exp-type").get_by_text("q8_0", exact=False).click()
    page.locator("#exp-check input").uncheck()  # the check has its own tests (tests/export/test_check.py)
    page.locator("#exp-run").click()
    status = page.locator("#exp-status")
    expect(page.locator("#exp-step-1")).to_be_visible(timeout=30_000)  # the job's row, with its progress bar
    expect(status).to_contain_text("Wrote exports/tiny-ru-q8_0.gguf", timeout=JOB_WAIT_MS)
    expect(status).to_contain_text("Quality not checked")
    expect(status).to_contain_text("Pre-tokenizer smollm")
    expect(page.locator("#exp-step-1")).to_have_attribute("data-state", "done")
    files = page.locator("#exp-files")
    expect(files).to_contain_text("tiny-ru-q8_0.gguf")
    expect(files).to_contain_text("tiny-ru-q8_0.Modelfile")
    expect(page.locator("#exp-ollama")).to_contain_text("ollama create tiny-ru-q8_0 -f")
    gguf = workspace / "exports" / "tiny-ru-q8_0.gguf"
    assert gguf.is_file() and (workspace / "exports" / "tiny-ru-q8_0.Modelfile").is_file()
    with page.expect_download() as download:
        files.get_by_role("link", name="⇣ tiny-ru-q8_0.gguf").click()
    assert download.value.path().read_bytes() == gguf.read_bytes()
    page.wait_for_timeout(500)
    shoot(page, screenshots / "export.png")
    page.reload()  # a new page re-attaches to the last export
    page.get_by_role("tab", name="6 · Export").click()
    expect(status).to_contain_text("Wrote exports/tiny-ru-q8_0.gguf", timeout=30_000)


def test_an_existing_export_is_refused_before_any_job_starts(app_server, page, workspace):
    page.goto(app_server(workspace))
    page.get_by_role("tab", name="6 · Export").click()
    (workspace / "exports").mkdir(exist_ok=True)
    (workspace / "exports" / "tiny-ru-q4_k_m.gguf").write_bytes(b"mine")
    manifest = workspace / "adapted" / "tiny-ru" / "lep.json"  # an earlier export of this model (issue 26: another
    data = json.loads(manifest.read_text(encoding="utf-8"))  # model's file would get another name, never be refused)
    data["exports"] = [*data.get("exports", []), {"out": str(workspace / "exports" / "tiny-ru-q4_k_m.gguf"), "type": "q4_k_m"}]
    manifest.write_text(json.dumps(data), encoding="utf-8")
    pick(page, "exp-model", "adapted · tiny-ru")
    page.locator("#exp-run").click()  # the default type, Q4_K_M
    expect(page.get_by_text("tiny-ru-q4_k_m.gguf already exists").first).to_be_visible(timeout=30_000)
    expect(page.get_by_text("Traceback")).to_have_count(0)
    assert (workspace / "exports" / "tiny-ru-q4_k_m.gguf").read_bytes() == b"mine"
    assert not (workspace / "recipes" / "export-tiny-ru-q4_k_m").exists()
