"""Shared fixtures of the influence tests: tiny real models, a byte tokenizer, real reference text."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import numpy as np
import pytest
import torch

DATA = Path(__file__).parent / "data"


def byte_tok(text: str) -> list[int]:
    """A real (if simple) tokenizer: UTF-8 bytes, vocabulary 256."""
    return list(text.encode("utf-8"))


def tiny_llama(tie: bool = True, hidden: int = 32, seed: int = 0, dtype=torch.float32):
    """A 2-layer LlamaForCausalLM over bytes, seeded."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=256,
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=tie,
    )
    return LlamaForCausalLM(cfg).to(dtype)


def code_docs(n: int, length: int = 100) -> list[np.ndarray]:
    """n real documents unrelated to the reference text: slices of the json package's source."""
    import argparse

    src = inspect.getsource(json) + inspect.getsource(argparse)
    return [np.asarray(byte_tok(src[i * length : (i + 1) * length])) for i in range(n)]


@pytest.fixture(scope="session")
def reference():
    from macs.influence import ReferenceSet, reference_from_jsonl

    geo = reference_from_jsonl(byte_tok, DATA / "geography.jsonl")
    st = reference_from_jsonl(byte_tok, DATA / "stories.jsonl")
    return ReferenceSet({**geo.tasks, **st.tasks}, {**geo.sources, **st.sources})
