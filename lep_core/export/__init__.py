"""Take an adapted model out: GGUF for llama.cpp and Ollama, a model card, and a push to the hub.

converter.py finds llama.cpp's own `convert_hf_to_gguf.py` (unpacked from the llama-cpp-python source package);
convert_child.py runs it in a child process with the few things an extended vocabulary needs (pre-tokenizer
mapped to the original model's, padded rows dropped); gguf_export.py is the entry function; modelfile.py writes
the Ollama Modelfile; card.py the README.md model card; push.py uploads a folder with huggingface_hub.
"""
