"""Head init methods (issue 14): each untie-and-initialise method on the three families, and the fitted head."""

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from lep_core.embeddings.decomposition import decomposition_matrix
from lep_core.embeddings.init import HeadMethod, InitMethod, init_model
from lep_core.errors import LepInputError
from lep_core.sources.loading import load_tokenizer
from lep_core.tokenizer.extend import extend_tokenizer


@pytest.fixture(scope="module")
def extended(tmp_path_factory, byte_bpe_tokenizer, metaspace_bpe_tokenizer, ru_corpus):
    root = tmp_path_factory.mktemp("ext_head")
    extend_tokenizer(byte_bpe_tokenizer, ru_corpus[:2], 200, root / "byte")
    extend_tokenizer(metaspace_bpe_tokenizer, ru_corpus[:2], 150, root / "metaspace")
    return {"tiny_llama": root / "byte", "tiny_qwen2": root / "byte", "tiny_mistral": root / "metaspace"}


def _tensors(folder):
    model = AutoModelForCausalLM.from_pretrained(folder)
    return model, model.get_input_embeddings().weight.detach(), model.get_output_embeddings().weight.detach()


@pytest.mark.parametrize("model_fixture", ["tiny_llama", "tiny_qwen2", "tiny_mistral"])
@pytest.mark.parametrize("head", ["mean", "norm_mean", "first", "last"])
def test_head_methods_untie_and_build_rows_from_the_sub_tokens_head_rows(request, extended, tmp_path, model_fixture, head):
    src = request.getfixturevalue(model_fixture)
    facts = init_model(src, extended[model_fixture], tmp_path / "m", "mean", head_method=head)
    old_model, old_in, old_out = _tensors(src)
    model, new_in, new_out = _tensors(tmp_path / "m")
    old_tok, new_tok = load_tokenizer(src), AutoTokenizer.from_pretrained(tmp_path / "m")
    n_old, n_new = len(old_tok), len(new_tok)
    assert model.config.tie_word_embeddings is False
    assert new_in.data_ptr() != new_out.data_ptr()
    assert facts["untied_by_init"] == bool(old_model.config.tie_word_embeddings)
    # old rows score exactly as before; padded rows stay padded
    assert torch.equal(new_out[:n_old], old_out[:n_old]) and torch.equal(new_in[:n_old], old_in[:n_old])
    weighting = {"mean": "mean", "norm_mean": "mean", "first": "first", "last": "last"}[head]
    dec = decomposition_matrix(new_tok, old_tok, weighting=weighting, old_rows=old_out.shape[0])
    expected = torch.sparse.mm(dec.matrix, old_out.float())[n_old:n_new]
    if head == "norm_mean":
        # the direction of the mean, at the mean norm of the rows it averages
        assert torch.allclose(torch.nn.functional.cosine_similarity(new_out[n_old:n_new], expected), torch.ones(n_new - n_old), atol=1e-5)
        first = dec.matrix.crow_indices()[n_old:n_new]
        ends = dec.matrix.crow_indices()[n_old + 1:n_new + 1]
        cols = dec.matrix.col_indices()
        norms = torch.stack([old_out[cols[a:b]].norm(dim=1).mean() for a, b in zip(first.tolist(), ends.tolist())])
        assert torch.allclose(new_out[n_old:n_new].norm(dim=1), norms, rtol=1e-4)
    else:
        assert torch.allclose(new_out[n_old:n_new], expected, atol=1e-6)
    if head in ("first", "last"):  # one old row each, copied exactly: the piece that starts / ends the token
        crow, cols = dec.matrix.crow_indices(), dec.matrix.col_indices()
        for i in (n_old, n_new - 1):
            col = cols[crow[i]] if head == "first" else cols[crow[i + 1] - 1]
            assert torch.equal(new_out[i], old_out[col])
    # the input rows keep the input method, whatever the head does
    mean_dec = decomposition_matrix(new_tok, old_tok, old_rows=old_in.shape[0])
    assert torch.allclose(new_in[n_old:n_new], torch.sparse.mm(mean_dec.matrix, old_in.float())[n_old:n_new], atol=1e-6)


def test_same_keeps_a_tied_model_tied(extended, tiny_llama, tmp_path):
    facts = init_model(tiny_llama, extended["tiny_llama"], tmp_path / "m", "norm_mean")
    model, new_in, new_out = _tensors(tmp_path / "m")
    assert model.config.tie_word_embeddings and new_in.data_ptr() == new_out.data_ptr()
    assert facts["head_method"] == "same" and not facts["untied_by_init"]


@pytest.mark.parametrize("model_fixture", ["tiny_llama", "tiny_mistral"])
def test_fitted_head_lowers_the_heldout_loss_and_keeps_old_rows(request, extended, ru_corpus, tmp_path, model_fixture):
    src = request.getfixturevalue(model_fixture)
    facts = init_model(src, extended[model_fixture], tmp_path / "m", "mean", head_method="fitted", corpus=[str(p) for p in ru_corpus[:1]])
    fit = facts["head_fit"]
    assert fit["heldout_loss_after"] < fit["heldout_loss_before"]
    assert fit["epochs_kept"] >= 1 and fit["tokens"] > 0
    _, old_in, old_out = _tensors(src)
    model, new_in, new_out = _tensors(tmp_path / "m")
    n_old = len(load_tokenizer(src))
    assert torch.equal(new_out[:n_old], old_out[:n_old]) and torch.equal(new_in[:n_old], old_in[:n_old])
    # the fitted rows moved away from the mean they started from
    mean_model = tmp_path / "mean"
    init_model(src, extended[model_fixture], mean_model, "mean", head_method="mean")
    _, _, mean_out = _tensors(mean_model)
    assert not torch.allclose(new_out[n_old:], mean_out[n_old:])


def test_fitted_head_needs_a_corpus(extended, tiny_llama, tmp_path):
    with pytest.raises(LepInputError, match="--corpus"):
        init_model(tiny_llama, extended["tiny_llama"], tmp_path / "m", "mean", head_method="fitted")
    assert not (tmp_path / "m").exists()


def test_unknown_head_method_is_named(extended, tiny_llama, tmp_path):
    with pytest.raises(LepInputError, match="unknown head method 'best'"):
        init_model(tiny_llama, extended["tiny_llama"], tmp_path / "m", "mean", head_method="best")


def test_method_names_are_enums_for_cli_and_app():
    assert {m.value for m in InitMethod} >= {"mean", "norm_mean", "weighted_mean", "mean_resize", "random"}
    assert {m.value for m in HeadMethod} == {"same", "mean", "norm_mean", "first", "last", "fitted"}


def test_the_head_is_fitted_on_text_from_the_whole_corpus_not_its_first_files(byte_bpe_tokenizer, ru_corpus):
    """A corpus longer than the fit reads is read in slices spread over it: the last file's words are seen."""
    from lep_core.corpus.reading import read_corpus
    from lep_core.embeddings.head_fit import HeadFitOptions, corpus_blocks, spread_pieces

    text = read_corpus(ru_corpus)
    last = ru_corpus[-1].read_text(encoding="utf-8")
    options = HeadFitOptions(max_tokens=4000, block=128)
    pieces = spread_pieces(text, options.max_tokens * 8)
    assert len(pieces) == 16 and all(p in text for p in pieces) and any(p[:200] in last for p in pieces)
    blocks = corpus_blocks(load_tokenizer(byte_bpe_tokenizer), text, options)
    assert blocks.shape[1] == 128 and blocks.shape[0] == 4000 // 128  # SmolLM2 starts a block with no BOS
    assert spread_pieces("short text", 100) == ["short text"]
