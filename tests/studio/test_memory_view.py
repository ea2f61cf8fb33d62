"""The Training tab's memory estimate (`lep plan` for the options on screen), without a browser."""

from __future__ import annotations

from lep_core.training.options import TrainOptions
from lep_studio.memory_view import memory_markdown, memory_warning


def test_estimate_fits_then_warns_with_what_to_change(tiny_llama):
    small = TrainOptions(model=str(tiny_llama), batch_size=2, seq_len=32, device="cpu")
    text = memory_markdown(small)
    assert text.startswith("**Memory estimate:** ≈ ") and ": fits" in text and "⚠" not in text
    assert memory_warning(small) is None
    huge = TrainOptions(model=str(tiny_llama), batch_size=1_000_000, seq_len=512, device="cpu")
    text = memory_markdown(huge)
    assert text.startswith("⚠ **Memory estimate:**") and "does NOT fit" in text and "--gradient-checkpointing" in text
    assert "does NOT fit" in memory_warning(huge)
    assert "save memory, not time: use them to fit a bigger model" in memory_markdown(TrainOptions(model=str(tiny_llama), device="cpu", load_in_4bit=True))


def test_estimate_without_a_usable_model_says_why(tmp_path):
    assert "pick a model folder" in memory_markdown(TrainOptions(model=str(tmp_path / "missing"), device="cpu"))
    (tmp_path / "config.json").write_text('{"model_type": "no-such-arch"}', encoding="utf-8")
    text = memory_markdown(TrainOptions(model=str(tmp_path), device="cpu"))
    assert text.startswith("**Memory estimate:** unavailable (unknown architecture 'no-such-arch'")
    assert memory_warning(TrainOptions(model=str(tmp_path), device="cpu")) is None
