"""Reward throughput of each influence estimator against the naive per-example loop.

Same model, same documents, same run. Prints samples/s and tokens/s of document scoring, the
reference refresh time, peak memory (CUDA allocator peak; on CPU the peak RSS growth of a
forked child per estimator), fidelity against the exact alignment, and the training tokens/s
of the same model (AdamW steps) so reward throughput can be read as a fraction of it.
With `--fidelity-docs N`, the exact alignment is also computed in float64 (a float64 copy of the
model, the per-example loop) on the first N documents, and every estimator's rewards at the
benchmark's dtype (e.g. bf16 on CUDA) are compared with it: largest absolute difference
(cosine units) and Spearman correlation.

    python benchmarks/bench_influence.py --size tiny --seq 128 --docs 64 --threads 1     # CPU
    python benchmarks/bench_influence.py --size 25m --seq 512 --device cuda --dtype bf16 --docs 256 --naive-docs 64 --fidelity-docs 32  # GPU

Reference examples are seeded random token ids (3 tasks); documents are a seeded mix of random
tokens, slices of the reference examples and repetitive sequences, so rewards spread out.
Throughput does not depend on the text. Rewards are higher = more helpful.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch

# bench size -> (macs.train.model size, vocabulary): the project's own Llama configs
SIZES = {
    "tiny": ("llama-tiny", 1024),  # ~0.1M
    "1m": ("llama-1m", 4096),  # ~1.2M, the CPU demo size
    "5m": ("llama-5m", 8192),  # ~5M
    "25m": ("llama-20m", 32768),  # ~23M
}


def build_model(size: str, seq: int, device: str, seed: int):
    """The training layer's LlamaForCausalLM of this size, seeded (same model as training)."""
    from macs.train.config import ModelConfig
    from macs.train.model import build_model as train_model

    name, vocab = SIZES[size]
    return train_model(ModelConfig(size=name), vocab, seq, eos_id=0, seed=seed).to(device)


def synthetic_reference(vocab: int, seq: int, n: int, seed: int):
    """Three reference 'tasks' of n seeded examples: context then a short continuation."""
    from macs.select.rewards import ReferenceExample, ReferenceSet

    rng = np.random.default_rng(seed)
    tasks = {}
    for t in ("lambada", "squad", "jeopardy"):
        ex = []
        for i in range(n):
            length = int(rng.integers(seq // 4, seq + 1))
            ids = rng.integers(0, vocab, size=length)
            ex.append(ReferenceExample(t, f"{t}:{i}", ids, max(1, length - 8)))
        tasks[t] = ex
    return ReferenceSet(tasks)


class PeakMemory:
    """Peak CUDA memory allocated above the starting level (bytes)."""

    def __enter__(self):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        self.base = torch.cuda.memory_allocated()
        return self

    def __exit__(self, *exc):
        torch.cuda.synchronize()
        self.bytes = torch.cuda.max_memory_allocated() - self.base


def in_child(fn):
    """Run fn() in a forked child (CPU only) and return (result, peak RSS growth in bytes).

    A fresh process per estimator keeps one estimator's freed-but-cached memory out of the
    next one's peak.
    """
    import pickle
    import resource

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        try:
            with open("/proc/self/statm") as f:
                base = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            out = fn()
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            payload = pickle.dumps((out, peak - base, None))
        except BaseException as e:  # report, never hang the parent
            payload = pickle.dumps((None, 0, repr(e)))
        with os.fdopen(w, "wb") as f:
            f.write(payload)
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    out, peak, err = pickle.loads(data)
    if err:
        raise RuntimeError(f"benchmark child failed: {err}")
    return out, peak


def sync(device: str) -> None:
    """Wait for queued CUDA work so timings are real."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def train_tokens_per_s(model, docs, batch: int, device: str, dtype: str, steps: int) -> float:
    """Training tokens/s of the same model: AdamW steps on padded batches of the same documents."""
    from macs.select.rewards.batching import Unit, autocast, collate

    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    units = [Unit(d, 1) for d in docs]
    batches = [collate(units[i : i + batch], device) for i in range(0, len(units), batch)]
    tokens, t0 = 0, None
    for step in range(steps + 1):
        ids, _ = batches[step % len(batches)]
        if step == 1:  # step 0 warms up
            sync(device)
            t0 = time.perf_counter()
        with autocast(device, dtype):
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if step >= 1:
            tokens += ids.numel()
    sync(device)
    model.eval()
    return tokens / (time.perf_counter() - t0)


def fp64_exact(model, ref, docs, chunk: int, seq: int) -> np.ndarray:
    """Exact alignment rewards (higher = more helpful) from a float64 copy of the model: the per-example loop."""
    import copy

    from macs.select.rewards import InfluenceConfig, make_estimator

    m64 = copy.deepcopy(model).double()
    cfg = InfluenceConfig(
        method="loop", chunk_size=chunk, dtype="fp32", window=max(seq, 2), overlap=0
    )
    r = make_estimator(cfg, ref).rewards(m64, docs)
    del m64
    return r


def fidelity(r: np.ndarray, exact: np.ndarray) -> tuple[float, float]:
    """(largest absolute difference, Spearman correlation) of rewards against the exact ones on shared docs."""
    from scipy.stats import spearmanr

    k = min(len(r), len(exact))
    err = float(np.max(np.abs(r[:k] - exact[:k])))
    rho = float(spearmanr(r[:k], exact[:k]).statistic) if k > 2 else float("nan")
    return err, rho


def write_results(path, args, hw, train, rows) -> None:
    """The results so far as JSON (written after every estimator, so a killed run keeps them)."""
    from macs.core.io import write_json

    write_json(
        path, {"args": vars(args), "hardware": hw, "train_tokens_per_s": train, "rows": rows}
    )


def main(argv=None) -> int:
    """Run every estimator and the naive loop on the same model and documents; print the table."""
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--size", choices=sorted(SIZES), default="tiny")
    ap.add_argument("--seq", type=int, default=128, help="tokens per document")
    ap.add_argument("--docs", type=int, default=64, help="documents scored by each estimator")
    ap.add_argument(
        "--naive-docs", type=int, default=None, help="documents for the naive loop (default all)"
    )
    ap.add_argument(
        "--probe-docs", type=int, default=8, help="documents for the probe (it is slow)"
    )
    ap.add_argument("--ref-n", type=int, default=32, help="reference examples per task (3 tasks)")
    ap.add_argument("--chunk", type=int, default=16, help="windows per pass (influence.chunk_size)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (1 avoids oversubscription)"
    )
    ap.add_argument("--estimators", default="ghost,vmap,projected,probe", help="comma list to run")
    ap.add_argument("--projection-dim", type=int, default=8192)
    ap.add_argument("--proj-chunk", type=int, default=64, help="projected: windows per pass")
    ap.add_argument("--train-steps", type=int, default=10, help="training steps timed (0 = skip)")
    ap.add_argument(
        "--repeat", type=int, default=2, help="time each estimator this often, keep the best"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--fidelity-docs",
        type=int,
        default=0,
        help="also compare every estimator with the float64 exact rewards on this many docs (0 = off)",
    )
    ap.add_argument("--json", default=None, help="also write the results here")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    from macs.select.rewards import InfluenceConfig, make_estimator

    dev = args.device
    model = build_model(args.size, args.seq, dev, args.seed).eval()
    n_params = sum(p.numel() for p in model.parameters())
    vocab = SIZES[args.size][1]
    rng = np.random.default_rng(args.seed + 1)
    ref = synthetic_reference(vocab, args.seq, args.ref_n, args.seed + 2)
    pieces = np.concatenate([e.input_ids for ex in ref.tasks.values() for e in ex])
    docs = []  # varied documents so rewards spread: random, reference-like, repetitive
    for i in range(args.docs):
        if i % 3 == 0:
            docs.append(rng.integers(0, vocab, size=args.seq))
        elif i % 3 == 1:
            s = int(rng.integers(0, len(pieces) - args.seq))
            docs.append(pieces[s : s + args.seq].copy())
        else:
            docs.append(np.resize(rng.integers(0, vocab, size=int(rng.integers(2, 16))), args.seq))
    hw = (
        torch.cuda.get_device_name()
        if dev.startswith("cuda")
        else f"CPU, {torch.get_num_threads()} torch threads"
    )
    print(
        f"model {args.size}: {n_params / 1e6:.2f}M params, seq {args.seq}, {args.docs} docs, "
        f"{3 * args.ref_n} reference examples, {dev} ({hw}), {args.dtype}",
        file=sys.stderr,
    )

    runs = [("naive loop", {"method": "loop"}, min(args.naive_docs or args.docs, args.docs))]
    for name in args.estimators.split(","):
        if name in ("ghost", "vmap"):
            runs.append((f"alignment/{name}", {"method": name}, args.docs))
        elif name == "projected":
            runs.append(
                (
                    "projected",
                    {
                        "estimator": "projected",
                        "projection_dim": args.projection_dim,
                        "chunk_size": args.proj_chunk,
                    },
                    args.docs,
                )
            )
        elif name == "probe":
            runs.append(("probe", {"estimator": "probe"}, min(args.probe_docs, args.docs)))
    rows, rewards = [], {}
    for name, over, n in runs:
        base_cfg = {"chunk_size": args.chunk, "dtype": args.dtype, "window": max(args.seq, 2)}
        cfg = InfluenceConfig(**{**base_cfg, "overlap": 0, **over})

        def measure(cfg=cfg, n=n):
            t_ref = t_docs = float("inf")
            for _ in range(
                args.repeat
            ):  # a fresh estimator each time: refresh + scoring, best of N
                est = make_estimator(cfg, ref)
                sync(dev)
                t0 = time.perf_counter()
                est.refresh(model)
                sync(dev)
                t_ref = min(t_ref, time.perf_counter() - t0)
                t0 = time.perf_counter()
                r = est.rewards(model, docs[:n])
                sync(dev)
                t_docs = min(t_docs, time.perf_counter() - t0)
            return r, t_ref, t_docs

        if dev.startswith("cuda"):
            with PeakMemory() as mem:
                r, t_ref, t_docs = measure()
            peak = mem.bytes
        else:
            (r, t_ref, t_docs), peak = in_child(measure)
        rewards[name] = r
        rows.append(
            {
                "estimator": name,
                "docs": n,
                "samples_per_s": n / t_docs,
                "tokens_per_s": n * args.seq / t_docs,
                "refresh_s": t_ref,
                "peak_mem_mb": peak / 2**20,
            }
        )
        print(f"  {name}: {n / t_docs:.2f} samples/s, refresh {t_ref:.2f}s", file=sys.stderr)
        if args.json:
            write_results(args.json, args, hw, None, rows)
    base = rows[0]["samples_per_s"]
    exact = rewards.get("alignment/ghost", rewards.get("alignment/vmap"))
    exact64 = None
    if args.fidelity_docs:
        t0 = time.perf_counter()
        exact64 = fp64_exact(model, ref, docs[: args.fidelity_docs], args.chunk, args.seq)
        sync(dev)
        print(
            f"  float64 exact rewards of {len(exact64)} docs: {time.perf_counter() - t0:.1f}s",
            file=sys.stderr,
        )
    for row in rows:
        row["x_naive"] = row["samples_per_s"] / base
        r = rewards[row["estimator"]]
        if exact is not None and row["estimator"] != "probe":
            row["max_abs_err_vs_exact"], row["spearman_vs_exact"] = fidelity(r, exact)
        if exact64 is not None and row["estimator"] != "probe":
            row["max_abs_err_vs_fp64"], row["spearman_vs_fp64"] = fidelity(r, exact64)
    train = None
    if args.train_steps:
        train = train_tokens_per_s(model, docs, args.chunk, dev, args.dtype, args.train_steps)
        for row in rows:
            row["frac_of_training"] = row["tokens_per_s"] / train

    print(f"\n{args.size} ({n_params / 1e6:.2f}M), seq {args.seq}, {dev} ({hw}), {args.dtype}")
    if train:
        print(f"training: {train:,.0f} tokens/s (AdamW, batch {args.chunk})")
    cols = ["estimator", "docs", "samples_per_s", "tokens_per_s", "x_naive", "frac_of_training"]
    cols += ["refresh_s", "peak_mem_mb", "max_abs_err_vs_exact", "spearman_vs_exact"]
    if exact64 is not None:
        cols += ["max_abs_err_vs_fp64", "spearman_vs_fp64"]
        print(
            f"fidelity: {args.dtype} rewards vs the float64 exact alignment on {len(exact64)} docs"
        )
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for row in rows:
        cells = []
        for c in cols:
            v = row.get(c, "")
            cells.append(f"{v:.3g}" if isinstance(v, float) else str(v))
        print("| " + " | ".join(cells) + " |")
    if args.json:
        write_results(args.json, args, hw, train, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
