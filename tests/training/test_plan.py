"""`lep plan`: the memory of a run from config.json alone, against figures worked out by hand and a measured run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lep_core.cli.main import main
from lep_core.training.options import TrainOptions
from lep_core.training.plan import plan

ROOT = Path(__file__).resolve().parents[2]
# Llama-3-8B's config.json (the shapes only: no weights exist or are read)
LLAMA3_8B = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 128256, "hidden_size": 4096,
             "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
             "max_position_embeddings": 8192, "rope_theta": 500000.0, "rms_norm_eps": 1e-05,
             "tie_word_embeddings": False, "torch_dtype": "bfloat16", "bos_token_id": 128000, "eos_token_id": 128001}

# Llama-3-8B by hand, from its published shapes (V = 128,256, d = 4,096, 32 layers, d_ff = 14,336, 8 KV heads of
# 128): embeddings + head 2·V·d; each layer's Linear weights q, o (d·d), k, v (d·1,024), gate, up, down (d·d_ff);
# 65 RMSNorm weights of d. The same sums as docs' memory table, never read from `plan`.
V, D, LAYERS, FFN, KV = 128_256, 4_096, 32, 14_336, 8 * 128
EMBED = 2 * V * D
LINEAR = LAYERS * (2 * D * D + 2 * D * KV + 3 * D * FFN)
NORMS = (2 * LAYERS + 1) * D
NF4 = 0.5 + 1 / 64 + 4 / (64 * 256)  # 4 bits + an 8-bit absmax per 64 weights + a float32 scale per 256 absmax
TOKENS = 2048
BY_HAND_GB = {  # batch 1 x 2,048 tokens, bf16 body, 8-bit AdamW, gradient checkpointing, on CUDA
    "body": ((LINEAR + NORMS) * 2 / 1e9, (LINEAR * NF4 + NORMS * 2) / 1e9),  # (bf16 body, 4-bit body)
    "trained": (EMBED * 4 / 1e9,) * 2,  # float32
    "gradients": (EMBED * 4 / 1e9,) * 2,
    "optimizer": (EMBED * 2 / 1e9,) * 2,  # bitsandbytes 8-bit AdamW: two 1-byte moments
    # each layer's float32 input kept, plus one layer recomputed: (6 d + 2 d_kv) float32 + 5 d_ff bf16 per token
    "activations": ((LAYERS * TOKENS * D * 4 + TOKENS * ((6 * D + 2 * KV) * 4 + 5 * FFN * 2)) / 1e9,) * 2,
    "head_loss": (1024 * V * 4 * 2 / 1e9,) * 2,  # one 1,024-token chunk of float32 logits and their softmax
    "runtime": (1.0, 1.0),  # CUDA context and allocator slack
}


@pytest.fixture(scope="module")
def llama3(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("llama3-8b")
    (folder / "config.json").write_text(json.dumps(LLAMA3_8B), encoding="utf-8")
    return folder


def test_llama3_8b_on_24gb_agrees_with_the_figures_by_hand(llama3, capsys):
    assert EMBED + LINEAR + NORMS == 8_030_261_248  # Llama-3-8B's published parameter count: the shapes are right
    results = []
    for column, four_bit in enumerate((False, True)):
        options = TrainOptions(model=str(llama3), batch_size=1, seq_len=TOKENS, precision="bf16", optimizer="adamw8bit",
                               gradient_checkpointing=True, load_in_4bit=four_bit)
        result = plan(options, 24, "cuda")
        results.append(result)
        assert set(result["items_gb"]) == set(BY_HAND_GB)
        for key, gb in result["items_gb"].items():
            assert gb == pytest.approx(BY_HAND_GB[key][column], abs=0.0005), key  # plan rounds to 3 decimals
        assert result["total_gb"] == pytest.approx(sum(v[column] for v in BY_HAND_GB.values()), abs=0.005)
        assert result["parameters"] == 8_030_261_248 and result["trained_parameters"] == EMBED
    assert [round(r["total_gb"], 1) for r in results] == [28.1, 17.7]  # the totals docs quote
    assert not results[0]["fits"] and "--load-in-4bit" in results[0]["advice"]
    assert results[1]["fits"] and results[1]["advice"] is None
    # the CLI prints the same plan
    assert main(["plan", "--model", str(llama3), "--batch-size", "1", "--seq-len", "2048", "--device", "cuda",
                 "--device-memory", "24", "--precision", "bf16", "--optimizer", "adamw8bit", "--gradient-checkpointing",
                 "--load-in-4bit", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == results[1]


def test_advice_names_the_changes_that_make_it_fit(llama3):
    result = plan(TrainOptions(model=str(llama3), batch_size=4, seq_len=2048, precision="bf16"), 24, "cuda")
    assert not result["fits"] and result["items_gb"]["optimizer"] == pytest.approx(8.41, abs=0.01)  # torch AdamW
    assert result["advice"].startswith("pass --optimizer adamw8bit --gradient-checkpointing --load-in-4bit")
    hopeless = plan(TrainOptions(model=str(llama3), batch_size=1, seq_len=2048), 8, "cuda")
    assert not hopeless["fits"] and hopeless["advice"].startswith("does not fit even with")


@pytest.mark.parametrize("args, message", [
    (["--model", "{tmp}"], "no config.json in"),
    (["--model", "{bad}"], "unknown architecture 'no-such-arch'"),
    (["--model", "{llama3}", "--batch-size", "0"], "--batch-size must be at least 1"),
    (["--model", "{llama3}", "--device-memory", "-1"], "--device-memory must be a positive number"),
])
def test_bad_input_exits_2_with_one_line(args, message, llama3, tmp_path, capsys):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text('{"model_type": "no-such-arch", "hidden_size": 8}', encoding="utf-8")
    args = [a.format(tmp=tmp_path, bad=bad, llama3=llama3) for a in args]
    assert main(["plan", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err


@pytest.mark.slow
def test_cpu_estimate_is_within_30_percent_of_the_measured_peak_rss(demo_model, tmp_path):
    """A real `lep train` of the demo model on the CPU, its peak RSS read from the kernel (wait4), against the plan."""
    flags = {"batch_size": 2, "seq_len": 128}
    estimate = plan(TrainOptions(model=str(demo_model), **flags), None, "cpu")
    corpus = ROOT / "assets" / "corpus" / "01_dialogues.txt"
    cmd = [sys.executable, "-m", "lep_core.cli.main", "train", "--model", str(demo_model), "--corpus", str(corpus),
           "--out", str(tmp_path / "run"), "--steps", "2", "--batch-size", "2", "--seq-len", "128", "--device", "cpu",
           "--eval-every", "0", "--eval-batches", "1", "--save-every", "0"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, err[-2000:]
    peak_gb = usage.ru_maxrss * 1024 / 1e9  # ru_maxrss is in KiB on Linux
    print(f"demo model, batch 2 x 128, fp32 + AdamW on CPU: plan {estimate['total_gb']:.2f} GB, "
          f"measured peak RSS {peak_gb:.2f} GB ({estimate['total_gb'] / peak_gb - 1:+.0%})")
    # 30 %: the same run measured 1.88 GB alone and 2.34 GB inside the full suite (the mmapped safetensors' pages
    # count in the peak RSS or not, by what the page cache held); the plan said 1.80 GB both times.
    assert abs(estimate["total_gb"] - peak_gb) <= 0.3 * peak_gb
