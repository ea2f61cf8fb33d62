"""The workspace browser's data: artefacts with manifests and sizes; safe deletion."""

import shutil

import pytest

from lep_core.errors import LepInputError
from lep_core.workspace.inventory import delete_artifact, inventory


def test_inventory_and_delete(tmp_path, tiny_llama):
    ws = tmp_path / "ws"
    shutil.copytree(tiny_llama, ws / "models" / "tiny")
    from lep_core.tokenizer.extend import extend_tokenizer
    from tests.builders import ASSETS

    extend_tokenizer(tiny_llama, [ASSETS / "corpus" / "01_dialogues.txt"], 20, ws / "tokenizers" / "t20")
    items = {a.name: a for a in inventory(ws)}
    assert set(items) == {"tiny", "t20"}
    tok = items["t20"]
    assert tok.kind == "tokenizer" and tok.params["add"] == 20 and tok.metrics["added"] == 20
    assert tok.size_bytes > 0 and tok.row()["opens_in"] == "Tokenizers"
    assert items["tiny"].row()["size"].endswith("MB")
    with pytest.raises(LepInputError, match="not an artefact folder"):
        delete_artifact(ws / "models", ws)
    with pytest.raises(LepInputError, match="outside the workspace"):
        delete_artifact(tmp_path, ws)
    delete_artifact(ws / "tokenizers" / "t20", ws)
    assert [a.name for a in inventory(ws)] == ["tiny"]
    assert not list((ws / "tokenizers").iterdir())
