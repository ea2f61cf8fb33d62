"""The adaptation bench (issue 14): figures on real tiny models, and its bad inputs through `lep bench adaptation`."""

import json
import subprocess
import sys

import pytest

from lep_core.embeddings.init import init_model
from lep_core.evaluation.adaptation import Answers, answer_figures, bench_adaptation, language_of, new_vocabulary
from lep_core.evaluation.models import ModelCache
from lep_core.sources.loading import load_tokenizer
from lep_core.tokenizer.extend import extend_tokenizer

LEP = [sys.executable, "-m", "lep_core.cli.main"]


@pytest.fixture(scope="module")
def adapted_llama(tmp_path_factory, tiny_llama, byte_bpe_tokenizer, ru_corpus):
    root = tmp_path_factory.mktemp("adapt_bench")
    extend_tokenizer(byte_bpe_tokenizer, ru_corpus[:1], 100, root / "tok")
    init_model(tiny_llama, root / "tok", root / "model", "mean", head_method="mean")
    return root / "model"


@pytest.fixture(scope="module")
def short_texts(tmp_path_factory, heldout_ru, heldout_en):
    """The first lines of the held-out texts: enough for bits-per-char, fast on a tiny model."""
    root = tmp_path_factory.mktemp("short")
    paths = []
    for src in (heldout_ru, heldout_en):
        path = root / src.name
        path.write_text(src.read_text(encoding="utf-8")[:800], encoding="utf-8")
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def prompts_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("prompts") / "p.json"
    path.write_text(json.dumps([{"lang": "ru", "prompt": "Привет! Как дела?"}, {"lang": "en", "prompt": "Hi"},
                                "Расскажи про осень."]), encoding="utf-8")
    return path


def greedy_by_hand(folder, prompts: list[str], n: int) -> list[list[int]]:
    """Each prompt's greedy reply through the chat template with plain transformers, special tokens left out."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok, model = AutoTokenizer.from_pretrained(folder), AutoModelForCausalLM.from_pretrained(folder).eval()
    eos = model.generation_config.eos_token_id
    eos = [eos] if isinstance(eos, int) else list(eos or [tok.eos_token_id])
    out = []
    for prompt in prompts:
        text = tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True)
        ids = torch.tensor([tok(text)["input_ids"]])
        with torch.no_grad():
            reply = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=n, do_sample=False,
                                   eos_token_id=eos, pad_token_id=eos[0])[0, ids.shape[1]:].tolist()
        out.append([t for t in reply if t not in set(tok.all_special_ids)])
    return out


def russian(folder, ids: list[int]) -> bool:
    """Most letters of the decoded reply are Cyrillic."""
    from transformers import AutoTokenizer

    letters = [c for c in AutoTokenizer.from_pretrained(folder).decode(ids, skip_special_tokens=True) if c.isalpha()]
    return bool(letters) and sum("а" <= c.lower() <= "я" or c in "ёЁ" for c in letters) >= len(letters) / 2


def new_ids_by_hand(adapted, original) -> set[int]:
    """Ids of the adapted tokenizer whose piece the original's vocabulary lacks."""
    from transformers import AutoTokenizer

    old = AutoTokenizer.from_pretrained(original).get_vocab()
    return {i for piece, i in AutoTokenizer.from_pretrained(adapted).get_vocab().items() if piece not in old}


def test_figures_on_tiny_models(tiny_llama, adapted_llama, short_texts):
    cache = ModelCache(capacity=2, device="cpu")
    result = bench_adaptation(cache.get(str(tiny_llama)), cache.get(str(adapted_llama)), short_texts,
                              ["Привет! Как дела?", "Расскажи про осень."], max_new_tokens=12)
    o, a = result["original"], result["adapted"]
    assert set(o["bits_per_char"]) == {"ru", "en"} == set(a["bits_per_char"])
    mine_o, mine_a = (greedy_by_hand(m, ["Привет! Как дела?", "Расскажи про осень."], 12) for m in (tiny_llama, adapted_llama))
    new_ids = new_ids_by_hand(adapted_llama, tiny_llama)
    assert o["generated_tokens"] == sum(map(len, mine_o)) and a["generated_tokens"] == sum(map(len, mine_a))
    assert o["new_vocab_share"] == 0.0
    assert a["new_vocab_share"] == pytest.approx(sum(t in new_ids for ids in mine_a for t in ids) / sum(map(len, mine_a)))
    assert result["gain"]["bits_per_char_ru_ratio"] == pytest.approx(a["bits_per_char"]["ru"] / o["bits_per_char"]["ru"])
    # the random tiny models answer in line breaks: no Russian answer, so no ratio (test_ratios_count_what_was_emitted
    # checks the ratios on known ids)
    assert [russian(tiny_llama, ids) for ids in mine_o] == [russian(adapted_llama, ids) for ids in mine_a] == [False] * 2
    assert o["russian_answers"] == a["russian_answers"] == 0 and o["original_tokens_over_emitted"] is None


def test_ratios_count_what_was_emitted(byte_bpe_tokenizer, adapted_llama):
    """Ratios from known ids: the adapted tokenizer's own spelling of a Russian text, and a spelled-out one."""
    old, new = load_tokenizer(byte_bpe_tokenizer), load_tokenizer(adapted_llama)
    text = "Привет, как дела? Сегодня хорошая погода."
    canonical = new(text, add_special_tokens=False)["input_ids"]
    spelled = old(text, add_special_tokens=False)["input_ids"]  # old ids keep their meaning in an extension
    new_ids = new_vocabulary(new, old)
    assert new_ids and min(new_ids) >= len(old)
    as_written = answer_figures(Answers([text], [canonical], 1.0), new, old, new_ids)
    assert as_written["emitted_over_canonical"] == pytest.approx(1.0)
    assert as_written["original_tokens_over_emitted"] == pytest.approx(len(spelled) / len(canonical))
    assert as_written["new_vocab_share"] == pytest.approx(sum(i in new_ids for i in canonical) / len(canonical))
    spelled_out = answer_figures(Answers([text], [spelled], 1.0), new, old, new_ids)
    assert spelled_out["new_vocab_share"] == 0.0
    assert spelled_out["emitted_over_canonical"] == pytest.approx(len(spelled) / len(canonical))
    assert spelled_out["original_tokens_over_emitted"] == pytest.approx(1.0)


def test_language_of():
    assert language_of("Привет, мир! Hello") == "ru" and language_of("Hello, мир") == "en" and language_of("123") == "en"


def _bench(*args):
    return subprocess.run(LEP + ["bench", "adaptation", *map(str, args)], capture_output=True, text=True)


def test_bench_command_json(tiny_llama, adapted_llama, prompts_file, short_texts):
    proc = _bench("--original", tiny_llama, "--adapted", adapted_llama, "--prompts", prompts_file, "--text", *short_texts,
                  "--max-new-tokens", 6, "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)["adaptation"]
    assert data["prompts"] == 2  # the two Russian prompts of the file; the English one is left out
    assert set(data["adapted"]) >= {"bits_per_char", "new_vocab_share", "chars_per_generated_token",
                                    "generated_chars_per_s", "original_tokens_over_emitted", "emitted_over_canonical"}


def test_save_puts_the_figures_on_the_model_card(tiny_llama, adapted_llama, prompts_file, short_texts, tmp_path):
    import shutil

    folder = tmp_path / "adapted"
    shutil.copytree(adapted_llama, folder)
    proc = _bench("--original", tiny_llama, "--adapted", folder, "--prompts", prompts_file, "--text", *short_texts,
                  "--max-new-tokens", 4, "--save", "--json")
    assert proc.returncode == 0, proc.stderr
    saved = json.loads((folder / "adaptation.json").read_text(encoding="utf-8"))
    assert saved["new_vocab_share"] == json.loads(proc.stdout)["adaptation"]["adapted"]["new_vocab_share"]
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert "## Adaptation figures" in card and "| new_vocab_share |" in card


def test_bench_bad_inputs(tmp_path, tiny_llama, tiny_mistral, adapted_llama, prompts_file, short_texts):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    cases = {
        "missing model": (["--original", tmp_path / "nope", "--adapted", adapted_llama, "--prompts", prompts_file], "nope"),
        "not the same body": (["--original", tiny_mistral, "--adapted", adapted_llama, "--prompts", prompts_file],
                              "does not share the original's body"),
        "empty prompt file": (["--original", tiny_llama, "--adapted", adapted_llama, "--prompts", empty], "no prompts"),
        "no adapted model": (["--original", tiny_llama], "needs --original and --adapted"),
    }
    for name, (args, words) in cases.items():
        proc = _bench(*args, "--text", *short_texts)
        assert proc.returncode == 2, (name, proc.stderr)
        lines = [line for line in proc.stderr.strip().splitlines() if line.strip() and "Loading" not in line]
        assert len(lines) == 1 and words in lines[0], (name, proc.stderr)
