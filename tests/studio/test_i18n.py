"""The English and Russian tables (lep_studio/locales.py) cover every key the app uses, and never drift apart."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from lep_studio.i18n import L, t
from lep_studio.locales import EN, RU
from lep_studio.recipe_view import STEP_TEXT
from lep_studio.tabs import TABS
from lep_studio.tabs.compare import VOTES

SOURCES = sorted(p for p in (Path(__file__).resolve().parents[2] / "lep_studio").rglob("*.py") if p.name != "i18n.py")
USED = re.compile(r"""\b(?:L|t)\(\s*["']([\w.]+)["']""")


def used_keys() -> set[str]:
    keys = {m.group(1) for path in SOURCES for m in USED.finditer(path.read_text(encoding="utf-8"))}
    keys |= {f"compare.vote_{key}" for _, key in VOTES}  # keys built in f-strings or kept in tables
    return keys | {f"tab.{name}" for name, _ in TABS} | {key for key, _ in STEP_TEXT.values()}


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def test_every_used_key_is_in_both_languages():
    keys = used_keys()
    assert keys, "no L()/t() calls found: the pattern is stale"
    assert not keys - EN.keys(), f"missing in EN: {sorted(keys - EN.keys())}"
    assert not keys - RU.keys(), f"missing in RU: {sorted(keys - RU.keys())}"


def test_tables_do_not_drift():
    assert EN.keys() == RU.keys(), f"only EN: {sorted(EN.keys() - RU.keys())}; only RU: {sorted(RU.keys() - EN.keys())}"
    assert not EN.keys() - used_keys(), f"unused keys: {sorted(EN.keys() - used_keys())}"
    for key in EN:
        assert fields(EN[key]) == fields(RU[key]), f"{key}: fields {fields(EN[key])} in EN, {fields(RU[key])} in RU"
        assert RU[key].strip(), f"{key}: empty Russian text"


def test_browser_texts_have_no_braces():
    """gr.I18n texts go through the browser's ICU message format, where braces are fields: those must use t()."""
    server_only = {m.group(1) for path in SOURCES for m in re.finditer(r"""\bt\(\s*["']([\w.]+)["']""", path.read_text())}
    server_only |= {key for key, _ in STEP_TEXT.values()}
    for key in EN.keys() - server_only:
        for table in (EN, RU):
            assert "{" not in table[key] and "}" not in table[key], f"{key} has braces but is shown through gr.I18n"


def test_t_fills_in_and_falls_back_to_english_outside_a_request():
    assert t("export.msg.is_already_being_written", name="m.gguf").startswith("m.gguf is already")
    assert t("export.msg.is_already_being_written", "ru", name="m.gguf").startswith("m.gguf уже записывается")
    assert t("widgets.msg.must_be_at_least", "ru", label="Шаги", minimum=1, parsed=0.0) == "Шаги: нужно не меньше 1 (получено 0)"


def test_unknown_key_fails_at_build_time():
    with pytest.raises(KeyError):
        L("no.such.key")


def test_training_help_follows_lep_core():
    """The English help of the training options is lep_core's own (its fields' metadata), word for word."""
    from lep_core.training.options import option_help

    for key in (k for k in EN if k.startswith("opt.")):
        assert EN[key] == option_help(key.removeprefix("opt.")), f"{key} differs from lep_core: copy it again"
