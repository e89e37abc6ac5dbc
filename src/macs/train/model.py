"""The language model: a Hugging Face LlamaForCausalLM from a named size, or a local HF directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from macs.core.errors import MacsError


@dataclass(frozen=True)
class Size:
    """Shape of a named Llama size (parameter counts depend on the tokenizer's vocabulary)."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    kv_heads: int | None = None
    tie: bool = True


# Approximate parameter counts at a 4k / 16k / 32k / 50k vocabulary (tied embeddings).
SIZES: dict[str, Size] = {
    "llama-tiny": Size(hidden=32, layers=2, heads=2, intermediate=64),  # tests: ~0.1M at 1k vocab
    "llama-1m": Size(hidden=96, layers=4, heads=4, intermediate=256),  # CPU demo: ~0.8M at 4k vocab
    "llama-5m": Size(hidden=192, layers=6, heads=6, intermediate=512),  # ~3.5M + vocab*192
    "llama-20m": Size(hidden=384, layers=6, heads=6, intermediate=1024),  # ~10.6M + vocab*384
    "llama-60m": Size(hidden=512, layers=10, heads=8, intermediate=1536),  # ~34M + vocab*512
    # ~85M + vocab*768: ~124M at GPT-2's 50k vocabulary (tied, like GPT-2 small)
    "llama-125m": Size(hidden=768, layers=12, heads=12, intermediate=2048),
}


def build_model(cfg, vocab_size: int, seq_len: int, eos_id: int, seed: int):
    """A freshly initialised LlamaForCausalLM for `cfg` (ModelConfig), or the one at cfg.path."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

    if cfg.path:
        path = Path(cfg.path)
        if not (path / "config.json").exists():
            raise MacsError(
                f"model.path {path}: no config.json there; give a directory written by "
                "save_pretrained (a Hugging Face causal LM)"
            )
        model = AutoModelForCausalLM.from_pretrained(path, torch_dtype=torch.float32)
        if model.get_input_embeddings().weight.shape[0] < vocab_size:
            raise MacsError(
                f"model.path {path}: vocabulary {model.get_input_embeddings().weight.shape[0]} "
                f"is smaller than the tokenizer's {vocab_size}; use the model's own tokenizer"
            )
        return model
    if cfg.size not in SIZES:
        raise MacsError(f"model.size {cfg.size!r} is unknown; choose one of {', '.join(SIZES)}")
    s = SIZES[cfg.size]
    hidden = cfg.hidden_size or s.hidden
    heads = cfg.n_heads or s.heads
    if hidden % heads:
        raise MacsError(f"model: hidden_size {hidden} is not divisible by n_heads {heads}")
    conf = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        intermediate_size=cfg.intermediate_size or s.intermediate,
        num_hidden_layers=cfg.n_layers or s.layers,
        num_attention_heads=heads,
        num_key_value_heads=s.kv_heads or heads,
        max_position_embeddings=max(seq_len, 128),
        tie_word_embeddings=s.tie,
        bos_token_id=eos_id,
        eos_token_id=eos_id,
        pad_token_id=eos_id,
        rope_theta=10000.0,
        attention_dropout=0.0,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(conf)
    return model


def n_params(model) -> int:
    """Number of distinct parameters (tied weights counted once)."""
    seen = set()
    total = 0
    for p in model.parameters():
        if id(p) not in seen:
            seen.add(id(p))
            total += p.numel()
    return total


def save_model(model, tokenizer_path: str | Path, out_dir: str | Path) -> Path:
    """save_pretrained the model plus its tokenizer (HF fast tokenizer) so transformers/lm-eval load it."""
    import shutil

    from macs.data.corpus.store import replace_dir

    out_dir = Path(out_dir)
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    model = getattr(model, "_orig_mod", model)
    model.save_pretrained(tmp, safe_serialization=True)
    hf_tok = hf_tokenizer(tokenizer_path)
    hf_tok.save_pretrained(tmp)
    replace_dir(tmp, out_dir)
    return out_dir


def hf_tokenizer(tokenizer_path: str | Path):
    """A transformers PreTrainedTokenizerFast for a tokenizer.json (via macs.data.corpus.tokenizer.to_hf)."""
    tokenizer_path = Path(tokenizer_path)
    if tokenizer_path.is_dir():
        tokenizer_path = tokenizer_path / "tokenizer.json"
    from macs.data.corpus.tokenizer import load_tokenizer, to_hf

    return to_hf(load_tokenizer(tokenizer_path))


def size_params(size: str, vocab_size: int) -> int:
    """Parameter count of a named size at a vocabulary (built on the meta device: no memory, no init)."""
    import torch

    from macs.train.config import ModelConfig

    with torch.device("meta"):
        return n_params(build_model(ModelConfig(size=size), vocab_size, 128, 0, 0))
