"""Known answer: instruct = base·Q (+ 1e-4 noise) => propagated embeddings = adapted·Q (design §4, issue 5)."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from lep_core.propagation.embeddings_io import open_model
from lep_core.propagation.options import PropagateOptions
from lep_core.propagation.propagate import propagate
from tests.propagation.kit import rel_error


def run(world, out, mode="conversion", **kw):
    return propagate(PropagateOptions(base=str(world.base), instruct=[str(world.instruct)], adapted=str(world.adapted),
                                      out=str(out), mode=mode, **kw))


def projected_rows(world, out, side):
    """(got, expected) for the rows that are projected (added/special tokens are copied from the instruct model)."""
    tok = AutoTokenizer.from_pretrained(out)
    got = open_model(out).read(side)
    adapted = open_model(world.adapted).read(side)
    keep = torch.ones(len(tok), dtype=torch.bool)
    keep[list(tok.added_tokens_decoder)] = False
    n = min(len(tok), adapted.shape[0])
    keep = keep[:n]
    return got[:n][keep], (adapted[:n].double() @ world.q.double())[keep]


@pytest.mark.parametrize("mode", ["conversion", "bypass", "union"])
def test_fitting_modes_recover_q_tied(llama_world, tmp_path, mode):
    report = run(llama_world, tmp_path / mode, mode)
    got, expected = projected_rows(llama_world, tmp_path / mode, "input")
    err = rel_error(got, expected)
    print(f"{mode} tied: rel error {err:.2e}, fit residual {report['fit_residual']:.2e}, "
          f"held-out {report['heldout_rel_error']:.2e} cos {report['heldout_cosine']:.6f}")
    assert err < 1e-3
    assert report["fit_residual"] < 1e-3 and report["heldout_rel_error"] < 1e-3
    assert report["heldout_cosine"] > 0.9999
    files = open_model(tmp_path / mode)
    assert files.tied and files.head_name is None  # tied stays tied: no separate head written


def test_conversion_untied_padded_both_sides(qwen_world, tmp_path):
    report = run(qwen_world, tmp_path / "out")
    files = open_model(tmp_path / "out")
    assert not files.tied and files.head_name
    assert files.rows % 64 == 0 and files.rows > len(AutoTokenizer.from_pretrained(tmp_path / "out"))  # still padded
    for side in ("input", "output"):
        got, expected = projected_rows(qwen_world, tmp_path / "out", side)
        assert rel_error(got, expected) < 1e-3, side
        assert report["sides"][side]["heldout_rel_error"] < 1e-3
    # the head was fitted separately, not copied from the input side
    assert not torch.equal(files.read("input"), files.read("output"))


def test_straight_is_a_plain_swap(qwen_world, tmp_path):
    run(qwen_world, tmp_path / "out", "straight")
    out, adapted, inst = open_model(tmp_path / "out"), open_model(qwen_world.adapted), open_model(qwen_world.instruct)
    tok = AutoTokenizer.from_pretrained(tmp_path / "out")
    specials = sorted(tok.added_tokens_decoder)
    for side in ("input", "output"):
        got, a, i = out.read(side), adapted.read(side), inst.read(side)
        keep = torch.ones(a.shape[0], dtype=torch.bool)
        keep[specials] = False
        assert torch.equal(got[: a.shape[0]][keep], a[keep])  # exactly A's rows
        assert torch.equal(got[specials], i[specials])  # chat markers: the instruct model's own rows


def test_result_loads_and_chats(llama_world, tmp_path):
    run(llama_world, tmp_path / "out")
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "out")
    tok = AutoTokenizer.from_pretrained(tmp_path / "out")
    inst_tok = AutoTokenizer.from_pretrained(llama_world.instruct)
    assert model.get_input_embeddings().weight.shape[0] == len(tok)
    assert model.get_output_embeddings().weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()
    assert tok.chat_template == inst_tok.chat_template
    ids = tok.apply_chat_template([{"role": "user", "content": "Привет, как дела?"}], add_generation_prompt=True)
    ids = ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids
    assert tok.convert_tokens_to_ids("<|im_start|>") in ids
    assert len(ids) < len(inst_tok.apply_chat_template([{"role": "user", "content": "Привет, как дела?"}],
                                                       add_generation_prompt=True)["input_ids"])  # new Russian tokens used
    out = model.generate(torch.tensor([ids]), max_new_tokens=3, do_sample=False)
    assert out.shape[1] == len(ids) + 3
    gen = json.loads((tmp_path / "out" / "generation_config.json").read_text())
    assert gen["eos_token_id"] == tok.convert_tokens_to_ids("<|im_end|>")
    assert (tmp_path / "out" / "lep.json").is_file() and (tmp_path / "out" / "lep_report.json").is_file()


def test_same_model_as_base_and_instruct(llama_world, tmp_path):
    """The demo case: base and instruct are one model, so P is the identity and A passes through."""
    report = propagate(PropagateOptions(base=str(llama_world.base), instruct=[str(llama_world.base)],
                                        adapted=str(llama_world.adapted), out=str(tmp_path / "out")))
    assert report["fit_residual"] < 1e-6
    got = open_model(tmp_path / "out").read("input")
    a = open_model(llama_world.adapted).read("input")
    assert rel_error(got[100:], a[100:]) < 1e-5


def test_untied_adapted_head_on_a_tied_instruct(tiny_llama, extended_byte, tmp_path):
    """Issue 14: `lep model init --head-method` unties a tied model; LEP then gives the instruct model that head.

    The tied base and instruct heads equal their input embeddings, so the input side's P maps the head too:
    the result is untied, its head = adapted head · Q, its input = adapted input · Q."""
    from lep_core.embeddings.init import init_model
    from tests.propagation import kit

    q = kit.known_matrix(64, 2)
    init_model(tiny_llama, extended_byte, tmp_path / "init", "mean", head_method="first")
    adapted = kit.trained(tmp_path / "init", tmp_path / "adapted")
    instruct = kit.instruct_of(tiny_llama, tmp_path / "instruct", q)
    out = tmp_path / "out"
    report = propagate(PropagateOptions(base=str(tiny_llama), instruct=[str(instruct)], adapted=str(adapted), out=str(out)))
    files = open_model(out)
    assert not files.tied and files.head_name == "lm_head.weight" and report["untied_head_from_adapted"]
    from types import SimpleNamespace

    for side in ("input", "output"):
        got, expected = projected_rows(SimpleNamespace(adapted=adapted, q=q), out, side)
        assert rel_error(got, expected) < 1e-3, side
    assert not torch.equal(files.read("input"), files.read("output"))
    model = AutoModelForCausalLM.from_pretrained(out)
    assert not model.config.tie_word_embeddings
    assert torch.equal(model.get_output_embeddings().weight.detach(), files.read("output"))
