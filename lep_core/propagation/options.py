"""One options object for a propagation job, shared by the library, the CLI and the app."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from lep_core.propagation.modes import DEFAULT_MODE, Mode
from lep_core.propagation.solve import Solver


@dataclass
class PropagateOptions:
    base: str  # the base model B (old tokenizer T)
    instruct: list[str]  # one or more instruct models fine-tuned from B
    adapted: str  # the adapted base A: new tokenizer U + trained embeddings
    out: str  # OUT (one instruct) or OUT/<name>/ (several)
    mode: Mode = DEFAULT_MODE
    ridge: float = 0.0  # pulls P toward identity; relative to the mean diagonal of XᵀX
    device: str = "auto"  # auto | cpu | cuda: where the Gram matrices are accumulated
    solver: Solver = Solver.gram  # gram / gram64 (O(d²) memory) or lstsq (exact QR, small d)
    corpus: list[str] = field(default_factory=list)  # text for occ_conversion
    compare_modes: bool = False  # also fit every other mode and report them side by side
    overwrite: bool = False
    allow_pickle: bool = False

    def params(self) -> dict:
        d = asdict(self)
        d["mode"], d["solver"] = Mode(self.mode).value, Solver(self.solver).value
        for key in ("base", "instruct", "adapted", "out", "corpus", "overwrite"):
            d.pop(key)
        return d
