"""Training throughput and MFU of the named model sizes (macs.train.model.SIZES), eager and compiled.

Each size is the training layer's own LlamaForCausalLM at one vocabulary, trained on seeded random
token batches with the training loop's optimiser (fused AdamW on CUDA, the same parameter groups)
under bf16 autocast on CUDA (fp32 on CPU). Prints, per size, tokens/s eager and compiled, the
compile time, and the model FLOPs utilisation

    MFU = 6 * n_params * tokens/s / peak

(n_params: distinct parameters, tied embeddings once; attention FLOPs not counted; peak: the dense
bf16 FLOP/s of the detected GPU, e.g. 989e12 for an H100/H200 SXM, or --peak-tflops). On a CPU it
still runs and prints tokens/s, with MFU n/a. Higher tokens/s and MFU = faster.

    python benchmarks/bench_train.py --device cpu --sizes llama-tiny,llama-1m --seq 64 --batch 4   # CPU
    python benchmarks/bench_train.py --device cuda --sizes llama-20m,llama-125m --seq 512 --batch 64 --budget-s 120  # GPU

Every size is measured eager first (seconds each), then compiled in the --compile-sizes order; with
--budget-s, a pass that would not finish inside the budget, judged by the passes already done, is
skipped and reported.
Results are written after every size (--json), so a killed run keeps the finished ones.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

# dense bf16 tensor-core peak FLOP/s by device name (first match wins; spec sheets, no sparsity)
PEAK_BF16 = (
    ("H200", 989e12),
    ("H100 NVL", 835e12),
    ("H100 PCIe", 756e12),
    ("H100", 989e12),
    ("GH200", 989e12),
    ("A100", 312e12),
    ("L40S", 362e12),
    ("L4", 121e12),
    ("A10", 125e12),
)


def peak_flops(device: str, override_tflops: float | None = None) -> tuple[float | None, str]:
    """(peak dense bf16 FLOP/s of the device or None when unknown, the hardware's name)."""
    if not device.startswith("cuda"):
        return None, f"CPU, {torch.get_num_threads()} torch threads"
    name = torch.cuda.get_device_name(torch.device(device))
    if override_tflops:
        return override_tflops * 1e12, name
    for key, peak in PEAK_BF16:
        if key in name:
            return peak, name
    return None, name


def sync(device: str) -> None:
    """Wait for queued CUDA work so timings are real."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def make_model(size: str, vocab: int, seq: int, device: str):
    """The training layer's model of a named size, seeded, on `device`; (model, n_params, layers)."""
    from macs.train.config import ModelConfig
    from macs.train.model import SIZES, build_model, n_params

    model = build_model(ModelConfig(size=size), vocab, seq, eos_id=0, seed=0).to(device)
    return model, n_params(model), SIZES[size].layers


def time_steps(step, device: str, warmup: int, steps: int, min_s: float) -> tuple[float, float]:
    """(seconds of the warm-up steps, seconds per step over at least `steps` steps and `min_s` s)."""
    t0 = time.perf_counter()
    for _ in range(warmup):
        step()
    sync(device)
    warm = time.perf_counter() - t0
    n, t0 = 0, time.perf_counter()
    while n < steps or time.perf_counter() - t0 < min_s:
        step()
        n += 1
        if n >= 10 * steps:
            break
    sync(device)
    return warm, (time.perf_counter() - t0) / n


def measure(model, batches, device: str, compiled: bool, args) -> dict:
    """Train steps of `model` (eager or torch.compile'd): tokens/s and the warm-up (compile) seconds."""
    from macs.train.loop import param_groups

    use_bf16 = device.startswith("cuda")
    fwd = torch.compile(model) if compiled else model
    opt = torch.optim.AdamW(
        param_groups(model, 0.1), lr=1e-4, betas=(0.9, 0.95), fused=device.startswith("cuda")
    )
    model.train()
    k = [0]

    def step():
        ids = batches[k[0] % len(batches)]
        k[0] += 1
        with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=use_bf16):
            loss = fwd(input_ids=ids, labels=ids).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    warm, per_step = time_steps(step, device, args.warmup, args.steps, args.min_seconds)
    return {"tokens_per_s": args.batch * args.seq / per_step, "warmup_s": warm}


def _batches(args) -> list:
    """Four seeded batches of random token ids on the device."""
    rng = np.random.default_rng(args.seed)
    shape = (args.batch, args.seq)
    return [torch.from_numpy(rng.integers(0, args.vocab, shape)).to(args.device) for _ in range(4)]


def bench_size(size: str, args, compiled: bool) -> dict:
    """One size, eager or compiled: tokens/s, parameters, layers, seconds (and compile seconds)."""
    t0 = time.perf_counter()
    model, n, layers = make_model(size, args.vocab, args.seq, args.device)
    if compiled:
        torch._dynamo.reset()
    m = measure(model, _batches(args), args.device, compiled, args)
    key = "compiled" if compiled else "eager"
    row = {"params_m": n / 1e6, "layers": layers, f"{key}_tokens_per_s": m["tokens_per_s"]}
    if compiled:
        row["compile_s"] = m["warmup_s"]
    row[f"{key}_s"] = time.perf_counter() - t0
    del model
    if args.device.startswith("cuda"):
        torch.cuda.empty_cache()
    return row


def compile_guess(layers: int, done: list[dict]) -> float:
    """Seconds a compiled pass of a model with `layers` layers likely takes (from the ones done)."""
    per_layer = [r["compiled_s"] / r["layers"] for r in done if "compiled_s" in r]
    return (max(per_layer) * layers + 5.0) if per_layer else 4.0 * layers + 15.0


COLS = (
    "size",
    "params_m",
    "layers",
    "eager_tokens_per_s",
    "eager_mfu",
    "compiled_tokens_per_s",
    "compiled_mfu",
    "compile_s",
    "note",
)


def table(rows: list[dict]) -> str:
    """The rows as a Markdown table (MFU as percent, n/a where unknown)."""
    out = ["| " + " | ".join(COLS) + " |", "|" + "---|" * len(COLS)]
    for r in rows:
        cells = []
        for c in COLS:
            v = r.get(c)
            if v is None:
                cells.append("n/a" if c.endswith("mfu") else "")
            elif c.endswith("mfu"):
                cells.append(f"{100 * v:.1f}%")
            elif c.endswith("tokens_per_s"):
                cells.append(f"{v:,.0f}")
            elif isinstance(v, float):
                cells.append(f"{v:.3g}")
            else:
                cells.append(str(v))
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def parse_args(argv):
    """Command-line options."""
    from macs.train.model import SIZES

    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", default=",".join(SIZES), help="comma list, measured in this order")
    ap.add_argument(
        "--compile-sizes", default=None, help="sizes compiled, in this order (default: --sizes)"
    )
    ap.add_argument("--vocab", type=int, default=16384, help="vocabulary size (tokens)")
    ap.add_argument("--seq", type=int, default=512, help="tokens per sequence")
    ap.add_argument("--batch", type=int, default=64, help="sequences per step")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument(
        "--compile", choices=["auto", "on", "off"], default="auto", help="auto = on for CUDA"
    )
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps (compiled: the compile)")
    ap.add_argument("--steps", type=int, default=10, help="timed steps at least")
    ap.add_argument("--min-seconds", type=float, default=1.0, help="timed seconds at least")
    ap.add_argument(
        "--budget-s", type=float, default=0.0, help="skip what would not fit (0 = no limit)"
    )
    ap.add_argument("--peak-tflops", type=float, default=None, help="peak bf16 TFLOP/s override")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None, help="also write the results here (after every size)")
    args = ap.parse_args(argv)
    bad = [s for s in f"{args.sizes},{args.compile_sizes or ''}".split(",") if s and s not in SIZES]
    if bad:
        ap.error(f"unknown sizes {bad}; choose from {', '.join(SIZES)}")
    return args


def main(argv=None) -> int:
    """Measure every size; print the table (and write --json)."""
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    peak, hw = peak_flops(args.device, args.peak_tflops)
    compile_on = args.compile == "on" or (args.compile == "auto" and args.device.startswith("cuda"))
    prec = "bf16 autocast" if args.device.startswith("cuda") else "fp32"
    head = (
        f"training throughput: {hw}, {prec}, vocab {args.vocab}, seq {args.seq}, batch "
        f"{args.batch} ({args.batch * args.seq:,} tokens/step), compile "
        f"{'on' if compile_on else 'off'}, peak "
        + (f"{peak / 1e12:.0f} TFLOP/s bf16" if peak else "unknown (MFU n/a)")
    )
    print(head, file=sys.stderr, flush=True)
    t_start = time.perf_counter()
    sizes = args.sizes.split(",")
    rows = {z: {"size": z} for z in sizes}

    def left() -> float:
        return args.budget_s - (time.perf_counter() - t_start) if args.budget_s else float("inf")

    def run(size: str, compiled: bool) -> None:
        r = rows[size]
        try:
            r.update(bench_size(size, args, compiled))
        except Exception as e:  # one size failing (e.g. out of memory) leaves the others
            r["note"] = (
                f"{'compiled' if compiled else 'eager'} failed: {type(e).__name__}: {str(e)[:160]}"
            )
        if peak:
            for key in ("eager", "compiled"):
                if f"{key}_tokens_per_s" in r:
                    r[f"{key}_mfu"] = 6.0 * r["params_m"] * 1e6 * r[f"{key}_tokens_per_s"] / peak
        done = [
            f"{k} {r[k + '_tokens_per_s']:,.0f} tok/s"
            for k in ("eager", "compiled")
            if k + "_tokens_per_s" in r
        ]
        print(f"  {size}: {', '.join(done)} {r.get('note', '')}", file=sys.stderr, flush=True)
        if args.json:
            from macs.core.io import write_json

            out = {"hardware": hw, "peak_flops": peak, "header": head, "rows": list(rows.values())}
            write_json(args.json, out)

    for size in sizes:  # eager first: seconds each, so every size gets a number
        spent = [r["eager_s"] for r in rows.values() if "eager_s" in r]
        if spent and max(spent) > left():
            rows[size]["note"] = f"skipped: {left():.0f}s of the budget left"
            continue
        run(size, False)
    for size in (args.compile_sizes or args.sizes).split(",") if compile_on else []:
        r = rows.get(size)
        if r is None or "eager_tokens_per_s" not in r:
            continue
        guess = compile_guess(r["layers"], list(rows.values()))
        if guess > left():
            r["note"] = f"compiled pass skipped: about {guess:.0f}s needed, {left():.0f}s left"
            continue
        run(size, True)
    rows = list(rows.values())
    print(head)
    print("MFU = 6 * params * tokens/s / peak (attention FLOPs not counted)")
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
