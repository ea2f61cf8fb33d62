"""What a user may type where a path, a model source or an output name goes: one check for the CLI and the app.

A path or a name is one line of printable text. A NUL byte cannot be in any path the operating system takes
(Python raises "ValueError: embedded null byte" deep inside `os.stat`), and a line break, tab or other
control character in a path or a name is almost always a paste accident; both are refused here, before the
value reaches the file system, with one line that names the field and shows the value with the character
escaped. Free text (prompts, corpus text) is not a field in this sense and is never checked here.
"""

from __future__ import annotations

import os
import re
import unicodedata

from lep_core.errors import LepInputError

MAX_CHARS = 4096  # PATH_MAX on Linux: nothing longer can name a file
NAME = re.compile(r"^[A-Za-z0-9][\w.\-]{0,99}$")  # a folder name the app creates under the workspace


def control_at(text: str) -> tuple[int, str] | None:
    """(1-based position, character) of the first control character (Unicode category Cc: C0, DEL, C1), or None.
    The app words its own (translated) message from this; `check_field` words the CLI's."""
    for i, ch in enumerate(text):
        if unicodedata.category(ch) == "Cc":
            return i + 1, ch
    return None


def describe_control(ch: str) -> str:
    """'a NUL byte' or "a control character ('\\n')": what the messages call it."""
    return "a NUL byte" if ch == "\x00" else f"a control character ({ch!r})"


def check_field(value: str | os.PathLike | None, what: str) -> str:
    """The value of a path / source / name field, stripped of surrounding spaces; '' for None.

    Raises LepInputError (one line naming `what`) for a value with a control character in it (NUL, line
    break, tab, ...) or longer than MAX_CHARS. Emptiness is the caller's to judge (it knows what to suggest)."""
    text = "" if value is None else os.fspath(value) if isinstance(value, os.PathLike) else str(value)
    text = text.strip()
    found = control_at(text)
    if found is not None:
        pos, ch = found
        raise LepInputError(f"{what} {text!r} holds {describe_control(ch)} at position {pos}: "
                            "retype or re-paste it without it")
    if len(text) > MAX_CHARS:
        raise LepInputError(f"{what} is {len(text):,} characters long (at most {MAX_CHARS:,}): "
                            "pick the file or folder instead of pasting its contents")
    return text


def check_name(value: str | None, what: str = "output name") -> str:
    """A plain folder name (letters, digits, '_', '-', '.'; up to 100 characters, starting with a letter or
    digit): what the app creates under a workspace folder. Raises LepInputError naming the rule."""
    name = check_field(value, what)
    if not NAME.match(name):
        raise LepInputError(f"{what} {name!r} is not a plain folder name: use letters, digits, '-', '_' or '.'")
    return name
