"""Build real tokenizers and tiny random models for tests (no downloads, seconds to build).

Three tokenizer families, each the way real models ship them:
- byte-level BPE: the demo model's own (SmolLM2, GPT-2/LLaMA-3/Qwen style);
- SentencePiece-style BPE with byte fallback and a Metaspace pre-tokenizer (LLaMA-2/Mistral style);
- Unigram with Metaspace (T5/XLM-R style).
The last two are trained here with the `tokenizers` library on English and a little Russian text.
"""

from __future__ import annotations

import json
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
ASSETS = Path(__file__).resolve().parent.parent / "assets"


def training_text(russian_share: int = 3) -> list[str]:
    """English prose plus a small share of Russian, so the tokenizer knows Cyrillic letters but few Russian words."""
    english = (ASSETS / "heldout_en.txt").read_text(encoding="utf-8").splitlines()
    russian = (ASSETS / "corpus" / "01_dialogues.txt").read_text(encoding="utf-8").splitlines()[: 10 * russian_share]
    return [line for line in english * 3 + russian if line.strip()]


def _save(tok: Tokenizer, folder: Path, config: dict) -> Path:
    from transformers import PreTrainedTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, **config)
    hf.chat_template = CHATML
    hf.save_pretrained(folder)
    return folder


def metaspace_bpe_tokenizer(folder: Path, vocab_size: int = 600) -> Path:
    """LLaMA-2/Mistral style: BPE, byte fallback, 256 <0xNN> pieces, Metaspace, <s> added by the post-processor."""
    specials = ["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]
    byte_pieces = [f"<0x{b:02X}>" for b in range(256)]
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=True)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=specials + byte_pieces, show_progress=False, min_frequency=2
    )
    tok.train_from_iterator(training_text(), trainer)
    state = json.loads(tok.to_str())
    state["pre_tokenizer"]["split"] = False  # as the converted LLaMA-2/Mistral tokenizers ship
    # the <0xNN> pieces are ordinary vocabulary (as in LLaMA-2), not added tokens matched in text
    state["added_tokens"] = [added for added in state["added_tokens"] if added["content"] in specials]
    tok = Tokenizer.from_str(json.dumps(state))
    tok.add_special_tokens(specials)
    tok.decoder = decoders.Sequence(
        [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)]
    )
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", tok.token_to_id("<s>"))]
    )
    return _save(tok, folder, {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"})


def unigram_tokenizer(folder: Path, vocab_size: int = 500) -> Path:
    """T5/XLM-R style: Unigram over Metaspace pieces, <unk> for unseen characters."""
    specials = ["<pad>", "</s>", "<unk>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.Replace(Regex(" {2,}"), " ")
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    trainer = trainers.UnigramTrainer(
        vocab_size=vocab_size, special_tokens=specials, unk_token="<unk>", show_progress=False
    )
    tok.train_from_iterator(training_text(), trainer)
    return _save(tok, folder, {"eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"})


def tiny_model(tokenizer_dir: Path, folder: Path, arch: str = "llama", tied: bool = True, pad_rows: int = 0,
               hidden: int = 64) -> Path:
    """A random 2-layer model of the given family, sized to the tokenizer (+ pad_rows spare rows, like Qwen);
    hidden: its width (256 lets llama.cpp's k-quants, which work on rows of 256, quantize every matrix)."""
    import torch
    from transformers import (
        AutoTokenizer,
        LlamaConfig,
        LlamaForCausalLM,
        MistralConfig,
        MistralForCausalLM,
        Qwen2Config,
        Qwen2ForCausalLM,
    )

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    families = {"llama": (LlamaConfig, LlamaForCausalLM), "mistral": (MistralConfig, MistralForCausalLM),
                "qwen2": (Qwen2Config, Qwen2ForCausalLM)}
    config_cls, model_cls = families[arch]
    config = config_cls(
        vocab_size=len(tok) + pad_rows, hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512, tie_word_embeddings=tied,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.convert_tokens_to_ids("<|im_end|>") if "<|im_end|>" in tok.get_vocab() else tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(0)
    model = model_cls(config)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def adapted_tiny(model_dir: Path, tokenizer_dir: Path, corpus: list[Path], folder: Path, unit: str = "words",
                 add: int = 150) -> Path:
    """A tiny model with its vocabulary extended by `add` new tokens (whole words or sub-word pieces) learned from
    `corpus`, rows initialised by `lep model init` (mean): folder/model."""
    from lep_core.embeddings.init import init_model
    from lep_core.tokenizer.extend import extend_tokenizer

    extend_tokenizer(tokenizer_dir, corpus, add, folder / "tokenizer", unit=unit)
    init_model(model_dir, folder / "tokenizer", folder / "model", "mean")
    return folder / "model"
