"""The workspace on disk: artefact folders and manifests (store), what it holds (inventory), job folders (jobs)."""
