"""Suite files: JSONL, one item per line, field names as in lm-evaluation-harness datasets where they fit.

    minimal pairs    {"sentence_good": "...", "sentence_bad": "...", "phenomenon": "agreement_gender"}   (BLiMP)
    multiple choice  {"question": "...", "choices": ["...", "..."], "answer": 0}                       (MMLU)
    copy             {"kind": "copy", "text": "...", "instruction": "..."}   (instruction optional)
    bits-per-char    {"kind": "bpc", "text": "..."}  or  {"kind": "bpc", "file": "held_out.txt"}

A line may name its kind ("kind"); otherwise it is read from the fields. A file holds one task (one kind);
a suite is a file, a folder of files, or the name of a built-in suite (assets/eval/NAME/). Every problem
is reported with its file and line number before any model is loaded. Every string of an item, and a bpc
item's file, is put in the one text form (lep_core.corpus.text: NFC, LF line ends) and the rewrites counted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from lep_core.corpus.text import TextChanges, normalize_json
from lep_core.errors import LepInputError
from lep_core.workspace.store import inside, workspace_root

BUILTIN = Path(__file__).resolve().parents[3] / "assets" / "eval"
DEFAULT_SUITES = ("ru", "en")


class Kind(str, Enum):
    MINIMAL_PAIRS = "minimal_pairs"
    MULTIPLE_CHOICE = "multiple_choice"
    COPY = "copy"
    BPC = "bpc"


METRIC = {Kind.MINIMAL_PAIRS: "accuracy", Kind.MULTIPLE_CHOICE: "accuracy", Kind.COPY: "exact_match",
          Kind.BPC: "bits_per_char"}
HIGHER_IS_BETTER = {Kind.MINIMAL_PAIRS: True, Kind.MULTIPLE_CHOICE: True, Kind.COPY: True, Kind.BPC: False}


@dataclass
class Task:
    """One file of a suite: its items (dicts, fields checked) and where they came from."""

    name: str  # "<suite>/<file stem>", e.g. "ru/minimal_pairs"
    kind: Kind
    path: Path
    items: list[dict[str, Any]] = field(default_factory=list)
    normalised: TextChanges = field(default_factory=TextChanges)  # what reading rewrote (lep_core.corpus.text)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind.value, "n": len(self.items), "path": str(self.path),
                "normalised": self.normalised.as_dict()}


def builtin_suites() -> list[str]:
    return sorted(p.name for p in BUILTIN.iterdir() if p.is_dir()) if BUILTIN.is_dir() else []


def _text(item: dict, key: str, where: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value.strip():
        raise LepInputError(f"{where}: \"{key}\" must be a non-empty string")
    return value


def _kind_of(item: dict, where: str) -> Kind:
    if "kind" in item:
        try:
            return Kind(item["kind"])
        except ValueError:
            raise LepInputError(f"{where}: unknown kind {item['kind']!r} (use one of "
                                f"{', '.join(k.value for k in Kind)})") from None
    if "sentence_good" in item or "sentence_bad" in item:
        return Kind.MINIMAL_PAIRS
    if "choices" in item:
        return Kind.MULTIPLE_CHOICE
    raise LepInputError(f"{where}: cannot tell the task kind: give \"sentence_good\"/\"sentence_bad\", "
                        "\"question\"/\"choices\"/\"answer\", or \"kind\": \"copy\" or \"bpc\" with \"text\"")


def check_item(item: Any, kind: Kind | None, where: str, folder: Path,
               changes: TextChanges | None = None) -> tuple[Kind, dict[str, Any]]:
    """The item's kind and its normalised fields (strings in NFC, counted in `changes`); raises LepInputError
    naming `where` (file:line)."""
    if not isinstance(item, dict):
        raise LepInputError(f"{where}: each line must be a JSON object")
    # every string in NFC, but a file name as written: a name on disk may well be NFD (macOS)
    item = {k: v if k == "file" else normalize_json(v, changes) for k, v in item.items()}
    found = _kind_of(item, where)
    if kind is not None and found != kind:
        raise LepInputError(f"{where}: a {found.value} item in a {kind.value} file: one kind per file")
    if found == Kind.MINIMAL_PAIRS:
        good, bad = _text(item, "sentence_good", where), _text(item, "sentence_bad", where)
        if good == bad:
            raise LepInputError(f"{where}: \"sentence_good\" and \"sentence_bad\" are the same sentence")
        phenomenon = item.get("phenomenon", "all")
        if not isinstance(phenomenon, str) or not phenomenon:
            raise LepInputError(f"{where}: \"phenomenon\" must be a non-empty string")
        return found, {"sentence_good": good, "sentence_bad": bad, "phenomenon": phenomenon}
    if found == Kind.MULTIPLE_CHOICE:
        question, choices, answer = _text(item, "question", where), item.get("choices"), item.get("answer")
        if not isinstance(choices, list) or len(choices) < 2 or not all(isinstance(c, str) and c.strip() for c in choices):
            raise LepInputError(f"{where}: \"choices\" must be a list of at least two non-empty strings")
        if len(set(choices)) != len(choices):
            raise LepInputError(f"{where}: two \"choices\" are the same")
        if isinstance(answer, bool) or not isinstance(answer, int) or not 0 <= answer < len(choices):
            raise LepInputError(f"{where}: \"answer\" must be the index (0 to {len(choices) - 1}) of the right choice")
        return found, {"question": question, "choices": list(choices), "answer": answer,
                       "category": str(item.get("category", "all"))}
    if found == Kind.COPY:
        out = {"text": _text(item, "text", where)}
        if "instruction" in item:
            out["instruction"] = _text(item, "instruction", where)
        return found, out
    if "file" in item:  # bits-per-char on a text file beside the suite file
        from lep_core.corpus.reading import read_text_file

        name = _text(item, "file", where)
        try:  # the suite's own folder, the workspace or LEP's assets: a suite cannot make the app read /etc/passwd
            path = inside(name, folder, workspace_root(), BUILTIN.parent)
        except LepInputError:
            raise LepInputError(f"{where}: \"file\" {name} is outside the suite's folder {folder}: put the text "
                                "beside the suite file and name it relative to it") from None
        try:
            text = read_text_file(path, "text file", changes)
        except LepInputError as exc:
            raise LepInputError(f"{where}: cannot read \"file\" ({exc})") from None
        if not text.strip():
            raise LepInputError(f"{where}: \"file\" {path} is empty")
        return found, {"text": text, "file": str(path)}
    return found, {"text": _text(item, "text", where)}


def read_task(path: Path, suite: str) -> Task:
    """Read and check one JSONL file; every malformed line is named by its number (all of them at once)."""
    problems: list[str] = []
    changes = TextChanges()  # a BOM dropped, strings composed to NFC: reported with the task
    kind: Kind | None = None
    items: list[dict[str, Any]] = []
    from lep_core.corpus.reading import read_decoded

    lines = read_decoded(path, changes).splitlines()  # one-line errors: unreadable, binary, not UTF-8
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"{where}: not valid JSON ({exc.msg})")
            continue
        try:
            found, fields = check_item(item, kind, where, path.parent, changes)
        except LepInputError as exc:
            problems.append(str(exc))
            continue
        kind = kind or found
        items.append(fields)
    if problems:
        more = f" (and {len(problems) - 1} more line(s))" if len(problems) > 1 else ""
        raise LepInputError(f"bad suite line {problems[0]}{more}: fix the JSONL (format in the README)")
    if not items:
        raise LepInputError(f"suite file {path} has no items: add one JSON object per line")
    return Task(f"{suite}/{path.stem}" if suite else path.stem, kind, path, items, changes)  # type: ignore[arg-type]


def resolve_suite(spec: str) -> tuple[str, list[Path]]:
    """A built-in suite name, a .jsonl file or a folder of them -> (suite name, files); a file has no suite name."""
    path = Path(spec).expanduser()
    if not path.exists() and (BUILTIN / spec).is_dir():
        path = BUILTIN / spec
    if path.is_file():
        return "", [path]  # a single file: the task is named after the file
    if path.is_dir():
        files = sorted(path.glob("*.jsonl"))
        if not files:
            raise LepInputError(f"suite folder {path} has no .jsonl files: add task files (format in the README)")
        return path.name, files
    known = ", ".join(builtin_suites()) or "none"
    raise LepInputError(f"no suite {spec!r}: give a .jsonl file, a folder of them, or a built-in suite ({known})")


def load_suites(specs: list[str] | tuple[str, ...] | None = None) -> list[Task]:
    """Every task of the given suites (default: the built-in ru and en), all checked before anything runs."""
    tasks: list[Task] = []
    for spec in specs or DEFAULT_SUITES:
        suite, files = resolve_suite(spec)
        tasks += [read_task(f, suite) for f in files]
    names = [t.name for t in tasks]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise LepInputError(f"two tasks are both named {dupes[0]}: pass each suite once (or rename a file)")
    return tasks
