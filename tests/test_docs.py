"""The README and docs/ say only what the code backs: links resolve, `lep` commands and flags exist, README is short."""

from __future__ import annotations

import argparse
import re
import shlex
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)|!\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"```[a-z]*\n(.*?)```", re.S)
INLINE = re.compile(r"`(lep [^`]+)`")


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped (letters of any script, digits, '-', '_'
    and spaces kept), spaces turned into '-'."""
    text = heading.strip().lower()
    kept = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LN")
    return kept.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    return {github_slug(m.group(1)) for m in re.finditer(r"^#{1,6} (.+)$", text, re.M)}


def links(page: Path) -> list[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    return [a or b for a, b in LINK.findall(text)]


def test_github_slug_matches_githubs_rule():
    assert github_slug("Does the adaptation work? (`lep bench adaptation`)") == "does-the-adaptation-work-lep-bench-adaptation"
    assert github_slug("Memory plan: an 8B model on one 24 GB GPU") == "memory-plan-an-8b-model-on-one-24-gb-gpu"
    assert github_slug("Запуск · шаг 1") == "запуск--шаг-1"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_link_to_the_repository_resolves(page):
    broken = []
    for target in links(page):
        if re.match(r"[a-z]+:", target):  # https:, mailto: ...: outside the repository
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            broken.append(target)
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target} (no such heading)")
    assert not broken, f"{page.name}: {broken}"


def test_readme_is_a_front_door():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 250
    assert "make run" in text and "make test" in text
    for step in ("1. Look at the tokenizer", "2. Give the model Russian tokens", "3. Train only the embeddings",
                 "4. Propagate", "5. Compare"):
        assert f"**{step}" in text, step


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_no_placeholder_left(page):
    text = page.read_text(encoding="utf-8")
    assert "<!--" not in text and "TODO" not in text, page.name


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {s for action in parser._actions for s in action.option_strings}


def command_lines(page: Path) -> list[str]:
    """Every `lep ...` line of the page's code blocks (continuation lines joined) and inline code spans."""
    text = page.read_text(encoding="utf-8")
    found = []
    for block in FENCE.findall(text):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.split(" #")[0].strip()
            if line.startswith("lep "):
                found.append(line)
    found += [m.group(1) for m in INLINE.finditer(FENCE.sub("", text))]
    return found


def unknown_flags(line: str, parser: argparse.ArgumentParser) -> list[str]:
    """Flags of one documented command line that its (sub)command does not define."""
    words = shlex.split(line.replace("[", " ").replace("]", " ").replace("|", " "), posix=True)[1:]
    for word in words:
        sub = _subcommands(parser)
        if word in sub:
            parser = sub[word]
        elif not word.startswith("-"):
            break
    options = _options(parser)
    flags = [w.split("=")[0] for w in words if w.startswith("--")]
    return [f for f in flags if f not in options]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_documented_commands_and_flags_exist(page):
    from lep_core.cli.main import build_parser

    parser = build_parser()
    wrong = {line: bad for line in command_lines(page) if (bad := unknown_flags(line, parser))}
    assert not wrong, f"{page.name}: {wrong}"


def test_the_flag_check_finds_an_unknown_flag():
    from lep_core.cli.main import build_parser

    parser = build_parser()
    assert unknown_flags("lep train --model M --no-such-flag", parser) == ["--no-such-flag"]
    assert unknown_flags("lep tokenizer extend --base B [--tokens words|subwords]", parser) == []
    assert unknown_flags("lep tokenizer stats --add 3", parser) == ["--add"]  # a flag of a sibling command
