"""`lep push`: everything up to the upload (no network here). The hub's answers come from a local HTTP server that
serves the one route the check reads (a repository's file list), so huggingface_hub's real client code runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from lep_core.errors import LepInputError
from lep_core.export.push import push

LEP = [sys.executable, "-m", "lep_core.cli.main"]


def _lep(*args, env_update):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(env_update)
    return subprocess.run(LEP + [str(a) for a in args], capture_output=True, text=True, env=env)


def _digest(folder):
    import hashlib

    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_dry_run_lists_the_folder_and_the_card_but_writes_nothing(adapted_family):
    folder = adapted_family("tiny_llama")
    (folder / ".scratch.tmp").write_text("x")
    before = _digest(folder)
    try:
        plan = push(str(folder), "me/tiny-ru", dry_run=True)
        assert _digest(folder) == before  # issue 26: a dry run wrote the card
    finally:
        (folder / ".scratch.tmp").unlink()
    paths = [f["path"] for f in plan["files"]]
    assert {"README.md", "config.json", "model.safetensors", "tokenizer.json", "lep.json"} <= set(paths)
    assert ".scratch.tmp" not in paths and plan["uploaded"] is False
    from lep_core.export.card import card_text

    sizes = {f["path"]: f["bytes"] for f in plan["files"]}
    assert sizes["README.md"] == len(card_text(folder).encode("utf-8"))  # the card as it would be written
    assert plan["bytes"] == sum(sizes.values())


def test_missing_token_and_unreachable_hub_are_one_line(adapted_family, tmp_path):
    folder = adapted_family("tiny_llama")
    no_token = _lep("push", "--model", folder, "--repo", "me/tiny-ru", env_update={"HF_HOME": str(tmp_path)})
    assert no_token.returncode == 2 and len(no_token.stderr.strip().splitlines()) == 1
    assert "no Hugging Face token" in no_token.stderr
    offline = _lep("push", "--model", folder, "--repo", "me/tiny-ru",
                   env_update={"HF_HOME": str(tmp_path), "HF_TOKEN": "hf_test", "HF_ENDPOINT": "http://127.0.0.1:9"})
    assert offline.returncode == 2 and len(offline.stderr.strip().splitlines()) == 1
    assert "cannot reach the Hugging Face hub at http://127.0.0.1:9" in offline.stderr
    bad_repo = _lep("push", "--model", folder, "--repo", "no-slash", env_update={"HF_HOME": str(tmp_path)})
    assert bad_repo.returncode == 2 and "--repo must be ORG/NAME" in bad_repo.stderr


class _Hub(BaseHTTPRequestHandler):
    files = ["config.json", "model.safetensors"]

    def do_GET(self):  # noqa: N802 (http.server's name)
        if "/tree/" not in self.path:
            self.send_response(404)
            self.end_headers()
            return
        body = json.dumps([{"type": "file", "path": p, "oid": "0" * 40, "size": 1} for p in self.files]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def hub():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_non_empty_repository_is_refused_without_overwrite(adapted_family, hub):
    folder = adapted_family("tiny_llama")
    with pytest.raises(LepInputError, match="already holds 2 files .*pass --overwrite"):
        push(str(folder), "me/tiny-ru", token="hf_test", endpoint=hub)


def test_fault_2_a_repository_with_only_a_hand_written_readme_is_not_empty(adapted_family, hub, monkeypatch):
    monkeypatch.setattr(_Hub, "files", [".gitattributes", "README.md"])  # what the hub answers: a card someone wrote
    folder = adapted_family("tiny_llama")
    before = _digest(folder)
    with pytest.raises(LepInputError, match="already holds 1 files \\(README.md\\).*pass --overwrite"):
        push(str(folder), "me/tiny-ru", token="hf_test", endpoint=hub)
    assert _digest(folder) == before  # refused before the card was written
