"""Without llama-cpp-python (the `llama` extra not installed): f16/bf16/q8_0/f32 still export (llama.cpp's
converter is a script), a quantized type or --check exits 2 with one line naming the install, before anything
is written. Run for real in a child Python whose `import llama_cpp` fails (sys.modules["llama_cpp"] = None)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NO_LLAMA = "import sys; sys.modules['llama_cpp'] = None; from lep_core.cli.main import main; sys.exit(main(sys.argv[1:]))"


def _lep_without_llama(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", NO_LLAMA, *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=600)


@pytest.mark.parametrize("extra", [["--type", "q4_k_m"], ["--type", "Q6_K"], ["--check"]])
def test_quantized_type_or_check_without_llama_cpp_exits_2_with_one_line(extra, tiny_llama, tmp_path):
    done = _lep_without_llama("export", "gguf", "--model", str(tiny_llama), "--out", str(tmp_path / "m.gguf"), *extra)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and "pip install 'lep-studio[llama]'" in lines[0] and "make llama" in lines[0], lines
    assert ("--check" if extra == ["--check"] else f"type {extra[1].lower()}") in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_f16_exports_without_llama_cpp(tiny_llama, tmp_path):
    from gguf import GGUFReader

    done = _lep_without_llama("export", "gguf", "--model", str(tiny_llama), "--out", str(tmp_path / "m.gguf"),
                              "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["type"] == "f16" and Path(result["out"]).is_file()
    field = GGUFReader(result["out"]).fields["general.file_type"]
    assert int(field.parts[field.data[0]][0]) == 1  # LLAMA_FTYPE_MOSTLY_F16


def test_export_tab_offers_the_converter_types_and_says_how_to_get_the_rest():
    """The tab's choices in an app whose llama_cpp import fails: f16 first, no quantized type, and the text it
    shows names the install in both languages."""
    code = ("import sys, json; sys.modules['llama_cpp'] = None\n"
            "from lep_core.export.runtime import have_llama_cpp\n"
            "from lep_studio.tabs.export import type_choices\n"
            "print(json.dumps(type_choices(have_llama_cpp())))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    choices, default = json.loads(done.stdout)
    assert default == "f16" and [value for _, value in choices] == ["f16", "q8_0", "bf16", "f32"]
    from lep_studio.locales import EN, RU

    for table in (EN, RU):
        assert "pip install 'lep-studio[llama]'" in table["export.no_llama"] and "make llama" in table["export.no_llama"]


def test_with_llama_cpp_the_tab_defaults_to_q4_k_m():
    from lep_studio.tabs.export import type_choices

    choices, default = type_choices(True)
    assert default == "q4_k_m" and len(choices) == 11
    assert dict((v, label) for label, v in choices)["q4_k_m"].startswith("Q4_K_M — ")
