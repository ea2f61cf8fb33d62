"""An Ollama Modelfile from the model's own chat template.

Ollama templates are Go templates, chat templates are Jinja: rather than translate code, the Jinja template is
rendered on marker messages and cut at the markers into the text each role puts before and after its content
(ChatML, Llama-3, Mistral-style templates are all "prefix + content + suffix" per message). A default system
prompt the template adds when none is given becomes the Modelfile's SYSTEM; the end-of-turn text and the eos
tokens become its stop parameters.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lep_core.errors import LepInputError

_MARK = {"system": "LEPSYSTEMMARK", "user": "LEPUSERMARK", "assistant": "LEPASSISTANTMARK"}


@dataclass
class TemplateParts:
    """Text around each role's content, as the chat template writes it."""

    prefix: dict[str, str]  # role -> text before the content
    suffix: dict[str, str]  # role -> text after the content
    generation: str  # the assistant's opening, written when the model is to answer
    default_system: str | None  # the system text the template adds when no system message is given

    def render(self, messages: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        """What the Go template below writes for these messages (the tests compare it with the Jinja one)."""
        text = ""
        if self.default_system is not None and (not messages or messages[0]["role"] != "system"):
            messages = [{"role": "system", "content": self.default_system}, *messages]
        for m in messages:
            text += self.prefix[m["role"]] + m["content"] + self.suffix[m["role"]]
        return text + (self.generation if add_generation_prompt else "")


def _render(tok, messages: list[tuple[str, str]], generation: bool = False) -> str:
    return tok.apply_chat_template([{"role": r, "content": c} for r, c in messages], tokenize=False,
                                   add_generation_prompt=generation)


def _cut(text: str, first: str, second: str) -> str:
    """The text between two markers."""
    start = text.index(first) + len(first)
    return text[start:text.index(second, start)]


def template_parts(tok) -> TemplateParts:
    """Cut the tokenizer's chat template into TemplateParts; LepInputError when it has none or another shape."""
    if not getattr(tok, "chat_template", None):
        raise LepInputError("the model has no chat template: Ollama needs one (save one with the tokenizer)")
    s, u, a = _MARK["system"], _MARK["user"], _MARK["assistant"]
    u2, a2 = u + "TWO", a + "TWO"
    try:
        two = _render(tok, [("system", s), ("user", u), ("assistant", a), ("user", u2), ("assistant", a2)])
        asked = _render(tok, [("system", s), ("user", u)], generation=True)
        plain = _render(tok, [("system", s), ("user", u)])
        no_system = _render(tok, [("user", u)])
    except Exception as exc:  # templates raise their own errors (e.g. roles that must alternate)
        raise LepInputError(f"the chat template cannot be rendered for Ollama: {exc}") from None
    generation = asked[len(plain):] if asked.startswith(plain) else ""
    assistant_suffix = two[two.index(a2) + len(a2):]
    user_prefix = _cut(two, a, u2)[len(assistant_suffix):]
    between_user_assistant = _cut(two, u, a)
    if not between_user_assistant.endswith(generation):
        raise LepInputError("the chat template writes the assistant's turn differently from its generation prompt: "
                            "write the Ollama TEMPLATE by hand")
    prefix = {"system": two[:two.index(s)], "user": user_prefix, "assistant": generation}
    system_and_user = _cut(two, s, u)
    suffix = {"system": system_and_user[:len(system_and_user) - len(user_prefix)],
              "user": between_user_assistant[:len(between_user_assistant) - len(generation)],
              "assistant": assistant_suffix}
    parts = TemplateParts(prefix, suffix, generation, None)
    if no_system != parts.render([{"role": "user", "content": u}], add_generation_prompt=False):
        lead = no_system[:no_system.index(u) - len(user_prefix)]
        if lead.startswith(prefix["system"]) and lead.endswith(suffix["system"]):
            parts.default_system = lead[len(prefix["system"]):len(lead) - len(suffix["system"])]
    return parts


def go_template(parts: TemplateParts) -> str:
    """The Ollama TEMPLATE: one line per role, no whitespace trimming (the parts keep their newlines)."""
    def role(name: str, keep_suffix: str = "") -> str:
        return f'{{{{ if eq .Role "{name}" }}}}{parts.prefix[name]}{{{{ .Content }}}}{keep_suffix}{{{{ end }}}}'

    return ("{{- range $i, $_ := .Messages }}{{ $last := eq (len (slice $.Messages $i)) 1 }}"
            + role("system", parts.suffix["system"]) + role("user", parts.suffix["user"])
            + role("assistant", f'{{{{ if not $last }}}}{parts.suffix["assistant"]}{{{{ end }}}}')
            + f'{{{{ if and $last (ne .Role "assistant") }}}}{parts.generation}{{{{ end }}}}{{{{ end }}}}')


def stop_tokens(folder: Path, tok, parts: TemplateParts) -> list[str]:
    """The end-of-turn text and every eos token of generation_config.json / config.json."""
    stops = [parts.suffix["assistant"].strip()]
    ids: list[Any] = []
    for name in ("generation_config.json", "config.json"):
        path = folder / name
        if path.is_file():
            value = json.loads(path.read_text(encoding="utf-8")).get("eos_token_id")
            ids += value if isinstance(value, list) else [value]
    stops += [tok.convert_ids_to_tokens(int(i)) for i in ids if i is not None]
    if tok.eos_token:
        stops.append(tok.eos_token)
    return [s for i, s in enumerate(stops) if s and s not in stops[:i]]


def _quoted(text: str) -> str:
    if '"""' in text:
        raise LepInputError('the chat template contains """, which a Modelfile cannot quote: write it by hand')
    return f'"""{text}"""'


def modelfile_text(folder: Path, gguf_name: str) -> str:
    """The Modelfile for folder's model exported as gguf_name (in the same folder as the Modelfile)."""
    from lep_core.sources.loading import load_tokenizer

    tok = load_tokenizer(folder)
    parts = template_parts(tok)
    lines = [f"# Ollama Modelfile written by LEP Studio for {folder.name}.",
             f"# Create and run the model:  ollama create {_ollama_name(folder.name)} -f THIS_FILE",
             f"FROM ./{gguf_name}", f"TEMPLATE {_quoted(go_template(parts))}"]
    if parts.default_system:
        lines.append(f"SYSTEM {_quoted(parts.default_system)}")
    lines += [f"PARAMETER stop {json.dumps(s, ensure_ascii=False)}" for s in stop_tokens(folder, tok, parts)]
    return "\n".join(lines) + "\n"


def _ollama_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name.lower()).strip("-") or "model"


def ollama_lines(gguf_path: Path, name: str) -> list[str]:
    """The commands that make and run the model in Ollama."""
    tag = _ollama_name(name)
    modelfile = gguf_path.with_suffix(".Modelfile")
    return [f"ollama create {tag} -f {modelfile}", f"ollama run {tag}"]
