"""Checks of the sidecars against real human labels.

- quality: ROC AUC of the score for SpamAssassin ham (positive) vs spam, on docs held out of
  the classifier's training (higher AUC = better); mean score per domain.
- topic: NMI and ARI of the topics against the BBC news categories (read from the doc id or
  source path); NMI of topic vs domain over the whole corpus; the domain x topic table.
- domain: group counts and the classifier's held-out accuracy (when one was trained).
- agreement between the actors (macs.data.labels.agreement): mutual information of their groupings,
  correlation of their scores, the share of a score's variance another actor's groups explain.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from macs.data.labels.config import LabelsConfig

BBC_TOPICS = ("business", "entertainment", "politics", "sport", "tech")
_BBC_RE = re.compile(r"(?<![a-z])(business|entertainment|politics|sports?|tech)(?![a-z])")


def bbc_topic(*fields: str) -> str | None:
    """The BBC category named in a doc's id / source / parent id, else None."""
    for f in fields:
        m = _BBC_RE.search((f or "").lower())
        if m:
            return "sport" if m.group(1) == "sports" else m.group(1)
    return None


def quality_report(
    store,
    labels,
    domains: list[str],
    ids: list[str],
    cfg: LabelsConfig,
    seed: int,
    ham: str = "email",
    spam: str = "email_spam",
) -> dict[str, Any]:
    """AUC of ham vs spam on held-out docs, mean score and group shares per domain."""
    from macs.data.labels.quality import QualityLabeller
    from macs.data.labels.textclf import auc

    d = np.asarray(domains, dtype=object)
    q = QualityLabeller(cfg.quality, cfg.seed if cfg.seed is not None else seed)
    q.bind(store)  # a store without positive domains: the packaged model's own held-out split
    val = q.validation_mask(ids) if q.val_fraction > 0 else np.ones(len(ids), dtype=bool)
    sel = val & np.isin(d, [ham, spam])
    rep: dict[str, Any] = {
        "labeller": labels.manifest["labeller"],
        "auc_ham_vs_spam_heldout": auc(labels.score[sel], d[sel] == ham),
        "n_ham_heldout": int((sel & (d == ham)).sum()),
        "n_spam_heldout": int((sel & (d == spam)).sum()),
        "counts": labels.manifest["counts"],
    }
    per = {}
    for name in sorted(set(domains)):
        m = d == name
        per[name] = {
            "n": int(m.sum()),
            "mean_score": float(labels.score[m].mean()),
            "group_share": (np.bincount(labels.group[m], minlength=labels.n_groups) / m.sum())
            .round(3)
            .tolist(),
        }
    rep["per_domain"] = dict(sorted(per.items(), key=lambda kv: -kv[1]["mean_score"]))
    return rep


def bbc_only_fit(store, idx: np.ndarray, truth: list[str], topic_cfg, seed: int) -> dict[str, Any]:
    """The same topic method fitted on the BBC docs alone with k = 5: NMI/ARI vs the 5 categories."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    from macs.data.labels.topic import TopicLabeller

    cfg = topic_cfg.model_copy(
        update={"n_groups": len(set(truth)), "balance_domains": False, "sample_size": len(idx)}
    )
    lab = TopicLabeller(cfg, seed)
    texts = store.texts(idx)
    lab.fit(texts, {})
    _, g = lab.score_texts(texts)
    return {
        "n_docs": len(idx),
        "k": cfg.n_groups,
        "nmi": float(normalized_mutual_info_score(truth, g)),
        "ari": float(adjusted_rand_score(truth, g)),
        "group_names": lab.group_names,
    }


def topic_report(
    labels,
    domains: list[str],
    ids: list[str],
    sources: list[str],
    parents: list[str],
    news_domain: str = "news",
    store=None,
    topic_cfg=None,
    seed: int = 0,
) -> dict[str, Any]:
    """NMI/ARI vs BBC categories, NMI vs domain, and the domain x topic count table."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    d = np.asarray(domains, dtype=object)
    rep: dict[str, Any] = {
        "labeller": labels.manifest["labeller"],
        "group_names": labels.group_names,
        "counts": labels.manifest["counts"],
    }
    news = np.flatnonzero(d == news_domain)
    truth = [bbc_topic(ids[i], sources[i], parents[i]) for i in news]
    keep = [k for k, t in enumerate(truth) if t is not None]
    if keep:
        t = [truth[k] for k in keep]
        g = labels.group[news[keep]]
        rep["bbc"] = {
            "n_docs": len(keep),
            "nmi": float(normalized_mutual_info_score(t, g)),
            "ari": float(adjusted_rand_score(t, g)),
            "table": {
                c: np.bincount(g[np.asarray(t) == c], minlength=labels.n_groups).tolist()
                for c in BBC_TOPICS
            },
        }
    else:
        rep["bbc"] = {
            "n_docs": 0,
            "note": f"no {news_domain!r} docs with a BBC category in id/source",
        }
    rep["nmi_topic_vs_domain"] = float(normalized_mutual_info_score(d, labels.group))
    if keep and store is not None and topic_cfg is not None:
        rep["bbc_only_fit"] = bbc_only_fit(
            store, news[keep], [truth[k] for k in keep], topic_cfg, seed
        )
    names = sorted(set(domains))
    rep["domain_x_topic"] = {
        n: np.bincount(labels.group[d == n], minlength=labels.n_groups).tolist() for n in names
    }
    return rep


def validation_report(store, cfg: LabelsConfig, seed: int = 0) -> dict[str, Any]:
    """Every available check for the store's sidecars (missing actors are skipped)."""
    from macs.data.labels.sidecar import available_actors, load_labels

    ids = store.read_column("id")
    domains = store.read_column("domain")
    have = available_actors(store)
    rep: dict[str, Any] = {"store": str(store.path), "n_docs": store.n_docs, "actors": have}
    if "quality" in have:
        rep["quality"] = quality_report(
            store, load_labels(store, "quality"), domains, ids, cfg, seed
        )
    if "topic" in have:
        rep["topic"] = topic_report(
            load_labels(store, "topic"),
            domains,
            ids,
            store.read_column("source"),
            store.read_column("parent_id"),
            store=store,
            topic_cfg=cfg.topic,
            seed=cfg.seed if cfg.seed is not None else seed,
        )
    if "domain" in have:
        lab = load_labels(store, "domain")
        rep["domain"] = {
            "labeller": lab.manifest["labeller"],
            "counts": lab.manifest["counts"],
            "fit": lab.manifest.get("fit", {}),
        }
        if lab.manifest["labeller"] == "domain/classifier":
            d = np.asarray(domains, dtype=object)
            names = np.asarray(lab.group_names, dtype=object)
            rep["domain"]["agreement_all_docs"] = float((names[lab.group] == d).mean())
    if len(have) >= 2:
        from macs.data.labels.agreement import agreement_report

        rep["agreement"] = agreement_report({a: load_labels(store, a) for a in have})
    return rep


def format_report(rep: dict[str, Any]) -> str:
    """The report as readable text (markdown tables)."""
    out = [
        f"store {rep['store']}: {rep['n_docs']} docs; sidecars: {', '.join(rep['actors']) or 'none'}"
    ]
    q = rep.get("quality")
    if q:
        out += [
            "",
            f"## quality ({q['labeller']})",
            f"AUC ham vs spam (held out of training): {q['auc_ham_vs_spam_heldout']:.4f} "
            f"({q['n_ham_heldout']} ham, {q['n_spam_heldout']} spam)",
            "group counts: " + ", ".join(f"{k}={v}" for k, v in q["counts"].items()),
            "",
            "| domain | docs | mean score (0-5) | share per group (q0..q4) |",
            "|---|---:|---:|---|",
        ]
        for name, r in q["per_domain"].items():
            out.append(
                f"| {name} | {r['n']} | {r['mean_score']:.3f} | {' '.join(f'{x:.2f}' for x in r['group_share'])} |"
            )
    dm = rep.get("domain")
    if dm:
        out += [
            "",
            f"## domain ({dm['labeller']})",
            "group counts: " + ", ".join(f"{k}={v}" for k, v in dm["counts"].items()),
        ]
        if "heldout_accuracy" in dm.get("fit", {}):
            out.append(
                f"held-out accuracy: {dm['fit']['heldout_accuracy']:.4f} ({dm['fit']['n_heldout']} docs)"
            )
    t = rep.get("topic")
    if t:
        out += [
            "",
            f"## topic ({t['labeller']})",
            "group counts: " + ", ".join(f"{k}={v}" for k, v in t["counts"].items()),
        ]
        b = t["bbc"]
        if b.get("n_docs"):
            out.append(
                f"BBC news vs 5 human categories: NMI {b['nmi']:.4f}, ARI {b['ari']:.4f} ({b['n_docs']} docs)"
            )
            hdr = (
                "| BBC category | "
                + " | ".join(f"t{j:02d}" for j in range(len(t["group_names"])))
                + " |"
            )
            out += ["", hdr, "|---|" + "---:|" * len(t["group_names"])]
            for c, row in b["table"].items():
                out.append(f"| {c} | " + " | ".join(str(x) for x in row) + " |")
        else:
            out.append(b.get("note", ""))
        bo = t.get("bbc_only_fit")
        if bo:
            out.append(
                f"same method fitted on the BBC docs alone (k={bo['k']}): NMI {bo['nmi']:.4f}, "
                f"ARI {bo['ari']:.4f} ({bo['n_docs']} docs); topics: {'; '.join(bo['group_names'])}"
            )
        out.append(f"NMI(topic, domain) over all docs: {t['nmi_topic_vs_domain']:.4f}")
        out += [
            "",
            "topics: " + "; ".join(t["group_names"]),
            "",
            "| domain | " + " | ".join(f"t{j:02d}" for j in range(len(t["group_names"]))) + " |",
            "|---|" + "---:|" * len(t["group_names"]),
        ]
        for name, row in t["domain_x_topic"].items():
            out.append(f"| {name} | " + " | ".join(str(x) for x in row) + " |")
    if rep.get("agreement"):
        from macs.data.labels.agreement import format_agreement

        out += ["", *format_agreement(rep["agreement"])]
    return "\n".join(out)
