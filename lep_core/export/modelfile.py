"""An Ollama Modelfile from the model's own chat template, or a raw one for a base model.

Ollama templates are Go templates, chat templates are Jinja: rather than translate code, the Jinja template is
rendered on marker messages and cut at the markers into the text each role puts before and after its content
(ChatML, Llama-3, Mistral-style templates are all "prefix + content + suffix" per message). A default system
prompt the template adds when none is given becomes the Modelfile's SYSTEM. A model without a chat template (a
base model) gets `TEMPLATE {{ .Prompt }}`: Ollama hands it the prompt as it is, to continue.

Stops: one `PARAMETER stop` for every end-of-turn and end-of-sequence token, gathered from the chat template's
end of an assistant turn, the eos ids of generation_config.json and config.json, the tokenizer's eos, its
special tokens llama.cpp treats as end of generation (llama-vocab.cpp's list), and the eos/eot ids the GGUF
itself carries (the file Ollama runs): so no token that ends a turn in either runtime is left out.
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
    """Cut the tokenizer's chat template into TemplateParts; LepInputError when it has none or another shape
    (modelfile_text writes a raw template for a model without one)."""
    if not getattr(tok, "chat_template", None):
        raise LepInputError("the model has no chat template to cut into an Ollama TEMPLATE")
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


# Token texts llama.cpp ends generation on when the tokenizer has them (src/llama-vocab.cpp, special_eog_ids)
END_TEXTS = ("<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>", "<EOT>",
             "<|end_of_text|>", "<eos>", "<turn|>", "<｜end▁of▁sentence｜>")
RAW_TEMPLATE = "{{ .Prompt }}"


def gguf_end_ids(gguf) -> dict[str, tuple[int, str]]:
    """{"eos"|"eot"|"eom": (id, token text)} as the GGUF file (a path or a GGUFReader) records them."""
    from lep_core.export.quantize import reader

    fields = reader(gguf).fields
    tokens = fields["tokenizer.ggml.tokens"]
    found = {}
    for key in ("eos", "eot", "eom"):
        field = fields.get(f"tokenizer.ggml.{key}_token_id")
        if field is not None:
            token_id = int(field.parts[field.data[0]][0])
            found[key] = (token_id, bytes(tokens.parts[tokens.data[token_id]]).decode("utf-8", "replace"))
    return found


def stop_tokens(folder: Path, tok, parts: TemplateParts | None, gguf=None) -> list[str]:
    """Every end-of-turn and end-of-sequence token text, in this order: the template's end of an assistant turn,
    the eos ids of generation_config.json / config.json, the tokenizer's eos, its special tokens in END_TEXTS,
    the GGUF's eos/eot/eom. The GGUF's ids must be the tokenizer's: LepInputError otherwise (a file that stops
    on another token than the model was trained to end with)."""
    stops = [parts.suffix["assistant"].strip()] if parts else []
    ids: list[Any] = []
    for name in ("generation_config.json", "config.json"):
        path = folder / name
        if path.is_file():
            value = json.loads(path.read_text(encoding="utf-8")).get("eos_token_id")
            ids += value if isinstance(value, list) else [value]
    stops += [tok.convert_ids_to_tokens(int(i)) for i in ids if i is not None]
    if tok.eos_token:
        stops.append(tok.eos_token)
    specials = {t.content for t in tok.added_tokens_decoder.values() if t.special}
    stops += [text for text in END_TEXTS if text in specials]
    if gguf is not None:
        for key, (token_id, text) in gguf_end_ids(gguf).items():
            if tok.convert_ids_to_tokens(token_id) != text:
                raise LepInputError(f"the GGUF's {key} token {token_id} is {text!r} but the tokenizer's is "
                                    f"{tok.convert_ids_to_tokens(token_id)!r}: the export is not consistent")
            stops.append(text)
    return [s for i, s in enumerate(stops) if s and s not in stops[:i]]


def _quoted(text: str) -> str:
    if '"""' in text:
        raise LepInputError('the chat template contains """, which a Modelfile cannot quote: write it by hand')
    return f'"""{text}"""'


def _stop_value(text: str) -> str:
    """A stop string as Ollama's parser reads it back: in double quotes, taken literally (no escapes)."""
    if "\n" in text or "\r" in text:
        raise LepInputError(f"the stop token {text!r} spans lines, which a Modelfile PARAMETER cannot hold")
    return f'"{text}"'


def modelfile_text(folder: Path, gguf_name: str, gguf=None, tok=None) -> str:
    """The Modelfile for folder's model exported as gguf_name (in the same folder as the Modelfile).

    gguf: the written file (path or GGUFReader), whose eos/eot ids become stops too (and are checked against the
    tokenizer's); tok: folder's tokenizer when already loaded."""
    from lep_core.sources.loading import load_tokenizer

    tok = tok or load_tokenizer(folder)
    parts = template_parts(tok) if getattr(tok, "chat_template", None) else None
    lines = [f"# Ollama Modelfile written by LEP Studio for {folder.name}.",
             f"# Create and run the model:  ollama create {_ollama_name(folder.name)} -f THIS_FILE"]
    if parts is None:
        lines.append(f"# {BASE_NOTE}")
    lines += [f"FROM ./{gguf_name}", f"TEMPLATE {_quoted(go_template(parts) if parts else RAW_TEMPLATE)}"]
    if parts and parts.default_system:
        lines.append(f"SYSTEM {_quoted(parts.default_system)}")
    lines += [f"PARAMETER stop {_stop_value(s)}" for s in stop_tokens(folder, tok, parts, gguf)]
    return "\n".join(lines) + "\n"


BASE_NOTE = ("No chat template (a base model): Ollama passes the prompt as it is and the model continues it; "
             "add a TEMPLATE by hand to chat with it.")


def _ollama_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name.lower()).strip("-") or "model"


def ollama_lines(gguf_path: Path, name: str) -> list[str]:
    """The commands that make and run the model in Ollama."""
    tag = _ollama_name(name)
    modelfile = gguf_path.with_suffix(".Modelfile")
    return [f"ollama create {tag} -f {modelfile}", f"ollama run {tag}"]
