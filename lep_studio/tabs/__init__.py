"""One module per tab, in pipeline order. Each has build(ctx: AppContext) -> None, called inside its gr.Tab."""

TABS = (
    ("start", "Start"),
    ("tokenizers", "1 · Tokenizers"),
    ("vocabulary", "2 · Vocabulary"),
    ("training", "3 · Training"),
    ("propagation", "4 · Propagation"),
    ("calibration", "4b · Calibration"),
    ("compare", "5 · Compare"),
    ("export", "6 · Export"),
    ("workspace", "Workspace"),
)
