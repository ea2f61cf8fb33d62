"""Embedding init: old rows kept bit for bit, new rows = mean of sub-tokens; tied, untied and padded models."""

import json

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from lep_core.embeddings.decomposition import decomposition_matrix
from lep_core.embeddings.init import init_model
from lep_core.errors import LepInputError
from lep_core.sources.loading import load_tokenizer
from lep_core.tokenizer.extend import extend_tokenizer


@pytest.fixture(scope="module")
def extended_byte(tmp_path_factory, byte_bpe_tokenizer, ru_corpus):
    out = tmp_path_factory.mktemp("ext") / "byte"
    extend_tokenizer(byte_bpe_tokenizer, ru_corpus[:2], 200, out)
    return out


@pytest.fixture(scope="module")
def extended_metaspace(tmp_path_factory, metaspace_bpe_tokenizer, ru_corpus):
    out = tmp_path_factory.mktemp("ext") / "metaspace"
    extend_tokenizer(metaspace_bpe_tokenizer, ru_corpus[:2], 150, out)
    return out


def _weights(folder):
    model = AutoModelForCausalLM.from_pretrained(folder)
    head = model.get_output_embeddings().weight
    return model, model.get_input_embeddings().weight.detach(), head.detach()


@pytest.mark.parametrize("model_fixture,tok_fixture", [
    ("tiny_llama", "extended_byte"), ("tiny_qwen2", "extended_byte"), ("tiny_mistral", "extended_metaspace"),
])
def test_mean_init(request, tmp_path, model_fixture, tok_fixture):
    src = request.getfixturevalue(model_fixture)
    tok_dir = request.getfixturevalue(tok_fixture)
    out = tmp_path / "init"
    facts = init_model(src, tok_dir, out, "mean")
    old_model, old_in, old_out = _weights(src)
    model, new_in, new_out = _weights(out)
    old_tok, new_tok = load_tokenizer(src), AutoTokenizer.from_pretrained(out)
    n_old, n_new = len(old_tok), len(new_tok)
    tied = old_model.config.tie_word_embeddings
    padded = old_in.shape[0] > n_old
    assert model.config.tie_word_embeddings == tied
    if tied:
        assert model.get_input_embeddings().weight.data_ptr() == model.get_output_embeddings().weight.data_ptr()
    # rows: exact tokens, or padded to a multiple of 64 when the original was padded
    assert new_in.shape[0] == (max(old_in.shape[0], -(-n_new // 64) * 64) if padded else n_new)
    assert facts["first_new_id"] == n_old and facts["initialised_rows"] == n_new - n_old
    # old rows bit-identical, new rows = mean of their old sub-token rows
    assert torch.equal(new_in[:n_old], old_in[:n_old])
    assert torch.equal(new_out[:n_old], old_out[:n_old])
    dec = decomposition_matrix(new_tok, old_tok, old_rows=old_in.shape[0])
    expected = torch.sparse.mm(dec.matrix, old_in)[n_old:n_new]
    assert torch.allclose(new_in[n_old:n_new], expected, atol=1e-6)
    if not tied:
        assert torch.allclose(new_out[n_old:n_new], torch.sparse.mm(dec.matrix, old_out)[n_old:n_new], atol=1e-6)
    # it still chats with its template
    ids = new_tok.apply_chat_template([{"role": "user", "content": "Привет, как дела?"}], add_generation_prompt=True,
                                      return_tensors="pt", return_dict=True)
    gen = model.generate(**ids, max_new_tokens=3, do_sample=False)
    assert gen.shape[1] == ids["input_ids"].shape[1] + 3 or int(gen[0, -1]) in (model.generation_config.eos_token_id or [])
    manifest = json.loads((out / "lep.json").read_text())
    assert manifest["metrics"]["new_row_ranges"] == [[n_old, n_new]]


@pytest.mark.parametrize("method", ["weighted_mean", "mean_resize", "random"])
def test_other_methods_keep_old_rows(tmp_path, tiny_llama, extended_byte, method):
    out = tmp_path / method
    init_model(tiny_llama, extended_byte, out, method)
    _, old_in, _ = _weights(tiny_llama)
    _, new_in, _ = _weights(out)
    n_old = old_in.shape[0]
    assert torch.equal(new_in[:n_old], old_in)
    assert torch.isfinite(new_in).all()
    if method == "mean_resize":  # the mean of all old rows, plus tiny noise
        assert torch.allclose(new_in[n_old:], old_in.mean(0).expand_as(new_in[n_old:]), atol=1e-3)
    else:
        assert new_in[n_old:].std() > 0


def test_init_refuses_a_model_whose_tokenizer_does_not_fit(tmp_path, tiny_mistral, byte_bpe_tokenizer, extended_byte):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(tiny_mistral, broken)
    for name in ("tokenizer.json", "tokenizer_config.json"):  # a 49k tokenizer on a 600-row model
        shutil.copy(byte_bpe_tokenizer / name, broken / name)
    with pytest.raises(LepInputError, match="does not belong"):
        init_model(broken, extended_byte, tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_replacement_tokenizer_init(tmp_path, tiny_llama, ru_corpus):
    """A replaced vocabulary: rows of tokens the old vocabulary also has are copied, the rest are means."""
    from lep_core.tokenizer.train import train_tokenizer

    train_tokenizer(ru_corpus, 1500, "bpe", tmp_path / "tok", like=tiny_llama)
    facts = init_model(tiny_llama, tmp_path / "tok", tmp_path / "model")
    new_tok = load_tokenizer(tmp_path / "model")
    _, old_in, _ = _weights(tiny_llama)
    _, new_in, _ = _weights(tmp_path / "model")
    assert new_in.shape[0] == len(new_tok) == facts["new_vocab"]
    assert 0 < facts["copied_rows"] < len(new_tok)
    old_vocab = load_tokenizer(tiny_llama).get_vocab()
    for token in ("<|im_start|>", "<|im_end|>", "Ġ"):
        assert torch.equal(new_in[new_tok.convert_tokens_to_ids(token)], old_in[old_vocab[token]])


def test_init_keeps_the_stored_dtype_of_a_bf16_model(tmp_path, tiny_llama, extended_byte):
    """A 7-8B checkpoint is stored in bf16: initialising it must not double its size to float32."""
    src = tmp_path / "bf16"
    AutoModelForCausalLM.from_pretrained(tiny_llama, dtype=torch.bfloat16).save_pretrained(src)
    AutoTokenizer.from_pretrained(tiny_llama).save_pretrained(src)
    init_model(src, extended_byte, tmp_path / "out")
    out = AutoModelForCausalLM.from_pretrained(tmp_path / "out", dtype="auto")
    assert out.get_input_embeddings().weight.dtype == torch.bfloat16
    old = AutoModelForCausalLM.from_pretrained(src, dtype="auto").get_input_embeddings().weight
    new = out.get_input_embeddings().weight
    assert torch.equal(new[: old.shape[0]], old)  # old rows untouched
    assert new.shape[0] > old.shape[0] and bool(new[old.shape[0]:].abs().sum(1).gt(0).any())
