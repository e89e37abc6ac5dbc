"""The bigram gate along a finished run: held-out bits/byte of the model at each stage boundary beside
count unigram and bigram models of the tokens trained so far (macs.eval.ngram, issue 20).

    OMP_NUM_THREADS=1 python benchmarks/bench_gate_curve.py RUN_DIR [--docs 20] [--window 512] [--final-only]

RUN_DIR is a `macs train` run (its stage-boundary checkpoints are kept). For each boundary and
the final model: training tokens so far, the model's held-out bpb on a held-out sample (eval.seed,
--docs per domain, default eval.heldout_docs_per_domain; rolling windows of --window tokens,
default the model's), the unigram and bigram held-out bpb of the stages trained so far on the
same documents, and the margin (bigram - model; positive = the model beats the bigram). Used to size
configs/compare-cpu.yaml: a comparison whose random model does not clear the bigram cannot say
much about data quality.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np


def main(run_dir: Path, docs: int | None, window: int | None, final_only: bool = False) -> None:
    import torch

    from macs.app.config import load_config
    from macs.core.io import read_jsonl
    from macs.data.pool import open_pool
    from macs.data.rundir import RunDir
    from macs.eval.heldout import _sample_heldout, heldout_bpb
    from macs.eval.ngram import ngram_gate
    from macs.train.checkpoint import load_checkpoint
    from macs.train.loop import param_groups
    from macs.train.model import build_model, hf_tokenizer

    torch.set_num_threads(1)
    rd = RunDir(run_dir)
    cfg = load_config(rd.config, [])
    pool = open_pool(cfg)
    tok = hf_tokenizer(pool.tokenizer_path)
    starts = [int(r["step"]) for r in read_jsonl(rd.selection)]
    stages = [rd.stage_docs(k) for k in range(len(starts))]
    e = cfg.eval
    n_docs = docs or e.heldout_docs_per_domain
    picked, _ = _sample_heldout(pool.store, n_docs, e.seed)
    held = np.concatenate([i for _, i in picked])
    ckpts = sorted(p for p in rd.checkpoints.glob("step-*") if p.is_dir())
    print(f"run {run_dir}; load average {os.getloadavg()[0]:.1f}", file=sys.stderr)
    print(f"held-out sample: {n_docs} docs per domain, window {window or e.max_length or 'model'}")
    print(
        "| step | stages trained | tokens of those stages | model held-out bpb | unigram | bigram | bigram - model |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    models = []
    for d in ckpts:
        step = int(d.name.split("-")[1])
        done = sum(1 for s in starts if s < step)
        if not final_only and 0 < done < len(stages) and step > 0:  # last: the final model
            models.append((str(step), done, d))
    if (rd.model / "config.json").exists():
        models.append(("final", len(stages), rd.model))
    for label, done, d in models:
        if label == "final":
            from transformers import AutoModelForCausalLM

            model = AutoModelForCausalLM.from_pretrained(d, torch_dtype=torch.float32)
        else:
            model = build_model(
                cfg.model,
                int(pool.tokens.vocab_size),
                cfg.train.seq_len,
                int(pool.tokens.eos_id),
                0,
            )
            opt = torch.optim.AdamW(param_groups(model, cfg.train.weight_decay))
            load_checkpoint(d, model, opt)
        model.eval()
        h = heldout_bpb(
            model,
            tok,
            pool.store,
            max_docs_per_domain=n_docs,
            seed=e.seed,
            max_length=window or e.max_length,
            batch_size=4,
            progress=False,
        )
        g = ngram_gate(pool, stages[:done], held, h["overall"]["n_bytes"])
        m = h["overall"]["bpb"]
        print(
            f"| {label} | {done} | {g['train_tokens']:,} | {m:.4f} | {g['unigram_bpb']:.4f} | "
            f"{g['bigram_bpb']:.4f} | {g['bigram_bpb'] - m:+.4f} |",
            flush=True,
        )


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--docs", type=int, default=None, help="held-out docs per domain")
    ap.add_argument("--window", type=int, default=None, help="scoring window in tokens")
    ap.add_argument("--final-only", action="store_true", help="score the final model only")
    a = ap.parse_args()
    main(a.run_dir, a.docs, a.window, a.final_only)
