"""The count n-gram gate against a plain loop."""

from __future__ import annotations

import math

import numpy as np
import pytest

from macs.eval.ngram import DISCOUNT, ngram_bits


def _loop(train: list[list[int]], held: list[list[int]], vocab: int) -> tuple[float, float]:
    uni = [0] * vocab
    big: dict[tuple[int, int], int] = {}
    for d in train:
        for t in d:
            uni[t] += 1
        for a, b in zip(d, d[1:], strict=False):
            big[(a, b)] = big.get((a, b), 0) + 1
    n = sum(uni)

    def p1(t):
        return (uni[t] + 1) / (n + vocab)

    def p2(a, b):
        ca = sum(c for (x, _), c in big.items() if x == a)
        if ca == 0:
            return p1(b)
        types = sum(1 for (x, _) in big if x == a)
        return max(big.get((a, b), 0) - DISCOUNT, 0) / ca + DISCOUNT * types / ca * p1(b)

    u = -sum(math.log2(p1(t)) for d in held for t in d)
    bi = -sum(
        math.log2(p1(d[0])) + sum(math.log2(p2(a, b)) for a, b in zip(d, d[1:], strict=False))
        for d in held
    )
    return u, bi


def test_unigram_and_bigram_bits_match_a_plain_loop():
    rng = np.random.default_rng(0)
    vocab = 7
    train = [list(rng.integers(0, 5, size=n)) for n in (12, 1, 30, 8)]  # tokens 5, 6 never seen
    held = [list(rng.integers(0, 7, size=n)) for n in (9, 4, 1)]
    r = ngram_bits([np.array(d) for d in train], [np.array(d) for d in held], vocab)
    u, bi = _loop(train, held, vocab)
    assert r["unigram_bits"] == pytest.approx(u) and r["bigram_bits"] == pytest.approx(bi)
    assert r["train_tokens"] == 51 and r["heldout_tokens"] == 14
    # on text that repeats its training pairs, the bigram beats the unigram
    rep = [np.array([0, 1, 2, 3] * 10)]
    r = ngram_bits(rep, rep, vocab)
    assert r["bigram_bits"] < 0.5 * r["unigram_bits"]
