"""The architecture table (lep_core/embeddings/architectures.py) against transformers' own models.

For every text family in the table that this transformers builds, a model made on the meta device (no memory, no
weights) must keep its input embeddings and head where the table says, and their modules must carry the names the
4-bit loader skips. A wrong or stale row fails here, not in a user's propagation.
"""

from __future__ import annotations

import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM

from lep_core.embeddings.architectures import EMBEDDING_MODULES, LAYOUTS, layout_of, module_of
from lep_core.propagation.embeddings_io import open_model

TINY = {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
        "num_key_value_heads": 1, "vocab_size": 64, "tie_word_embeddings": False, "pad_token_id": 0,
        "bos_token_id": 1, "eos_token_id": 2}


def _meta_model(model_type: str):
    try:
        config = AutoConfig.for_model(model_type, **TINY)
        with torch.device("meta"):
            return AutoModelForCausalLM.from_config(config)
    except (ValueError, KeyError, TypeError, ImportError):
        return None  # a multimodal wrapper or a family this transformers does not build from a flat config


def _module_name(model, module) -> str:
    return next(name for name, m in model.named_modules() if m is module)


def test_table_matches_transformers_models():
    checked = []
    for layout in LAYOUTS:
        for family in layout.families:
            model = _meta_model(family)
            if model is None:
                continue
            keys = model.state_dict().keys()
            found = layout_of(keys, family)
            assert found is layout, f"{family}: table says {layout.embed}, model has {sorted(keys)[:4]}..."
            assert layout.head in keys, f"{family}: transformers now writes its head as {sorted(keys)[-1]}"
            embed_module = _module_name(model, model.get_input_embeddings())
            head_module = _module_name(model, model.get_output_embeddings())
            assert f"{embed_module}.weight" == layout.embed and f"{head_module}.weight" == layout.head
            assert set(layout.modules) <= set(EMBEDDING_MODULES)
            checked.append(family)
    # the check ran on the families practitioners adapt most (and on more than one layout)
    assert {"llama", "mistral", "qwen2", "gpt2", "gpt_neox"} <= set(checked), checked


@pytest.mark.parametrize("arch", ["tiny_llama", "tiny_mistral", "tiny_qwen2"])
def test_saved_tiny_models_open_by_the_table(arch, request):
    files = open_model(request.getfixturevalue(arch))
    layout = layout_of(files.weight_map, files.family)
    assert layout is not None and files.embed_name == layout.embed and files.layout_head == layout.head
    assert files.head_name in (None, layout.head)
    assert files.tied == (files.head_name is None)  # the fixtures save tied models without a head tensor


def test_aliases_and_unknown_layouts():
    """An old Pythia checkpoint stores its head as `embed_out`: found by its alias; a non-LM layout is not found."""
    layout = layout_of({"gpt_neox.embed_in.weight", "embed_out.weight"}, "gpt_neox")
    assert layout is not None and layout.stored({"embed_out.weight"}, "output") == "embed_out.weight"
    assert "embed_out" in EMBEDDING_MODULES and "lm_head" in EMBEDDING_MODULES
    assert layout_of({"encoder.layer.0.weight"}) is None
    assert module_of("model.embed_tokens.weight") == "embed_tokens" and module_of("lm_head") == "lm_head"
