"""`lep bench tokenizer`: extension speed on ~1 MB of text and decomposition speed for ~50k new tokens.

The demo model's tokenizer (49,152 byte-level BPE tokens) is the base; the text is the demo corpus,
repeated up to the target size (so the unique-word count stays that of the corpus; the merge learner's
cost grows with unique words, pre-tokenization and counting with bytes). A second case adds one
50,000-character line without spaces (as text extracted from PDFs often is): its time must stay close
to the first's, since the learner reads a long pre-token in chunks.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

ASSETS = Path(__file__).resolve().parents[2] / "assets"


def corpus_of_size(target_bytes: int) -> str:
    from lep_core.corpus.reading import read_corpus

    text = read_corpus(sorted((ASSETS / "corpus").glob("*.txt")))
    reps = max(1, -(-target_bytes // len(text.encode("utf-8"))))
    return "\n".join([text] * reps)


def spaceless_line(text: str, chars: int = 50_000) -> str:
    """One line of the corpus' Cyrillic letters with every space and sign removed."""
    letters = "".join(re.findall(r"[\u0400-\u04FF]+", text))
    return (letters * (chars // max(len(letters), 1) + 1))[:chars]


def bench_extend(tokenizer, text: str, add: int, case: str = "") -> dict[str, Any]:
    from lep_core.tokenizer.extend import build_extended_tokenizer, learn_extension

    start = time.perf_counter()
    extension = learn_extension(tokenizer, text, add, min_frequency=2)
    learned = time.perf_counter() - start
    build_extended_tokenizer(tokenizer, extension)
    total = time.perf_counter() - start
    return {"case": f"extend {len(tokenizer)} byte-level BPE by {add}{case}", "text_mb": round(len(text.encode()) / 1e6, 2),
            "learn_s": round(learned, 2), "total_s": round(total, 2), "limit_s": 30}


def bench_decomposition(new_tok, old_tok) -> dict[str, Any]:
    from lep_core.embeddings.decomposition import decomposition_matrix

    start = time.perf_counter()
    dec = decomposition_matrix(new_tok, old_tok)
    seconds = time.perf_counter() - start
    return {"case": f"decompose {dec.num_new} tokens into a {len(old_tok)}-token vocabulary",
            "encoded_rows": int((~dec.direct).sum()), "nonzeros": int(dec.matrix.values().numel()),
            "seconds": round(seconds, 2), "limit_s": 5}


def small_replacement(text: str, vocab_size: int):
    """A byte-level BPE of another vocabulary, so nearly every demo token must be decomposed by encoding."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(text.split("\n"), trainers.BpeTrainer(
        vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    return PreTrainedTokenizerFast(tokenizer_object=tok)


def run(text_bytes: int = 1_000_000, add: int = 4000) -> dict[str, list[dict[str, Any]]]:
    from lep_core.sources.demo import prepare_demo
    from lep_core.sources.loading import load_tokenizer

    base = load_tokenizer(prepare_demo())
    text = corpus_of_size(text_bytes)
    extend_row = bench_extend(base, text, add)
    long_row = bench_extend(base, text + "\n" + spaceless_line(text), add, " + one 50,000-char line without spaces")
    old = small_replacement(text[:400_000], 4000)
    decomposition_row = bench_decomposition(base, old)
    return {"extension": [extend_row, long_row], "decomposition": [decomposition_row]}
