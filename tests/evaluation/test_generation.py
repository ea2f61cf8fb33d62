"""Chat generation on tiny real models: streaming, counts, seeds, and the three kinds of bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from lep_core.errors import LepInputError
from lep_core.evaluation.generation import Sampling, generate_reply, stream_reply
from lep_core.evaluation.models import ModelCache
from lep_core.sources.loading import load_tokenizer

HELLO = [{"role": "user", "content": "Привет! Как дела?"}]


@pytest.fixture(scope="module")
def plain_model(tiny_llama, tmp_path_factory) -> Path:
    """tiny_llama without a chat template (a base model)."""
    folder = tmp_path_factory.mktemp("plain") / "tiny_plain"
    shutil.copytree(tiny_llama, folder)
    (folder / "chat_template.jinja").unlink(missing_ok=True)
    cfg_path = folder / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg.pop("chat_template", None)
    cfg_path.write_text(json.dumps(cfg))
    return folder


@pytest.fixture(scope="module")
def cache():
    return ModelCache(capacity=3, device="cpu")


def test_streamed_reply_with_counts_and_speed(cache, tiny_llama):
    model, tok = cache.get(str(tiny_llama))
    assert cache.get(str(tiny_llama))[0] is model  # kept loaded, not reloaded
    steps = list(stream_reply(model, tok, HELLO, Sampling(max_new_tokens=12)))
    final = steps[-1]
    assert final.done and len(steps) >= 2
    assert 1 <= final.tokens <= 12 and final.used_chat_template
    assert final.seconds > 0 and final.chars_per_s == pytest.approx(len(final.text) / final.seconds)
    assert final.tokens_per_s == pytest.approx(final.tokens / final.seconds)
    again = generate_reply(model, tok, HELLO, Sampling(max_new_tokens=12))
    assert again.text == final.text  # greedy is deterministic


def test_sampling_seed_is_reproducible(cache, tiny_mistral):
    model, tok = cache.get(str(tiny_mistral))
    s = Sampling(max_new_tokens=10, greedy=False, temperature=1.0, seed=7)
    a, b = generate_reply(model, tok, HELLO, s), generate_reply(model, tok, HELLO, s)
    other = generate_reply(model, tok, HELLO, Sampling(max_new_tokens=10, greedy=False, temperature=1.0, seed=8))
    assert a.text == b.text and a.tokens == b.tokens
    assert other.text != a.text


def test_bad_input(cache, tiny_llama, plain_model):
    model, tok = cache.get(str(tiny_llama))
    with pytest.raises(LepInputError, match="empty"):
        generate_reply(model, tok, [{"role": "user", "content": "   "}])
    with pytest.raises(LepInputError, match="context window is 512"):
        generate_reply(model, tok, [{"role": "user", "content": "слово " * 600}])
    pmodel, ptok = cache.get(str(plain_model))
    reply = generate_reply(pmodel, ptok, HELLO, Sampling(max_new_tokens=4))
    assert not reply.used_chat_template and "plain continuation" in reply.notes[0]
    with pytest.raises(LepInputError, match="no chat template"):
        generate_reply(pmodel, ptok, HELLO, allow_plain=False)
    with pytest.raises(LepInputError, match="not found"):
        cache.get("/nonexistent/model")
    assert cache.get(str(tiny_llama))[0] is model  # the other side keeps working


@pytest.fixture
def lep(capsys):
    """Run `lep ARGS` in this process (the same main() as the console script, without a torch import per call)."""
    from lep_core.cli.main import main

    def run(*args: str) -> subprocess.CompletedProcess:
        code = main(list(args))
        out = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out.out, out.err)

    return run


def test_cli_compare_and_eval(tiny_llama, plain_model, tmp_path, lep):
    ok = lep("compare", "--original", str(tiny_llama), "--adapted", str(tiny_llama), "--prompt", "Привет",
             "--max-new-tokens", "5", "--json")
    assert ok.returncode == 0, ok.stderr
    out = json.loads(ok.stdout)
    for side in ("original", "adapted"):
        assert 1 <= out[side]["tokens"] <= 5 and out[side]["seconds"] > 0 and "chars_per_s" in out[side]
    # issue 25: each reply's steps against the original tokenizer's spelling of the same text, and canonical
    # decoding, which writes exactly as the tokenizer spells (so its ids are the ids of its text encoded again)
    tok = load_tokenizer(tiny_llama)
    canon = lep("compare", "--original", str(tiny_llama), "--adapted", str(tiny_llama), "--prompt", "Привет",
                "--max-new-tokens", "12", "--canonical", "--json")
    assert canon.returncode == 0, canon.stderr
    canonical = json.loads(canon.stdout)
    for reply in (out["original"], out["adapted"], canonical["original"], canonical["adapted"]):
        assert reply["original_tokens"] == len(tok(reply["text"], add_special_tokens=False)["input_ids"])
        assert reply["new_tokens"] == 0
    canonical = canonical["adapted"]
    assert canonical["emitted_tokens"] == canonical["original_tokens"] > 0
    text = tmp_path / "t.txt"
    text.write_text("Мёд делают пчёлы из нектара. " * 20, encoding="utf-8")
    ev = lep("eval", "--model", str(tiny_llama), "--text", str(text), "--json")
    assert ev.returncode == 0, ev.stderr
    assert {"bits_per_char", "chars_per_token", "prefill_chars_per_s", "tokens"} <= set(json.loads(ev.stdout))
    bad = [
        ("compare", "--original", str(tiny_llama), "--adapted", str(tiny_llama), "--prompt", " "),
        ("compare", "--original", str(tiny_llama), "--adapted", str(tiny_llama), "--prompt", "слово " * 600),
        ("compare", "--original", str(plain_model), "--adapted", str(tiny_llama), "--prompt", "Привет"),
        ("eval", "--model", str(tiny_llama), "--text", str(tmp_path / "missing.txt")),
    ]
    for args in bad:
        res = lep(*args)
        assert res.returncode == 2, (args[:2], res.stderr)
        assert len(res.stderr.strip().splitlines()[-1]) > 10 and "Traceback" not in res.stderr
