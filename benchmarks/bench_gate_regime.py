"""The bigram gate by tokenizer and model shape, at equal training wall-clock (issue 20, design 6).

    OMP_NUM_THREADS=1 python benchmarks/bench_gate_regime.py [--seconds 180] [--arms bpe-1m,byte-1m]
        [--docs 20] [--final-only]

For each arm (tokenizer kind, model size, window, lr) on the CPU comparison's pool
(configs/compare-cpu.yaml): time a few training steps of the model on random tokens
(bench_compare_size.rates), set train.tokens = that rate x --seconds so every arm gets about
the same training wall-clock, train the random arm with `macs train` (one torch thread, stage
checkpoints kept, no end-of-run evaluation), then print its gate curve (bench_gate_curve: model
held-out bits/byte at each stage boundary beside count unigram and bigram models of the tokens
trained so far; --final-only: the final model only, as the byte arms' boundary evaluations take
minutes each on one thread) and its training seconds from summary.json. Arms that need the byte
tokenizer's token shards make them first (`macs corpus tokenize`, ~5 s). Runs go to
runs/gate-regime/<arm>.
Results: docs/results/gate-regime.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

CONFIG = "configs/compare-cpu.yaml"
# name: (tokenizer.kind, model.size, seq_len, lr)
ARMS = {
    "bpe-1m": ("bpe", "llama-1m", 512, 2e-3),
    "bpe-5m": ("bpe", "llama-5m", 512, 1e-3),
    "byte-1m": ("byte", "llama-1m", 1024, 2e-3),
    "byte-1m-lr4": ("byte", "llama-1m", 1024, 4e-3),
    "byte-5m": ("byte", "llama-5m", 512, 1e-3),
}


def macs(*args: str) -> None:
    """Run the macs CLI with this interpreter; stop on failure."""
    subprocess.run([sys.executable, "-m", "macs", *args], check=True)


def main(arms: list[str], seconds: float, docs: int, final_only: bool) -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    import torch

    from bench_compare_size import rates
    from bench_gate_curve import main as gate_curve

    torch.set_num_threads(1)
    os.environ["OMP_NUM_THREADS"] = "1"
    for name in arms:
        kind, size, seq, lr = ARMS[name]
        sets = [f"tokenizer.kind={kind}", f"model.size={size}", f"train.seq_len={seq}"]
        if kind == "byte":
            macs("corpus", "tokenize", "--config", CONFIG, "--workers", "1", "--set", sets[0])
        vocab = 4096 if kind == "bpe" else 257
        rate = rates(size, seq, 1, 4, vocab)[0]
        tokens = int(rate * seconds)
        run = f"gate-regime/{name}"
        sets += [
            f"run.name={run}",
            f"train.lr={lr}",
            f"train.tokens={tokens}",
            "train.batch_size=1",
            "train.threads=1",
            "train.eval_at_end=false",
            "train.keep_stage_checkpoints=true",
            "selection.method=random",
            "eval.boundary_limit=null",
        ]
        args = ["train", "--config", CONFIG]
        for s in sets:
            args += ["--set", s]
        t0 = time.perf_counter()
        macs(*args)
        wall = time.perf_counter() - t0
        summary = json.loads((Path("runs") / run / "summary.json").read_text())
        print(
            f"\n## {name}: tokenizer {kind}, {size} ({summary['n_params'] / 1e6:.2f}M), seq {seq} x "
            f"batch 1, lr {lr:g}; {summary['tokens']:,} tokens at a measured {rate:,.0f} tokens/s; "
            f"train {summary['train_seconds']:.0f} s, macs train wall {wall:.0f} s; load average "
            f"{os.getloadavg()[0]:.1f}",
            flush=True,
        )
        t0 = time.perf_counter()
        gate_curve(Path("runs") / run, docs, None, final_only)
        print(f"gate evaluation {time.perf_counter() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--arms", default="bpe-1m,byte-1m", help=f"comma list of {', '.join(ARMS)}")
    ap.add_argument("--seconds", type=float, default=180.0, help="training wall-clock per arm")
    ap.add_argument("--docs", type=int, default=20, help="held-out docs per domain")
    ap.add_argument("--final-only", action="store_true", help="score the final model only")
    a = ap.parse_args()
    main(a.arms.split(","), a.seconds, a.docs, a.final_only)
