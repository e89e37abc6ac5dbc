"""Refresh reward time with the samples split across ranks (macs.train.split_rewards) vs one process.

Same model (the demo's llama-1m shape, seeded), same reference examples and documents; world 1
and world 2 (gloo on CPU, one torch thread per process; NCCL on GPUs with --device cuda). Prints
the wall time of scoring the documents on rank 0's clock, each rank's share of documents and
tokens, and the speedup of world 2 over world 1 measured in the same run; the rewards of the two
are compared (max abs. difference). Higher reward = more helpful.

    python benchmarks/bench_split_rewards.py --docs 96 --repeats 2
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))


def _docs(n: int, vocab: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(1, vocab, int(rng.integers(40, 300))) for _ in range(n)]


def _worker(rank: int, world: int, args, port: int, out) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world)
    )
    torch.set_num_threads(1)
    if world > 1:
        torch.distributed.init_process_group("gloo", rank=rank, world_size=world)
    from bench_influence import build_model, synthetic_reference
    from macs.select.rewards import InfluenceConfig, make_estimator
    from macs.train.dist import Dist
    from macs.train.split_rewards import SplitRewards, share

    model = build_model("1m", 128, "cpu", seed=0).eval()
    ref = synthetic_reference(4096, 128, args.ref_n, seed=1)
    est = make_estimator(InfluenceConfig(window=128, overlap=32, chunk_size=16), ref)
    docs = _docs(args.docs, 4096, seed=2)
    lengths = np.array([len(d) + 1 for d in docs])
    idx = np.arange(len(docs))

    def fn(ix):
        return est.rewards(model, [docs[i] for i in ix], step=0)

    fn(idx[:2])  # warm-up: the reference side is computed once per step
    sr = SplitRewards(Dist(rank, world, rank), lengths, fn)
    times = []
    for _ in range(args.repeats):
        if world > 1:
            torch.distributed.barrier()
        t0 = time.perf_counter()
        if rank == 0:
            r = sr(lambda ix: fn(ix), idx)
            sr.finish(idx)
        else:
            sr.serve()
        times.append(time.perf_counter() - t0)
    mine = share(idx, lengths, rank, world)
    if rank == 0:
        out.put({"world": world, "seconds": min(times), "rewards": r})
    out.put(
        {"world": world, "rank": rank, "docs": int(mine.size), "tokens": int(lengths[mine].sum())}
    )
    if world > 1:
        torch.distributed.destroy_process_group()


def run(world: int, args) -> tuple[dict, list[dict]]:
    """Scoring with `world` processes: (rank 0's timing and rewards, each rank's share)."""
    import torch.multiprocessing as mp

    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    port = 29500 + int(np.random.default_rng().integers(0, 500))
    procs = [ctx.Process(target=_worker, args=(r, world, args, port, q)) for r in range(world)]
    for p in procs:
        p.start()
    items = [q.get(timeout=1800) for _ in range(world + 1)]
    for p in procs:
        p.join()
    head = next(i for i in items if "seconds" in i)
    return head, [i for i in items if "rank" in i]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=96, help="reward-sampled documents of one refresh")
    ap.add_argument("--ref-n", type=int, default=16, help="reference examples per task")
    ap.add_argument("--repeats", type=int, default=2, help="timed repeats (best kept)")
    args = ap.parse_args(argv)
    one, shares1 = run(1, args)
    two, shares2 = run(2, args)
    print(f"{'world':>5} {'seconds':>8} {'speedup':>8}  per-rank docs / tokens")
    for res, sh in ((one, shares1), (two, shares2)):
        per = ", ".join(
            f"rank {s['rank']}: {s['docs']} / {s['tokens']}"
            for s in sorted(sh, key=lambda s: s["rank"])
        )
        print(
            f"{res['world']:>5} {res['seconds']:>8.2f} {one['seconds'] / res['seconds']:>7.2f}x  {per}"
        )
    diff = float(np.nanmax(np.abs(one["rewards"] - two["rewards"])))
    print(f"max |reward(world 2) - reward(world 1)| = {diff:.2e} (cosine units)")
    print(f"load average during the run: {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
