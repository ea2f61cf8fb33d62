"""llama-cpp-python: the optional part of export (`pip install 'lep-studio[llama]'`, or `make llama`).

llama.cpp's converter (a script, lep_core/export/converter.py) writes f16, bf16, q8_0 and f32 with no
compiled code; quantizing to k-quants (llama.cpp's `llama_model_quantize`) and measuring a file in llama.cpp
(`--check`) need llama.cpp itself, which llama-cpp-python builds with cmake and a C++ compiler. This module is
the one place that asks whether it is there, so every refusal names the same fix in one line.
"""

from __future__ import annotations

from types import ModuleType

from lep_core.errors import LepInputError

INSTALL = "pip install 'lep-studio[llama]'"
MAKE = "make llama"


def missing_message(what: str) -> str:
    """One line: what needs llama.cpp, and how to install it."""
    return (f"{what} needs llama-cpp-python, which is not installed: run `{INSTALL}` (or `{MAKE}`; it builds "
            "llama.cpp with cmake and a C++ compiler)")


def llama_cpp_module() -> ModuleType | None:
    """The imported llama_cpp package, or None when it is not installed or its library does not load."""
    try:
        import llama_cpp
    except (ImportError, OSError, RuntimeError):  # RuntimeError/OSError: installed, but libllama failed to load
        return None
    return llama_cpp


def have_llama_cpp() -> bool:
    """Is llama-cpp-python installed? Asked without importing it (the app asks at start-up; loading llama.cpp's
    library is left to the export that needs it, where a broken install is refused by require_llama_cpp)."""
    from importlib.util import find_spec

    try:
        return find_spec("llama_cpp") is not None
    except (ImportError, ValueError):  # ValueError: sys.modules["llama_cpp"] is None (import blocked)
        return False


def require_llama_cpp(what: str) -> ModuleType:
    """llama_cpp, or LepInputError(missing_message(what))."""
    module = llama_cpp_module()
    if module is None:
        raise LepInputError(missing_message(what))
    return module
