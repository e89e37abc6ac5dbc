"""Online cost and group-reward reliability of the two reward sources, side by side, in one run.

Trains the multi-actor method at the first CPU comparison's configuration (configs/compare-cpu-v1.yaml,
which was configs/compare-cpu.yaml when docs/results/online-cost.md was measured: its pool, model,
stages and reward settings; `--tokens` shortens it) once per arm:

- refresh: the separate reward pass (m = selection.samples_per_group docs per group per refresh)
- train:   in-run rewards (influence.source=train), every `--every`-th step scored (train:K: every
           K-th), groups with fewer than influence.train_cover in-run docs topped up by a separate
           sample

and prints, per arm, the online overhead as a fraction of training time (the run summary's
`costs`: in-run reward work, separate reward pass, actor/console update, selection) and, per
actor, the split-half reliability of the group means (raw and Spearman-Brown corrected), the mean
over refreshes from selection.jsonl. Ratios only: both arms run in this process, one after the
other, on the same machine. Higher reliability = group means less noise-driven.

    python benchmarks/bench_online_cost.py --arms refresh,train:1,train:4 --out docs/results/online-cost.md
"""

from __future__ import annotations

import argparse
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ARMS = {
    "refresh": {"influence.source": "refresh"},
    "train": {"influence.source": "train"},
}


def machine() -> str:
    """CPU model and core count (or the GPU's name)."""
    cpu = platform.processor() or "cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os

    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def commit() -> str:
    """The checkout's commit (with '+dirty' when tracked files differ)."""
    try:
        h = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", "src"]).returncode
        return h + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def reliability(run_dir: Path) -> dict[str, dict[str, float | None]]:
    """Per actor: mean over refreshes of split_half_r and split_half_sb, and mean docs per group."""
    from macs.core.io import read_jsonl

    out: dict[str, dict] = {}
    for rec in read_jsonl(run_dir / "selection.jsonl")[1:]:
        for name, a in (rec.get("actors") or {}).items():
            d = out.setdefault(name, {"r": [], "sb": [], "n": []})
            if a.get("split_half_r") is not None:
                d["r"].append(a["split_half_r"])
            if a.get("split_half_sb") is not None:
                d["sb"].append(a["split_half_sb"])
            d["n"].append(float(np.mean(a.get("n_j") or [0])))
    return {
        k: {
            "r": float(np.mean(v["r"])) if v["r"] else None,
            "sb": float(np.mean(v["sb"])) if v["sb"] else None,
            "min_sb": float(np.min(v["sb"])) if v["sb"] else None,
            "docs_per_group": float(np.mean(v["n"])) if v["n"] else 0.0,
        }
        for k, v in out.items()
    }


def run_arm(base_sets: list[str], arm: str, args) -> dict:
    from macs.app.config import load_config
    from macs.app.training import train_from_config
    from macs.core.io import read_json, read_jsonl

    source, _, every = arm.partition(":")  # train:K = in-run, every K-th step scored
    over = dict(ARMS[source])
    if every:
        over["influence.train_every"] = int(every)
    sets = base_sets + [f"{k}={v}" for k, v in over.items()]
    sets += [f"run.name=bench-online-cost/{arm.replace(':', '-every')}"]
    cfg = load_config(args.config, sets)
    if cfg.run.run_dir.exists():
        shutil.rmtree(cfg.run.run_dir)
    t0 = time.perf_counter()
    train_from_config(cfg)
    wall = time.perf_counter() - t0
    s = read_json(cfg.run.run_dir / "summary.json")
    recs = read_jsonl(cfg.run.run_dir / "selection.jsonl")[1:]
    per_refresh = [
        {
            "stage": r["stage"],
            "reward_s": r["seconds"].get("reward", 0.0) + r["seconds"].get("sample", 0.0),
            "update_s": r["seconds"].get("update", 0.0),
            "select_s": r["seconds"].get("select", 0.0),
            "inrun_s": (r.get("inrun") or {}).get("seconds", 0.0),
            "inrun_docs": (r.get("inrun") or {}).get("docs", 0),
            "separate_docs": r.get("n_reward_docs", 0),
            "check": {k: v.get("r") for k, v in (r.get("inrun_vs_refresh") or {}).items()},
        }
        for r in recs
    ]
    return {
        "arm": arm,
        "wall_s": wall,
        "costs": s["costs"],
        "final_loss": s["final_loss"],
        "reliability": reliability(cfg.run.run_dir),
        "per_refresh": per_refresh,
    }


def table(results: list[dict]) -> str:
    c = [
        "| source | training s | online/training | in-run reward | separate reward | update | select | final loss |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        k = r["costs"]
        c.append(
            f"| {r['arm']} | {k['train_seconds']:.1f} | {k['online_fraction']:.1%} | "
            f"{k['reward_inrun_fraction']:.1%} | {k['reward_separate_fraction']:.1%} | "
            f"{k['update_fraction']:.2%} | {k['select_fraction']:.2%} | {r['final_loss']:.4f} |"
        )
    actors = sorted({a for r in results for a in r["reliability"]})
    c += ["", "| source | actor | docs/group | split-half r | Spearman-Brown | lowest SB |"]
    c.append("|---|---|---|---|---|---|")
    for r in results:
        for a in actors:
            v = r["reliability"].get(a, {})

            def f(x):
                return "n/a" if x is None else f"{x:.2f}"

            c.append(
                f"| {r['arm']} | {a} | {v.get('docs_per_group', 0):.0f} | {f(v.get('r'))} | "
                f"{f(v.get('sb'))} | {f(v.get('min_sb'))} |"
            )
    c += ["", "Per refresh (seconds; docs with a reward):", ""]
    c.append(
        "| source | stage | in-run s | separate s | update s | select s | in-run docs | "
        "separate docs | r(in-run, separate) |"
    )
    c.append("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        for p in r["per_refresh"]:
            chk = ", ".join(
                f"{k} {'n/a' if v is None else f'{v:.2f}'}" for k, v in sorted(p["check"].items())
            )
            c.append(
                f"| {r['arm']} | {p['stage']} | {p['inrun_s']:.1f} | {p['reward_s']:.1f} | "
                f"{p['update_s']:.3f} | {p['select_s']:.3f} | {p['inrun_docs']} | "
                f"{p['separate_docs']} | {chk or '-'} |"
            )
    return "\n".join(c)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # the config docs/results/online-cost.md was measured with (then named compare-cpu.yaml)
    ap.add_argument("--config", default="configs/compare-cpu-v1.yaml")
    ap.add_argument("--tokens", type=float, default=None, help="training tokens (default: config)")
    ap.add_argument("--every", type=int, default=4, help="train arm: influence.train_every")
    ap.add_argument("--cover", type=int, default=4, help="train arm: influence.train_cover")
    ap.add_argument(
        "--arms", default="refresh,train", help="refresh | train | train:K (every K-th step)"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", action="append", default=[], help="more config overrides key=value")
    ap.add_argument("--out", default=None, help="also write the result as markdown here")
    ap.add_argument("--json", default=None, help="also write the raw results as JSON here")
    args = ap.parse_args(argv)
    from macs.app.config import load_config
    from macs.app.pipeline import prepare_data

    base = [f"run.seed={args.seed}", "train.eval_at_end=false", *args.set]
    if args.tokens:
        base.append(f"train.tokens={args.tokens}")
    ARMS["train"].update({"influence.train_every": args.every, "influence.train_cover": args.cover})
    prepare_data(load_config(args.config, base))
    results = [run_arm(base, a, args) for a in args.arms.split(",")]
    cmd = "python benchmarks/bench_online_cost.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    head = [
        f"command: `{cmd}`",
        f"commit: {commit()}",
        f"machine: {machine()}",
        f"config: {args.config} + {' '.join(base)}",
        "",
    ]
    text = "\n".join(head) + table(results)
    print(text)
    if args.out:
        from macs.core.io import write_text

        write_text(args.out, text + "\n")
    if args.json:
        from macs.core.io import write_json

        write_json(args.json, {"results": results, "command": cmd, "commit": commit()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
