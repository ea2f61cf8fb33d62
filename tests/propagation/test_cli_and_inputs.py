"""`lep propagate` end to end: bad input exits 2 with one line and writes nothing; several targets; bf16; chat tokens."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoTokenizer

from lep_core.cli.main import main
from lep_core.errors import LepInputError
from lep_core.propagation.embeddings_io import open_model
from lep_core.propagation.options import PropagateOptions
from lep_core.propagation.propagate import preflight, read_result
from tests import builders
from tests.propagation import kit


def lep(capsys, *args):
    code = main(["propagate", *[str(a) for a in args]])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def bad_models(tmp_path_factory, tiny_llama, byte_bpe_tokenizer, llama_world):
    root = tmp_path_factory.mktemp("bad")
    return {
        "untied": builders.tiny_model(byte_bpe_tokenizer, root / "untied", "llama", tied=False),
        "hidden32": kit.other_hidden(byte_bpe_tokenizer, root / "hidden32"),
        "wrong_tok": kit.with_tokenizer_of(llama_world.adapted, tiny_llama, root / "wrong_tok"),
    }


@pytest.mark.parametrize("case,expect", [
    ("family", "qwen2 model but the base is llama"),
    ("hidden", "hidden size 32"),
    ("tokenizer", "does not belong to the adapted model"),
    ("exists", "already exists"),
    ("tie", "tie settings disagree"),
    ("occ without corpus", "--corpus"),
])
def test_bad_input_exits_2_with_one_line(capsys, tmp_path, llama_world, tiny_qwen2, bad_models, case, expect):
    w = llama_world
    base, inst, adapted = w.base, w.instruct, w.adapted
    out = tmp_path / "out"
    extra = []
    if case == "family":
        inst = tiny_qwen2
    elif case == "hidden":
        inst = bad_models["hidden32"]
    elif case == "tokenizer":
        adapted = bad_models["wrong_tok"]
    elif case == "exists":
        out.mkdir()
        (out / "keep.txt").write_text("mine")
    elif case == "tie":
        inst = bad_models["untied"]
    else:
        extra = ["--mode", "occ_conversion"]
    code, stdout, stderr = lep(capsys, "--base", base, "--instruct", inst, "--adapted", adapted, "--out", out, *extra)
    assert code == 2
    assert len(stderr.strip().splitlines()) == 1 and expect in stderr, stderr
    if case == "exists":
        assert (out / "keep.txt").read_text() == "mine" and len(list(out.iterdir())) == 1
    else:
        assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary leftovers


@pytest.mark.parametrize("case,expect", [
    ("family", "qwen2 model but the base is llama"),
    ("tokenizer", "does not belong to the adapted model"),
    ("exists", "already exists"),
])
def test_preflight_refuses_what_the_job_would_without_writing(tmp_path, llama_world, tiny_qwen2, bad_models, case, expect):
    """The app checks a propagation with preflight before it starts the job: the same message, nothing written."""
    inst = tiny_qwen2 if case == "family" else llama_world.instruct
    adapted = bad_models["wrong_tok"] if case == "tokenizer" else llama_world.adapted
    out = tmp_path / "out"
    if case == "exists":
        out.mkdir()
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(LepInputError, match=expect):
        preflight(PropagateOptions(base=str(llama_world.base), instruct=[str(inst)], adapted=str(adapted), out=str(out)))
    assert sorted(tmp_path.rglob("*")) == before
    preflight(PropagateOptions(base=str(llama_world.base), instruct=[str(llama_world.instruct)],
                               adapted=str(llama_world.adapted), out=str(tmp_path / "free")))  # a good pick passes
    assert not (tmp_path / "free").exists()


def test_two_instruct_models_json(capsys, tmp_path, llama_world):
    """One decomposition, two adapted models: OUT/<name>/ each with its report."""
    second = kit.instruct_of(llama_world.base, tmp_path / "instruct_b", kit.known_matrix(64, seed=7))
    code, stdout, stderr = lep(capsys, "--base", llama_world.base, "--instruct", llama_world.instruct,
                               "--instruct", second, "--adapted", llama_world.adapted, "--out", tmp_path / "out", "--json")
    assert code == 0, stderr
    result = json.loads(stdout)
    assert set(result["outputs"]) == {"instruct", "instruct_b"}
    for name, q in (("instruct", llama_world.q), ("instruct_b", kit.known_matrix(64, seed=7))):
        folder = tmp_path / "out" / name
        report = json.loads((folder / "lep_report.json").read_text())
        assert set(report) >= {"mode", "new_vocab_size", "fit_rows", "fit_residual", "heldout_rel_error",
                               "heldout_cosine", "seconds"}
        got = open_model(folder).read("input")[100:]
        expected = open_model(llama_world.adapted).read("input")[100:].double() @ q.double()
        assert kit.rel_error(got, expected) < 1e-3, name
    shown = read_result(tmp_path / "out")  # what the app reads back once the job has finished
    assert shown["outputs"] == {n: str(tmp_path / "out" / n) for n in ("instruct", "instruct_b")}
    assert [r["heldout_rel_error"] for r in shown["reports"]] == [r["heldout_rel_error"] for r in result["reports"]]
    assert read_result(tmp_path / "out" / "instruct")["instruct"] == "instruct"
    assert read_result(tmp_path / "nothing") is None


def test_bf16_models_and_a_new_chat_token(capsys, tmp_path, qwen_world):
    """bf16 weights stay bf16 (solved in float64); an instruct-only chat token is appended with its own rows."""
    base = kit.to_dtype(qwen_world.base, tmp_path / "base16", torch.bfloat16)
    adapted = kit.to_dtype(qwen_world.adapted, tmp_path / "adapted16", torch.bfloat16)
    chat = kit.with_chat_token(qwen_world.instruct, tmp_path / "chat")
    inst = kit.to_dtype(chat, tmp_path / "inst16", torch.bfloat16)
    code, stdout, stderr = lep(capsys, "--base", base, "--instruct", inst, "--adapted", adapted,
                               "--out", tmp_path / "out", "--json")
    assert code == 0, stderr
    report = json.loads(stdout)
    assert report["appended_tokens"] == ["<|tool_call|>"]
    out = open_model(tmp_path / "out")
    assert out.dtype == torch.bfloat16
    tok, inst_tok = AutoTokenizer.from_pretrained(tmp_path / "out"), AutoTokenizer.from_pretrained(inst)
    new_id, old_id = tok.convert_tokens_to_ids("<|tool_call|>"), inst_tok.convert_tokens_to_ids("<|tool_call|>")
    assert new_id == len(tok) - 1
    inst_files = open_model(inst)
    for side in ("input", "output"):
        assert torch.equal(out.read(side)[new_id], inst_files.read(side)[old_id])
    # bf16 storage limits the match to bf16 precision
    got = out.read("input")[100:len(tok) - 1]
    expected = open_model(adapted).read("input")[100:len(tok) - 1].double() @ qwen_world.q.double()
    assert kit.rel_error(got, expected) < 1e-2
