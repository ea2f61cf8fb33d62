"""Text corpora: finding and reading .txt, .md, .jsonl and .parquet files and folders (reading)."""
