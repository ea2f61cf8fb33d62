"""Recipes: checked before running, replayed by `lep run`, reproducible, resumable."""

import hashlib
import json
import shutil

import pytest
import yaml
from safetensors.torch import load_file

from lep_core.errors import LepInputError
from lep_core.recipes.run import run_recipe
from lep_core.recipes.spec import load_recipe, parse_recipe

REPO_RECIPES = ["demo.yaml", "qwen2.5-7b.yaml"]


@pytest.mark.parametrize("name", REPO_RECIPES)
def test_shipped_recipes_parse(name):
    from tests.builders import ASSETS

    recipe = load_recipe(ASSETS / "recipes" / name)
    assert [s.kind for s in recipe.steps] == ["extend", "init", "train", "propagate"]


def test_every_problem_reported_at_once():
    text = "steps:\n  - extend: {base: x}\n  - bake: {}\n  - init: 3\n"
    with pytest.raises(LepInputError) as err:
        parse_recipe(text)
    message = str(err.value)
    assert "step 1 (extend): missing corpus, add, out" in message
    assert "step 2: unknown kind 'bake'" in message
    assert "step 3 (init): its settings must be a mapping" in message
    with pytest.raises(LepInputError, match="not valid YAML"):
        parse_recipe("steps: [")


def test_calibrate_step_settings_are_checked_up_front(tmp_path, tiny_llama):
    from lep_core.recipes.check import check_recipe

    shutil.copytree(tiny_llama, tmp_path / "adapted" / "a")
    bad = parse_recipe("""name: c
steps:
  - calibrate: {model: adapted/a, out: runs/c1, steps: many, answers: data/mine}
  - calibrate: {model: adapted/a, out: runs/c2, steps: 2}
  - calibrate: {model: adapted/a, original: adapted/a, chat: [nowhere.jsonl], out: runs/c3}
  - calibrate: {model: adapted/a, original: adapted/a, prompts: no-prompts.txt, out: runs/c4, lora_rank: 0, train_params: lora}
""")
    problems = " | ".join(check_recipe(bad, tmp_path))
    assert "step 1 (calibrate): unknown setting answers" in problems
    assert "step 1 (calibrate): steps must be a whole number" in problems
    assert "step 2 (calibrate): pass --original (self-calibration on its answers) or --chat" in problems
    assert "step 3 (calibrate): chat nowhere.jsonl not found" in problems
    assert "step 3 (calibrate): pass either --original or --chat, not both" in problems
    assert "step 4 (calibrate): prompts no-prompts.txt not found" in problems
    assert "step 4 (calibrate): --lora-rank must be at least 1" in problems
    good = parse_recipe("name: c\nsteps:\n  - calibrate: {model: adapted/a, original: adapted/a, out: runs/c}\n")
    assert check_recipe(good, tmp_path) == []


def _recipe(tiny_llama, corpus_dir):
    return {
        "name": "tiny",
        "steps": [
            {"extend": {"base": str(tiny_llama), "corpus": [str(corpus_dir)], "add": 60, "out": "tokenizers/t"}},
            {"init": {"model": str(tiny_llama), "tokenizer": "tokenizers/t", "out": "models/m"}},
            {"train": {"model": "models/m", "corpus": [str(corpus_dir)], "out": "runs/r", "steps": 3, "batch_size": 2,
                       "seq_len": 32, "eval_every": 0, "save_every": 0, "seed": 1}},
            {"propagate": {"base": str(tiny_llama), "instruct": [str(tiny_llama)], "adapted": "runs/r/final",
                           "out": "adapted/a"}},
        ],
    }


def _digest(folder):
    tok = hashlib.sha256((folder / "tokenizer.json").read_bytes()).hexdigest()
    weights = load_file(str(folder / "model.safetensors")) if (folder / "model.safetensors").exists() else {}
    return tok, weights


def test_replay_reproduces_artefacts(tmp_path, tiny_llama, ru_corpus):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(ru_corpus[0], corpus)
    recipe_file = tmp_path / "r.yaml"
    recipe_file.write_text(yaml.safe_dump(_recipe(tiny_llama, corpus)), encoding="utf-8")
    recipe = load_recipe(recipe_file)
    first = run_recipe(recipe, tmp_path / "ws1", log=lambda _: None)
    run_recipe(recipe, tmp_path / "ws2", log=lambda _: None)
    assert [r["step"] for r in first] == ["extend", "init", "train", "propagate"]
    for sub in ("tokenizers/t", "models/m", "runs/r/final", "adapted/a"):
        tok1, w1 = _digest(tmp_path / "ws1" / sub)
        tok2, w2 = _digest(tmp_path / "ws2" / sub)
        assert tok1 == tok2, sub
        assert w1.keys() == w2.keys() and all((w1[k] == w2[k]).all() for k in w1), sub
    # a second run of the same recipe skips what is done
    again = run_recipe(recipe, tmp_path / "ws1", log=lambda _: None)
    assert all(r["skipped"] for r in again)
    assert json.loads((tmp_path / "ws1" / "adapted/a/lep_report.json").read_text())["mode"] == "conversion"
