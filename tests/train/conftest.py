"""Small real fixtures for the training tests: a memmapped token pool with labels (no corpus layer needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from macs.pool import LabelSet, Pool, training_tokens


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


# The smallest `macs run` settings on the committed mini corpus (store name "mini", no network).
SMALL_SETS = [
    "run.device=cpu",
    "corpus.name=mini",
    "tokenizer.vocab_size=512",
    "tokenizer.train_mb=1",
    "labels.topic.n_groups=4",
    "labels.topic.sample_size=100",
    "labels.topic.svd_dims=16",
    "labels.workers=1",
    "labels.quality.classifier.backend=hashing",
    "model.size=llama-tiny",
    "train.tokens=6000",
    "train.seq_len=64",
    "train.batch_size=4",
    "train.stages=3",
    "train.threads=1",
    "train.log_every=2",
    "selection.samples_per_group=4",
    "influence.n_per_task=4",
    "influence.window=64",
    "influence.overlap=0",
    "influence.max_windows=2",
    "eval.tasks=[reference, arc_easy]",
    "eval.limit=4",
    "eval.heldout_docs_per_domain=2",
    "eval.batch_size=8",
]


@pytest.fixture(scope="session")
def mini_data(tmp_path_factory, mini_corpus_path) -> tuple[Path, list[str]]:
    """A data dir holding the mini corpus store with its tokenizer, token shards and labels; and the settings."""
    from macs.config import load_config
    from macs.corpus.importer import import_corpus
    from macs.pipeline import prepare_data

    data = tmp_path_factory.mktemp("macs-data")
    import_corpus(
        [mini_corpus_path],
        data / "corpus" / "mini",
        name="mini",
        max_chunk_bytes=8192,
        heldout_fraction=0.1,
        heldout_seed=0,
        progress=False,
    )
    sets = [f"run.data_dir={data}", *SMALL_SETS]
    prepare_data(load_config(None, sets))
    return data, sets
