"""`lep push`: upload an adapted model folder (with its refreshed card) to the Hugging Face hub.

huggingface_hub does the work (create_repo, upload_folder: chunked, resumable LFS uploads); this module checks
first (folder, repo name, token, hub reachable, repository empty unless --overwrite) and says what would go up.
A repository counts as empty only when it holds nothing but the .gitattributes the hub creates: a README.md
there was written by someone (a hand-written card) and is never replaced without --overwrite. --dry-run writes
nothing, not even the card: the plan lists the card as it would be written.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from lep_core.errors import LepInputError

_REPO = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}$")
_IGNORE = (".*", "**/.*", "*.tmp", "checkpoints/**")  # hidden and temporary files, training checkpoints
_HARMLESS = {".gitattributes"}  # what a freshly created repository holds


def upload_plan(folder: Path) -> list[dict[str, Any]]:
    """The files `push` would upload: [{"path", "bytes"}], hidden and temporary files left out."""
    files = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if any(part.startswith(".") for part in rel.split("/")) or rel.endswith(".tmp") or rel.startswith("checkpoints/"):
            continue
        files.append({"path": rel, "bytes": path.stat().st_size})
    return files


def check_push(model: str, repo: str) -> list[str]:
    problems = []
    folder = Path(model).expanduser()
    if not (folder / "config.json").is_file():
        problems.append(f"no model in {model} (no config.json): pass an adapted model folder")
    elif not (folder / "tokenizer.json").is_file() and not (folder / "tokenizer.model").is_file():
        problems.append(f"no tokenizer in {model}: push a folder made by `lep propagate`")
    if not _REPO.match(repo or ""):
        problems.append(f"--repo must be ORG/NAME (letters, digits, '-', '_', '.'), got {repo!r}")
    return problems


def _hub_problem(exc: BaseException, endpoint: str) -> LepInputError:
    """One line for what went wrong talking to the hub."""
    from huggingface_hub.errors import HfHubHTTPError

    if isinstance(exc, HfHubHTTPError) and exc.response is not None and exc.response.status_code in (401, 403):
        return LepInputError(f"the hub at {endpoint} refused the token ({exc.response.status_code}): "
                             "check it with `hf auth whoami` or set HF_TOKEN to a token with write access")
    if isinstance(exc, HfHubHTTPError):
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return LepInputError(f"the hub at {endpoint} answered: {first}")
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return LepInputError(f"cannot reach the Hugging Face hub at {endpoint} ({type(exc).__name__}: {first}): check "
                         "the network (or HF_ENDPOINT) and try again")


def _probe(endpoint: str) -> None:
    """Fail at once when the hub's host does not accept connections (huggingface_hub would retry for ~25 s).
    Skipped behind a proxy, where only the proxy is reachable directly."""
    import socket
    from urllib.parse import urlsplit

    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY")):
        return
    url = urlsplit(endpoint)
    try:
        socket.create_connection((url.hostname, url.port or (443 if url.scheme == "https" else 80)), timeout=10).close()
    except OSError as exc:
        raise _hub_problem(exc, endpoint) from None


def push(model: str, repo: str, private: bool = False, overwrite: bool = False, dry_run: bool = False,
         token: str | None = None, endpoint: str | None = None) -> dict[str, Any]:
    """Upload `model` to hub repository `repo`; with dry_run, only check and list what would be uploaded.

    Raises LepInputError (one line) for a bad folder or repo name, a missing or refused token, an unreachable hub,
    or a non-empty repository without overwrite.
    """
    from huggingface_hub import HfApi, constants, get_token
    from huggingface_hub.errors import RepositoryNotFoundError
    from huggingface_hub.utils.logging import set_verbosity_error

    from lep_core.export.card import card_path, card_text, write_card

    problems = check_push(model, repo)
    if problems:
        raise LepInputError("; ".join(problems))
    folder = Path(model).expanduser().resolve()
    card = card_path(folder)
    text = card_text(folder) if card is not None else None
    plan = upload_plan(folder)
    if card is not None:  # the card as it will be written, listed before (and, on a dry run, without) writing it
        rel = card.relative_to(folder).as_posix()
        plan = sorted([f for f in plan if f["path"] != rel] + [{"path": rel, "bytes": len(text.encode("utf-8"))}],
                      key=lambda f: f["path"])
    summary = {"repo": repo, "files": plan, "bytes": sum(f["bytes"] for f in plan), "private": private}
    if dry_run:
        return {**summary, "uploaded": False}
    token = token or get_token()
    if not token:
        raise LepInputError("no Hugging Face token: run `hf auth login` or set HF_TOKEN (a token with write access)")
    endpoint = endpoint or constants.ENDPOINT
    _probe(endpoint)
    set_verbosity_error()  # its retry warnings would break the one-line contract; the error below says it all
    api = HfApi(endpoint=endpoint, token=token)
    try:
        try:
            existing = [f for f in api.list_repo_files(repo) if f not in _HARMLESS]
        except RepositoryNotFoundError:
            existing = None
    except Exception as exc:  # noqa: BLE001 - the hub client's transport errors (its HTTP library varies by version)
        raise _hub_problem(exc, endpoint) from None
    if existing and not overwrite:
        raise LepInputError(f"the hub repository {repo} already holds {len(existing)} files "
                            f"({', '.join(existing[:3])}{', ...' if len(existing) > 3 else ''}): "
                            "pass --overwrite to replace them, or choose another --repo")
    if card is not None:
        write_card(folder, text)
    try:
        if existing is None:
            api.create_repo(repo, private=private, exist_ok=True)
        commit = api.upload_folder(folder_path=folder, repo_id=repo, ignore_patterns=list(_IGNORE),
                                   commit_message=f"Upload {folder.name} (LEP Studio)")
    except LepInputError:
        raise
    except Exception as exc:  # noqa: BLE001 - the hub client's transport errors (its HTTP library varies by version)
        raise _hub_problem(exc, endpoint) from None
    return {**summary, "uploaded": True, "url": getattr(commit, "commit_url", None) or f"{endpoint}/{repo}"}
