"""Tokenizer analysis, vocabulary extension and replacement."""
