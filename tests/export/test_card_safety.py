"""Issue 26 fault 1: a model card never replaces a README.md that LEP Studio did not write."""

from __future__ import annotations

import hashlib
import json
import shutil

from lep_core.export.card import BESIDE, CARD, CARD_MARK, card_path, record_export, write_card
from lep_core.export.push import push

LICENCE = "# My model\n\nLicence: the downloader's own terms, which must survive every export.\n"


def _export(path, type_):
    """What `lep export gguf` passes to record_export (lep_core.export.gguf_export)."""
    return {"out": str(path), "type": type_, "bytes": 7, "pre_tokenizer": "llama-bpe",
            "ollama": [f"ollama create x -f {path.with_suffix('.Modelfile')}", "ollama run x"]}


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_fault_1_a_downloaded_folder_keeps_its_readme_and_gets_the_card_beside_it(tiny_llama, tmp_path):
    folder = tmp_path / "downloaded"
    shutil.copytree(tiny_llama, folder)  # no lep.json: LEP Studio did not make it
    (folder / CARD).write_text(LICENCE, encoding="utf-8")
    before = _digest(folder)
    plan = push(str(folder), "me/downloaded", dry_run=True)
    assert _digest(folder) == before  # a dry run writes nothing
    assert BESIDE in [f["path"] for f in plan["files"]]
    record_export(folder, _export(tmp_path / "x.gguf", "f16"))
    assert _digest(folder) == before  # an export leaves a folder LEP did not make as it found it
    assert write_card(folder) == folder / BESIDE
    assert (folder / CARD).read_text(encoding="utf-8") == LICENCE
    assert CARD_MARK in (folder / BESIDE).read_text(encoding="utf-8")


def test_fault_1_in_a_folder_lep_made_only_its_own_card_is_replaced(tiny_llama, tmp_path):
    folder = tmp_path / "adapted"
    shutil.copytree(tiny_llama, folder)
    (folder / "lep.json").write_text(json.dumps({"kind": "adapted", "inputs": {}, "params": {}, "metrics": {}}))
    assert write_card(folder) == folder / CARD  # no README.md yet: the card is README.md
    first = (folder / CARD).read_text(encoding="utf-8")
    assert CARD_MARK in first
    record_export(folder, _export(tmp_path / "adapted-f16.gguf", "f16"))
    assert "adapted-f16.gguf" in (folder / CARD).read_text(encoding="utf-8")  # its own card: refreshed
    (folder / CARD).write_text(LICENCE, encoding="utf-8")  # the user wrote their own card over it
    assert card_path(folder) == folder / BESIDE
    record_export(folder, _export(tmp_path / "adapted-q8_0.gguf", "q8_0"))
    assert (folder / CARD).read_text(encoding="utf-8") == LICENCE
    assert "adapted-q8_0.gguf" in (folder / BESIDE).read_text(encoding="utf-8")
