"""Reference-model perplexity scoring speed (the `perplexity` baseline's one-off cost), in
documents per second, through the selector's own scorer (`macs.data.labels.scorers.PerplexityScorer`).

    .venv/bin/python benchmarks/bench_perplexity.py                 # SmolLM2-135M (ppl extra)
    .venv/bin/python benchmarks/bench_perplexity.py --model <folder> # any local HF causal LM

Reads the first --docs texts of the committed mini corpus (public-domain text), scores their
first --max-tokens tokens in batches of --batch (the selector's defaults: 256 and 16) on
--threads torch threads, once unmeasured (warm-up), then --repeats measured times, and prints
docs/s and scored tokens/s per repeat, next to one document at a time (batch 1) in the same run.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None, help="HF causal-LM folder (default: SmolLM2-135M)")
    ap.add_argument("--gguf-file", default=None)
    ap.add_argument("--docs", type=int, default=64)
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=2)
    a = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(a.threads))
    os.environ.setdefault("TQDM_DISABLE", "1")  # the GGUF loader's progress bars
    import torch

    from macs.core.io import read_jsonl
    from macs.data.labels.config import PerplexityQualityConfig
    from macs.data.labels.scorers import PerplexityScorer
    from macs.select.selectors.perplexity import CHARS_PER_TOKEN_CAP

    torch.set_num_threads(a.threads)
    recs = read_jsonl(ROOT / "tests/fixtures/mini_corpus.jsonl")
    texts = [r["text"][: a.max_tokens * CHARS_PER_TOKEN_CAP] for r in recs[: a.docs]]

    def scorer(batch: int) -> PerplexityScorer:
        cfg = PerplexityQualityConfig(
            model=a.model, gguf_file=a.gguf_file, max_tokens=a.max_tokens,
            batch_size=batch, device="cpu",
        )  # fmt: skip
        return PerplexityScorer(cfg)

    t0 = time.perf_counter()
    batched = scorer(a.batch)
    print(f"model loaded in {time.perf_counter() - t0:.1f}s: {a.model or 'SmolLM2-135M (gguf)'}, "
          f"{sum(p.numel() for p in batched.model.parameters()) / 1e6:.1f}M params, "
          f"{a.threads} thread(s), load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    n_tok = sum(min(len(batched.tok(t)["input_ids"]), a.max_tokens) for t in texts)
    batched.log_ppl(texts[: a.batch])  # warm-up
    single = scorer(1)
    for r in range(a.repeats):
        for name, sc in (("batch", batched), ("one at a time", single)):
            t = time.perf_counter()
            lp = sc.log_ppl(texts)
            s = time.perf_counter() - t
            print(f"repeat {r} {name:>13}: {len(texts)} docs ({n_tok} tokens) in {s:.2f}s = "
                  f"{len(texts) / s:.2f} docs/s, {n_tok / s:,.0f} tokens/s; "
                  f"median log-ppl {float(sorted(lp)[len(lp) // 2]):.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
