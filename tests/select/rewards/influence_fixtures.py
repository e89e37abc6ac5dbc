"""Shared fixtures of the influence tests: tiny real models, a byte tokenizer, real reference text."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import numpy as np
import pytest
import torch

DATA = Path(__file__).parent / "data"


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models run ~50x faster single-threaded on this shared 2-core box (no oversubscription)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


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


def make_reference():
    """Two real reference tasks from the JSONL fixtures (geography Q&A, story completions)."""
    from macs.select.rewards import ReferenceSet, reference_from_jsonl

    geo = reference_from_jsonl(byte_tok, DATA / "geography.jsonl")
    st = reference_from_jsonl(byte_tok, DATA / "stories.jsonl")
    return ReferenceSet({**geo.tasks, **st.tasks}, {**geo.sources, **st.sources})


def flat_grad(model, ids: np.ndarray, start: int) -> torch.Tensor:
    """Naive: the loss gradient of one sequence (loss on predicting ids[start:]) flattened, float64."""
    params = [p for p in model.parameters() if p.requires_grad]
    x = torch.as_tensor(ids, dtype=torch.long)[None]
    logits = model(input_ids=x).logits[0, :-1].double()
    nll = -torch.log_softmax(logits, -1)[torch.arange(len(ids) - 1), x[0, 1:]]
    g = torch.autograd.grad(nll[start - 1 :].mean(), params)
    return torch.cat([t.reshape(-1).double() for t in g])


def naive_alignment(model, reference, docs_windows, unit: bool = True) -> np.ndarray:
    """Naive float64 loop: one backward per example, flatten, dot, normalise; mean over windows."""
    vs = []
    for ex in reference.tasks.values():
        gs = [flat_grad(model, e.input_ids, e.n_context) for e in ex]
        v = torch.stack([g / g.norm() for g in gs]).mean(0)
        vs.append(v / v.norm() if unit else v)
    out = []
    for wins in docs_windows:
        rs = []
        for w in wins:
            g = flat_grad(model, w, 1)
            rs.append(np.mean([float(g @ v / g.norm()) for v in vs]))
        out.append(np.mean(rs))
    return np.asarray(out)
