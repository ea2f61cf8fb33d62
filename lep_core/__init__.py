"""LEP Studio's library: tokenizer surgery, embedding init, training, propagation, evaluation.

Nothing here imports gradio; the app and the `lep` command are thin layers over these functions.
"""

__version__ = "0.1.0"
