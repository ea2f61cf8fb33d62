"""Text corpora: finding and reading files and folders whole (reading), in pieces (stream), tokenized once into a memory-mapped cache (token_cache)."""
