"""Issue 26 fault 6: the Export tab's file names come from the model's path, and never land on another model's file."""

from __future__ import annotations

import json

from lep_core.export.gguf_export import check_export
from lep_core.export.options import ExportOptions
from lep_studio.context import AppContext
from lep_studio.tabs.export import gguf_path


def _model(folder, exports=()):
    folder.mkdir(parents=True)
    (folder / "lep.json").write_text(json.dumps({"kind": "model", "exports": [{"out": str(e)} for e in exports]}))
    return str(folder)


def test_fault_6_each_run_gets_its_own_export_name(tmp_path):
    ctx = AppContext(tmp_path)
    a, b = _model(tmp_path / "runs/demo-ru/final"), _model(tmp_path / "runs/demo-en/final")
    adapted, nested = _model(tmp_path / "adapted/demo-ru"), _model(tmp_path / "adapted/multi/smol")
    names = [gguf_path(ctx, m, "f16").name for m in (a, b, adapted, nested)]
    assert names == ["demo-ru-final-f16.gguf", "demo-en-final-f16.gguf", "demo-ru-f16.gguf", "multi-smol-f16.gguf"]


def test_fault_6_a_file_of_another_model_is_never_the_target(tmp_path):
    ctx = AppContext(tmp_path)
    taken = tmp_path / "exports" / "demo-ru-f16.gguf"
    taken.parent.mkdir()
    taken.write_bytes(b"another model's export")
    mine = _model(tmp_path / "adapted/demo-ru")
    assert gguf_path(ctx, mine, "f16").name == "demo-ru-2-f16.gguf"  # even with Overwrite ticked
    again = _model(tmp_path / "models/demo-ru", exports=[taken])  # the model whose export it is: same name ...
    assert gguf_path(ctx, again, "f16") == taken
    problems = check_export(ExportOptions(model=again, out=str(taken), type="f16", overwrite=False))
    assert any("already exists" in p for p in problems)  # ... replaced only with Overwrite
