"""Embedding-only training (LEP step 3): options, data, freezing, the trainer, checkpoints and the job files."""
