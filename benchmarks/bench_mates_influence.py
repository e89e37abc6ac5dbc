"""How well MATES's data influence model predicts its oracle, and what the oracle costs, on the
committed mini corpus (public-domain text) with the CPU test settings.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_mates_influence.py --oracle 256

Builds the mini corpus's data folder in a temporary directory (store, 512-token BPE, labels),
trains the llama-tiny model for --steps AdamW steps on random pool documents, probes --oracle
documents with MATES's one-step oracle from that optimiser's state (`macs.select.selectors.mates.
probe_oracle`: the selector's own code), then fits each influence model (`mates_model`: ridge
and the MLP) on the selector's features (hashed n-grams; MiniLM with the embed extra) and
reports the held-out Spearman over --splits seeded 80/20 splits (mean, min, max), beside the
oracle's seconds and forward/backward tokens. Prints a fixed seed's numbers: rerun to reproduce.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SETS = [
    "run.device=cpu",
    "corpus.name=mini",
    "tokenizer.vocab_size=512",
    "tokenizer.train_mb=1",
    "labels.topic.n_groups=4",
    "labels.topic.sample_size=100",
    "labels.topic.svd_dims=16",
    "labels.workers=1",
    "labels.quality.classifier.backend=hashing",
    "model.size=llama-tiny",
    "influence.n_per_task=8",
    "influence.window=64",
    "influence.overlap=0",
    "influence.max_windows=2",
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--oracle", type=int, default=256, help="documents probed")
    ap.add_argument("--steps", type=int, default=60, help="training steps before the probe")
    ap.add_argument("--splits", type=int, default=10, help="seeded 80/20 held-out splits")
    ap.add_argument("--features", default="auto", choices=["auto", "minilm", "hashing"])
    ap.add_argument("--mlp", action="store_true", help="also the MLP (slow on hashed n-grams)")
    ap.add_argument("--label-features", action="store_true", help="also label+length features")
    a = ap.parse_args()
    import torch

    from macs.app.config import load_config
    from macs.app.pipeline import prepare_data
    from macs.data.corpus.importer import import_corpus
    from macs.data.pool import open_pool
    from macs.select.selectors.mates import probe_oracle
    from macs.select.selectors.mates_features import FeatureCache, make_featurizer
    from macs.select.selectors.mates_model import fit_with_holdout
    from macs.train.loop import param_groups
    from macs.train.model import build_model

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        import_corpus(
            [ROOT / "tests/fixtures/mini_corpus.jsonl"], data / "corpus" / "mini", name="mini",
            max_chunk_bytes=8192, heldout_fraction=0.1, heldout_seed=0, progress=False,
        )  # fmt: skip
        sets = [f"run.data_dir={data}", *SETS, f"baselines.mates.features={a.features}"]
        cfg = load_config(None, sets)
        prepare_data(cfg)
        pool = open_pool(cfg)
        vocab, eos = int(pool.tokens.vocab_size), int(pool.tokens.eos_id)
        model = build_model(cfg.model, vocab, 64, eos, 0)
        opt = torch.optim.AdamW(param_groups(model, 0.1), lr=3e-3, betas=(0.9, 0.95))
        rng = np.random.default_rng(0)
        docs = np.flatnonzero(pool.eligible & (pool.n_tokens > 65))
        t = time.perf_counter()
        for _ in range(a.steps):
            rows = [np.asarray(pool.doc(int(i))[:65], np.int64) for i in rng.choice(docs, 8)]
            x = torch.from_numpy(np.stack(rows))
            model(input_ids=x, labels=x).loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
        print(f"trained llama-tiny {a.steps} steps of 8 x 65 tokens in {time.perf_counter() - t:.1f}s; "
              f"{pool.n_docs} docs in the pool")  # fmt: skip
        probe_docs = np.flatnonzero(pool.eligible & (pool.n_tokens - 1 >= cfg.influence.min_tokens))
        idx = np.sort(rng.choice(probe_docs, min(a.oracle, probe_docs.size), replace=False))
        oracle = probe_oracle(cfg, pool)
        est = oracle.estimator
        t = time.perf_counter()
        r = np.asarray(oracle(model, idx, a.steps, opt), float)
        secs = time.perf_counter() - t
        ok = np.isfinite(r)
        print(f"oracle: {idx.size} docs ({ok.sum()} scored) in {secs:.1f}s = "
              f"{idx.size / secs:.1f} docs/s; {est.forward_tokens:,} forward and "
              f"{est.backward_tokens:,} backward tokens; influence mean {r[ok].mean():.2e} "
              f"std {r[ok].std():.2e} nats")  # fmt: skip
        fc = FeatureCache(pool, make_featurizer(cfg.baselines.mates, print), None, print)
        x = fc.rows(idx[ok])
        sets = {f"{fc.featurizer.kind} features": x}
        if a.label_features:  # the pool's labels and length: free at selection time
            lab = [np.log1p(pool.n_tokens[idx[ok]])[:, None]]
            for name in ("domain", "topic", "quality"):
                if name in pool.labels:
                    g = pool.labels[name].groups[idx[ok]]
                    lab.append(np.eye(len(pool.labels[name].group_names))[g])
            z = np.hstack(lab)
            z = (z - z.mean(0)) / np.where(z.std(0) > 0, z.std(0), 1.0)
            sets[f"label+length features (dim {z.shape[1]})"] = z
            from scipy import sparse

            sets["hashing + label+length features"] = sparse.hstack([x, z]).tocsr()
        if a.mlp:  # a dense 128-dim projection of the n-grams, for the MLP
            from sklearn.decomposition import TruncatedSVD

            all_x = fc.rows(probe_docs)  # fitted on every probe-able doc's text (no oracle value)
            svd = TruncatedSVD(128, random_state=0).fit(all_x)
            sets[f"{fc.featurizer.kind} SVD-128"] = svd.transform(x)
        models = ["ridge", *(["mlp"] if a.mlp else [])]
        for fname, feats in sets.items():
            for kind in models:
                if kind == "mlp" and feats.shape[1] > 4096:
                    continue  # hours on CPU: the first layer is dim x hidden
                mcfg = cfg.baselines.mates.model_copy(update={"model": kind})
                rhos, t = [], time.perf_counter()
                for s in range(a.splits):
                    rho = fit_with_holdout(mcfg, feats, r[ok], seed=s)[1]["heldout_spearman"]
                    rhos.append(np.nan if rho is None else rho)
                per = (time.perf_counter() - t) / a.splits
                print(f"influence model {kind:>5} on {fname} (dim {feats.shape[1]}): held-out "
                      f"Spearman mean {np.nanmean(rhos):+.3f} (min {np.nanmin(rhos):+.3f}, max "
                      f"{np.nanmax(rhos):+.3f}) over {a.splits} splits of {int(ok.sum())} oracle "
                      f"points; {per:.2f}s per fit+refit")  # fmt: skip


if __name__ == "__main__":
    main()
