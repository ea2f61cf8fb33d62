"""`lep tokenizer stats|extend|train`."""

from __future__ import annotations

from lep_core.cli.common import add_json, add_overwrite, note_normalisation, positive_int, with_normalisation
from lep_core.cli.progress import bar
from lep_core.tokenizer.learn import ALPHABET_RULES, UNITS


def register(sub) -> None:
    group = sub.add_parser("tokenizer", help="analyse, extend or replace a tokenizer").add_subparsers(
        dest="tokenizer_command", required=True, metavar="ACTION"
    )
    p = group.add_parser("stats", help="chars/token, tokens/word, round-trip errors of a tokenizer on text files")
    p.add_argument("--tokenizer", required=True, help="tokenizer or model: folder, .gguf file or hub id")
    p.add_argument("--text", required=True, nargs="+", help="text files (.txt/.jsonl/.parquet) or folders")
    add_json(p)
    p.set_defaults(func=stats)

    p = group.add_parser("extend", help="add N target-language tokens as real vocabulary")
    p.add_argument("--base", required=True, help="tokenizer or model to extend: folder, .gguf file or hub id")
    p.add_argument("--corpus", required=True, nargs="+", help="target-language text files or folders")
    p.add_argument("--add", required=True, type=positive_int, help="number of new tokens")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--alphabet", default="cyrillic", choices=tuple(ALPHABET_RULES),
                   help="; ".join(f"{name}: {rule.promise}" for name, rule in ALPHABET_RULES.items()))
    p.add_argument("--min-frequency", type=positive_int, default=2, help="a new token must occur this often")
    p.add_argument("--tokens", default="subwords", choices=tuple(UNITS),
                   help="; ".join(f"{name}: {what}" for name, what in UNITS.items()))
    add_overwrite(p)
    add_json(p)
    p.set_defaults(func=extend)

    p = group.add_parser("train", help="train a replacement tokenizer")
    p.add_argument("--corpus", required=True, nargs="+", help="text files or folders")
    p.add_argument("--vocab-size", required=True, type=positive_int, help="size of the new vocabulary")
    p.add_argument("--algorithm", default="bpe", choices=("bpe", "unigram"))
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--like", default=None, help="keep the special tokens, pre-tokenizer style and chat template of SRC")
    add_overwrite(p)
    add_json(p)
    p.set_defaults(func=train)


def stats(args) -> dict:
    from lep_core.corpus.reading import read_corpus
    from lep_core.corpus.text import TextChanges
    from lep_core.sources.loading import load_tokenizer
    from lep_core.tokenizer.analysis import text_stats

    changes = TextChanges()
    text = read_corpus(args.text, changes=changes)
    return with_normalisation(text_stats(load_tokenizer(args.tokenizer), text).as_dict(), changes)


def extend(args) -> dict:
    from lep_core.corpus.text import TextChanges
    from lep_core.tokenizer.extend import extend_tokenizer

    with bar(0, "reading corpus", unit="B") as read, bar(args.add, "learning tokens") as progress:
        result = extend_tokenizer(
            args.base, args.corpus, args.add, args.out, args.alphabet, args.min_frequency, args.overwrite, progress,
            read_progress=read, unit=args.tokens,
        )
    note_normalisation(TextChanges(**result["normalised"]))
    return result


def train(args) -> dict:
    from lep_core.tokenizer.train import train_tokenizer

    return train_tokenizer(args.corpus, args.vocab_size, args.algorithm, args.out, args.like, args.overwrite)
