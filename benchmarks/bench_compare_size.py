"""Training and scoring throughput of the CPU comparison's model candidates, one torch thread.

    OMP_NUM_THREADS=1 python benchmarks/bench_compare_size.py [--steps 6] [--candidates SIZE:SEQ:BATCH[:VOCAB],...]

For each (model size, sequence length, batch) it times AdamW training steps on random tokens
(forward + backward + step, after one warm-up step) and forward-only scoring of the same batch,
and prints tokens per second. Used to size configs/compare-cpu.yaml (issue 20): a run's
training time is tokens / training rate, its evaluation about forward tokens / scoring rate.
Numbers depend on the load of the machine; the script prints the load average beside them.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

CANDIDATES = [("llama-1m", 128, 16), ("llama-1m", 2048, 1), ("llama-5m", 2048, 1)]


def rates(
    size: str, seq: int, batch: int, steps: int, vocab: int = 4096
) -> tuple[float, float, int]:
    """(training tokens/s, scoring tokens/s, parameters) of one candidate."""
    import torch

    from macs.app.config import load_config
    from macs.train.model import build_model

    cfg = load_config(None, [f"model.size={size}"])
    model = build_model(cfg.model, vocab, seq, 0, 0)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randint(0, vocab, (batch, seq))
    for i in range(steps + 1):
        if i == 1:
            t0 = time.perf_counter()
        loss = model(input_ids=x, labels=x).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    train = steps * batch * seq / (time.perf_counter() - t0)
    model.eval()
    with torch.no_grad():
        t0 = time.perf_counter()
        for _ in range(steps):
            model(input_ids=x)
    score = steps * batch * seq / (time.perf_counter() - t0)
    return train, score, sum(p.numel() for p in model.parameters())


def main() -> None:
    import torch

    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument(
        "--candidates", default="", help="size:seq:batch[:vocab],... (default: the list)"
    )
    args = ap.parse_args()
    cands = [c.split(":") for c in args.candidates.split(",") if c] or CANDIDATES
    torch.set_num_threads(1)
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        f"torch {torch.__version__}, 1 thread; load average {os.getloadavg()[0]:.1f}"
    )
    print("| model | seq | batch | vocab | parameters | training tokens/s | scoring tokens/s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for size, seq, batch, *vocab in cands:
        v = int(vocab[0]) if vocab else 4096
        tr, sc, n = rates(size, int(seq), int(batch), args.steps, v)
        print(f"| {size} | {seq} | {batch} | {v} | {n / 1e6:.2f}M | {tr:,.0f} | {sc:,.0f} |")


if __name__ == "__main__":
    main()
