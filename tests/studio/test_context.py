"""Every tab's model picker lists loadable models: models, finished runs, adapted models (one per instruct target)."""

from lep_studio.context import AppContext


def test_model_choices_list_loadable_folders(tmp_path):
    ctx = AppContext.create(str(tmp_path))
    for folder in ("models/base", "runs/r1/final", "adapted/single", "adapted/multi/instruct-a", "adapted/multi/instruct-b"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "config.json").write_text("{}")
    (tmp_path / "runs" / "unfinished").mkdir()
    labels = [label for label, _ in ctx.model_choices()]
    assert labels == ["model · base", "run · r1", "adapted · multi/instruct-a", "adapted · multi/instruct-b",
                      "adapted · single"]
    paths = dict(ctx.model_choices())
    assert paths["run · r1"] == str(tmp_path / "runs" / "r1" / "final")
