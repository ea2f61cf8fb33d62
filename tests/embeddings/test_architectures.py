"""The architecture table (lep_core/embeddings/architectures.py) against transformers' own models.

For every text family in the table, a model made on the meta device (no memory, no weights) must keep its input
embeddings and head where the table says, and their modules must carry the names the 4-bit loader skips. A wrong
or stale row fails here, not in a user's propagation. The few families AutoModelForCausalLM cannot build are named
below with the reason; a family that fails to build and is not named there fails the test (nothing is skipped
silently), and so does a named one that starts to build (it belongs in the check then).
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


# families of the table that AutoModelForCausalLM does not build from a flat config, and why
NOT_BUILT = {
    "mistral3": "a multimodal wrapper (image-text-to-text): no causal-LM class",
    "llava": "a multimodal wrapper (image-text-to-text): no causal-LM class",
    "qwen2_vl": "a multimodal wrapper (image-text-to-text): no causal-LM class",
    "qwen2_5_vl": "a multimodal wrapper (image-text-to-text): no causal-LM class",
    "internlm2": "remote code (trust_remote_code), not part of transformers",
}
CHECKED = 25  # the table's families minus NOT_BUILT: what the docs may claim


def _meta_model(model_type: str):
    config = AutoConfig.for_model(model_type, **TINY)
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config)


def _builds(model_type: str) -> bool:
    try:
        _meta_model(model_type)
    except ValueError:  # "Unrecognized configuration class / model identifier"
        return False
    return True


def _module_name(model, module) -> str:
    return next(name for name, m in model.named_modules() if m is module)


def test_table_matches_transformers_models():
    families = [family for layout in LAYOUTS for family in layout.families]
    assert set(NOT_BUILT) <= set(families), sorted(set(NOT_BUILT) - set(families))
    checked = []
    for layout in LAYOUTS:
        for family in layout.families:
            if family in NOT_BUILT:
                continue
            model = _meta_model(family)  # raises: a family of the table that no longer builds
            keys = model.state_dict().keys()
            found = layout_of(keys, family)
            assert found is layout, f"{family}: table says {layout.embed}, model has {sorted(keys)[:4]}..."
            assert layout.head in keys, f"{family}: transformers now writes its head as {sorted(keys)[-1]}"
            embed_module = _module_name(model, model.get_input_embeddings())
            head_module = _module_name(model, model.get_output_embeddings())
            assert f"{embed_module}.weight" == layout.embed and f"{head_module}.weight" == layout.head
            assert set(layout.modules) <= set(EMBEDDING_MODULES)
            checked.append(family)
    print(f"architecture table: {len(checked)} families checked against transformers' models, "
          f"{len(NOT_BUILT)} not buildable as causal LMs: {', '.join(sorted(NOT_BUILT))}")
    assert len(checked) == len(families) - len(NOT_BUILT) == CHECKED, checked


@pytest.mark.parametrize("family", sorted(NOT_BUILT))
def test_families_named_as_not_built_still_do_not_build(family):
    """Each exception is real: when transformers learns to build one, it moves into the check above."""
    assert not _builds(family), f"{family} now builds as a causal LM: remove it from NOT_BUILT ({NOT_BUILT[family]})"


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
