"""`lep eval suite`: the evaluation suite (minimal pairs, multiple choice, copy, bits-per-char) on models."""

from __future__ import annotations

import signal
from pathlib import Path

from lep_core.cli.common import add_json, add_overwrite, add_workspace, positive_int


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
    p.add_argument("--copy-batch", type=positive_int, default=8, help="paragraphs generated at once (default 8)")
    p.add_argument("--job-dir", default=None, help="write progress to status.json in this folder (the app does)")
    add_json(p)
    p.set_defaults(func=run_suite_command)


def _table(results: dict) -> str:
    """One Markdown table per task: models as columns, the score (and per phenomenon) as rows."""
    lines, names = [], [m["name"] for m in results["models"]]
    for task in results["tasks"]:
        lines += [f"\n{task['name']} ({task['kind']}, n={task['n']})", "| | " + " | ".join(names) + " |",
                  "|---|" + "---|" * len(names)]
        cells = [m["tasks"][task["name"]] for m in results["models"]]
        rows = [(cells[0]["metric"], [c["score"] for c in cells])]
        for key in ("accuracy_by_total_logprob", "similarity", "chars_per_generated_token", "chars_per_token"):
            if key in cells[0]:
                rows.append((key, [c[key] for c in cells]))
        for phen in cells[0].get("per_phenomenon", {}):
            rows.append((f"  {phen} (n={cells[0]['per_phenomenon'][phen]['n']})",
                         [c["per_phenomenon"][phen]["accuracy"] for c in cells]))
        rows.append(("seconds", [c["seconds"] for c in cells]))
        lines += [f"| {name} | " + " | ".join(f"{v:.3f}" for v in values) + " |" for name, values in rows]
    lines.append(f"\ntotal {results['seconds']:.1f} s on {results['device']}")
    return "\n".join(lines)


def run_suite_command(args) -> dict | None:
    from lep_core import jobs
    from lep_core.evaluation.suite.items import load_suites
    from lep_core.evaluation.suite.run import check_models, default_name, run_suite, write_results
    from lep_core.workspace import check_output_free, workspace_root

    job_dir = Path(args.job_dir) if args.job_dir else None
    try:
        tasks = load_suites(args.suite)
        check_models(args.model)
        out = Path(args.out) if args.out else workspace_root(args.workspace) / "evals" / default_name()
        check_output_free(out, args.overwrite)
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
            from lep_core.sources import first_line

            jobs.write_status(job_dir, state="failed", error=first_line(exc), finished=jobs.now())
        raise
    if job_dir:
        jobs.write_status(job_dir, state="finished", finished=jobs.now(), out=str(out))
    results["out"] = str(out)
    if args.json:
        return results
    print(_table(results) + f"\nresults: {out}/results.json")
    return None


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


