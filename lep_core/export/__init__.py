"""Take an adapted model out: GGUF for llama.cpp and Ollama, a model card, and a push to the hub.

converter.py finds llama.cpp's own `convert_hf_to_gguf.py` (unpacked from the llama-cpp-python source package);
convert_child.py runs it in a child process with the few things an extended vocabulary needs (pre-tokenizer
mapped to the original model's, padded rows dropped); quantize.py (+ quantize_child.py) makes k-quants from the
f16 export with llama.cpp's own quantizer; child.py is the protocol both children speak; runtime.py says whether
llama-cpp-python (the optional `llama` extra) is there; quality.py measures a file in llama.cpp against
transformers (`--check`); gguf_export.py is the entry function; pretokenizers.py names and explains llama.cpp's
pre-tokenizer; modelfile.py writes the Ollama Modelfile and modelfile_syntax.py reads it as Ollama does; card.py
the README.md model card; push.py uploads a folder with huggingface_hub.
"""
