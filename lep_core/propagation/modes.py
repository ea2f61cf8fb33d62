"""The six LEP projection modes: one Enum feeds the CLI choices, the app dropdown and the report."""

from __future__ import annotations

import enum


class Mode(str, enum.Enum):
    conversion = "conversion"
    straight = "straight"
    union = "union"
    bypass = "bypass"
    sum_conversion = "sum_conversion"
    occ_conversion = "occ_conversion"

    @property
    def help(self) -> str:
        return MODE_HELP[self]

    @property
    def needs_corpus(self) -> bool:
        return self is Mode.occ_conversion

    @property
    def fits(self) -> bool:
        """straight swaps the embeddings in as they are (P = identity); every other mode fits P."""
        return self is not Mode.straight


DEFAULT_MODE = Mode.conversion

MODE_HELP: dict[Mode, str] = {
    Mode.conversion: "fit P on every new token, written as the mean of its old sub-tokens (the paper's main method)",
    Mode.straight: "no fit: put the adapted base's embeddings into the instruct model as they are (P = identity)",
    Mode.union: "fit P on the tokens whose text is in both vocabularies, using their own old rows",
    Mode.bypass: "fit P on the whole old vocabulary: base rows -> instruct rows",
    Mode.sum_conversion: "as conversion, but the sum of the old sub-tokens instead of their mean",
    Mode.occ_conversion: "as conversion, sub-tokens weighted by how often the old tokenizer produced them "
    "on that token's spans in a corpus (needs --corpus)",
}


def parse_mode(value: str | Mode) -> Mode:
    """A Mode from user text, or a LepInputError listing the choices."""
    from lep_core.errors import LepInputError

    try:
        return Mode(value)
    except ValueError:
        raise LepInputError(f"unknown mode {value!r}: choose one of {', '.join(m.value for m in Mode)}") from None
