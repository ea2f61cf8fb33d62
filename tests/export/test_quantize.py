"""k-quants and the legacy 4/5-bit types, made by llama.cpp's own quantizer from an f16 export.

One small model (665 tokens, 256 wide, so every row is whole 256-weight blocks) exported to f16 once, then
quantized to each type: the file records that type, its matrices are in that type's blocks, and llama.cpp loads
it and generates. One full `export_gguf` of Q4_K_M with --keep-f16 and --check shows the whole path.
"""

from __future__ import annotations

import pytest

from lep_core.export.options import FTYPES, ExportOptions, GgufType

QUANTIZED = [t for t in GgufType if t.quantized]
# the block type the bulk of the matrices get under each llama.cpp file type (llama-quant.cpp)
MAIN_BLOCK = {"q2_k": "q2_k", "q3_k_m": "q3_k", "q4_0": "q4_0", "q4_k_m": "q4_k", "q5_0": "q5_0",
              "q5_k_m": "q5_k", "q6_k": "q6_k"}


@pytest.fixture(scope="module")
def wide_f16(wide_mistral, tmp_path_factory):
    from lep_core.export.gguf_export import export_gguf

    out = tmp_path_factory.mktemp("wide") / "wide-f16.gguf"
    export_gguf(ExportOptions(model=str(wide_mistral), out=str(out), type="f16"))
    return out


def test_the_table_covers_the_quantized_types():
    assert sorted(t.value for t in QUANTIZED) == sorted(MAIN_BLOCK)
    assert {"q4_k_m", "q5_k_m", "q6_k"} <= set(MAIN_BLOCK)


@pytest.mark.parametrize("type_", [t.value for t in QUANTIZED])
def test_each_type_is_written_by_llama_cpp_and_runs(type_, wide_f16, tmp_path):
    from llama_cpp import Llama

    from lep_core.export.quantize import file_type, quantize_gguf, tensor_types

    out = tmp_path / f"wide-{type_}.gguf"
    heard = []
    facts = quantize_gguf(wide_f16, out, GgufType(type_), lambda fraction, message: heard.append(fraction))
    assert file_type(out) == FTYPES[type_]
    types = tensor_types(out)
    matrices = sum(n for name, n in types.items() if name != "f32")  # norms stay f32 in every type
    assert types.get(MAIN_BLOCK[type_], 0) >= matrices / 2, types
    assert facts["fallback_tensors"] == 0 and facts["tensors"] == sum(types.values())
    assert heard and heard[-1] == pytest.approx((facts["tensors"] - 1) / facts["tensors"])
    assert out.stat().st_size < wide_f16.stat().st_size
    llm = Llama(model_path=str(out), n_ctx=64, verbose=False)
    made = []
    for token in llm.generate([1, 100, 200], temp=0.0, top_k=1):
        made.append(token)
        if len(made) == 4:
            break
    assert len(made) == 4 and all(0 <= t < llm.n_vocab() for t in made)


def test_q4_k_m_export_keeps_or_drops_the_f16_and_reports_its_quality(wide_mistral, tmp_path, short_texts):
    from lep_core.export.gguf_export import export_gguf
    from lep_core.export.quantize import file_type

    kept = export_gguf(ExportOptions(model=str(wide_mistral), out=str(tmp_path / "a" / "wide-q4_k_m.gguf"),
                                     type="q4_k_m", keep_f16=True, check=True), check_texts=short_texts)
    folder = tmp_path / "a"
    assert sorted(p.name for p in folder.iterdir()) == ["wide-f16.gguf", "wide-q4_k_m.Modelfile",
                                                        "wide-q4_k_m.export.json", "wide-q4_k_m.gguf"]
    assert file_type(folder / "wide-f16.gguf") == FTYPES["f16"] and kept["f16"] == str(folder / "wide-f16.gguf")
    assert kept["f16_bytes"] == (folder / "wide-f16.gguf").stat().st_size > kept["bytes"]
    assert kept["quantize_seconds"] > 0 and kept["seconds"] >= kept["quantize_seconds"]
    for label in ("ru", "en"):
        bpc = kept["check"]["bits_per_char"][label]
        # f16 in llama.cpp is transformers' model: the same figure to 0.5 %; q4_k_m is measured against it
        assert bpc["f16_llama_cpp"] == pytest.approx(bpc["transformers"], rel=5e-3)
        assert bpc["ratio_to_f16"] == pytest.approx(bpc["llama_cpp"] / bpc["f16_llama_cpp"])
        assert bpc["llama_cpp"] != bpc["f16_llama_cpp"]  # 4-bit weights change the logits
    dropped = export_gguf(ExportOptions(model=str(wide_mistral), out=str(tmp_path / "b" / "wide-q4_k_m.gguf"),
                                        type="q4_k_m"))
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["wide-q4_k_m.Modelfile", "wide-q4_k_m.export.json",
                                                                  "wide-q4_k_m.gguf"]
    assert dropped["f16"] is None and "check" not in dropped
    assert (tmp_path / "b" / "wide-q4_k_m.gguf").read_bytes() == (folder / "wide-q4_k_m.gguf").read_bytes()


def test_a_stop_while_quantizing_leaves_nothing(wide_mistral, tmp_path):
    """SIGTERM once llama.cpp's quantizer has its job (the f16 file is written): both children end, the f16 and
    the half-quantized temporary files are removed, nothing appears."""
    import signal
    import subprocess
    import sys
    import time

    out_dir = tmp_path / "out"
    out_dir.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "lep_core.cli.main", "export", "gguf", "--model", str(wide_mistral),
                             "--out", str(out_dir / "m-q4_k_m.gguf"), "--type", "q4_k_m"], stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 300
    def quantizing() -> bool:  # the quantizer's spec is named after the file it writes (the converter's: the .f16)
        return any(p.name.endswith(".spec.json") and ".f16" not in p.name for p in out_dir.iterdir())

    while not quantizing() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    assert any(".tmp-" in p.name and p.name.endswith(".f16") for p in out_dir.iterdir())  # after the f16 stage
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert list(out_dir.iterdir()) == []
