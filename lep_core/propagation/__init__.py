"""Learned Embedding Propagation (design §4): implant an adapted base's embeddings into instruct models."""
