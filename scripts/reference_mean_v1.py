"""Print the three-task reference mean that a comparison table.json written before 2026-12-06 allows.

    python scripts/reference_mean_v1.py docs/results/compare-cpu-v1/table.json   # the 3-seed run of 2026-11-30

Those tables headline "reference mean 0shot bpb", which was LAMBADA alone (the suite scores SQuAD
and Jeopardy at 5 shots only). The mean over the three tasks at their scored renderings
(LAMBADA 0-shot, SQuAD 5-shot, Jeopardy 5-shot) is recomputed from the per-task columns: random's
mean exactly, each method's difference to it as a POINT ESTIMATE only (the mean of the three
per-task mean differences). The tables kept no per-seed values, so no interval can be recomputed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

TASKS = ("reference/lambada 0shot bpb", "reference/squad 5shot bpb", "reference/jeopardy 5shot bpb")
OLD = "reference mean 0shot bpb"


def main(path: str) -> None:
    t = json.loads(Path(path).read_text(encoding="utf-8"))
    base = t["baseline"]
    mean = sum(t["means"][base][k] for k in TASKS) / 3
    print(
        f"{base}: three-task mean {mean:.4f} bpb (old column, LAMBADA alone: {t['means'][base][OLD]:.4f})"
    )
    print("method | three-task mean minus random (point estimate) | old column (LAMBADA alone)")
    rows = []
    for m, d in t["diffs"].items():
        if all(k in d for k in TASKS):
            rows.append((sum(d[k]["mean"] for k in TASKS) / 3, m, d[OLD]["mean"]))
    for point, m, old in sorted(rows):
        print(f"{m} | {point:+.4f} | {old:+.4f}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/results/compare-cpu-v1/table.json")
