"""The `lep` command: one module per command group, each a thin layer over lep_core functions."""
