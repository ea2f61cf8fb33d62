"""`lep eval suite`: one JSON object and a complete results folder; bad input exits 2 with one line, nothing written."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

LEP = [sys.executable, "-m", "lep_core.cli.main", "eval", "suite"]
PAIR = {"sentence_good": "Кошка спит на диване.", "sentence_bad": "Кошка спят на диване.", "phenomenon": "agreement_number"}
QUESTION = {"question": "Снег зимой обычно", "choices": ["белый", "зелёный", "горячий"], "answer": 0}
COPY = {"kind": "copy", "text": "Утром шёл дождь."}
HELD = {"kind": "bpc", "text": "Утром шёл дождь, а к обеду выглянуло солнце."}
INSTRUCTION = "Повтори дословно следующий текст, ничего не добавляя и не меняя:"  # the copy task's own prompt


def lep(*args):
    return subprocess.run(LEP + [str(a) for a in args], capture_output=True, text=True)


def jsonl(path: Path, *items) -> Path:
    path.write_text("".join((i if isinstance(i, str) else json.dumps(i, ensure_ascii=False)) + "\n" for i in items),
                    encoding="utf-8")
    return path


def by_hand(folder: str) -> dict:
    """The suite's figures for QUESTION, COPY and HELD worked out with plain transformers, not the suite's code:
    log-probabilities of each choice after the question (per character of " choice"), a greedy reply to the copy
    prompt, and bits per character of the held-out line. Sequences start as the tokenizer starts them
    (add_special_tokens: a BOS for Mistral-style tokenizers, nothing for SmolLM2-style ones, whose first token is
    then context only)."""
    import math

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder).eval()

    def logprobs(ids: list[int]) -> torch.Tensor:  # log p(ids[t] | ids[:t]) for t >= 1
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids])).logits[0, :-1].double()
        return torch.log_softmax(logits, -1).gather(1, torch.tensor(ids[1:])[:, None])[:, 0]

    question = QUESTION["question"]
    per_char = []
    for choice in QUESTION["choices"]:
        context, whole = tok(question)["input_ids"], tok(question + " " + choice)["input_ids"]
        per_char.append(float(logprobs(whole)[len(context) - 1:].sum()) / len(" " + choice))
    picked = max(range(len(per_char)), key=per_char.__getitem__)

    text = HELD["text"]
    enc = tok(text, return_offsets_mapping=True)
    with_bos = tok.bos_token_id is not None and enc["input_ids"][0] == tok.bos_token_id
    chars = len(text) if with_bos else len(text) - enc["offset_mapping"][1][0]
    bits_per_char = -float(logprobs(enc["input_ids"]).sum()) / math.log(2) / chars

    prompt_text = tok.apply_chat_template([{"role": "user", "content": f"{INSTRUCTION}\n\n{COPY['text']}"}],
                                          tokenize=False, add_generation_prompt=True)
    prompt = tok(prompt_text)["input_ids"]
    own = len(tok(COPY["text"], add_special_tokens=False)["input_ids"])
    eos = model.generation_config.eos_token_id
    eos = [eos] if isinstance(eos, int) else list(eos or [tok.eos_token_id])
    with torch.no_grad():
        out = model.generate(input_ids=torch.tensor([prompt]), attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
                             do_sample=False, max_new_tokens=int(1.25 * own) + 8, eos_token_id=eos,
                             pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else eos[0])[0, len(prompt):]
    reply = out.tolist()
    end = next((k for k, t in enumerate(reply) if t in eos), len(reply))
    chars_out = len(tok.decode(reply[:end], skip_special_tokens=True))
    return {"choice": 1.0 if picked == QUESTION["answer"] else 0.0, "bits_per_char": bits_per_char,
            "copy_tokens": end, "copy_chars_per_token": chars_out / end if end else 0.0}


@pytest.fixture()
def suite(tmp_path) -> Path:
    folder = tmp_path / "mine"
    folder.mkdir()
    jsonl(folder / "pairs.jsonl", PAIR, {**PAIR, "sentence_good": "Мы пили чай.", "sentence_bad": "Мы пил чай."})
    jsonl(folder / "choice.jsonl", QUESTION)
    jsonl(folder / "copy.jsonl", COPY)
    jsonl(folder / "held.jsonl", HELD)
    return folder


def test_results_folder_and_json(tmp_path, suite, tiny_llama, tiny_mistral):
    out = tmp_path / "evals" / "first"
    proc = lep("--model", tiny_llama, "--model", tiny_mistral, "--suite", suite, "--out", out, "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["schema"] == "lep-eval-suite/1" and data["out"] == str(out)
    assert [t["name"] for t in data["tasks"]] == ["mine/choice", "mine/copy", "mine/held", "mine/pairs"]
    for model in data["models"]:
        tasks = model["tasks"]
        assert tasks["mine/pairs"]["kind"] == "minimal_pairs" and tasks["mine/pairs"]["n"] == 2
        assert set(tasks["mine/pairs"]["per_phenomenon"]) == {"agreement_number"}
        expected = by_hand(model["model"])
        assert tasks["mine/choice"]["score"] == expected["choice"]
        assert tasks["mine/copy"]["score"] == 0.0  # a random tiny model does not copy a sentence word for word
        assert tasks["mine/copy"]["generated_tokens"] == expected["copy_tokens"]
        assert tasks["mine/copy"]["chars_per_generated_token"] == pytest.approx(expected["copy_chars_per_token"])
        assert tasks["mine/held"]["score"] == pytest.approx(expected["bits_per_char"], rel=1e-5)
        # times rounded to 0.01 s (a fast task shows 0.0): the model's time covers loading it and all its tasks
        assert sum(t["seconds"] for t in tasks.values()) <= model["seconds"] + 0.005 * len(tasks) <= data["seconds"]
    stored = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert stored["models"] == data["models"]
    items = [json.loads(line) for line in (out / "items.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(items) == 2 * (2 + 1 + 1 + 1)
    manifest = json.loads((out / "lep.json").read_text(encoding="utf-8"))
    assert manifest["kind"] == "eval" and f"{Path(tiny_llama).name} mine/pairs" in manifest["metrics"]
    again = lep("--model", tiny_llama, "--suite", suite, "--out", out)  # never over an existing result
    assert again.returncode == 2 and "already exists" in again.stderr
    table = lep("--model", tiny_llama, "--suite", suite / "pairs.jsonl", "--out", tmp_path / "evals" / "second")
    assert table.returncode == 0 and "| accuracy |" in table.stdout and "agreement_number (n=2)" in table.stdout


def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, suite, tiny_llama):
    no_tokenizer = tmp_path / "no-tokenizer"
    no_tokenizer.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(Path(tiny_llama) / name, no_tokenizer / name)
    broken = jsonl(tmp_path / "broken.jsonl", PAIR, "", '{"sentence_good": "Кот спит."', PAIR)
    empty = jsonl(tmp_path / "empty.jsonl", "")
    cases = {
        "malformed line": (["--model", tiny_llama, "--suite", broken], "broken.jsonl:3: not valid JSON"),
        "empty suite": (["--model", tiny_llama, "--suite", empty], "has no items"),
        "no tokenizer": (["--model", no_tokenizer, "--suite", suite], "no tokenizer.json in"),
        "unknown suite": (["--model", tiny_llama, "--suite", "nope"], "no suite 'nope'"),
        "model twice": (["--model", tiny_llama, "--model", tiny_llama, "--suite", suite], "the same model is given twice"),
    }
    out = tmp_path / "evals" / "bad"
    for name, (args, says) in cases.items():
        proc = lep(*args, "--out", out)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and says in lines[0], (name, proc.stderr)
        assert not out.parent.exists(), name
