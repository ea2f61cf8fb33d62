"""Architecture facts as data: where each model family keeps its input embeddings and its output head.

One table, read by every module that needs these names (issue 20): propagation reads and writes the tensors by
name without loading the body, the 4-bit loader keeps these modules out of quantisation, the GGUF export trims
their padded rows. A family missing here is one row to add, not a code change — the way mergekit keeps its
architectures as data files.
"""

from __future__ import annotations

from dataclasses import dataclass


def module_of(tensor_name: str) -> str:
    """`model.embed_tokens.weight` -> `embed_tokens`: the leaf module that owns a weight tensor."""
    parts = tensor_name.split(".")
    return parts[-2] if len(parts) > 1 and parts[-1] in {"weight", "bias"} else parts[-1]


@dataclass(frozen=True)
class Layout:
    """Where one group of families keeps the embeddings in a safetensors checkpoint.

    Each place is a tuple of names: the one transformers writes today first, then aliases found in older
    checkpoints on the hub (gpt_neox's head was `embed_out`). A tied model may store no head at all; `tie_key` is
    the config key that says whether the head shares the input embeddings (default: tied when none is stored).
    """

    families: tuple[str, ...]  # config.json model_type values (aliases of one layout)
    embeds: tuple[str, ...]  # input embeddings, (rows, d)
    heads: tuple[str, ...] = ("lm_head.weight",)  # output head, (rows, d)
    tie_key: str = "tie_word_embeddings"

    @property
    def embed(self) -> str:
        return self.embeds[0]

    @property
    def head(self) -> str:
        return self.heads[0]

    def stored(self, tensor_names, side: str) -> str | None:
        """The name this checkpoint uses for its embeddings (`side` "input") or head ("output"); None if absent."""
        names = set(tensor_names)
        return next((n for n in (self.embeds if side == "input" else self.heads) if n in names), None)

    @property
    def modules(self) -> tuple[str, ...]:
        """Leaf module names of embeddings and head (`embed_tokens`, `lm_head`): what the 4-bit loader skips."""
        return tuple(dict.fromkeys(module_of(n) for n in (*self.embeds, *self.heads)))


LAYOUTS: tuple[Layout, ...] = (
    Layout(("llama", "mistral", "qwen2", "qwen3", "qwen2_moe", "qwen3_moe", "gemma", "gemma2", "gemma3_text", "phi3",
            "mixtral", "olmo", "olmo2", "granite", "smollm3", "cohere", "starcoder2", "stablelm", "deepseek_v3"),
           ("model.embed_tokens.weight",)),
    Layout(("gemma3", "mistral3", "llava", "qwen2_vl", "qwen2_5_vl"),  # multimodal wrappers around a text model
           ("model.language_model.embed_tokens.weight",)),
    Layout(("gpt2", "gpt_bigcode"), ("transformer.wte.weight",)),
    Layout(("gpt_neox",), ("gpt_neox.embed_in.weight",), ("lm_head.weight", "embed_out.weight")),
    Layout(("bloom",), ("transformer.word_embeddings.weight",)),
    Layout(("opt",), ("model.decoder.embed_tokens.weight",)),
    Layout(("internlm2",), ("model.tok_embeddings.weight",), ("output.weight",)),
)

EMBED_NAMES: tuple[str, ...] = tuple(dict.fromkeys(n for layout in LAYOUTS for n in layout.embeds))
HEAD_NAMES: tuple[str, ...] = tuple(dict.fromkeys(n for layout in LAYOUTS for n in layout.heads))
EMBEDDING_MODULES: tuple[str, ...] = tuple(dict.fromkeys(m for layout in LAYOUTS for m in layout.modules))


def layout_of(tensor_names, model_type: str | None = None) -> Layout | None:
    """The layout whose input embeddings are among `tensor_names` (a checkpoint's keys); the family's own layout
    first when `model_type` is known, so two layouts that share an embedding name pick the right head."""
    names = set(tensor_names)
    ordered = sorted(LAYOUTS, key=lambda layout: model_type not in layout.families)
    return next((layout for layout in ordered if layout.stored(names, "input")), None)


def is_embedding_tensor(name: str) -> bool:
    """Whether a (possibly prefix-stripped) tensor name belongs to the input embeddings or the output head."""
    return module_of(name) in EMBEDDING_MODULES
