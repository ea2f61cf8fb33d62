"""Recipe export: the pipeline clicked through in the app, rebuilt from the manifests, replays to the same artefacts."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
import yaml
from safetensors.torch import load_file

from lep_core.cli.main import main
from lep_core.recipes.lineage import export_recipe, lineage
from tests.recipes.pipeline import build_pipeline, sources


@pytest.fixture(scope="module")
def clicked(tmp_path_factory, tiny_llama, ru_corpus) -> Path:
    return build_pipeline(tmp_path_factory.mktemp("ws_clicked"), tiny_llama, ru_corpus)


def _tensors(folder: Path) -> dict:
    return load_file(str(folder / "model.safetensors"))


def test_lineage_has_every_step_with_its_parameters(clicked):
    found = lineage("adapted/chat-ru", clicked)
    steps = {s.kind: s.args for s in found.recipe.steps}
    assert list(steps) == ["extend", "init", "train", "propagate"]
    assert steps["extend"] == {"base": "models/base", "corpus": ["corpora/ru.txt"], "add": 40, "alphabet": "cyrillic",
                               "min_frequency": 3, "tokens": "subwords", "out": "tokenizers/tok-ru"}
    assert steps["init"] == {"model": "models/base", "tokenizer": "tokenizers/tok-ru", "method": "weighted_mean", "seed": 3,
                             "out": "models/init-ru"}
    assert steps["train"]["model"] == "models/init-ru" and steps["train"]["out"] == "runs/run-ru"
    assert (steps["train"]["seed"], steps["train"]["steps"], steps["train"]["train_rows"]) == (5, 3, "new")
    assert steps["propagate"]["adapted"] == "runs/run-ru/final" and steps["propagate"]["ridge"] == 0.01
    assert set(found.needs) == {"models/base", "corpora/ru.txt"} and found.changed == []
    # an earlier artefact exports only the steps that made it
    assert [s.kind for s in lineage(clicked / "models" / "init-ru", clicked).recipe.steps] == ["extend", "init"]
    assert [s.kind for s in lineage("runs/run-ru", clicked).recipe.steps] == ["extend", "init", "train"]


def test_exported_recipe_replays_to_the_same_artefacts(clicked, tmp_path, tiny_llama, ru_corpus, capsys):
    assert main(["recipe", "export", "adapted/chat-ru", "--workspace", str(clicked), "--json"]) == 0
    recipe_file = clicked / "recipes" / "chat-ru.yaml"
    assert str(recipe_file) in capsys.readouterr().out
    assert yaml.safe_load(recipe_file.read_text(encoding="utf-8"))["name"] == "chat-ru"
    # an export never replaces a file without --overwrite
    assert main(["recipe", "export", "adapted/chat-ru", "--workspace", str(clicked)]) == 2
    assert "already exists" in capsys.readouterr().err

    fresh = tmp_path / "fresh"
    sources(fresh, tiny_llama, ru_corpus)
    assert main(["run", str(recipe_file), "--workspace", str(fresh)]) == 0
    for name in ("tokenizer.json", "tokenizer_config.json", "new_tokens.json"):
        a, b = (clicked / "tokenizers/tok-ru" / name).read_bytes(), (fresh / "tokenizers/tok-ru" / name).read_bytes()
        assert hashlib.sha256(a).digest() == hashlib.sha256(b).digest(), name
    for sub in ("models/init-ru", "runs/run-ru/final", "adapted/chat-ru"):
        first, again = _tensors(clicked / sub), _tensors(fresh / sub)
        assert first.keys() == again.keys(), sub
        for key in first:
            assert first[key].dtype == again[key].dtype and (first[key] == again[key]).all(), f"{sub}: {key}"
        assert (clicked / sub / "tokenizer.json").read_bytes() == (fresh / sub / "tokenizer.json").read_bytes(), sub
    # the embeddings really were trained and propagated (the comparison above is not between copies of the source)
    base = _tensors(clicked / "models/base")
    assert _tensors(clicked / "adapted/chat-ru")["model.embed_tokens.weight"].shape[0] > base["model.embed_tokens.weight"].shape[0]


def test_export_refuses_what_no_step_made(clicked, tmp_path, capsys):
    assert main(["recipe", "export", "models/base", "--workspace", str(clicked)]) == 2
    assert "not made by a recipe step" in capsys.readouterr().err
    assert main(["recipe", "export", "/etc", "--workspace", str(clicked)]) == 2
    assert "outside the workspace" in capsys.readouterr().err
    assert main(["recipe", "export", "../..", "--workspace", str(clicked)]) == 2
    assert "outside the workspace" in capsys.readouterr().err
    assert main(["recipe", "export", "adapted/nothing", "--workspace", str(clicked)]) == 2
    assert "not an artefact" in capsys.readouterr().err


def test_changed_input_is_flagged(clicked, tmp_path):
    ws = tmp_path / "ws"
    shutil.copytree(clicked, ws, ignore=shutil.ignore_patterns("runs", "adapted", "recipes"))
    (ws / "corpora" / "ru.txt").write_text("другой текст\n", encoding="utf-8")  # edited after the tokenizer was made
    result = export_recipe("tokenizers/tok-ru", ws)
    assert result["changed"] == ["corpora/ru.txt"]
    assert "changed since the artefact was made" in Path(result["out"]).read_text(encoding="utf-8")


def test_bundled_assets_stay_portable(tmp_path, tiny_llama, ru_corpus):
    """The demo corpus is written as assets/..., which `lep run` finds from any folder."""
    from lep_core.tokenizer.extend import extend_tokenizer

    ws = tmp_path / "ws"
    extend_tokenizer(tiny_llama, [ru_corpus[0]], 10, ws / "tokenizers" / "t")
    (step,) = lineage("tokenizers/t", ws).recipe.steps
    assert step.args["corpus"] == [f"assets/corpus/{ru_corpus[0].name}"]
    assert step.args["base"] == str(tiny_llama)  # outside both: absolute


def test_a_calibration_exports_as_a_step_and_replays_to_the_same_model(clicked, tmp_path, tiny_llama, ru_corpus,
                                                                         demo_model):
    """A calibration clicked after propagation: its run exports the whole pipeline plus a calibrate step.
    The demo model writes the answers (a tiny random model's greedy answers are empty)."""
    from lep_core.calibration.run import calibrate

    prompts = "Привет! Как дела?\nЧто такое осень?\nНазови три цвета.\n"
    writer = str(Path(demo_model).resolve())  # outside the workspace: the recipe names it by its absolute path
    for ws in (clicked, tmp_path / "fresh"):
        (ws / "corpora").mkdir(parents=True, exist_ok=True)
        (ws / "corpora" / "prompts.txt").write_text(prompts, encoding="utf-8")
    given = {"model": str(clicked / "adapted/chat-ru"), "original": writer,
             "prompts": str(clicked / "corpora/prompts.txt"), "out": str(clicked / "runs/calib-ru"), "steps": 2,
             "batch_size": 2, "seq_len": 128, "max_new_tokens": 6, "eval_every": 0, "save_every": 0, "seed": 4,
             "val_fraction": 0.0, "device": "cpu"}
    assert calibrate(given, score=False)["state"] == "finished"

    found = lineage("runs/calib-ru", clicked)
    assert [s.kind for s in found.recipe.steps] == ["extend", "init", "train", "propagate", "calibrate"]
    step = found.recipe.steps[-1].args
    assert step == {"model": "adapted/chat-ru", "original": writer, "prompts": "corpora/prompts.txt",
                    "steps": 2, "batch_size": 2, "seq_len": 128, "max_new_tokens": 6, "eval_every": 0,
                    "save_every": 0, "seed": 4, "val_fraction": 0.0, "device": "cpu", "out": "runs/calib-ru"}
    assert set(found.needs) == {"models/base", writer, "corpora/ru.txt", "corpora/prompts.txt"}

    recipe_file = tmp_path / "calib.yaml"
    export_recipe("runs/calib-ru", clicked, out=recipe_file)
    fresh = tmp_path / "fresh"
    sources(fresh, tiny_llama, ru_corpus)
    assert main(["run", str(recipe_file), "--workspace", str(fresh)]) == 0
    answers = "data/calib-ru-answers/conversations.jsonl"
    assert (clicked / answers).read_bytes() == (fresh / answers).read_bytes()  # the original answered the same
    first, again = _tensors(clicked / "runs/calib-ru/final"), _tensors(fresh / "runs/calib-ru/final")
    assert first.keys() == again.keys() and all((first[k] == again[k]).all() for k in first)
    changed = _tensors(clicked / "adapted/chat-ru")["model.embed_tokens.weight"]
    assert not (first["model.embed_tokens.weight"] == changed).all()  # calibration did train the embeddings
