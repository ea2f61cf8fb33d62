"""LEP Studio's Gradio app: lays out UI and calls lep_core; no ML logic lives here."""
