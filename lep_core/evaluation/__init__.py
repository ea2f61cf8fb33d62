"""Step 5 of LEP: side-by-side generation, bits-per-char, blind votes and transcripts (no UI imports)."""
