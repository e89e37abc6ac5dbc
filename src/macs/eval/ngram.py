"""The count n-gram gate: held-out bits/byte of a unigram and a bigram model of a run's training tokens.

A trained model that does not beat a bigram count model of its own training tokens on held-out
text has learnt little beyond token statistics, and then a data selector can only move those
statistics. Both models are fit on every token of every stage's documents (with repetition, as
trained) and scored on the held-out documents the model's held-out bits/byte uses (same sample,
same bytes):

- unigram: add-one (Laplace) counts over the vocabulary;
- bigram: interpolated absolute discounting (d = 0.75) backing off to that unigram,
  P(b|a) = max(c(ab) - d, 0) / c(a) + d N1+(a.) / c(a) P(b), and P(b) where `a` was never seen;
  the first token of a document is scored by the unigram.
"""

from __future__ import annotations

import numpy as np

DISCOUNT = 0.75


def _pairs(docs: list[np.ndarray], vocab: int) -> np.ndarray:
    """int64 codes a * vocab + b of the adjacent token pairs inside each document."""
    parts = [d[:-1].astype(np.int64) * vocab + d[1:] for d in docs if len(d) > 1]
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def ngram_bits(
    train_docs: list[np.ndarray], heldout_docs: list[np.ndarray], vocab: int
) -> dict[str, float]:
    """Total bits of the held-out tokens under the unigram and the bigram count models, and token counts."""
    train = np.concatenate([np.asarray(d, np.int64) for d in train_docs]) if train_docs else []
    uni = np.bincount(np.asarray(train, np.int64), minlength=vocab).astype(np.float64)
    p_uni = (uni + 1.0) / (uni.sum() + vocab)
    codes, counts = np.unique(
        _pairs([np.asarray(d, np.int64) for d in train_docs], vocab), return_counts=True
    )
    ctx_total = np.bincount(codes // vocab, weights=counts, minlength=vocab)  # c(a) as a context
    ctx_types = np.bincount(codes // vocab, minlength=vocab).astype(np.float64)  # N1+(a .)
    held = [np.asarray(d, np.int64) for d in heldout_docs if len(d)]
    firsts = np.array([d[0] for d in held], np.int64)
    hp = _pairs(held, vocab)
    a, b = hp // vocab, hp % vocab
    c_ab = np.zeros(hp.size)
    if codes.size:
        pos = np.clip(np.searchsorted(codes, hp), 0, codes.size - 1)
        c_ab = np.where(codes[pos] == hp, counts[pos], 0).astype(np.float64)
    c_a = ctx_total[a]
    seen = c_a > 0
    safe = np.where(seen, c_a, 1.0)
    p_bi = np.where(
        seen,
        np.maximum(c_ab - DISCOUNT, 0.0) / safe + DISCOUNT * ctx_types[a] / safe * p_uni[b],
        p_uni[b],
    )
    all_tokens = np.concatenate(held) if held else np.zeros(0, np.int64)
    first_bits = -np.log2(p_uni[firsts]).sum()
    return {
        "unigram_bits": float(-np.log2(p_uni[all_tokens]).sum()),
        "bigram_bits": float(first_bits - np.log2(p_bi).sum()),
        "train_tokens": int(len(train)),
        "heldout_tokens": int(all_tokens.size),
    }


def ngram_gate(
    pool, stage_docs: list[np.ndarray], heldout_idx: np.ndarray, heldout_bytes: int
) -> dict:
    """{unigram_bpb, bigram_bpb, train_tokens, heldout_tokens, heldout_bytes} of a run's stages on held-out docs."""
    toks = pool.tokens
    train = [toks.doc(int(i)) for idx in stage_docs for i in idx]
    held = [toks.doc(int(i)) for i in heldout_idx]
    vocab = int(toks.vocab_size)
    r = ngram_bits(train, held, vocab)
    nbytes = max(int(heldout_bytes), 1)
    return {
        "unigram_bpb": r["unigram_bits"] / nbytes,
        "bigram_bpb": r["bigram_bits"] / nbytes,
        "train_tokens": r["train_tokens"],
        "heldout_tokens": r["heldout_tokens"],
        "heldout_bytes": int(heldout_bytes),
        "model": f"unigram add-one; bigram absolute discounting d={DISCOUNT} to the unigram",
    }
