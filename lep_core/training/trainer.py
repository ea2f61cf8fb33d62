"""The training loop: one run folder in, metrics/status/checkpoints/final out.

What is trained (embeddings + head, or LoRA adapters) and on what (packed text blocks, or chat
conversations scored on the answers only) are options; the loop, checkpoints and files are the same.

Reads top to bottom: run-folder checks, setup (data, model, optimizer, resume), the loop, the finish.
Every state change is written to status.json; SIGTERM saves a checkpoint and exits with "stopped".
"""

from __future__ import annotations

import json
import math
import os
import signal
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Callable

import torch
from safetensors import SafetensorError

from lep_core.errors import LepInputError, LepJobError
from lep_core.sources.device import resolve_device
from lep_core.sources.loading import first_line, load_tokenizer, resolve
from lep_core.training import checkpoint as ckpt
from lep_core.training import data, job
from lep_core.training.chat import chat_blocks
from lep_core.training.freeze import freeze_body, mask_old_rows, new_row_mask
from lep_core.training.lora import attach as attach_lora
from lep_core.training.loss import EmbeddingLM
from lep_core.training.options import TrainOptions
from lep_core.training.parallel import agreed_digests
from lep_core.training.rundir import DATA_DIR, RunPlace, is_main_process, open_run, resolve_options, stored_hash
from lep_core.training.runtime import (
    check_cuda_options,
    cpu_note,
    is_out_of_memory,
    load_for_training,
    lr_at,
    make_accelerator,
    make_optimizer,
    oom_advice,
    param_groups,
    resolve_precision,
)
from lep_core.workspace.store import content_hash, describe_input, write_json_atomic, write_manifest

Progress = Callable[[int, int], None]
CHAT_INFO, LOSS_BEFORE = "chat.json", "answer_loss_before.json"


class _NonFinite(Exception):
    pass


# ---------------------------------------------------------------- the job

def train(given: dict[str, Any], resume: bool = False, overwrite: bool = False, progress: Progress | None = None,
          origin: dict[str, Any] | None = None, read_progress: Progress | None = None,
          place: RunPlace | None = None) -> dict[str, Any]:
    """Run (or resume) one training job; returns the summary printed by `lep train --json`.

    A text corpus is tokenized once into the workspace's token cache and memory-mapped (data.text_blocks):
    a later run on the same corpus and tokenizer, --resume and every data-parallel process read no text.
    progress(step, steps) follows training; read_progress(bytes read, bytes total) the first tokenizing
    (also written to status.json as "reading" when the run folder exists, for the app).

    origin ({"operation", "inputs", "params"}) lets a caller such as calibration say in the manifests what
    the run was for and what went into it beyond the model and the data files.

    The run folder is locked for the whole run and checked under the lock (lep_core.training.rundir.open_run);
    `place`: a run folder a caller (calibration) has opened already.
    """
    options, run_dir = resolve_options(given, resume, overwrite, check=place is None)
    device = resolve_device(options.device)
    resolve_precision(options.precision, device)  # refuses a precision the device lacks, before anything is locked
    problems = check_cuda_options(options, device)
    if problems:
        raise LepInputError("; ".join(problems))
    if place is not None:
        return _train_in(place, options, resume, progress, origin, read_progress)
    with open_run(run_dir, resume, overwrite, options.model, list(options.corpus)) as opened:
        summary = _train_in(opened, options, resume, progress, origin, read_progress)
    return summary


def _train_in(place: RunPlace, options: TrainOptions, resume: bool, progress: Progress | None,
              origin: dict[str, Any] | None, read_progress: Progress | None) -> dict[str, Any]:
    """The run, written into place.work (the run folder, or the sibling an --overwrite keeps the old run beside)."""
    work = place.work
    device = resolve_device(options.device)
    precision = resolve_precision(options.precision, device)
    source = resolve(options.model, "model")
    tokenizer = load_tokenizer(source)

    chat_info = None
    if resume:
        blocks = data.load_blocks(work / DATA_DIR)
        chat_info = _read_json(work / DATA_DIR / CHAT_INFO)
        if chat_info and chat_info.get("token_cache"):  # the run's own copy of the token map: no text read
            chat_info = {**chat_info, "token_cache": {**chat_info["token_cache"], "reused": True}}
    elif options.data == "chat":
        blocks, chat_info = chat_blocks(tokenizer, options.corpus, options.seq_len, options.val_fraction, options.seed)
    else:
        blocks, chat_info = data.text_blocks(tokenizer, options.corpus, options.seq_len, options.val_fraction, options.seed,
                                             token_cache_root(place.out), _reading(work, read_progress))
    work.mkdir(parents=True, exist_ok=True)  # the data is ready: the first write into the run folder ...
    if is_main_process():  # ... is status.json, the mark of a run folder LEP made (rundir.is_run_folder)
        job.write_status(work, state="running", pid=os.getpid(), error=None)
    session = _Session(options, work, device, precision, source, tokenizer, blocks, resume, chat_info, origin,
                       final_dir=place.out / "final")
    try:
        summary = session.run(progress)
    except (LepInputError, LepJobError) as exc:
        session.fail(str(exc))
        raise
    except _NonFinite as exc:
        session.fail(str(exc))
        raise LepJobError(str(exc)) from None
    except (OSError, SafetensorError) as exc:
        last = ckpt.checkpoints(work)
        msg = (f"could not write to {work}: {first_line(exc)}; "
               + (f"the previous run in {place.out} is kept as it was: free disk space or fix permissions, then "
                  "start over again" if place.staged else
                  (f"checkpoint {last[-1].name} is kept" if last else "no checkpoint was written yet")
                  + ": free disk space or fix permissions, then run again with --resume"))
        session.fail(msg)
        raise LepJobError(msg) from exc
    except BaseException as exc:
        if is_out_of_memory(exc):
            msg = oom_advice(options, device, session.step) + _kept(work)
            session.fail(msg)
            raise LepJobError(msg) from None
        session.fail(f"{type(exc).__name__}: {first_line(exc)}")
        raise
    place.finished = summary.get("state") == "finished"
    if place.staged and not place.finished:
        session.log.info("this run was started with --overwrite and did not finish: the previous run in %s is kept "
                         "as it was, and this run's progress is discarded", place.out)
        summary["note"] = f"the previous run in {place.out} is kept; this unfinished run is discarded"
    return summary


def token_cache_root(run_dir: Path) -> Path:
    """The token cache of the workspace that holds the run (<workspace>/runs/<name>), else of the current
    workspace (lep_core.corpus.token_cache.cache_root: $LEP_TOKEN_CACHE wins)."""
    from lep_core.corpus.token_cache import cache_root

    return cache_root(run_dir.parent.parent if run_dir.parent.name == "runs" else None)


def _reading(run_dir: Path, also: Progress | None) -> Progress:
    """progress(bytes read, bytes total) of the first tokenizing: to `also`, and to status.json (at most once a
    second, process 0 only) when the run folder exists, so the app shows it before the first step."""
    last = [0.0]
    write = run_dir.is_dir() and int(os.environ.get("RANK", "0")) == 0

    def report(done: int, total: int) -> None:
        if also is not None:
            also(done, total)
        now = time.monotonic()
        if write and (now - last[0] >= 1.0 or done >= total):
            last[0] = now
            try:
                job.write_status(run_dir, reading={"done": done, "total": total})
            except OSError:
                pass

    return report


def _read_json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _kept(run_dir: Path) -> str:
    last = ckpt.checkpoints(run_dir)
    return f"; the last checkpoint {last[-1].name} is kept (run again with --resume)" if last else ""


class _Session:
    """One process's part of a run: set up once, then loop."""

    def __init__(self, options: TrainOptions, run_dir: Path, device: str, precision: str, source, tokenizer,
                 blocks: data.Blocks, resume: bool, chat_info: dict[str, Any] | None = None,
                 origin: dict[str, Any] | None = None, final_dir: Path | None = None):
        self.options, self.run_dir, self.source, self.tokenizer, self.blocks = options, run_dir, source, tokenizer, blocks
        self.final_dir = final_dir or run_dir / "final"  # where final/ ends up (the run folder's, once staged runs land)
        self.chat_info, self.origin, self.loss_before = chat_info, origin or {}, None
        self.step, self.stop_requested, self.resume = 0, False, resume
        self.acc = make_accelerator(device, precision)
        self.main = self.acc.is_main_process
        self.device, self.precision = str(self.acc.device), precision
        self.log = job.run_logger(run_dir, self.main)
        torch.manual_seed(options.seed + self.acc.process_index)
        if self.main:
            self._write_setup()

    # -- files
    def status(self, **fields: Any) -> None:
        if self.main:
            job.write_status(self.run_dir, **fields)

    def fail(self, message: str) -> None:
        if self.main and self.run_dir.is_dir():
            try:
                job.write_status(self.run_dir, state="failed", error=message, pid=os.getpid())
            except OSError:
                pass
            self.log.error("failed: %s", message)

    def _write_setup(self) -> None:
        o = self.options
        if not self.resume:
            (self.run_dir / DATA_DIR).mkdir(exist_ok=True)
            data.save_blocks(self.blocks, self.run_dir / DATA_DIR)
            if self.chat_info is not None:
                write_json_atomic(self.run_dir / DATA_DIR / CHAT_INFO, self.chat_info)
            write_json_atomic(self.run_dir / job.CONFIG, {**o.to_dict(), "model_hash": content_hash(o.model)})
        fields = {} if self.resume else {"step": 0, "loss": None, "val_loss": None}
        if self.chat_info is not None:
            fields["data"] = self.chat_info  # chat: conversations kept and skipped; text: blocks, BOS, control strings
            cache = self.chat_info.get("token_cache")
            if cache:
                self.log.info("corpus %.1f MB, %d tokens: %s", self.chat_info["corpus_bytes"] / 2**20,
                              self.chat_info["corpus_tokens"], "token cache reused, no text read" if cache["reused"]
                              else f"tokenized once into the token cache {cache['path']}")
            if self.chat_info.get("special_strings_as_text"):
                self.log.info("the corpus holds %d special-token strings (e.g. <|im_end|>): read as plain text, "
                              "not as control tokens", self.chat_info["special_strings_as_text"])
        self.status(state="running", pid=os.getpid(), total=o.steps, error=None, device=self.device,
                    precision=self.precision, started=job.now(), eta_s=None, reading=None, **fields)

    # -- setup
    def _setup_model(self) -> None:
        o = self.options
        index = self.acc.local_process_index if self.device.startswith("cuda") else 0
        model = load_for_training(self.source, self.precision, self.device, o.load_in_4bit, index)
        self.model = model
        if o.train_params == "lora":
            freeze_body(model)  # re-ties a model whose config says tied, like the embedding path
            self.trainable = attach_lora(model, o.lora_rank, o.lora_alpha, o.lora_mlp)
        else:
            self.trainable = freeze_body(model)
            with torch.no_grad():
                for p in self.trainable.params():
                    p.data = p.data.float()
            if getattr(model.config, "tie_word_embeddings", False):
                model.tie_weights()
        if o.train_rows == "new":
            self.trainable.new_rows = new_row_mask(o.model if Path(o.model).is_dir() else None,
                                                   self.trainable.embed.shape[0], o.old_rows)
        if o.gradient_checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if not o.load_in_4bit:
            model.to(self.acc.device)
        model.train()
        if (o.head_lr is not None or o.fit_head) and getattr(self.trainable, "head", None) is None:
            raise LepInputError("--head-lr and --fit-head need an untied head, but this model ties its head to its input embeddings "
                                "(or trains LoRA): drop --head-lr, or make the model with `lep model init "
                                "--head-method mean` (or first, fitted), which unties it")
        self.optimizer = make_optimizer(param_groups(self.trainable.params(), o, getattr(self.trainable, "head", None)), o, self.device)
        self.wrapped = self.acc.prepare_model(EmbeddingLM(model), device_placement=False)
        if self.resume:
            self._load_latest()
        self.optimizer = self.acc.prepare_optimizer(self.optimizer, device_placement=False)
        if o.data == "chat":
            self._measure_before()

    def _measure_before(self) -> None:
        """Loss on the answers before any training step (kept in the run, so a resume reports the same figure)."""
        path = self.run_dir / DATA_DIR / LOSS_BEFORE
        self.loss_before = _read_json(path) if self.resume else None
        if self.loss_before is None:
            self.loss_before = self.answer_loss()
            if self.main:
                write_json_atomic(path, self.loss_before)
        self.status(loss_before=self.loss_before)
        self.log.info("loss on the answers before training: %s", self.loss_before)

    def _load_latest(self) -> None:
        recorded = stored_hash(self.run_dir)
        if recorded and Path(self.options.model).exists() and content_hash(self.options.model) != recorded:
            raise LepInputError(f"the model {self.options.model} changed since this run started: "
                                "resume needs the same model (or start a new run)")
        last = ckpt.checkpoints(self.run_dir)[-1]
        meta = ckpt.load_checkpoint(last, self.trainable, self.optimizer)
        self.step = int(meta["step"])
        self.elapsed0 = float(meta.get("elapsed_s", 0.0))
        if self.main:
            job.truncate_metrics(self.run_dir, self.step)
        self.log.info("resumed from %s (step %d)", last.name, self.step)

    # -- the loop
    def run(self, progress: Progress | None) -> dict[str, Any]:
        self.elapsed0 = 0.0
        previous = {signal.SIGTERM: signal.getsignal(signal.SIGTERM), signal.SIGINT: signal.getsignal(signal.SIGINT)}
        for sig in previous:
            signal.signal(sig, self._on_signal)
        try:
            self._setup_model()
            return self._loop(progress)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, signum, frame) -> None:
        if not self.stop_requested:
            self.stop_requested = True
            self.log.info("stop requested (signal %d): finishing step %d and saving a checkpoint", signum, self.step + 1)
            try:
                self.status(state="stopping")
            except OSError:
                pass

    def _loop(self, progress: Progress | None) -> dict[str, Any]:
        o, acc = self.options, self.acc
        world, rank = acc.num_processes, acc.process_index
        tokens_per_step = o.batch_size * self.blocks.seq_len * o.grad_accum * world
        self.log.info("training %s (%s) on %s (%s): %d train / %d val %s of %d tokens, %d steps, %d tokens per step",
                      Path(o.model).name, o.train_params if o.train_params == "lora" else f"embeddings, rows {o.train_rows}",
                      self.device, self.precision, len(self.blocks.train), len(self.blocks.val),
                      "conversations" if o.data == "chat" else "blocks", self.blocks.seq_len, o.steps, tokens_per_step)
        if note := cpu_note(o, self.device, self.precision):
            self.log.info(note)
        self.status(state="running", step=self.step, total=o.steps, tokens_per_step=tokens_per_step)
        start = time.perf_counter()
        mark_t, mark_step, step_times = start, self.step, []
        loss_value, val_loss = float("nan"), None
        while self.step < o.steps and not self._should_stop():
            t0 = time.perf_counter()
            lr = lr_at(self.step, o)
            for group in self.optimizer.param_groups:
                group["lr"] = lr * group.get("lr_scale", 1.0)
            loss_value = self._train_step(world, rank)
            self.step += 1
            step_times.append(time.perf_counter() - t0)
            elapsed = self.elapsed0 + time.perf_counter() - start
            if progress:
                progress(self.step, o.steps)
            evaluate = bool(self.blocks.val.size) and (
                (o.eval_every and self.step % o.eval_every == 0) or self.step == o.steps)
            val_loss = self.validate() if evaluate else None
            if self.step % o.log_every == 0 or val_loss is not None or self.step == o.steps:
                now = time.perf_counter()
                tps = (self.step - mark_step) * tokens_per_step / max(now - mark_t, 1e-9)
                mark_t, mark_step = now, self.step
                record = {"step": self.step, "loss": round(loss_value, 6), "lr": lr, "tokens": self.step * tokens_per_step,
                          "tokens_per_s": round(tps, 1), "elapsed_s": round(elapsed, 3)}
                if val_loss is not None:
                    record["val_loss"] = round(val_loss, 6)
                recent = step_times[-20:]
                eta = (o.steps - self.step) * sum(recent) / len(recent)
                if self.main:
                    job.append_metrics(self.run_dir, record)
                self.status(state="stopping" if self.stop_requested else "running", step=self.step, loss=record["loss"],
                            eta_s=round(eta, 1), elapsed_s=record["elapsed_s"], tokens_per_s=record["tokens_per_s"],
                            **({"val_loss": record["val_loss"]} if val_loss is not None else {}))
                self.log.info("step %d/%d loss %.4f lr %.3g %.0f tok/s%s", self.step, o.steps, loss_value, lr, tps,
                              f" val {val_loss:.4f}" if val_loss is not None else "")
            if o.save_every and self.step % o.save_every == 0 and self.step < o.steps:
                self.save(elapsed, loss_value)
        elapsed = self.elapsed0 + time.perf_counter() - start
        self.save(elapsed, loss_value)
        if self.step < o.steps:
            self.status(state="stopped", step=self.step, eta_s=None)
            self.log.info("stopped at step %d; continue with --resume", self.step)
            return self._summary("stopped", loss_value, elapsed)
        final, after = self._finish(loss_value, val_loss, elapsed)
        extra = {"answer_loss_before": self.loss_before, "answer_loss_after": after, "data": self.chat_info} if after else {}
        return {**self._summary("finished", loss_value, elapsed), "final": str(final), "val_loss": val_loss, **extra}

    def _should_stop(self) -> bool:
        if self.acc.num_processes == 1:
            return self.stop_requested
        flag = torch.tensor([1.0 if self.stop_requested else 0.0], device=self.acc.device)
        return bool(self.acc.reduce(flag, "max").item() > 0)

    def _train_step(self, world: int, rank: int) -> float:
        o, acc = self.options, self.acc
        total = 0.0
        for micro in range(o.grad_accum):
            ids, mask = data.micro_rows(self.blocks, o.seed, self.step, micro, o.grad_accum, o.batch_size, rank, world)
            ids, mask = ids.to(acc.device), None if mask is None else mask.to(acc.device)
            sync = micro == o.grad_accum - 1
            with acc.no_sync(self.wrapped) if not sync and world > 1 else nullcontext():
                loss = self.wrapped(ids, mask)
                acc.backward(loss / o.grad_accum)
            total += float(loss.detach())
        mean = total / o.grad_accum
        if world > 1:
            mean = float(acc.reduce(torch.tensor([mean], device=acc.device), "mean").item())
        if not math.isfinite(mean):
            self.optimizer.zero_grad(set_to_none=True)
            raise _NonFinite(self._nonfinite_message("loss", mean))
        mask_old_rows(self.trainable)
        params = self.trainable.params()
        if o.max_grad_norm > 0:
            norm = float(acc.clip_grad_norm_(params, o.max_grad_norm))
            if not math.isfinite(norm) and self.precision != "fp16":
                self.optimizer.zero_grad(set_to_none=True)
                raise _NonFinite(self._nonfinite_message("gradient norm", norm))
        if o.weight_decay:
            self._decay()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return mean

    def _decay(self) -> None:
        """Decoupled weight decay on the trained rows only (old rows stay bit-identical with --train-rows new)."""
        with torch.no_grad():
            for group in self.optimizer.param_groups:
                factor = 1 - group["lr"] * self.options.weight_decay
                for p in group["params"]:
                    if self.trainable.new_rows is None:
                        p.mul_(factor)
                    else:
                        p[self.trainable.new_rows.to(p.device)] *= factor

    def _nonfinite_message(self, what: str, value: float) -> str:
        return (f"the {what} became {value} at step {self.step + 1} (lr {lr_at(self.step, self.options):.3g}); "
                f"the weights of step {self.step} were not updated{_kept(self.run_dir)}. "
                "Lower --lr, raise --warmup, or use --precision fp32")

    @torch.no_grad()
    def validate(self, train_rows: bool = False) -> float:
        o = self.options
        self.wrapped.eval()
        dev = self.acc.device
        losses = [float(self.wrapped(ids.to(dev), None if mask is None else mask.to(dev)))
                  for ids, mask in data.val_batches(self.blocks, o.batch_size, o.eval_batches, train=train_rows)]
        self.wrapped.train()
        return sum(losses) / max(len(losses), 1)

    def answer_loss(self) -> dict[str, float | None]:
        """Mean loss on the answers of the first training rows and of the held-out rows (chat data)."""
        val = self.validate() if self.blocks.val.size else None
        return {"train": round(self.validate(train_rows=True), 6), "val": None if val is None else round(val, 6)}

    def save(self, elapsed: float, loss: float) -> None:
        if self.main:
            ckpt.save_checkpoint(self.run_dir, self.step, self.trainable, self.optimizer,
                                 {"elapsed_s": round(elapsed, 3), "loss": loss}, self.options.keep_checkpoints)
        self.acc.wait_for_everyone()

    def _finish(self, loss: float, val_loss: float | None, elapsed: float) -> tuple[Path, dict[str, Any] | None]:
        o = self.options
        final = self.run_dir / "final"
        answer_loss = self.answer_loss() if o.data == "chat" else None  # before LoRA is merged: same model, exact
        digests = agreed_digests(self.acc, self.trainable.params())  # several processes: all hold the same rows
        if self.main:
            from lep_core.workspace.store import read_manifest

            source_dir = Path(self.source.location) if not self.source.is_hub and not self.source.gguf_file else None
            init = (read_manifest(source_dir) or {}).get("metrics", {}) if source_dir else {}
            metrics = {"steps": self.step, "loss": loss, "val_loss": val_loss,
                       "tokens": self.step * o.batch_size * self.blocks.seq_len * o.grad_accum * self.acc.num_processes,
                       "seconds": round(elapsed, 3), "init": {k: init[k] for k in ("old_rows", "new_rows", "new_row_ranges") if k in init}}
            if answer_loss is not None:
                metrics.update(answer_loss_before=self.loss_before, answer_loss_after=answer_loss, data=self.chat_info)
            inputs = {"model": describe_input(o.model), "corpus": [describe_input(c) for c in o.corpus],
                      **self.origin.get("inputs", {})}
            params = {"operation": self.origin.get("operation", "train"),
                      **{k: v for k, v in o.to_dict().items() if k not in ("model", "corpus", "out")},
                      **self.origin.get("params", {})}
            model = self.acc.unwrap_model(self.wrapped).model
            if o.fit_head:
                metrics["head_fit"] = self._fit_head(model)
            ckpt.write_final(final, model, self.tokenizer, self.trainable, source_dir,
                             {"kind": "model", "inputs": inputs, "params": params, "metrics": metrics})
            write_manifest(self.run_dir, kind="run", inputs=inputs, params=params, metrics=metrics)
            self.status(state="finished", step=self.step, eta_s=0, final=str(self.final_dir), loss=round(loss, 6),
                        **({"val_loss": round(val_loss, 6)} if val_loss is not None else {}),
                        **({"loss_after": answer_loss} if answer_loss is not None else {}),
                        **({"rank_digests": digests} if digests else {}))
            self.log.info("finished: %s", self.final_dir)
        self.acc.wait_for_everyone()
        return self.final_dir, answer_loss

    def _fit_head(self, model) -> dict[str, Any]:
        """The new head rows fitted to the trained model's hidden states on the corpus (embeddings/head_fit.py)."""
        from lep_core.corpus.reading import read_corpus
        from lep_core.embeddings.head_fit import HeadFitOptions, fit_new_head_rows

        self.status(state="running", phase="fitting the head")
        self.log.info("fitting the new head rows to the trained model's hidden states")
        facts = fit_new_head_rows(model, self.tokenizer, read_corpus(self.options.corpus), self.trainable.new_rows,
                                  HeadFitOptions(seed=self.options.seed, lr=1e-3, epochs=12))  # a refit: small steps
        self.log.info("head fitted: held-out loss %.4f -> %.4f, new tokens win %.1f%% -> %.1f%% of positions",
                      facts["heldout_loss_before"], facts["heldout_loss_after"],
                      100 * facts["new_token_wins_before"], 100 * facts["new_token_wins_after"])
        return facts

    def _summary(self, state: str, loss: float, elapsed: float) -> dict[str, Any]:
        o = self.options
        tokens = self.step * o.batch_size * self.blocks.seq_len * o.grad_accum * self.acc.num_processes
        return {"state": state, "out": str(self.final_dir.parent), "steps": self.step, "total": o.steps, "loss": loss,
                "tokens": tokens, "seconds": round(elapsed, 3), "device": self.device, "precision": self.precision}
