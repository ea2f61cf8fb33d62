"""Embedding surgery: the decomposition of new tokens into old ones, resizing and initialisation."""
