"""Find (and install) llama.cpp's own Hugging Face → GGUF converter.

llama.cpp ships its converter as a script (`convert_hf_to_gguf.py` + the `conversion/` package + its own `gguf-py`),
not as a Python package. The llama-cpp-python source package on PyPI vendors the whole llama.cpp tree, so
`python -m lep_core.export.converter install` (run by `make run` and `make setup`) downloads that source package with pip (the same
version as the installed llama-cpp-python, from pip's cache when it was just built) and unpacks those three into
`<venv>/share/lep-studio/llama.cpp/`. `LLAMA_CPP_DIR` points to a llama.cpp checkout instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from lep_core.errors import LepInputError

SCRIPT = "convert_hf_to_gguf.py"
PARTS = (SCRIPT, "conversion", "gguf-py")  # what the converter needs from the llama.cpp tree
DEFAULT_VERSION = "0.3.36"  # llama-cpp-python whose llama.cpp converter the tests ran against


def install_dir() -> Path:
    return Path(sys.prefix) / "share" / "lep-studio" / "llama.cpp"


def find_converter() -> Path:
    """The folder holding convert_hf_to_gguf.py, conversion/ and gguf-py/; LepInputError naming the fix when absent."""
    candidates = [Path(os.environ["LLAMA_CPP_DIR"])] if os.environ.get("LLAMA_CPP_DIR") else []
    candidates.append(install_dir())
    for folder in candidates:
        if all((folder / part).exists() for part in PARTS):
            return folder
    raise LepInputError(
        "llama.cpp's converter (convert_hf_to_gguf.py) is not installed: run `make setup` or "
        "`python -m lep_core.export.converter install`, or set LLAMA_CPP_DIR to a llama.cpp checkout")


def _llama_cpp_python_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("llama-cpp-python")
    except PackageNotFoundError:
        return DEFAULT_VERSION


def install(version: str | None = None) -> Path:
    """Download llama-cpp-python's source package with pip and unpack llama.cpp's converter; returns its folder."""
    version = version or _llama_cpp_python_version()
    target = install_dir()
    with tempfile.TemporaryDirectory(prefix="lep-llama-src-") as tmp:
        # --no-binary for this package only: ":all:" also built pip's build requirements (cmake, ...) from source
        # just to read the package's metadata (143 s against 14 s here)
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", "llama-cpp-python",
                        f"llama-cpp-python=={version}", "-d", tmp], check=True)
        archive = next(Path(tmp).glob("llama_cpp_python-*.tar.gz"))
        staging = Path(tmp) / "unpacked"
        with tarfile.open(archive) as tar:
            root = tar.getnames()[0].split("/")[0]
            prefix = f"{root}/vendor/llama.cpp/"
            members = [m for m in tar.getmembers()
                       if m.name.startswith(prefix) and m.name[len(prefix):].split("/")[0] in PARTS]
            tar.extractall(staging, members=members, filter="data")
        source = staging / root / "vendor" / "llama.cpp"
        target.parent.mkdir(parents=True, exist_ok=True)
        fresh = target.parent / f".{target.name}.tmp"
        if fresh.exists():
            shutil.rmtree(fresh)
        os.replace(source, fresh)
        (fresh / "VERSION").write_text(f"llama-cpp-python {version}\n", encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        os.replace(fresh, target)
    return target


if __name__ == "__main__":
    if sys.argv[1:] != ["install"]:
        sys.exit("usage: python -m lep_core.export.converter install")
    print(f"llama.cpp converter in {install(os.environ.get('LLAMA_CPP_PYTHON_VERSION'))}")
