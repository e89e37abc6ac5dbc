"""Benchmark: one full score + budgeted select over N documents vs a plain np.argsort baseline.

Synthetic pool: three actors (5 quality bins, 7 domains, 13 topics; int8 group ids),
int32 token counts and a 1% held-out mask, all memory-mapped from temp .npy files written
by a child process (so this process's peak RSS only counts what selection touches).
Each case runs once with tracemalloc on (its overhead on large numpy arrays is small).

    .venv/bin/python benchmarks/bench_select.py                 # 100M documents
    .venv/bin/python benchmarks/bench_select.py --n-docs 1e6    # quick

Reports wall time and peak memory (tracemalloc peak of heap allocations during the call;
ru_maxrss of the whole process, mapped input pages included) for
  1. stage-1 select (no repetitions yet), 2. stage-2 select (decay active),
  3. random mode (one tie level holding every document: the worst case),
  4. sample_groups with m = 10,000 docs per group (25 groups),
and the baseline in the same run: the full float32 score vector + np.argsort + cumsum cut.
Goals: under 5 s, under 2 GB peak, >= 5x faster than the argsort baseline.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

SIZES = {"quality": 5, "domain": 7, "topic": 13}
GOAL_S, GOAL_GB, GOAL_RATIO = 5.0, 2.0, 5.0


def make_data(d: Path, n: int, seed: int = 0, chunk: int = 10_000_000) -> None:
    """Write the synthetic pool as .npy files in `d` (runs in a child process)."""
    rng = np.random.default_rng(seed)
    arrays = {
        name: np.lib.format.open_memmap(d / f"{name}.npy", "w+", np.int8, (n,)) for name in SIZES
    }
    tokens = np.lib.format.open_memmap(d / "tokens.npy", "w+", np.int32, (n,))
    held = np.lib.format.open_memmap(d / "heldout.npy", "w+", np.bool_, (n,))
    # Skewed group sizes (like real pools): Dirichlet proportions per actor.
    probs = {k: rng.dirichlet(np.full(v, 2.0)) for k, v in SIZES.items()}
    for s in range(0, n, chunk):
        e = min(s + chunk, n)
        for name, k in SIZES.items():
            arrays[name][s:e] = rng.choice(k, size=e - s, p=probs[name]).astype(np.int8)
        tokens[s:e] = np.clip(rng.lognormal(6.0, 1.0, e - s), 1, 200_000).astype(np.int32)
        held[s:e] = rng.random(e - s) < 0.01
    for a in [*arrays.values(), tokens, held]:
        a.flush()


def peak_gb() -> float:
    """Peak resident set size of this process so far, GB (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


CPU: dict[str, float] = {}  # CPU seconds of each timed call (process_time): load-independent


def timed(fn, trace: bool, label: str = ""):
    """(result, wall seconds, tracemalloc peak GB or None); CPU seconds go to CPU[label]."""
    if trace:
        tracemalloc.start()
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    dt = time.perf_counter() - t0
    CPU[label] = time.process_time() - c0
    peak = None
    if trace:
        peak = tracemalloc.get_traced_memory()[1] / 2**30
        tracemalloc.stop()
    return out, dt, peak


def main() -> None:
    """Run the benchmark (or, with --make-data, write the synthetic pool) and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-docs", type=float, default=1e8)
    ap.add_argument(
        "--fraction", type=float, default=0.1, help="budget as a fraction of pool tokens"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--make-data", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    n = int(args.n_docs)
    if args.make_data:
        make_data(args.make_data, n, args.seed)
        return

    from macs.select.actors.base import Actor
    from macs.select.console.console import Console

    with tempfile.TemporaryDirectory(prefix="macs-bench-") as tmp:
        d = Path(tmp)
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, __file__, "--n-docs", str(n), "--make-data", str(d)], check=True
        )
        print(
            f"data: {n:,} docs written to {d} in {time.perf_counter() - t0:.1f} s (child process)"
        )
        groups = {k: np.load(d / f"{k}.npy", mmap_mode="r") for k in SIZES}
        tokens = np.load(d / "tokens.npy", mmap_mode="r")
        eligible = ~np.load(d / "heldout.npy", mmap_mode="r")
        rng = np.random.default_rng(args.seed)
        t0 = time.perf_counter()
        actors = [
            Actor(k, groups[k], [f"{k}{j}" for j in range(v)], init=list(rng.uniform(0.2, 2.0, v)))
            for k, v in SIZES.items()
        ]
        console = Console(actors, seed=args.seed)
        console.theta = np.array([0.5, 0.3, 0.2])
        t_setup = time.perf_counter() - t0
        pool = int(tokens.sum(dtype=np.int64))
        budget = args.fraction * pool
        print(
            f"setup: actors + console in {t_setup:.2f} s; pool {pool:,} tokens, budget {budget:,.0f}"
        )

        rows = []
        for label, mode in [
            ("stage 1", None),
            ("stage 2 (decay)", None),
            ("random mode", "random"),
        ]:
            if mode:
                console.mode = mode
            # one run per case, traced (tracemalloc adds little to large numpy allocations)
            idx, dt, heap = timed(
                lambda: console.select(tokens, budget, eligible), trace=True, label=label
            )
            info = dict(console.last_select)
            sel_tok = int(tokens[idx].sum(dtype=np.int64))
            assert sel_tok >= budget and sel_tok - int(tokens[idx].max()) < budget
            assert eligible[idx].all()
            rows.append((label, dt, heap, len(idx), sel_tok, info))
            del idx
        console.mode = "multi_actor"
        m = 10_000  # paper-scale samples per group
        samples, t_sample, heap_sample = timed(
            lambda: console.sample_groups(m, eligible), trace=True, label="sample_groups"
        )
        n_sampled = sum(len(x) for per in samples.values() for x in per)
        assert all(not (~eligible[x]).any() for per in samples.values() for x in per)
        del samples
        rss_ours = peak_gb()

        def baseline():
            s = console.scores(dtype=np.float32)
            s[~eligible] = -np.inf
            t1, c1 = time.perf_counter(), time.process_time()
            order = np.argsort(-s)
            t_sort = time.perf_counter() - t1
            CPU["argsort"] = time.process_time() - c1
            cum = np.cumsum(tokens[order], dtype=np.int64)
            k = int(np.searchsorted(cum, budget, side="left")) + 1
            return np.sort(order[:k]), t_sort

        console.mode = "multi_actor"
        (base_idx, t_argsort), t_base, _ = timed(baseline, trace=False, label="baseline")
        rss_all = peak_gb()
        del base_idx

    print()
    print(
        f"{'case':<18}{'wall s':>8}{'cpu s':>8}{'heap GB':>9}{'docs':>13}{'tokens':>16}"
        f"{'thr docs':>12}"
    )
    for label, dt, heap, nd, st, info in rows:
        print(
            f"{label:<18}{dt:>8.2f}{CPU[label]:>8.2f}{heap:>9.3f}{nd:>13,}{st:>16,}"
            f"{info['threshold_docs']:>12,}"
        )
    print(
        f"{'sample_groups':<18}{t_sample:>8.2f}{CPU['sample_groups']:>8.2f}{heap_sample:>9.3f}"
        f"{n_sampled:>13,}   (m={m:,} per group, 25 groups)"
    )
    print(f"{'baseline total':<18}{t_base:>8.2f}{CPU['baseline']:>8.2f}   (scores + argsort + cut)")
    print(f"{'  np.argsort only':<18}{t_argsort:>8.2f}{CPU['argsort']:>8.2f}")
    print()
    print(f"peak RSS after our selects: {rss_ours:.2f} GB (whole process, mapped inputs included)")
    print(f"peak RSS after baseline:    {rss_all:.2f} GB")
    for what, ours, base in [
        ("wall", [r[1] for r in rows], t_argsort),
        ("cpu", [CPU[r[0]] for r in rows], CPU["argsort"]),
    ]:
        print(
            f"{what:>4}: speed-up vs argsort alone {base / ours[0]:.1f}x (stage 1), "
            f"{base / ours[1]:.1f}x (stage 2), {base / ours[2]:.1f}x (random); "
            f"multi-actor select {max(ours[:2]):.2f} s: goals (<{GOAL_S:.0f} s, "
            f"<{GOAL_GB:.0f} GB, >={GOAL_RATIO:.0f}x) "
            + (
                "met"
                if max(ours[:2]) < GOAL_S
                and rss_ours < GOAL_GB
                and base / max(ours[:2]) >= GOAL_RATIO
                else "NOT met"
            )
        )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"[n={n:,}; {os.cpu_count()} CPUs; shared machine, load average now {load}]")


if __name__ == "__main__":
    main()
