"""Small real fixtures for the training tests: a memmapped token pool with labels (no corpus layer needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from macs.data.pool import LabelSet, Pool, training_tokens


class MemmapTokens:
    """A TokenStore-shaped object over one uint16 memmap (the corpus layer's contract)."""

    def __init__(self, path: Path, lengths: np.ndarray, vocab_size: int, eos_id: int):
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.lengths)])
        self.data = np.memmap(path, dtype=np.uint16, mode="r")
        self.vocab_size = vocab_size
        self.eos_id = eos_id
        self.n_docs = self.lengths.size
        self.dtype = np.uint16

    def doc(self, i: int) -> np.ndarray:
        return self.data[self.offsets[i] : self.offsets[i + 1]]


def make_pool(tmp: Path, n_docs: int = 120, vocab: int = 96, seed: int = 0) -> Pool:
    """Documents from 3 'domains' with different token statistics, 2 actors (domain, quality)."""
    rng = np.random.default_rng(seed)
    domain = rng.integers(0, 3, n_docs).astype(np.int16)
    quality = rng.integers(0, 4, n_docs).astype(np.int32)
    lengths = rng.integers(5, 60, n_docs)
    chunks = []
    for d, n in zip(domain, lengths, strict=True):
        lo = 1 + 30 * int(d)
        chunks.append(rng.integers(lo, lo + 30, n).astype(np.uint16))
    flat = np.concatenate(chunks)
    path = tmp / "tokens.bin"
    if not path.exists():  # DDP workers open the file their parent wrote
        mm = np.memmap(path, dtype=np.uint16, mode="w+", shape=flat.shape)
        mm[:] = flat
        mm.flush()
        del mm
    tokens = MemmapTokens(path, lengths, vocab, eos_id=0)
    heldout = np.zeros(n_docs, dtype=bool)
    heldout[::10] = True
    labels = {
        "domain": LabelSet("domain", domain.astype(np.int32), ["a", "b", "c"]),
        "quality": LabelSet(
            "quality", quality, ["q0", "q1", "q2", "q3"], scores=quality + rng.random(n_docs)
        ),
    }
    return Pool(
        n_tokens=training_tokens(lengths),
        eligible=~heldout,
        labels=labels,
        ids=lambda idx: [f"doc{int(i)}" for i in idx],
        tokens=tokens,
        domain_codes=domain,
        domain_names=["a", "b", "c"],
    )


@pytest.fixture
def pool(tmp_path: Path) -> Pool:
    return make_pool(tmp_path)
