"""What every tab shares: the workspace it reads and writes, and small helpers over it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lep_core.workspace.store import KINDS, list_artifacts, workspace_root
from lep_studio.page_load import PageLoad


@dataclass(frozen=True)
class AppContext:
    workspace: Path
    ui: dict[str, Any] = field(default_factory=dict, compare=False)  # shared components, e.g. "tabs" (the gr.Tabs)
    page_load: PageLoad = field(default_factory=PageLoad, compare=False)  # what a fresh page reads, as one event

    @classmethod
    def create(cls, workspace: str | None = None) -> "AppContext":
        root = workspace_root(workspace)
        for sub in KINDS.values():
            (root / sub).mkdir(parents=True, exist_ok=True)
        return cls(root)

    def choices(self, kind: str) -> list[tuple[str, str]]:
        """(label, path) pairs for a dropdown of one artefact kind."""
        return [(p.name, str(p)) for p in list_artifacts(kind, self.workspace)]

    def model_choices(self) -> list[tuple[str, str]]:
        """Everything that holds a model: models, finished runs (their final/), adapted models."""
        out = [(f"model · {n}", p) for n, p in self.choices("model")]
        out += [(f"run · {p.name}", str(p / "final")) for p in list_artifacts("run", self.workspace) if (p / "final").is_dir()]
        for folder in list_artifacts("adapted", self.workspace):
            if (folder / "config.json").is_file():
                out.append((f"adapted · {folder.name}", str(folder)))
            else:  # one propagation onto several instruct models: OUT/<name>/ each
                out += [(f"adapted · {folder.name}/{sub.name}", str(sub)) for sub in sorted(folder.iterdir())
                        if (sub / "config.json").is_file()]
        return out
