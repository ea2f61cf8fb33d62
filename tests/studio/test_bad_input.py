"""Bad input in every form field of every tab: a readable message, and nothing in the workspace written or lost.

The real handlers of the real app (found by the elem_id of the control that triggers them) are called with
what a browser can send: empty fields, cleared numbers (None), wrong types, values out of range, and paths
outside the workspace. Each must end in one readable line (a gr.Error / warning / status text that is not a
Python exception name) that names the field or path and what is wrong with it (the expected words are the
message's own, matched literally, never a list of alternatives that any message would match), and leave
every file of the workspace as it was.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path
from typing import Any

import gradio as gr
import pytest

from lep_studio.app import build_app
from lep_studio.context import AppContext

OUTSIDE = ("/etc", "../..", "/tmp/../etc/passwd")
# what each OUTSIDE path is, read from the file system (relative paths resolve against the current folder)
NOT_A_TOKENIZER = {"/etc": "no tokenizer.json in /etc", "../..": f"no tokenizer.json in {Path('../..').resolve()}",
                   "/tmp/../etc/passwd": "/tmp/../etc/passwd is a file, not a tokenizer: pass its folder"}
NO_WEIGHTS = {"/etc": "no model weights (*.safetensors) in /etc",
              "../..": f"no model weights (*.safetensors) in {Path('../..').resolve()}"}
BAD_NAMES = ("", "   ", "../escape", "/etc/x", "a/b", "..", "name with spaces")
RAW_ERROR = re.compile(r"^\s*[A-Z]\w*(Error|Exception)\b|Traceback|object has no attribute|NoneType")


def _noop_progress(*_: Any, **__: Any) -> None:
    return None


@pytest.fixture(scope="module")
def app(tmp_path_factory, tiny_llama):
    ws = tmp_path_factory.mktemp("ws_bad_input")
    shutil.copytree(tiny_llama, ws / "models" / "tiny")
    (ws / "corpora").mkdir()
    (ws / "corpora" / "mine.txt").write_text("Привет, как дела? Всё хорошо, спасибо.\n" * 60, encoding="utf-8")
    ctx = AppContext.create(str(ws))
    return ctx, build_app(ctx)


def snapshot(root: Path) -> dict[str, str]:
    """Every file under the workspace with its hash: what "unchanged" means."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def handler(demo: gr.Blocks, elem_id: str, event: str = "click"):
    for fn in demo.fns.values():
        for block_id, name in fn.targets:
            block = demo.blocks.get(block_id)
            if name == event and getattr(block, "elem_id", None) == elem_id:
                return fn.fn
    raise LookupError(f"no {event} handler on #{elem_id}")


def outcome(fn, args: list[Any], monkeypatch) -> str:
    """The one line the user sees: the gr.Error, the warnings, or the status text the handler returned."""
    warned: list[str] = []
    monkeypatch.setattr(gr, "Warning", lambda msg="", *a, **k: warned.append(str(msg)))
    try:
        kwargs = {"progress": _noop_progress} if "progress" in fn.__code__.co_varnames else {}
        result = fn(*args, **kwargs)
        if hasattr(result, "__next__"):
            result = list(result)
    except gr.Error as exc:
        return str(exc.message)
    if warned:
        return " ".join(warned)
    first = result[0] if isinstance(result, (list, tuple)) and result else result
    return first if isinstance(first, str) else ""


def check(app, monkeypatch, elem_id: str, args: list[Any], expect: str = "", event: str = "click") -> str:
    ctx, demo = app
    before = snapshot(ctx.workspace)
    shown = outcome(handler(demo, elem_id, event), args, monkeypatch)
    assert shown.strip(), f"#{elem_id} {args!r}: no message at all"
    assert not RAW_ERROR.search(shown), f"#{elem_id} {args!r}: not a readable message: {shown}"
    assert expect.lower() in shown.lower(), f"#{elem_id} {args!r}: {shown!r} does not say {expect!r}"
    assert snapshot(ctx.workspace) == before, f"#{elem_id} {args!r}: the workspace changed"
    return shown


def model(ctx: AppContext) -> str:
    return str(ctx.workspace / "models" / "tiny")


def corpus(ctx: AppContext) -> list[str]:
    return [str(ctx.workspace / "corpora" / "mine.txt")]


# ---- 1 · Tokenizers -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("picked, text, expect", [
    ([], "Привет", "pick at least one"), (None, "Привет", "pick at least one"), ([""], "Привет", "pick at least one"),
    *[([p], "Привет", NOT_A_TOKENIZER[p]) for p in OUTSIDE],
    ("MODEL", "", "type or paste"),
])
def test_tokenizers_analyse(app, monkeypatch, picked, text, expect):
    value = [model(app[0])] if picked == "MODEL" else picked
    check(app, monkeypatch, "tok-picked", [value, text, False, False], expect, event="change")


# ---- 2 · Vocabulary -------------------------------------------------------------------------------------------
def extend_args(ctx, **change):
    args = {"base": model(ctx), "corpus": corpus(ctx), "add": 20, "alphabet": "cyrillic", "min_freq": 2, "unit": "words"}
    return {**args, **change}


@pytest.mark.parametrize("change, expect", [
    ({"base": None}, "pick a base tokenizer (or model) first"), ({"base": ""}, "pick a base tokenizer (or model) first"),
    *[({"base": p}, NOT_A_TOKENIZER[p]) for p in OUTSIDE],
    ({"corpus": None}, "corpus"), ({"corpus": []}, "corpus"), ({"corpus": ["/etc"]}, "outside the workspace"),
    ({"corpus": ["../../etc/passwd"]}, "outside the workspace"),
    ({"add": None}, "new tokens is empty"), ({"add": 0}, "new tokens must be at least 1 (got 0)"),
    ({"add": -5}, "new tokens must be at least 1 (got -5)"), ({"add": "many"}, "new tokens must be a number (got 'many')"),
    ({"min_freq": -1}, "min count must be at least 1 (got -1)"), ({"min_freq": None}, "min count is empty"),
    ({"alphabet": "klingon"}, "alphabet"), ({"unit": "letters"}, "unknown token unit 'letters': choose one of subwords, words"),
])
def test_vocabulary_preview(app, monkeypatch, change, expect):
    a = extend_args(app[0], **change)
    check(app, monkeypatch, "ext-preview", [a["base"], a["corpus"], a["add"], a["alphabet"], a["min_freq"], a["unit"]],
          expect)


@pytest.mark.parametrize("change, expect", [
    *[({"name": n}, "name") for n in BAD_NAMES], ({"add": None}, "new tokens is empty"), ({"corpus": None}, "corpus"),
    ({"base": "/etc"}, NOT_A_TOKENIZER["/etc"]), ({"name": "taken"}, "already exists"),
])
def test_vocabulary_create(app, monkeypatch, change, expect):
    ctx = app[0]
    (ctx.workspace / "tokenizers" / "taken").mkdir(exist_ok=True)
    a = {**extend_args(ctx), "name": "fresh", "overwrite": False, **change}
    check(app, monkeypatch, "ext-create",
          [a["base"], a["corpus"], a["add"], a["alphabet"], a["min_freq"], a["unit"], a["name"], a["overwrite"]], expect)


@pytest.mark.parametrize("change, expect", [
    ({"corpus": None}, "corpus"), ({"size": None}, "vocabulary size"), ({"size": 0}, "vocabulary size"),
    ({"size": -3}, "vocabulary size"), ({"size": "big"}, "vocabulary size"), ({"algo": "zip"}, "algorithm"),
    ({"like": "/etc"}, NOT_A_TOKENIZER["/etc"]), *[({"name": n}, "name") for n in BAD_NAMES[:4]],
])
def test_vocabulary_replace(app, monkeypatch, change, expect):
    ctx = app[0]
    a = {"corpus": corpus(ctx), "size": 400, "algo": "bpe", "like": None, "name": "fresh", "overwrite": False, **change}
    check(app, monkeypatch, "rep-train", [a["corpus"], a["size"], a["algo"], a["like"], a["name"], a["overwrite"]], expect)


@pytest.mark.parametrize("change, expect", [
    ({"model": None}, "pick a model and a tokenizer first"), ({"tok": None}, "pick a model and a tokenizer first"),
    ({"tok": "/etc"}, NOT_A_TOKENIZER["/etc"]), ({"model": "../.."}, NOT_A_TOKENIZER["../.."]),
    ({"method": "magic"}, "unknown init method 'magic'"), ({"head": "magic"}, "unknown head method 'magic'"),
    ({"head": "fitted", "corpus": None}, "corpus"),
    *[({"name": n}, "name") for n in BAD_NAMES[2:5]],
])
def test_vocabulary_initialise(app, monkeypatch, change, expect):
    ctx = app[0]
    a = {"model": model(ctx), "tok": model(ctx), "method": "mean", "head": "same", "corpus": None, "name": "fresh",
         "overwrite": False, **change}
    check(app, monkeypatch, "init-run", [a["model"], a["tok"], a["method"], a["head"], a["corpus"], a["name"],
                                         a["overwrite"]], expect)


# ---- 3 · Training ---------------------------------------------------------------------------------------------
TRAIN_FIELDS = ("model", "corpus", "upload", "name", "steps", "batch", "seq", "lr", "device", "precision", "optimizer",
                "rows", "four_bit", "ckpt", "warmup", "accum", "eval_every", "save_every", "seed")


@pytest.mark.parametrize("change, expect", [
    ({"model": None}, "pick a model first"), ({"model": None, "upload": True}, "pick a model first"),
    ({"steps": 0, "upload": True}, "steps"), ({"corpus": None}, "pick a corpus first"),
    ({"corpus": ["/etc"]}, "outside the workspace"), ({"model": "/etc"}, "/etc is not a model folder (no config.json)"),
    *[({"name": n}, "name") for n in BAD_NAMES[2:5]],
    ({"steps": 0}, "steps"), ({"steps": None}, "steps"), ({"steps": "ten"}, "steps"), ({"steps": 2.5}, "steps"),
    ({"batch": 0}, "batch"), ({"batch": None}, "batch"), ({"seq": 1}, "seq"), ({"seq": None}, "sequence length is empty"),
    ({"lr": 0}, "learning rate must be above 0 (got 0)"), ({"lr": -1}, "learning rate must be above 0 (got -1)"),
    ({"lr": None}, "learning rate is empty"),
    ({"device": "tpu"}, "device"), ({"precision": "fp8"}, "precision"), ({"optimizer": "sgd"}, "optimizer"),
    ({"rows": "some"}, "rows"), ({"warmup": -1}, "warm"), ({"accum": 0}, "accum"),
    ({"eval_every": -1}, "validate every must be at least 0 (got -1)"), ({"save_every": None}, "checkpoint every is empty"),
    ({"seed": None}, "seed"),
])
def test_training_start(app, monkeypatch, tmp_path, change, expect):
    ctx = app[0]
    upload = tmp_path / "upload.txt"
    upload.write_text("Привет\n" * 20, encoding="utf-8")
    a = {"model": model(ctx), "corpus": corpus(ctx), "upload": None, "name": "fresh", "steps": 2, "batch": 1,
         "seq": 16, "lr": 1e-3, "device": "cpu", "precision": "auto", "optimizer": "adamw", "rows": "all",
         "four_bit": False, "ckpt": False, "warmup": 0, "accum": 1, "eval_every": 0, "save_every": 0, "seed": 0, **change}
    a["upload"] = [str(upload)] if a["upload"] else None  # an upload is copied in only when the start is valid
    check(app, monkeypatch, "train-start", [a[k] for k in TRAIN_FIELDS], expect)


@pytest.mark.parametrize("elem_id, value, expect", [
    ("train-stop", None, "no running job in the run shown"), ("train-stop", "/etc", "no running job in the run shown"),
    ("train-resume", None, "pick a stopped run in 'run shown' first"),
    ("train-resume", "../..", "path ../.. is outside the workspace"),
])
def test_training_stop_resume(app, monkeypatch, elem_id, value, expect):
    check(app, monkeypatch, elem_id, [value], expect)


# ---- 4 · Propagation ------------------------------------------------------------------------------------------
PROP_FIELDS = ("base", "instruct", "adapted", "mode", "compare", "ridge", "corpus", "name", "overwrite")


@pytest.mark.parametrize("change, expect", [
    ({"base": None}, "pick a base model first"), ({"instruct": None}, "pick an instruct model first"),
    ({"instruct": []}, "pick an instruct model first"), ({"adapted": None}, "pick the adapted base first"),
    ({"base": "/etc"}, NO_WEIGHTS["/etc"]), ({"adapted": "../.."}, NO_WEIGHTS["../.."]),
    ({"instruct": ["/etc"]}, NO_WEIGHTS["/etc"]),
    ({"mode": "magic"}, "mode"), ({"ridge": -1}, "ridge"), ({"ridge": "x"}, "ridge"),
    ({"mode": "occ_conversion", "corpus": None}, "corpus"),
    *[({"name": n}, "name") for n in BAD_NAMES[2:5]],
])
def test_propagation(app, monkeypatch, change, expect):
    ctx = app[0]
    a = {"base": model(ctx), "instruct": [model(ctx)], "adapted": model(ctx), "mode": "conversion", "compare": False,
         "ridge": 0.0, "corpus": None, "name": "fresh", "overwrite": False, **change}
    check(app, monkeypatch, "prop-run", [a[k] for k in PROP_FIELDS], expect)


@pytest.mark.parametrize("value", [None, "", "../..", "propagate-none"])
def test_propagation_stop_with_nothing_running(app, monkeypatch, value):
    check(app, monkeypatch, "prop-stop", [value], "nothing to stop")


# ---- 4b · Calibration -----------------------------------------------------------------------------------------
CALIB_FIELDS = ("mode", "model", "original", "prompts", "chat", "upload", "name", "steps", "lr", "batch", "seq", "params",
                "rank", "max_new", "device", "heldout", "alpha", "mlp")


@pytest.fixture(scope="module")
def calib_files(tmp_path_factory) -> dict[str, str]:
    """Uploads as Gradio hands them over: files in a temporary folder outside the workspace."""
    folder = tmp_path_factory.mktemp("calib_uploads")
    files = {"blank.txt": "\n   \n\n", "good.txt": "What is LEP?\n",
             "bad.jsonl": '{"messages": [{"role": "user", "content": "hi"}]}\n{"messages": "oops"}\n'}
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return {name: str(folder / name) for name in files}


@pytest.mark.parametrize("change, expect", [
    ({"model": None}, "pick the adapted model first"),
    ({"model": "/etc"}, "/etc is not a model folder (no config.json): pick the adapted model from the list"),
    ({"original": None}, "pick the original instruct model first"),
    ({"steps": 0}, "steps"), ({"steps": None}, "steps"), ({"lr": "x"}, "learning rate"), ({"batch": 0}, "batch"),
    ({"seq": 1}, "longest"), ({"rank": 0}, "rank"), ({"max_new": 0}, "answer tokens"), ({"alpha": None}, "alpha"),
    ({"params": "lora", "alpha": 0}, "alpha"), ({"prompts": "blank.txt"}, "no usable prompts"),
    ({"heldout": "blank.txt"}, "no usable prompts"),
    ({"mode": "continued tuning"}, "no chat data"), ({"mode": "continued tuning", "upload": ["bad.jsonl"]}, "line 2"),
    ({"mode": "continued tuning", "chat": ["/etc/passwd"]}, "outside the workspace"),
    ({"prompts": "good.txt", "params": "lora", "alpha": 0}, "alpha"),  # a valid upload is not copied in: alpha is wrong
    *[({"name": n}, "name") for n in BAD_NAMES[2:5]],
])
def test_calibration_start(app, monkeypatch, calib_files, change, expect):
    ctx = app[0]
    a = {"mode": "self-calibration", "model": model(ctx), "original": model(ctx), "prompts": None, "chat": None,
         "upload": None, "name": "calib-fresh", "steps": 3, "lr": 1e-3, "batch": 2, "seq": 256, "params": "embeddings",
         "rank": 8, "max_new": 8, "device": "cpu", "heldout": None, "alpha": 16.0, "mlp": False, **change}
    for key in ("prompts", "heldout"):
        a[key] = calib_files.get(a[key], a[key])
    a["upload"] = [calib_files[u] for u in a["upload"]] if a["upload"] else None
    check(app, monkeypatch, "calib-start", [a[k] for k in CALIB_FIELDS], expect)


@pytest.mark.parametrize("value", ["../..", "/etc", "/tmp/../etc/passwd", "models/tiny"])
def test_fault_8_calibration_resume_path_is_checked_like_trainings(app, monkeypatch, tmp_path, value):
    """Issue 26: the resume path was used as given (the Training tab checks it with inside())."""
    import json

    outside = tmp_path / "elsewhere"  # a calibration run folder outside the workspace: refused too
    outside.mkdir()
    (outside / "calibration.json").write_text(json.dumps({"model": "x"}), encoding="utf-8")
    expect = "is not a calibration run" if value == "models/tiny" else "is outside the workspace"
    check(app, monkeypatch, "calib-resume", [value], expect)
    check(app, monkeypatch, "calib-resume", [str(outside)], "is outside the workspace")


# ---- 5 · Compare ----------------------------------------------------------------------------------------------
SEND_FIELDS = ("original", "adapted", "prompt", "max_new", "greedy", "temperature", "top_p", "seed", "canonical", "blind",
               "session")


@pytest.mark.parametrize("change, expect", [
    ({"prompt": ""}, "prompt"), ({"prompt": "   "}, "prompt"), ({"prompt": None}, "prompt"),
    ({"max_new": 0}, "max new tokens"), ({"max_new": None}, "max new tokens"), ({"max_new": "lots"}, "max new tokens"),
    ({"greedy": False, "temperature": 0}, "temperature"), ({"top_p": 0}, "top-p"), ({"top_p": None}, "top-p"),
    ({"seed": "x"}, "seed"),
])
def test_compare_send(app, monkeypatch, change, expect):
    ctx = app[0]
    a = {"original": model(ctx), "adapted": model(ctx), "prompt": "Привет", "max_new": 4, "greedy": True,
         "temperature": 0.7, "top_p": 0.9, "seed": 0, "canonical": False, "blind": True, "session": None,
         **change}
    check(app, monkeypatch, "compare-send", [a[k] for k in SEND_FIELDS], expect)


@pytest.mark.parametrize("change, expect", [
    ({"lines": 0}, "held-out lines"), ({"lines": None}, "held-out lines"), ({"lines": "some"}, "held-out lines"),
    ({"max_new": 0}, "max new tokens"), ({"original": None}, "pick an original"),
])
def test_compare_adaptation_bench(app, monkeypatch, change, expect):
    """Issue 25: the held-out lines field of Compare → Evaluate → Measure the adaptation."""
    ctx = app[0]
    a = {"original": model(ctx), "adapted": model(ctx), "max_new": 8, "lines": 2, "canonical": False, **change}
    check(app, monkeypatch, "compare-adapt-run", [a[k] for k in ("original", "adapted", "max_new", "lines", "canonical")],
          expect)


@pytest.mark.parametrize("change, expect", [
    ({"text": None}, "text"), ({"text": "/etc"}, "outside the workspace"), ({"text": "../.."}, "outside the workspace"),
    ({"original": None, "adapted": None}, "original: no original model chosen: pick one above adapted: no adapted model"),
    ({"original": "/etc", "adapted": "/etc"}, f"original: {NOT_A_TOKENIZER['/etc']}"),
])
def test_compare_evaluate(app, monkeypatch, change, expect):
    ctx = app[0]
    a = {"original": model(ctx), "adapted": model(ctx), "text": corpus(ctx)[0], **change}
    check(app, monkeypatch, "compare-eval-run", [a["original"], a["adapted"], a["text"]], expect)


# ---- Workspace ------------------------------------------------------------------------------------------------
def workspace_refusal(value: str | None) -> str:
    """What a Workspace button says for a pick that is no artefact: nothing picked, a path outside, a folder that
    is not an artefact (a kind's folder, or a name that is not there)."""
    if not value:
        return "pick an artefact first (click its row in the table)"
    if value in OUTSIDE:
        return f"path {value} is outside the workspace"
    return f"{value} is not an artefact of this workspace"


@pytest.mark.parametrize("elem_id", ["ws-open", "ws-export", "ws-delete"])
@pytest.mark.parametrize("value", [None, "", *OUTSIDE, "models", "models/nothing"])
def test_workspace_actions(app, monkeypatch, elem_id, value):
    check(app, monkeypatch, elem_id, [value], workspace_refusal(value))


@pytest.mark.parametrize("value", [None, *OUTSIDE, "models"])
def test_workspace_confirm_delete(app, monkeypatch, value):
    check(app, monkeypatch, "ws-confirm-delete", ["all", value], workspace_refusal(value))


def test_workspace_refuses_deleting_a_running_run(app, monkeypatch):
    import json
    import os

    ctx = app[0]
    run = ctx.workspace / "runs" / "busy"
    run.mkdir(parents=True)
    (run / "status.json").write_text(json.dumps({"state": "running", "pid": os.getpid()}), encoding="utf-8")
    try:
        for elem_id, args in (("ws-delete", [str(run)]), ("ws-confirm-delete", ["all", str(run)])):
            check(app, monkeypatch, elem_id, args, "still running")
    finally:
        shutil.rmtree(run)


# ---- Any tab · a NUL byte or a line break in a path or name field (issue 27) ------------------------------------
# Before: "ValueError: embedded null byte" (the corpus, run, suite, export and workspace fields) or a message with
# the NUL byte in it. Now: one line naming the field, with the value escaped, or (a field nobody reads as a path)
# the generic line of `guarded`.
NUL = "a\x00b"
NAMED = "'a\\x00b' holds a NUL byte at position 2: retype"  # the value as repr() shows it, then the check's words
ANY_FIELD = "a field holds a NUL byte"


def _nul_cases():
    ext = ("base", "corpus", "add", "alphabet", "min_freq", "unit")
    train = {"model": "M", "corpus": ["C"], "upload": None, "name": "fresh", "steps": 2, "batch": 1, "seq": 16,
             "lr": 1e-3, "device": "cpu", "precision": "auto", "optimizer": "adamw", "rows": "all", "four_bit": False,
             "ckpt": False, "warmup": 0, "accum": 1, "eval_every": 0, "save_every": 0, "seed": 0}
    prop = {"base": "M", "instruct": ["M"], "adapted": "M", "mode": "conversion", "compare": False, "ridge": 0.0,
            "corpus": None, "name": "fresh", "overwrite": False}
    calib = {"mode": "self-calibration", "model": "M", "original": "M", "prompts": None, "chat": None, "upload": None,
             "name": "calib-fresh", "steps": 3, "lr": 1e-3, "batch": 2, "seq": 256, "params": "embeddings", "rank": 8,
             "max_new": 8, "device": "cpu", "heldout": None, "alpha": 16.0, "mlp": False}
    extend = {"base": "M", "corpus": ["C"], "add": 20, "alphabet": "cyrillic", "min_freq": 2, "unit": "words"}
    cases = [
        ("tok-picked", [[NUL], "Привет", False, False], "tokenizer " + NAMED, "change"),
        ("ext-preview", [{**extend, "base": NUL}[k] for k in ext], "tokenizer " + NAMED, "click"),
        ("ext-preview", [{**extend, "corpus": [NUL]}[k] for k in ext], "corpus " + NAMED, "click"),
        ("ext-create", [*[extend[k] for k in ext], NUL, False], "output name " + NAMED, "click"),
        ("ext-create", [*[extend[k] for k in ext], "bad\nname", False], "output name 'bad\\nname' holds a control character", "click"),
        ("rep-train", [[NUL], 400, "bpe", None, "fresh", False], "corpus " + NAMED, "click"),
        ("rep-train", [["C"], 400, "bpe", NUL, "fresh", False], "tokenizer " + NAMED, "click"),
        ("init-run", ["M", NUL, "mean", "same", None, "fresh", False], "tokenizer " + NAMED, "click"),
        ("init-run", ["M", "M", "mean", "fitted", [NUL], "fresh", False], "corpus " + NAMED, "click"),
        *[("train-start", [{**train, k: v}[f] for f in TRAIN_FIELDS], what + " " + NAMED, "click")
          for k, v, what in (("model", NUL, "model"), ("corpus", [NUL], "corpus"), ("name", NUL, "output name"))],
        ("train-stop", [NUL], ANY_FIELD, "click"),
        ("train-resume", [NUL], "path " + NAMED, "click"),
        *[("prop-run", [{**prop, k: v}[f] for f in PROP_FIELDS], what + " " + NAMED, "click")
          for k, v, what in (("base", NUL, "base model"), ("instruct", [NUL], "instruct model"),
                             ("adapted", NUL, "adapted model"), ("name", NUL, "output name"))],
        ("prop-run", [{**prop, "mode": "occ_conversion", "corpus": [NUL]}[f] for f in PROP_FIELDS], "corpus " + NAMED,
         "click"),
        *[("calib-start", [{**calib, k: v}[f] for f in CALIB_FIELDS], what + " " + NAMED, "click")
          for k, v, what in (("model", NUL, "adapted model"), ("original", NUL, "original instruct model"),
                             ("prompts", NUL, "prompt file"), ("name", NUL, "output name"))],
        ("calib-start", [{**calib, "mode": "continued tuning", "chat": [NUL]}[f] for f in CALIB_FIELDS],
         "chat data " + NAMED, "click"),
        ("compare-eval-run", ["M", "M", NUL], "text " + NAMED, "click"),
        ("compare-eval-run", [NUL, NUL, "C"], "original: model " + NAMED, "click"),
        ("compare-suite-run", ["M", None, None, [NUL], None], "suite " + NAMED, "click"),
        ("compare-suite-stop", [NUL, None], ANY_FIELD, "click"),
        ("exp-run", [NUL, "f16", False, False, False], "path " + NAMED, "click"),
        ("start-recipe-check", [NUL], "recipe file " + NAMED, "click"),
        ("start-recipe-run", [NUL], "recipe file " + NAMED, "click"),
        *[(e, [NUL], "path " + NAMED, "click") for e in ("ws-open", "ws-export", "ws-delete")],
        ("ws-confirm-delete", ["all", NUL], "path " + NAMED, "click"),
    ]
    return cases


@pytest.mark.parametrize("elem_id, args, expect, event", _nul_cases(),
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(_nul_cases())])
def test_nul_byte_in_a_field_is_one_named_line(app, monkeypatch, elem_id, args, expect, event):
    ctx = app[0]

    def real(value):  # "M" / "C" stand for the workspace's model and corpus file
        if isinstance(value, list):
            return [real(v) for v in value]
        return {"M": model(ctx), "C": corpus(ctx)[0]}.get(value, value) if isinstance(value, str) else value

    check(app, monkeypatch, elem_id, [real(a) for a in args], expect, event=event)
