"""Read a Modelfile the way Ollama reads it, to check what the export writes (Ollama itself is not at hand).

The format is Ollama's documented one (docs/modelfile.md): `# comment` lines and `INSTRUCTION arguments`, the
instructions FROM (required), PARAMETER, TEMPLATE, SYSTEM, ADAPTER, LICENSE, MESSAGE (and DRAFT, RENDERER,
PARSER, REQUIRES), a value bare to the end of its line, in "double quotes", or in triple quotes (three double quotes) over
several lines. The quoting rules follow Ollama's parser (parser/parser.go), a character-by-character state
machine: a value ends at the first line end where it is whole (its quotes closed), quotes are stripped with no
escape processing, and characters Go does not count as printable are dropped (except the whitespace kept inside
a value). On top of parsing: FROM present, PARAMETER names and value types as Ollama's options take them, MESSAGE
roles, and a TEMPLATE whose Go-template actions ({{ if }} / {{ range }} ... {{ end }}) are closed.
"""

from __future__ import annotations

import re

COMMANDS = {"from", "license", "template", "system", "adapter", "draft", "renderer", "parser", "parameter",
            "message", "requires"}
ROLES = {"system", "user", "assistant"}
# Ollama's runner options (api.Options json names) and the type each value must parse as
PARAMETERS = {
    "num_ctx": int, "num_batch": int, "num_gpu": int, "main_gpu": int, "num_thread": int, "num_keep": int,
    "seed": int, "num_predict": int, "top_k": int, "repeat_last_n": int, "mirostat": int,
    "top_p": float, "min_p": float, "typical_p": float, "temperature": float, "repeat_penalty": float,
    "presence_penalty": float, "frequency_penalty": float, "mirostat_tau": float, "mirostat_eta": float,
    "use_mmap": bool, "stop": str,
}
NIL, NAME, VALUE, PARAMETER, MESSAGE, COMMENT = range(6)
_OPENS = {"if", "range", "with", "block", "define"}


class ModelfileError(ValueError):
    """What Ollama would refuse, with the line number it would give."""


def _unquote(text: str) -> tuple[str, bool]:
    if text.startswith('"""'):
        return (text[3:-3], True) if len(text) >= 6 and text.endswith('"""') else ("", False)
    if text.startswith('"'):
        return (text[1:-1], True) if len(text) >= 2 and text.endswith('"') else ("", False)
    return text, True


def _printable(ch: str) -> bool:
    """Go's strconv.IsPrint: letters, marks, numbers, punctuation, symbols and the ASCII space."""
    return ch == " " or (ch.isprintable() and not ch.isspace())


def _step(ch: str, state: int, line: int) -> tuple[int, str]:
    space, newline = ch in " \t", ch in "\r\n"
    if state == NIL:
        return (COMMENT, "") if ch == "#" else (NIL, "") if space or newline else (NAME, ch)
    if state == NAME:
        if ch.isascii() and ch.isalpha():
            return NAME, ch
        if space:
            return VALUE, ""
        raise ModelfileError(f"line {line}: an instruction name has only letters (got {ch!r})")
    if state == VALUE:
        return (NIL, ch) if space or newline else (VALUE, ch)
    if state in (PARAMETER, MESSAGE):
        if ch.isascii() and (ch.isalpha() or (state == PARAMETER and (ch.isdigit() or ch == "_"))):
            return state, ch
        if space:
            return VALUE, ""
        raise ModelfileError(f"line {line}: unexpected {ch!r} in a {'PARAMETER' if state == PARAMETER else 'MESSAGE'}")
    return (NIL, "") if newline else (COMMENT, "")  # COMMENT


def parse_modelfile(text: str) -> list[tuple[str, str]]:
    """(command, value) pairs as Ollama's parser makes them: command "model" for FROM, the parameter's own name
    for PARAMETER, "message" with "role: text"; ModelfileError for what it refuses."""
    commands: list[tuple[str, str]] = []
    state, line, buf, name, role = NIL, 1, "", "", ""
    for ch in text.lstrip("\ufeff"):
        if ch in "\r\n":
            line += 1
        nxt, out = _step(ch, state, line)
        if nxt != state:
            if state == NAME:
                word = buf.lower()
                if word not in COMMANDS:
                    raise ModelfileError(f"line {line}: unknown instruction {buf!r} (one of {', '.join(sorted(COMMANDS))})")
                if word == "parameter":
                    nxt = PARAMETER
                elif word == "message":
                    nxt, name = MESSAGE, "message"
                else:
                    name = "model" if word == "from" else word
            elif state == PARAMETER:
                name = buf
            elif state == MESSAGE:
                if buf not in ROLES:
                    raise ModelfileError(f"line {line}: MESSAGE role must be system, user or assistant (got {buf!r})")
                role = buf
            elif state == VALUE:
                value, whole = _unquote(buf.strip())
                if not whole or ch in " \t":
                    buf += ch  # the value goes on: its quotes are open, or a space inside it
                    continue
                commands.append((name, f"{role}: {value}" if role else value))
                role = ""
            buf, state = "", nxt
        if out and _printable(out):
            buf += out
    if state == VALUE:
        value, whole = _unquote(buf.strip())
        if not whole:
            raise ModelfileError(f"line {line}: a quoted value is not closed at the end of the file")
        commands.append((name, f"{role}: {value}" if role else value))
    elif state not in (NIL, COMMENT):
        raise ModelfileError(f"line {line}: the file ends inside an instruction")
    if not any(command == "model" for command, _ in commands):
        raise ModelfileError("no FROM line")
    return commands


def template_problems(template: str) -> list[str]:
    """Go-template actions that Ollama's text/template would refuse: an unclosed {{, an {{ end }} or {{ else }}
    without an open block, a block never closed."""
    problems, stack = [], []
    for match in re.finditer(r"\{\{(.*?)\}\}", template, flags=re.S):
        action = match.group(1).strip()
        action = action[1:].strip() if action.startswith("-") else action
        action = action[:-1].strip() if action.endswith("-") else action
        if action.startswith("/*"):
            continue
        word = action.split(None, 1)[0] if action else ""
        if word in _OPENS:
            stack.append(word)
        elif word == "end":
            if not stack:
                problems.append("{{ end }} without an open block")
            else:
                stack.pop()
        elif word == "else" and not stack:
            problems.append("{{ else }} outside a block")
    rest = re.sub(r"\{\{.*?\}\}", "", template, flags=re.S)
    if "{{" in rest or "}}" in rest:
        problems.append("an unclosed {{ or a stray }}")
    problems += [f"{{{{ {word} }}}} never closed by {{{{ end }}}}" for word in stack]
    return problems


def modelfile_problems(text: str) -> list[str]:
    """Everything Ollama would refuse in the Modelfile text; [] when `ollama create` would take it."""
    try:
        commands = parse_modelfile(text)
    except ModelfileError as exc:
        return [str(exc)]
    problems = []
    for name, value in commands:
        if name in COMMANDS or name == "model":
            if name == "template":
                problems += [f"TEMPLATE: {p}" for p in template_problems(value)]
            continue
        kind = PARAMETERS.get(name)
        if kind is None:
            problems.append(f"unknown PARAMETER {name!r}")
        elif kind is int and not re.fullmatch(r"[+-]?\d+", value):
            problems.append(f"PARAMETER {name} takes an integer (got {value!r})")
        elif kind is float and not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", value):
            problems.append(f"PARAMETER {name} takes a number (got {value!r})")
        elif kind is bool and value.lower() not in {"true", "false", "1", "0", "t", "f"}:
            problems.append(f"PARAMETER {name} takes true or false (got {value!r})")
        elif kind is str and not value:
            problems.append(f"PARAMETER {name} is empty")
    return problems
