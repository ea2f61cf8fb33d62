"""`lep export gguf` and `lep push`: thin layers over lep_core.export."""

from __future__ import annotations

import signal

from lep_core.cli.common import add_json
from lep_core.export.options import ExportOptions, GgufType, parse_type


def register(sub) -> None:
    group = sub.add_parser("export", help="export a model for other runtimes").add_subparsers(
        dest="export_command", required=True, metavar="FORMAT")
    p = group.add_parser("gguf", help="one .gguf file for llama.cpp and Ollama, with an Ollama Modelfile beside it")
    helps = {f: ExportOptions.__dataclass_fields__[f].metadata["help"]
             for f in ("model", "out", "base", "name", "keep_f16", "check")}
    p.add_argument("--model", required=True, help=helps["model"])
    p.add_argument("--out", required=True, help=helps["out"])
    p.add_argument("--type", default=GgufType.f16.value, type=parse_type, choices=[t.value for t in GgufType],
                   metavar="TYPE", help="tensor type (Q4_K_M or q4_k_m): "
                   + "; ".join(f"{t.value}: {t.help}" for t in GgufType)
                   + ". The k-quants and q4_0/q5_0 are made by llama.cpp's quantizer from an f16 export and need "
                   "llama-cpp-python (pip install 'lep-studio[llama]')")
    p.add_argument("--keep-f16", action="store_true", help=helps["keep_f16"])
    p.add_argument("--check", action="store_true", help=helps["check"] + " (needs llama-cpp-python)")
    p.add_argument("--base", default=None, help=helps["base"])
    p.add_argument("--name", default=None, help=helps["name"])
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing .gguf, its Modelfile and report (once the new ones are whole)")
    add_json(p)
    p.set_defaults(func=run_gguf)

    q = sub.add_parser("push", help="upload a model folder (and its model card) to the Hugging Face hub")
    q.add_argument("--model", required=True, help="the model folder (an adapted model)")
    q.add_argument("--repo", required=True, help="hub repository ORG/NAME (created when missing)")
    q.add_argument("--private", action="store_true", help="create the repository private")
    q.add_argument("--overwrite", action="store_true", help="upload into a repository that already holds files")
    q.add_argument("--dry-run", action="store_true", help="check and list what would be uploaded, upload nothing")
    add_json(q)
    q.set_defaults(func=run_push)


def _interrupt(signum, frame):
    raise KeyboardInterrupt  # export_gguf then stops its converter and removes the temporary files


def run_gguf(args) -> dict:
    from lep_core.cli.progress import bar
    from lep_core.export.gguf_export import export_gguf

    opts = ExportOptions(model=args.model, out=args.out, type=args.type, base=args.base, name=args.name,
                         overwrite=args.overwrite, keep_f16=args.keep_f16, check=args.check)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        with bar(1000, "export gguf") as update:
            return export_gguf(opts, lambda fraction, _message: update(int(fraction * 1000), 1000))
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_push(args) -> dict:
    from lep_core.export.push import push

    return push(args.model, args.repo, private=args.private, overwrite=args.overwrite, dry_run=args.dry_run)
