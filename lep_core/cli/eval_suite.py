"""`lep eval suite`: the evaluation suite (minimal pairs, multiple choice, copy, bits-per-char) on models."""

from __future__ import annotations

import contextlib
import signal
from pathlib import Path

from lep_core.cli.common import (
    add_allow_pickle,
    add_json,
    add_overwrite,
    add_workspace,
    note_normalisation,
    positive_int,
)


def register(eval_parser) -> None:
    sub = eval_parser.add_subparsers(dest="eval_command", metavar="suite", required=False)
    p = sub.add_parser("suite", help="the Russian evaluation suite (or your JSONL sets) on one or more models")
    p.add_argument("--model", required=True, action="append", help="model: folder, .gguf file or hub id (repeat for more)")
    p.add_argument("--suite", nargs="+", default=None,
                   help="built-in suite name (ru, en), a .jsonl file or a folder of them (default: ru en)")
    p.add_argument("--out", default=None, help="results folder (default: WORKSPACE/evals/suite-<date-time>)")
    add_workspace(p)
    add_overwrite(p)
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--batch-tokens", type=positive_int, default=2048,
                   help="padded tokens per scoring batch (one forward each; default 2048)")
    p.add_argument("--copy-batch", type=positive_int, default=32, help="paragraphs generated at once (default 32)")
    p.add_argument("--job-dir", default=None, help="write progress to status.json in this folder (the app does)")
    add_allow_pickle(p)
    add_json(p)
    p.set_defaults(func=run_suite_command)


def run_suite_command(args) -> dict | None:
    from lep_core.evaluation.suite.items import load_suites
    from lep_core.evaluation.suite.run import check_models, default_name, run_suite, write_results
    from lep_core.workspace import jobs
    from lep_core.workspace.locks import holding
    from lep_core.workspace.store import check_output_free, workspace_root

    job_dir = Path(args.job_dir) if args.job_dir else None
    held = contextlib.ExitStack()  # the output's lock, held from the check to the write (a second suite is refused)
    try:
        tasks = load_suites(args.suite)
        note_normalisation(suite_normalisation(tasks))
        check_models(args.model)
        out = Path(args.out) if args.out else workspace_root(args.workspace) / "evals" / default_name()
        check_output_free(out, args.overwrite)
        held.enter_context(holding([out], list(args.model)))
        signal.signal(signal.SIGTERM, _interrupt)  # Stop: the temporary output is removed, nothing half-written
        if job_dir:
            jobs.write_status(job_dir, state="running", done=0, total=None, note="starting", out=str(out))
        from lep_core.cli.progress import bar

        device = None if args.device == "auto" else args.device
        with bar(1, "eval suite") as update:
            def progress(done: int, total: int, note: str) -> None:
                update(done, total)
                if job_dir:
                    jobs.write_status(job_dir, done=done, total=total, note=note)

            results, records = run_suite(args.model, tasks, device, args.batch_tokens, args.copy_batch, progress)
        write_results(out, results, records, args.overwrite)
    except KeyboardInterrupt:
        if job_dir:
            jobs.write_status(job_dir, state="stopped", finished=jobs.now())
        raise
    except Exception as exc:
        if job_dir:
            from lep_core.sources.loading import first_line

            jobs.write_status(job_dir, state="failed", error=first_line(exc), finished=jobs.now())
        raise
    finally:
        held.close()
    if job_dir:
        jobs.write_status(job_dir, state="finished", finished=jobs.now(), out=str(out))
    results["out"] = str(out)
    if args.json:
        return results
    from lep_core.evaluation.suite.report import markdown

    print(markdown(results) + f"\nresults: {out}/results.json")
    return None


def suite_normalisation(tasks):
    """What reading rewrote over all tasks (lep_core.corpus.text.TextChanges); results.json has it per task."""
    from lep_core.corpus.text import TextChanges

    changes = TextChanges()
    for task in tasks:
        changes.add(task.normalised)
    return changes


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


