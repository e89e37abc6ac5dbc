"""MATES's data influence model and its feature cache, on real texts of the mini corpus."""

from __future__ import annotations

import json

import numpy as np
import pytest

from macs.core.errors import MacsError
from macs.select.selectors.config import MatesConfig
from macs.select.selectors.mates_features import FeatureCache, HashingFeaturizer, make_featurizer
from macs.select.selectors.mates_model import fit_with_holdout, spearman, split_holdout


@pytest.fixture(scope="module")
def texts(mini_corpus_path) -> list[str]:
    return [json.loads(line)["text"] for line in mini_corpus_path.open(encoding="utf-8")]


def _centroid_oracle(x, seed: int = 0, noise: float = 0.3) -> np.ndarray:
    """A known linear function of the features (similarity to 20 docs' centroid) plus noise."""
    rng = np.random.default_rng(seed)
    ref = rng.choice(x.shape[0], 20, replace=False)
    w = np.asarray(x[ref].mean(axis=0)).ravel()
    y = np.asarray(x @ w).ravel()
    return y + rng.normal(scale=noise * y.std(), size=y.size)


def test_ridge_on_hashed_ngrams_recovers_a_linear_oracle(texts):
    cfg = MatesConfig()
    x = HashingFeaturizer(cfg.hash_buckets, cfg.hash_ngrams, cfg.max_chars)(texts)
    y = _centroid_oracle(x)
    model, rep = fit_with_holdout(cfg, x, y, seed=1)
    assert rep["n_fit"] + rep["n_heldout"] == len(texts) == rep["n_train"]
    assert rep["heldout_spearman"] > 0.8 and rep["model"] == "ridge"
    assert rep["alpha"] in cfg.alphas
    # predictions are in the oracle's z units and keep its direction (higher = more helpful)
    z = (y - y.mean()) / y.std()
    assert spearman(model.predict(x), z) > 0.9
    assert abs(model.predict(x).mean()) < 0.1 and rep["oracle_std"] == pytest.approx(y.std())
    # a reversed oracle is learned reversed: the model follows the labels, not the features
    rev, _ = fit_with_holdout(cfg, x, -y, seed=1)
    assert np.allclose(rev.predict(x), -model.predict(x), atol=1e-6)
    # pure noise labels give no held-out correlation
    noise = np.random.default_rng(3).normal(size=len(texts))
    _, nr = fit_with_holdout(cfg, x, noise, seed=1)
    assert abs(nr["heldout_spearman"]) < 0.35


@pytest.mark.parametrize("kind", ["ridge", "mlp"])
def test_influence_model_on_dense_features(kind):
    """A known linear function of 64-dim (MiniLM-sized) features plus noise: held-out Spearman > 0.8."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 64)).astype(np.float32)
    signal = x @ rng.normal(size=64)
    y = signal + rng.normal(scale=0.3 * signal.std(), size=400)
    cfg = MatesConfig(model=kind)
    seed = 2**62 + 4  # the selector's draws are 63-bit
    model, rep = fit_with_holdout(cfg, x, y, seed=seed)
    assert rep["heldout_spearman"] > 0.8, rep
    again, rep2 = fit_with_holdout(cfg, x, y, seed=seed)  # seeded: identical fits
    assert rep2 == rep and np.array_equal(model.predict(x), again.predict(x))


def test_holdout_split_and_spearman_edges():
    a, b = split_holdout(50, 0.2, seed=7)
    assert a.size == 40 and b.size == 10 and not set(a) & set(b)
    assert np.array_equal(split_holdout(50, 0.2, 7)[1], b)
    assert not np.array_equal(split_holdout(50, 0.2, 8)[1], b)
    assert split_holdout(5, 0.2, 0)[1].size == 0  # too few to hold any out
    assert split_holdout(10, 0.05, 0)[1].size == 3  # at least 3 held out when it can
    assert spearman(np.arange(5), np.ones(5)) is None and spearman([1, 2], [2, 1]) is None
    assert spearman(np.arange(6), np.arange(6)[::-1]) == pytest.approx(-1.0)
    with pytest.raises(MacsError, match="non-constant"):
        fit_with_holdout(MatesConfig(), np.ones((6, 2)), np.ones(6), 0)


class TextPool:
    """The piece of a Pool a FeatureCache reads: n_docs and texts(idx)."""

    def __init__(self, texts: list[str]):
        self._texts = texts
        self.n_docs = len(texts)
        self.reads = 0

    def texts(self, idx):
        self.reads += len(idx)
        return [self._texts[int(i)] for i in idx]


def test_feature_cache_computes_each_doc_once_and_reuses_disk(texts, tmp_path):
    fz = HashingFeaturizer(2048, 2, 4000)
    pool = TextPool(texts)
    fc = FeatureCache(pool, fz, tmp_path, log=lambda m: None)
    a = fc.rows(np.array([5, 3, 9]))
    b = fc.rows(np.array([9, 1, 5, 5]))
    assert fc.stats["computed"] == 4 and pool.reads == 4  # 5, 3, 9 then only 1
    direct = fz([texts[i] for i in (9, 1, 5, 5)])
    assert (b != direct).nnz == 0 and (a[2] != b[0]).nnz == 0
    assert len(list(fc.folder.glob("part-*.npz"))) == 2
    # a second cache over the same folder reads them back instead of featurising again
    pool2 = TextPool(texts)
    fc2 = FeatureCache(pool2, fz, tmp_path, log=lambda m: None)
    assert fc2.stats["from_disk"] == 4
    assert (fc2.rows(np.array([1, 3])) != fz([texts[1], texts[3]])).nnz == 0 and pool2.reads == 0
    # another featuriser setting gets its own folder
    assert FeatureCache(pool2, HashingFeaturizer(1024, 2, 4000), tmp_path).stats["from_disk"] == 0
    # an unreadable part is reported and recomputed, never trusted
    part = sorted(fc.folder.glob("part-*.npz"))[0]
    part.write_bytes(b"not an npz")
    notes = []
    fc3 = FeatureCache(TextPool(texts), fz, tmp_path, log=notes.append)
    assert fc3.stats["from_disk"] == 1 and any("unreadable" in n for n in notes)


def _tiny_bert(folder, texts: list[str]):
    """A 1-layer, 32-wide BERT with a word vocabulary of the fixture texts (random weights, seeded)."""
    from collections import Counter

    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    counts = Counter(w.lower() for t in texts for w in t.split() if w.isalpha())
    words = sorted(w for w, _ in counts.most_common(400))
    folder.mkdir()
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]
    BertTokenizer(vocab={w: i for i, w in enumerate(vocab)}).save_pretrained(folder)
    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=len(words) + 5,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    BertModel(cfg).save_pretrained(folder)
    return folder


def test_featurizer_choice_minilm_or_hashing(texts, tmp_path):
    notes: list[str] = []
    auto = make_featurizer(MatesConfig(), log=notes.append)
    if auto.kind == "hashing":  # the embed extra is not installed here: a note, then hashing
        assert any("MiniLM is not installed" in n for n in notes)
        with pytest.raises(MacsError, match="setup.sh embed"):
            make_featurizer(MatesConfig(features="minilm"))
    assert make_featurizer(MatesConfig(features="hashing")).kind == "hashing"
    # a sentence-transformers-style folder configured explicitly: dense unit rows, cached
    folder = _tiny_bert(tmp_path / "bert", texts)
    cfg = MatesConfig(
        features="minilm", minilm={"model": folder, "device": "cpu", "max_tokens": 32}
    )
    fz = make_featurizer(cfg)
    assert fz.kind == "minilm"
    fc = FeatureCache(TextPool(texts), fz, tmp_path / "cache")
    x = fc.rows(np.array([0, 7, 0]))
    assert x.shape == (3, 32) and np.allclose(np.linalg.norm(x, axis=1), 1, atol=1e-5)
    assert np.array_equal(x[0], x[2]) and not np.allclose(x[0], x[1])
    again = FeatureCache(TextPool(texts), make_featurizer(cfg), tmp_path / "cache")
    assert again.stats["from_disk"] == 2 and np.array_equal(again.rows(np.array([7]))[0], x[1])
