"""How well the projected reward estimator ranks documents like the exact one, by projection dimension.

The same setting as tests/select/rewards/test_influence_projected.py: a 2-layer byte-level Llama
(hidden 16, seed 0), the two real reference tasks of tests/select/rewards/data (geography Q&A, story
completions) and 300 real documents (48-byte slices of the json and argparse sources). For each
dimension it prints the Spearman correlation and the largest absolute difference between the
projected and the exact rewards (cosine units; higher reward = more helpful).

    python benchmarks/bench_projection_fidelity.py                   # 8192, 2048, 512 dims
    python benchmarks/bench_projection_fidelity.py --dims 8192,1024 --docs 300 --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "influence"))


def main(argv: list[str] | None = None) -> int:
    from influence_fixtures import code_docs, make_reference, tiny_llama
    from scipy.stats import spearmanr

    from macs.select.rewards import InfluenceConfig, make_estimator

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dims", default="8192,2048,512", help="comma list of projection dimensions")
    ap.add_argument("--docs", type=int, default=300, help="documents scored")
    ap.add_argument("--seeds", default="0", help="comma list of projection seeds")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    ref = make_reference()
    model = tiny_llama(hidden=16, seed=0)
    docs = code_docs(args.docs, length=48)
    t0 = time.perf_counter()
    exact = make_estimator(InfluenceConfig(chunk_size=100), ref).rewards(model, docs)
    print(f"exact alignment: {len(docs)} docs in {time.perf_counter() - t0:.1f}s")
    print(f"{'dims':>6} {'seed':>5} {'spearman':>9} {'max |diff|':>11} {'seconds':>8}")
    for dim in (int(d) for d in args.dims.split(",")):
        for seed in (int(s) for s in args.seeds.split(",")):
            cfg = InfluenceConfig(
                estimator="projected", projection_dim=dim, chunk_size=300, seed=seed
            )
            t0 = time.perf_counter()
            proj = make_estimator(cfg, ref).rewards(model, docs)
            dt = time.perf_counter() - t0
            rho = spearmanr(exact, proj).statistic
            print(f"{dim:>6} {seed:>5} {rho:>9.3f} {np.abs(proj - exact).max():>11.4f} {dt:>8.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
