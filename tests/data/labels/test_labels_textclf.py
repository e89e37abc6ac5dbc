"""The vectorised hashed word n-gram featuriser of the linear text classifier."""

from __future__ import annotations

import re

import numpy as np
import pytest

from macs.data.labels.config import TextClassifierConfig
from macs.data.labels.textclf import TextClassifier, hashed_matrix, hashed_ngrams

B = 2**18


def test_tokens_match_the_word_pattern_and_are_case_folded():
    docs = ["The cat sat.", "the CAT", "", "a b c", "x_y 42 déjà-vu"]
    doc, bucket = hashed_ngrams(docs, 1, B)
    # unigrams only: one entry per token of 2+ word characters, in document order
    expect = [re.findall(r"\w\w+", d.lower()) for d in docs]
    assert np.bincount(doc, minlength=len(docs)).tolist() == [len(t) for t in expect]
    assert bucket[:2].tolist() == bucket[3:5].tolist()  # 'the cat' in both cases
    assert bucket[2] != bucket[0]
    assert ((bucket >= 0) & (bucket < B)).all()


def test_bigrams_stay_inside_documents_and_buckets_are_fixed():
    doc, bucket = hashed_ngrams(["The cat sat.", "the CAT"], 2, B)
    # 3 + 2 unigrams, then 2 + 1 bigrams; no bigram 'sat the' across the document boundary
    assert doc.tolist() == [0, 0, 0, 1, 1, 0, 0, 1]
    # the hash is fixed (no per-process salt): labels are identical in every worker and on Ray
    assert bucket.tolist() == [152049, 87124, 90386, 152049, 87124, 35453, 10323, 35453]
    assert hashed_ngrams([], 2, B)[0].shape == (0,)
    assert hashed_ngrams(["... !!"], 2, B)[0].shape == (0,)


@pytest.mark.parametrize("norm", ["l1", "l2"])
def test_fast_decision_equals_the_sparse_matrix_product(mini_store, norm):
    texts = mini_store.texts(np.arange(mini_store.n_docs))
    domains = mini_store.read_column("domain")
    labels = ["pos" if d in ("encyclopedic", "news") else "neg" for d in domains]
    clf = TextClassifier(TextClassifierConfig(norm=norm, epochs=5), seed=0).fit(texts, labels)
    x = hashed_matrix(texts + [""], 2, clf.cfg.buckets, norm)
    rows = np.asarray(abs(x).sum(1) if norm == "l1" else np.sqrt(x.multiply(x).sum(1))).ravel()
    assert np.allclose(rows[:-1], 1.0, atol=1e-5) and rows[-1] == 0
    slow = np.asarray(x @ clf._coef.T).ravel() + clf._intercept[0]
    fast = clf.decision(texts + [""])[:, 0]
    assert np.allclose(fast, slow, atol=1e-4)
    p = clf.predict_proba(texts)
    assert p.shape == (len(texts), 2) and np.allclose(p.sum(1), 1.0, atol=1e-6)
    assert p[np.array(labels) == "pos", 1].mean() > p[np.array(labels) == "neg", 1].mean() + 0.15
