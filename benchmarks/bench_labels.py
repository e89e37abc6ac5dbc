"""Benchmark of the offline labellers (docs/s) and of the local vs Ray executors.

    .venv/bin/python benchmarks/bench_labels.py --store PATH [--sample 20000] [--workers 2]
        [--ray/--no-ray] [--ppl 64]

1. Per labeller, in this process: fit seconds, then docs/s scoring a seeded sample of the
   store's documents (single process, batches of 2048; ratio against the 20,000 docs/s goal).
2. The whole store labelled by all three CPU labellers with the local executor
   (`workers` processes), then with Ray Data on the same input: wall seconds each,
   the Ray/local ratio and a check that the labels are identical.
The store's labels/ folder is rewritten (use a copy you own). Timings depend on machine load:
the load average is printed beside them.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def _load() -> str:
    try:
        a, b, c = os.getloadavg()
        return f"load average {a:.1f} {b:.1f} {c:.1f} on {os.cpu_count()} cores"
    except OSError:
        return "load average n/a"


def _load1() -> str:
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "n/a"


def bench_labellers(store, cfg, sample: int, seed: int, ppl: int) -> list[dict]:
    """Fit seconds and single-process docs/s of each labeller on a seeded sample of the store."""
    from macs.data.labels.registry import make_labeller

    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(store.n_docs, size=min(sample, store.n_docs), replace=False))
    texts = store.texts(idx)
    all_domains = store.read_column("domain")
    all_ids = store.read_column("id")
    domains = [all_domains[i] for i in idx]
    n_chars = sum(len(t) for t in texts)
    rows = []
    plans = [("quality", "classifier", cfg), ("domain", "metadata", cfg), ("topic", "tfidf", cfg)]
    if ppl:
        pcfg = cfg.model_copy(deep=True)
        pcfg.quality.method = "perplexity"
        plans.append(("quality", "perplexity", pcfg))
    for actor, method, c in plans:
        lab = make_labeller(actor, c, seed)
        lab.check()
        t0 = time.perf_counter()
        if lab.needs_fit:
            fi = lab.select_fit_sample(all_ids, all_domains)
            lab.fit(
                store.texts(fi),
                {"id": [all_ids[i] for i in fi], "domain": [all_domains[i] for i in fi]},
            )
        fit_s = time.perf_counter() - t0
        lab.setup()
        sub = texts if method != "perplexity" else texts[:ppl]
        sub_d = domains[: len(sub)]
        t0 = time.perf_counter()
        for a in range(0, len(sub), 2048):
            lab.score_texts(sub[a : a + 2048], sub_d[a : a + 2048])
        dt = time.perf_counter() - t0
        rows.append(
            {
                "labeller": f"{actor}/{method}",
                "fit_s": fit_s,
                "docs": len(sub),
                "docs_per_s": len(sub) / dt,
                "mb_per_s": sum(len(t) for t in sub) / dt / 1e6,
                "load": _load1(),
            }
        )
        if (actor, method) == (
            "quality",
            "classifier",
        ) and c.quality.classifier.backend == "hashing":
            rows.append(_sklearn_baseline(lab, sub))
    print(
        f"\n## per labeller, one process ({len(texts)} docs sampled, mean {n_chars / len(texts):.0f} chars)"
    )
    print("| labeller | fit s | docs scored | docs/s | MB/s | vs 20,000 docs/s goal | load 1 min |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['labeller']} | {r['fit_s']:.1f} | {r['docs']} | {r['docs_per_s']:,.3g} | "
            f"{r['mb_per_s']:.3g} | {r['docs_per_s'] / 20000:.3g}x | {r['load']} |"
        )
    new = next((r for r in rows if r["labeller"] == "quality/classifier"), None)
    old = next((r for r in rows if r["labeller"].startswith("baseline:")), None)
    if new and old:
        print(
            f"quality classifier vs the sklearn HashingVectorizer baseline (same docs, same run): "
            f"{new['docs_per_s'] / old['docs_per_s']:.2f}x"
        )
    return rows


def _sklearn_baseline(lab, texts: list[str]) -> dict:
    """The previous scoring path on the same docs: sklearn HashingVectorizer + sparse dot (docs/s)."""
    from sklearn.feature_extraction.text import HashingVectorizer

    c = lab.cfg.classifier
    vec = HashingVectorizer(
        n_features=c.buckets,
        ngram_range=(1, c.ngrams),
        alternate_sign=False,
        norm="l2",
        dtype=np.float32,
    )
    coef, icpt = lab.clf._coef, lab.clf._intercept
    t0 = time.perf_counter()
    for a in range(0, len(texts), 2048):
        chunk = [t[: lab.max_chars] for t in texts[a : a + 2048]]
        z = np.asarray(vec.transform(chunk) @ coef.T, dtype=np.float64) + icpt
        _ = 5.0 / (1.0 + np.exp(-z[:, 0]))
    dt = time.perf_counter() - t0
    return {
        "labeller": "baseline: sklearn HashingVectorizer (previous quality path)",
        "fit_s": 0.0,
        "docs": len(texts),
        "docs_per_s": len(texts) / dt,
        "mb_per_s": sum(len(t) for t in texts) / dt / 1e6,
        "load": _load1(),
    }


def bench_executors(store, cfg, workers: int, seed: int, ray: bool) -> None:
    """Wall time of the full store with all CPU labellers: local processes, then Ray Data."""
    from macs.data.labels.job import run_labels
    from macs.data.labels.sidecar import load_labels

    results = {}
    for ex in ["local"] + (["ray"] if ray else []):
        t0 = time.perf_counter()
        man = run_labels(store, cfg, seed, executor=ex, workers=workers, force=True, progress=False)
        wall = time.perf_counter() - t0
        fit = sum(m["seconds"]["fit"] for m in man.values())
        results[ex] = {
            "wall": wall,
            "fit": fit,
            "label": man["quality"]["seconds"]["label_wall"],
            "labels": {a: load_labels(store, a) for a in man},
            "manifests": man,
        }
        print(
            f"{ex}: {store.n_docs} docs x {len(man)} labellers in {wall:.1f}s wall "
            f"(fit {fit:.1f}s, labelling {results[ex]['label']:.1f}s; "
            f"{store.n_docs / max(results[ex]['label'], 1e-9):,.0f} docs/s for all three) [{_load()}]"
        )
    loc = results["local"]
    print(f"\n## full store: {store.n_docs} docs, {workers} workers, all three CPU labellers")
    print("| executor | wall s | fit s | labelling s | docs/s (labelling) | vs local |")
    print("|---|---:|---:|---:|---:|---:|")
    for ex, r in results.items():
        print(
            f"| {ex} | {r['wall']:.1f} | {r['fit']:.1f} | {r['label']:.1f} | "
            f"{store.n_docs / max(r['label'], 1e-9):,.0f} | {r['wall'] / loc['wall']:.2f}x |"
        )
    if "ray" in results:
        same = all(
            (results["ray"]["labels"][a].group == loc["labels"][a].group).all()
            and np.allclose(results["ray"]["labels"][a].score, loc["labels"][a].score, atol=1e-6)
            for a in loc["labels"]
        )
        print(f"Ray labels identical to local: {same}")
    for a, m in loc["manifests"].items():
        print(
            f"{a} ({m['labeller']}): "
            + ", ".join(f"{k}={v}" for k, v in m["counts"].items())
            + f"; empty={m['n_empty']} truncated={m['n_truncated']}"
        )


def bench_quality_full(store, cfg, workers: int, seed: int) -> None:
    """The quality classifier alone over the full store with `workers` local processes (docs/s)."""
    from macs.data.labels.job import run_labels

    for ngrams in (2, 1):
        c = cfg.model_copy(deep=True)
        c.quality.classifier.ngrams = ngrams
        m = run_labels(
            store, c, seed, actors=["quality"], workers=workers, force=True, progress=False
        )["quality"]
        lab_s = m["seconds"]["label_wall"]
        print(
            f"quality classifier (word 1-{ngrams}-grams) alone, {workers} local processes: {store.n_docs} docs "
            f"labelled in {lab_s:.1f}s = {store.n_docs / lab_s:,.0f} docs/s "
            f"({store.n_docs / lab_s / 20000:.2f}x the 20,000 docs/s goal; fit {m['seconds']['fit']:.1f}s) [{_load()}]"
        )


def main() -> None:
    """Parse arguments and run both benchmarks."""
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--store", required=True, help="corpus store folder (its labels/ is rewritten)")
    ap.add_argument("--config", default=None, help="YAML config (labels section used)")
    ap.add_argument("--sample", type=int, default=20000, help="docs scored per labeller")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--ppl", type=int, default=0, help="also time the perplexity scorer on this many docs"
    )
    ap.add_argument("--no-ray", action="store_true", help="skip the Ray executor")
    ap.add_argument("--no-full", action="store_true", help="skip the full-store executor runs")
    args = ap.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    from macs.app.config import load_config
    from macs.data.corpus.store import CorpusStore

    cfg = load_config(args.config).labels
    store = CorpusStore.open(args.store)
    print(
        f"# bench_labels: {store.path} ({store.n_docs} docs), {_load()}; machine shared, timings under load"
    )
    bench_labellers(store, cfg, args.sample, args.seed, args.ppl)
    if not args.no_full:
        print()
        bench_quality_full(store, cfg, args.workers, args.seed)
        bench_executors(store, cfg, args.workers, args.seed, not args.no_ray)


if __name__ == "__main__":
    main()
