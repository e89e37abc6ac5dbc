"""Check that two `macs run` / `macs compare` output folders hold the same results (refactoring check).

    python scripts/same_outputs.py RUNS_BEFORE RUNS_AFTER     # e.g. runs/demo of two checkouts

Compares every run folder present in both: the stage manifests (which documents, how often,
in what order), rewards, eval.json, and the report's compare/table.json. Wall-clock measurements
differ from run to run and are left out: the `costs` section of table.json, and keys naming
seconds, throughput, rates or overhead. Prints each difference and a summary line; exit 1 when
anything other than timing differs.
"""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

import pyarrow.parquet as pq

TIMING = re.compile(r"seconds|throughput|per_s$|overhead|^wall$|^created$")


def _nan(x) -> bool:
    return isinstance(x, float) and math.isnan(x)


def _rows(table, cols: list[str]) -> list[dict]:
    """Rows with NaN as None (NaN != NaN)."""
    return [
        {k: None if _nan(v) else v for k, v in r.items()} for r in table.select(cols).to_pylist()
    ]


def walk(a, b, path: str, out: list[str]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            if TIMING.search(str(k)) or (path.endswith("table.json") and k == "costs"):
                continue
            if k not in a or k not in b:
                out.append(f"{path}/{k}: only in {'after' if k in b else 'before'}")
            else:
                walk(a[k], b[k], f"{path}/{k}", out)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            walk(x, y, f"{path}[{i}]", out)
    elif a != b and not (_nan(a) and _nan(b)):
        out.append(f"{path}: {a!r} != {b!r}")


def main(before: Path, after: Path) -> int:
    diffs: list[str] = []
    n_files = 0
    runs = sorted(d.name for d in before.iterdir() if (d / "stages").is_dir())
    for name in runs:
        rb, ra = before / name, after / name
        if not ra.is_dir():
            diffs.append(f"{name}: no run folder after")
            continue
        for sub in ("stages", "rewards"):
            for f in sorted((rb / sub).glob("*.parquet")) if (rb / sub).is_dir() else []:
                n_files += 1
                tb, ta = pq.read_table(f), pq.read_table(ra / sub / f.name)
                cols = [
                    c
                    for c in tb.column_names
                    if c in ("doc", "id", "times_selected", "reward", "tokens", "score")
                ]
                if _rows(tb, cols) != _rows(ta, cols):
                    diffs.append(f"{name}/{sub}/{f.name}: different rows")
        for f in ("eval.json",):
            if (rb / f).exists():
                n_files += 1
                walk(
                    json.loads((rb / f).read_text()),
                    json.loads((ra / f).read_text()),
                    f"{name}/{f}",
                    diffs,
                )
    for rep in sorted(before.glob("**/compare/table.json")):
        n_files += 1
        other = after / rep.relative_to(before)
        walk(
            json.loads(rep.read_text()),
            json.loads(other.read_text()),
            str(rep.relative_to(before)),
            diffs,
        )
    if n_files == 0:
        print(f"no run folders with stages/ under {before}: nothing compared")
        return 1
    for d in diffs:
        print(d)
    print(f"{len(runs)} runs, {n_files} files compared: {len(diffs)} differences (timing left out)")
    return 1 if diffs else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
