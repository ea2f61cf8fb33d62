"""An evaluation suite scored from log-probabilities of text, fair across tokenizers.

Per-token perplexity cannot compare two tokenizers; scores defined on the text can: the total
log-probability of a sentence (minimal pairs), log-probability per character of an answer (multiple
choice), copying a paragraph (exact match, characters per generated token), bits per character.
items.py reads suite files, score.py scores one task, run.py runs tasks on models and writes results.
"""
