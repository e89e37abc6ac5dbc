"""Train a saved quality model (`macs label train-quality`) from a corpus store, files, or both.

From a store the training sample is the one `macs label` draws (positive domains vs negative
domains plus a random pool sample; docs whose seeded id hash falls in the validation fraction
are never trained on), so a model trained here scores the store as `macs label` would, up to
weight quantisation. From files, each file's documents are split by a seeded hash of their
text. The held-out AUCs (positives vs negatives; SpamAssassin ham vs spam when the store has
the demo's `email` and `email_spam` domains) are measured before and after quantisation and
saved in model.json with the training data description (sources, counts, sha256).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from macs.core.errors import MacsError
from macs.core.timing import Stopwatch, timed
from macs.data.labels.base import id_unit, read_text_file_docs
from macs.data.labels.config import QualityConfig
from macs.data.labels.qmodel import (
    QualityModel,
    dequantise,
    featuriser_meta,
    quantise,
    save_quality_model,
)
from macs.data.labels.quality import VAL_SALT, classifier_sample
from macs.data.labels.textclf import TextClassifier, auc, linear_decision

DEMO_CREATED_BY = "macs corpus build demo"
MAX_EVAL_PER_CLASS = 5000  # held-out docs per class scored for the AUC (seeded sample)


class _Data:
    """Training texts and labels (1 = positive), held-out eval sets, and their description."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.y: list[int] = []
        self.evals: dict[str, tuple[list[str], np.ndarray]] = {}
        self.desc: dict[str, Any] = {"positives": {}, "negatives": {}}

    def add_eval(self, name: str, pos: list[str], neg: list[str]) -> None:
        texts, y = self.evals.get(name, ([], np.zeros(0, dtype=bool)))
        self.evals[name] = (
            texts + pos + neg,
            np.concatenate([y, [True] * len(pos), [False] * len(neg)]).astype(bool),
        )


def _sample(idx: np.ndarray, cap: int, rng: np.random.Generator) -> np.ndarray:
    return np.sort(rng.choice(idx, size=cap, replace=False)) if len(idx) > cap else idx


def _store_data(data: _Data, store, cfg: QualityConfig, seed: int, ham: str = "email") -> None:
    """The `macs label` training sample of a store, its held-out eval sets and description."""
    c = cfg.classifier
    ids = store.read_column("id")
    domains = np.asarray(store.read_column("domain"), dtype=object)
    val = id_unit(ids, seed, VAL_SALT) < c.val_fraction
    pos, neg, pool = classifier_sample(domains, c, np.random.default_rng([seed, 1]), ~val)
    idx = np.unique(np.concatenate([pos, neg, pool])).astype(np.int64)
    role = dict.fromkeys(pos.tolist(), 1) | dict.fromkeys(np.concatenate([neg, pool]).tolist(), 0)
    data.texts += [t[: cfg.max_chars] for t in store.texts(idx)]
    data.y += [role[int(i)] for i in idx]
    rng = np.random.default_rng([seed, 3])
    ho_pos = _sample(
        np.flatnonzero(val & np.isin(domains, c.positive_domains)), MAX_EVAL_PER_CLASS, rng
    )
    ho_neg = _sample(
        np.flatnonzero(val & np.isin(domains, c.negative_domains)), MAX_EVAL_PER_CLASS, rng
    )
    data.add_eval("pos_vs_neg", store.texts(ho_pos), store.texts(ho_neg))
    present = set(domains.tolist())
    if ham in present and "email_spam" in present:
        h = np.flatnonzero(val & (domains == ham))
        s = np.flatnonzero(val & (domains == "email_spam"))
        data.add_eval("ham_vs_spam", store.texts(h), store.texts(s))
    m = store.manifest
    data.desc["store"] = {
        "name": store.name,
        "created_by": m.get("created_by"),
        "n_docs": int(store.n_docs),
        "build": {k: v for k, v in (m.get("build") or {}).items() if k != "sources"},
        "sources": [
            {k: s.get(k) for k in ("name", "domain", "package", "version", "sha256")}
            for s in m.get("sources", [])
        ],
    }
    count = lambda sel: {d: int((domains[sel] == d).sum()) for d in sorted(set(domains[sel]))}  # noqa: E731
    data.desc["positives"]["domains"] = count(pos)
    data.desc["negatives"]["domains"] = count(neg)
    data.desc["negatives"]["pool"] = {"n": len(pool), "domains": count(pool)}
    data.desc["heldout"] = {"by": "id", "seed": seed, "salt": VAL_SALT, "fraction": c.val_fraction}


def _file_data(data: _Data, files: Sequence[Path], y: int, cfg: QualityConfig, seed: int) -> None:
    """Docs of positive (y=1) or negative (y=0) files, split by a seeded hash of their text."""
    frac = cfg.classifier.val_fraction
    side = "positives" if y else "negatives"
    for path in files:
        docs = read_text_file_docs(path)
        held = id_unit(docs, seed, VAL_SALT) < frac
        train = [d[: cfg.max_chars] for d, h in zip(docs, held, strict=True) if not h]
        if not train:
            raise MacsError(
                f"training file {path}: all {len(docs)} docs fell in the held-out split; add docs"
            )
        data.texts += train
        data.y += [y] * len(train)
        ho = [d for d, h in zip(docs, held, strict=True) if h]
        data.add_eval("pos_vs_neg", ho if y else [], [] if y else ho)
        data.desc[side].setdefault("files", []).append(
            {
                "file": Path(path).name,
                "sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest(),
                "n_docs": len(docs),
                "n_train": len(train),
            }
        )
    if files:
        data.desc["heldout_files"] = {
            "by": "text",
            "seed": seed,
            "salt": VAL_SALT,
            "fraction": frac,
        }


def _data_sha256(texts: list[str], y: list[int]) -> str:
    h = hashlib.sha256()
    for t, lab in zip(texts, y, strict=True):
        h.update(b"%d\x1f" % lab)
        h.update(t.encode("utf-8", "replace"))
        h.update(b"\x1e")
    return h.hexdigest()


def _summary(desc: dict[str, Any], n_pos: int, n_neg: int) -> str:
    st = desc.get("store")
    where = []
    if st:
        demo = st.get("created_by") == DEMO_CREATED_BY
        where.append("the built-in demo corpus" if demo else f"store {st['name']}")
    nfiles = sum(len(desc[s].get("files", [])) for s in ("positives", "negatives"))
    if nfiles:
        where.append(f"{nfiles} file(s)")
    return f"{' + '.join(where)}: {n_pos:,} positives vs {n_neg:,} negatives"


def _evaluate(data: _Data, coef: np.ndarray, b: float, cfg) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, (texts, y) in sorted(data.evals.items()):
        cut = [t[: cfg.max_chars] for t in texts]
        z = linear_decision(cut, coef, b, cfg.classifier.ngrams, cfg.classifier.norm)
        a = auc(z, y)
        out[f"auc_{name}"] = None if np.isnan(a) else round(a, 6)
        out[f"n_{name}"] = [int(y.sum()), int((~y).sum())]
    return out


def train_quality_model(
    out: str | os.PathLike,
    cfg: QualityConfig,
    seed: int = 0,
    *,
    store=None,
    positive_files: Sequence[str | os.PathLike] = (),
    negative_files: Sequence[str | os.PathLike] = (),
    name: str = "quality-model",
    version: str = "1",
    weights: str = "int8",
    log: Callable[[str], None] | None = None,
) -> tuple[QualityModel, dict[str, Any]]:
    """Train, evaluate and save a quality model (score 0-5, higher = more like the positives).

    Training data: the store's `labels.quality.classifier` sample and/or the files (plus any
    `positive_files`/`negative_files` of the config). Returns the saved model and a report
    (counts, seconds, held-out AUCs before/after quantisation, file size).
    """
    log = log or (lambda s: None)
    c = cfg.classifier
    pos_files, neg_files = _training_files(cfg, store, positive_files, negative_files)
    clock = Stopwatch()
    data = _training_data(store, cfg, seed, pos_files, neg_files)
    n_pos = int(sum(data.y))
    log(f"training on {n_pos:,} positive and {len(data.y) - n_pos:,} negative docs")
    with timed() as fit:
        clf = TextClassifier(c, seed).fit(data.texts, ["pos" if y else "neg" for y in data.y])
        coef, b = clf._coef[0].copy(), float(clf._intercept[0])
    before = _evaluate(data, coef, b, cfg)
    after = _evaluate(data, dequantise(quantise(coef, weights)), b, cfg)
    _describe(data, n_pos, c, store is not None)
    meta = _model_meta(
        name, version, cfg, seed, data.desc, {**after, "before_quantisation": before}
    )
    model = save_quality_model(coef, b, meta, out, weights)
    size = sum(p.stat().st_size for p in Path(out).iterdir())
    report = {
        "n_train_pos": n_pos,
        "n_train_neg": len(data.y) - n_pos,
        "fit_seconds": round(fit.seconds, 2),
        "seconds": round(clock.seconds, 2),
        "bytes": size,
        "eval": meta["eval"],
        "path": str(out),
    }
    return model, report


def _training_files(
    cfg: QualityConfig, store, positive_files: Sequence, negative_files: Sequence
) -> tuple[list[Path], list[Path]]:
    """The positive and negative training files (config's, then the caller's); MacsError if
    the classifier is not the hashing one or there is neither a store nor both kinds of file."""
    c = cfg.classifier
    if c.backend != "hashing":
        raise MacsError(
            "train-quality saves hashed n-gram models: set labels.quality.classifier.backend: hashing"
        )
    pos_files = [Path(p) for p in [*c.positive_files, *positive_files]]
    neg_files = [Path(p) for p in [*c.negative_files, *negative_files]]
    if store is None and not (pos_files and neg_files):
        raise MacsError(
            "train-quality needs a store (--from demo or --from STORE) or both --positive and --negative files"
        )
    return pos_files, neg_files


def _training_data(
    store, cfg: QualityConfig, seed: int, pos_files: list[Path], neg_files: list[Path]
) -> _Data:
    """The store's training sample (if a store is given) plus the files' docs; MacsError
    unless there are both positives and negatives."""
    c = cfg.classifier
    data = _Data()
    if store is not None:
        cfg_store = cfg.model_copy(
            update={
                "classifier": c.model_copy(
                    update={"positive_files": pos_files, "negative_files": neg_files}
                )
            }
        )
        _store_data(data, store, cfg_store, seed)
    _file_data(data, pos_files, 1, cfg, seed)
    _file_data(data, neg_files, 0, cfg, seed)
    n_pos = int(sum(data.y))
    if n_pos == 0 or n_pos == len(data.y):
        raise MacsError(
            f"train-quality: {n_pos} positive and {len(data.y) - n_pos} negative training docs; both are needed"
        )
    return data


def _describe(data: _Data, n_pos: int, c, from_store: bool) -> None:
    """Complete the training data description: counts, summary line, data hash, sampling."""
    desc = data.desc
    desc["positives"]["n_train"], desc["negatives"]["n_train"] = n_pos, len(data.y) - n_pos
    desc.update(
        summary=_summary(desc, n_pos, len(data.y) - n_pos),
        data_sha256=_data_sha256(data.texts, data.y),
    )
    desc.update(max_per_class=c.max_per_class, pool_negatives=c.pool_negatives if from_store else 0)
    if "heldout" not in desc:
        desc["heldout"] = desc.get("heldout_files")


def _model_meta(
    name: str, version: str, cfg: QualityConfig, seed: int, desc: dict, ev: dict
) -> dict[str, Any]:
    """model.json of a trained quality model: score definition, featuriser, classifier, data, eval."""
    from macs import __version__

    c = cfg.classifier
    return {
        "name": name,
        "version": str(version),
        "macs_version": __version__,
        "created_by": "macs label train-quality",
        "score": "5 * sigmoid(w . x / ||x|| + b) on 0-5; higher = more like the positives",
        "featuriser": featuriser_meta(c, cfg.max_chars),
        "classifier": {
            "model": "logistic regression, averaged SGD (scikit-learn)",
            "alpha": c.alpha,
            "epochs": c.epochs,
            "seed": seed,
        },
        "training": desc,
        "eval": ev,
    }
