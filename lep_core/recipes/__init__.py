"""Recipes: a pipeline as a YAML file — its steps (spec), checked (check), run (run, job), rebuilt (lineage)."""
