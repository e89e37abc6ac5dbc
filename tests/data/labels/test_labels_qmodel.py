"""Saved quality models: the packaged default on a user corpus with no settings, its held-out AUC
on real ham vs spam, reproducible training from files, the per-store cache, degenerate actors,
and one-line errors for bad model files and training files."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest

from macs.app.cli import main
from macs.core.errors import MacsError
from macs.data.labels.qmodel import default_model_path, load_quality_model
from macs.data.labels.textclf import auc

POSITIVE = ("encyclopedic", "news", "tech_docs")


@pytest.fixture(scope="module")
def records(mini_corpus_path):
    """The mini corpus records (real text, 10 domains)."""
    return [json.loads(line) for line in mini_corpus_path.read_text().splitlines()]


def _write_jsonl(path, recs, keys=("text",)):
    path.write_text("".join(json.dumps({k: r[k] for k in keys}) + "\n" for r in recs))
    return path


def _sha(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_packaged_model_ranks_unseen_ham_above_spam(records):
    """Fixture docs the packaged model never trained on (its id split): ham above spam."""
    m = load_quality_model("default")
    assert m.source == "default" and m.label() == "macs-quality-default v1"
    assert m.meta["eval"]["auc_ham_vs_spam"] >= 0.90  # measured on the full demo corpus
    ids = [r["id"] for r in records]
    dom = np.array([r["domain"] for r in records], dtype=object)
    score = m.score([r["text"] for r in records])
    assert score.dtype == np.float32 and score.min() >= 0.0 and score.max() <= 5.0
    held = m.heldout_mask(ids)
    sel = held & np.isin(dom, ["email", "email_spam"])
    assert (dom[sel] == "email").sum() >= 8 and (dom[sel] == "email_spam").sum() >= 8
    assert auc(score[sel], dom[sel] == "email") >= 0.90  # measured 1.00 on 11 ham + 10 spam
    sel = held & np.isin(dom, [*POSITIVE, "email_spam"])
    assert auc(score[sel], np.isin(dom[sel], POSITIVE)) >= 0.95  # measured 1.00 (23 vs 10)


def test_user_jsonl_without_domains_needs_no_settings(records, tmp_path, monkeypatch, capsys):
    """`macs corpus import my.jsonl` then plain `macs label`: the packaged model, and a note
    that the one-domain actor is degenerate."""
    from macs.data.corpus.store import CorpusStore
    from macs.data.labels.sidecar import degenerate_actors, load_labels

    _write_jsonl(tmp_path / "my.jsonl", records)
    monkeypatch.chdir(tmp_path)
    main(["corpus", "import", "my.jsonl"])
    main(["label", "--workers", "1"])
    out, err = capsys.readouterr()
    note = [ln for ln in err.splitlines() if "packaged default model" in ln]
    assert len(note) == 1 and "macs-quality-default v1" in note[0]
    assert (
        "note: the domain actor is degenerate: the store has a single domain value 'default'" in err
    )
    assert "quality (quality/classifier):" in out
    store = CorpusStore.open(tmp_path / ".macs" / "corpus" / "demo")
    lab = load_labels(store, "quality")
    fit_model = lab.manifest["fit"]["model"]
    assert fit_model["name"] == "macs-quality-default" and fit_model["source"] == "default"
    assert lab.manifest["config"]["model"]["sha256"] == load_quality_model("default").sha256
    assert (lab.counts() > 0).sum() >= 3  # the scores spread over the bins
    texts = store.texts(np.arange(store.n_docs))
    assert np.array_equal(lab.score, load_quality_model("default").score(texts))
    by_text = {r["text"][:200]: r["domain"] for r in records}
    dom = np.array([by_text.get(t[:200], "?") for t in texts], dtype=object)
    sel = np.isin(dom, ["email", "email_spam"])  # (most of this spam was training data)
    assert auc(lab.score[sel], dom[sel] == "email") > 0.85
    reasons = degenerate_actors(store)
    assert set(reasons) == {"domain"} and "single domain value 'default'" in reasons["domain"]
    dm = load_labels(store, "domain").manifest
    assert dm["degenerate"] is True and dm["degenerate_reason"] == reasons["domain"]
    main(["select", "--tokens", "20000"])  # the note once (issue 25: it was printed twice)
    err = capsys.readouterr().err
    assert sum("domain" in ln for ln in err.splitlines() if "note:" in ln) == 1, err


def test_single_domain_corpus_is_flagged(records, tmp_path, make_config):
    """One domain that is a positive domain: no negatives -> packaged model; domain degenerate."""
    from macs.data.corpus.importer import import_corpus
    from macs.data.corpus.store import CorpusStore
    from macs.data.labels.job import run_labels
    from macs.data.labels.sidecar import degenerate_actors

    path = _write_jsonl(tmp_path / "news.jsonl", [r for r in records if r["domain"] == "news"])
    import_corpus([path], tmp_path / "st", name="st", domain="news", progress=False)
    store = CorpusStore.open(tmp_path / "st")
    logs: list[str] = []
    man = run_labels(
        store, make_config(actors=["quality", "domain"]), progress=False, log=logs.append
    )
    assert man["domain"]["degenerate"] and man["domain"]["group_names"] == ["news"]
    assert man["quality"]["fit"]["model"]["source"] == "default"
    assert any("no negatives" in s and "packaged default model" in s for s in logs)
    reasons = degenerate_actors(store)
    assert reasons["domain"] == (
        "the store has a single domain value 'news', so the domain actor has one group"
    )
    # the packaged model puts every news article in the top bin: flagged too, with the fix
    assert man["quality"]["counts"]["q4 [4,5]"] == store.n_docs
    assert reasons["quality"].startswith(f"all {store.n_docs} docs are in one group 'q4 [4,5]'")
    assert "bins: quantile" in reasons["quality"]
    # a sidecar written before the flag existed: the counts decide
    mpath = store.path / "labels" / "domain" / "manifest.json"
    m = json.loads(mpath.read_text())
    del m["degenerate"], m["degenerate_reason"]
    mpath.write_text(json.dumps(m))
    assert degenerate_actors(store, ["domain"]) == {"domain": "it has a single group 'news'"}


def _train_files(records, tmp_path):
    pos = _write_jsonl(tmp_path / "pos.jsonl", [r for r in records if r["domain"] in POSITIVE])
    neg = _write_jsonl(tmp_path / "neg.jsonl", [r for r in records if r["domain"] == "email_spam"])
    return pos, neg


def test_training_from_files_is_reproducible(records, tmp_path):
    from macs.data.labels.config import QualityConfig
    from macs.data.labels.qtrain import train_quality_model

    pos, neg = _train_files(records, tmp_path)
    cfg = QualityConfig.model_validate({"classifier": {"val_fraction": 0.25}})
    kw = {"positive_files": [pos], "negative_files": [neg], "name": "t", "version": "2"}
    m1, rep = train_quality_model(tmp_path / "a", cfg, 0, **kw)
    m2, _ = train_quality_model(tmp_path / "b", cfg, 0, **kw)
    m3, _ = train_quality_model(tmp_path / "c", cfg, 1, **kw)
    assert _sha(tmp_path / "a") == _sha(tmp_path / "b")  # same seed: identical bytes
    assert _sha(tmp_path / "a")["weights.npz"] != _sha(tmp_path / "c")["weights.npz"]
    assert m1.label() == "t v2" and m1.sha256 == m2.sha256 != m3.sha256
    t = m1.meta["training"]
    assert [f["file"] for f in t["positives"]["files"]] == ["pos.jsonl"]
    assert t["positives"]["files"][0]["sha256"] == hashlib.sha256(pos.read_bytes()).hexdigest()
    n_pos, n_neg = rep["eval"]["n_pos_vs_neg"]  # held out by a hash of the text
    assert (rep["n_train_pos"] + n_pos, rep["n_train_neg"] + n_neg) == (100, 40)
    assert rep["eval"]["auc_pos_vs_neg"] >= 0.9 and rep["bytes"] < 200_000
    assert t["heldout"]["by"] == "text" and m1.heldout_mask(["x"]) is None


def test_train_quality_cli_then_label_with_the_model(records, store_copy, tmp_path, capsys):
    pos, neg = _train_files(records, tmp_path)
    out = tmp_path / "model"
    files = ["--positive", str(pos), "--negative", str(neg)]
    main(["label", "train-quality", *files, "--out", str(out), "--name", "mine"])
    line = capsys.readouterr().out.splitlines()[0]
    assert line.startswith("quality model mine v1:") and "held-out AUC pos vs neg" in line
    sets = ["--set", f"labels.store={store_copy.path}", "--set", f"labels.quality.model={out}"]
    main(["label", *sets, "--actors", "quality", "--workers", "1"])
    man = json.loads((store_copy.path / "labels/quality/manifest.json").read_text())
    assert man["fit"]["model"]["source"] == "file" and man["fit"]["model"]["name"] == "mine"
    assert not (store_copy.path / "labels" / ".models").exists()  # nothing trained on the store


def test_store_classifier_is_cached_and_reused(store_copy, make_config):
    from macs.data.labels.job import run_labels
    from macs.data.labels.sidecar import load_labels

    logs: list[str] = []
    run_labels(store_copy, make_config(actors=["quality"]), progress=False, log=logs.append)
    first = load_labels(store_copy, "quality")
    assert first.manifest["fit"]["model"]["source"] == "trained"
    cached = list((store_copy.path / "labels" / ".models").iterdir())
    assert len(cached) == 1 and (cached[0] / "model.json").exists()
    # other bins: the sidecar is relabelled, the classifier is not retrained
    cfg = make_config(actors=["quality"], quality={"cuts": [0.5, 2.5, 4.5]})
    run_labels(store_copy, cfg, progress=False, log=logs.append)
    again = load_labels(store_copy, "quality")
    assert any("reusing the classifier cached" in s for s in logs)
    assert again.manifest["fit"]["model"]["source"] == "cache"
    assert np.array_equal(again.score, first.score) and again.n_groups == 4


def test_bad_model_files_give_one_line_errors(tmp_path, records, store_copy, capsys):
    from macs.data.labels.base import read_text_file_docs

    with pytest.raises(MacsError, match="does not exist") as e:
        load_quality_model(tmp_path / "nope")
    assert "\n" not in str(e.value) and "train-quality" in str(e.value)
    newer = tmp_path / "newer"
    shutil.copytree(default_model_path(), newer)
    meta = json.loads((newer / "model.json").read_text())
    (newer / "model.json").write_text(json.dumps({**meta, "format": 99}))
    with pytest.raises(MacsError, match="format 99 is newer than this macs reads") as e:
        load_quality_model(newer)
    assert "\n" not in str(e.value)
    (newer / "model.json").write_text(json.dumps(meta))
    (newer / "weights.npz").write_bytes((newer / "weights.npz").read_bytes()[:-10])
    with pytest.raises(MacsError, match="sha256 differs"):
        load_quality_model(newer)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n")
    with pytest.raises(MacsError, match="has no documents") as e:
        read_text_file_docs(empty)
    assert "\n" not in str(e.value)
    neg = _write_jsonl(tmp_path / "neg.jsonl", records[:20])
    for args in (
        ["--positive", str(empty), "--negative", str(neg)],
        ["--positive", str(tmp_path / "missing.txt"), "--negative", str(neg)],
        ["--from", "demo", "--set", f"run.data_dir={tmp_path}"],
    ):
        with pytest.raises(SystemExit) as ex:
            main(["label", "train-quality", *args, "--out", str(tmp_path / "m")])
        assert ex.value.code == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    with pytest.raises(SystemExit):
        main(
            [
                "label",
                "--set",
                f"labels.quality.model={tmp_path / 'nope'}",
                "--store",
                str(store_copy.path),
            ]
        )
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: quality model") and "\n" not in err
