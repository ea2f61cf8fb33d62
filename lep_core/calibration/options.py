"""Options of `lep calibrate`: the training options plus where the conversations come from.

Self-calibration: --original answers --prompts (the demo prompts by default), then the adapted model
learns those answers. Continued instruction tuning: --chat FILE.jsonl instead. Training defaults
differ from `lep train` where chat data needs it (longer rows, held-out conversations).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from lep_core.training.options import TrainOptions, _opt

SPEC = "calibration.json"  # a calibration run's whole spec, in its run folder (resume and recipe export read it)
# fields that only calibration has; the rest go to the trainer unchanged
OWN = ("original", "prompts", "chat", "answers", "max_new_tokens", "heldout_prompts")


@dataclass
class CalibrateOptions(TrainOptions):
    model: str = _opt("", "the adapted instruct model to calibrate (the output of `lep propagate`)")
    original: str = _opt("", "self-calibration: the original instruct model whose answers the adapted model learns")
    prompts: str = _opt("", "prompt file (.txt one per line, .json list, .jsonl with prompt or messages); "
                        "empty: the 24 demo prompts")
    chat: list[str] = field(default_factory=list, metadata={
        "help": "continued instruction tuning: chat JSONL files with `messages` (instead of --original)"})
    answers: str = _opt("", "folder for the original model's answers (a dataset in workspace/data/; "
                        "default: workspace/data/<run name>-answers)")
    max_new_tokens: int = _opt(128, "longest answer the original model writes (greedy decoding)")
    heldout_prompts: str = _opt("", "prompts the original model also answers but training never sees: the "
                                "bits-per-char of those answers before and after measures what generalises")
    data: str = _opt("chat", "always chat for calibration", choices=("chat",))
    steps: int = _opt(30, "optimizer steps")
    seq_len: int = _opt(512, "longest conversation in tokens (longer ones are skipped and counted)")
    lr: float = _opt(1e-3, "peak learning rate")
    warmup: int = _opt(3, "linear warm-up steps before the cosine decay")
    val_fraction: float = _opt(0.1, "share of conversations held out for validation loss")
    eval_every: int = _opt(10, "steps between validation losses (0 = only at the end)")
    save_every: int = _opt(10, "steps between checkpoints (0 = only on stop and at the end)")

    def problems(self) -> list[str]:
        out = [p for p in super().problems() if p != "no --corpus given"]
        if not self.original and not self.chat:
            out.append("pass --original (self-calibration on its answers) or --chat FILE.jsonl (continued tuning)")
        if self.original and self.chat:
            out.append("pass either --original or --chat, not both")
        if self.heldout_prompts and not self.original:
            out.append("--heldout-prompts needs --original (the model that answers them)")
        if self.max_new_tokens < 1:
            out.append(f"--max-new-tokens must be at least 1 (got {self.max_new_tokens})")
        return out

    def train_dict(self, corpus: list[str]) -> dict:
        """The options the trainer takes, reading the given conversation files."""
        names = {f.name for f in fields(TrainOptions)}
        return {**{k: v for k, v in self.to_dict().items() if k in names}, "data": "chat", "corpus": list(corpus)}
