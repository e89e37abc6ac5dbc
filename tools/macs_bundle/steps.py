"""The device run's steps that run in their own processes (`python -m macs_bundle STEP`): the
environment probe, the data preparation and the final report over the finished runs."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path


def environment() -> dict:
    """Python, torch, CUDA and the GPU (name, memory, driver) of this machine, as JSON-able data."""
    env: dict = {"python": platform.python_version(), "cpus": os.cpu_count()}
    try:
        import torch

        env["torch"] = torch.__version__
        env["cuda_available"] = bool(torch.cuda.is_available())
        if torch.cuda.is_available():
            p = torch.cuda.get_device_properties(0)
            env.update(
                gpu=torch.cuda.get_device_name(0),
                gpu_memory_gib=round(p.total_memory / 2**30, 1),
                gpu_sms=p.multi_processor_count,
                cuda=torch.version.cuda,
            )
    except Exception as e:  # report, do not fail: the stages say what they need
        env["torch_error"] = f"{type(e).__name__}: {e}"
    try:
        smi = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
        )
        if smi.returncode == 0 and smi.stdout.strip():
            env["nvidia_smi"] = smi.stdout.strip().splitlines()[0]
    except (OSError, subprocess.TimeoutExpired):
        pass
    return env


def _label_keys(store_dir: Path) -> dict[str, str | None]:
    """{actor: sidecar key} of the store's label sidecars (what tells a reuse from a relabel)."""
    out = {}
    for m in sorted((store_dir / "labels").glob("*/manifest.json")):
        try:
            out[m.parent.name] = json.loads(m.read_text()).get("key")
        except ValueError:
            out[m.parent.name] = None
    return out


def method_checks(cfg, pool) -> dict[str, str]:
    """{method: 'ok' or the one-line reason it cannot run}, each compare method checked on its own."""
    from macs.app.pipeline import check_methods, matched_arm
    from macs.core.errors import MacsError

    out = {}
    for m in cfg.compare.methods:
        try:  # a compute-matched arm BASE@TARGET is checked beside its target
            arm = matched_arm(cfg, m)
            check_methods(cfg, [arm[1], m] if arm else [m], pool)
            out[m] = "ok"
        except (MacsError, ImportError) as e:
            out[m] = str(e).splitlines()[0][:300]
    return out


def prepare(cfg, out_json: Path) -> dict:
    """Token shards (parallel), labels (reused when the bundle's are current), the pool's numbers
    and which compare methods pass their checks."""
    from macs.app.pipeline import prepare_data
    from macs.core.io import write_json
    from macs.core.timing import timed
    from macs.data.corpus.store import store_path
    from macs.data.pool import open_pool
    from macs.select.selectors.registry import available_selectors
    from macs.train.state import plan

    spath = store_path(cfg)
    before = _label_keys(spath)
    mtimes = {a: (spath / "labels" / a / "manifest.json").stat().st_mtime_ns for a in before}
    with timed() as sw:
        prepare_data(cfg)
    seconds = sw.seconds
    after = _label_keys(spath)
    relabelled = sorted(
        a
        for a in after
        if a not in mtimes
        or (spath / "labels" / a / "manifest.json").stat().st_mtime_ns != mtimes[a]
    )
    pool = open_pool(cfg)
    eligible_tokens = int(pool.n_tokens[pool.eligible].sum())
    info = {
        "seconds": round(seconds, 1),
        "n_docs": int(pool.n_docs),
        "eligible_docs": int(pool.eligible.sum()),
        "eligible_tokens": eligible_tokens,
        "train_tokens": int(sum(plan(cfg.train, 1).stage_budgets)),
        "labels_reused": sorted(set(after) - set(relabelled)),
        "relabelled": relabelled,
        "selectors": available_selectors(),
        "method_checks": method_checks(cfg, pool),
    }
    info["train_fraction_of_pool"] = round(info["train_tokens"] / max(1, eligible_tokens), 4)
    write_json(out_json, info)
    print(json.dumps(info), flush=True)
    return info


def final_report(root: Path, method: str, baseline: str) -> dict:
    """The comparison report over every finished run under `root` (root/report)."""
    from macs.app.report.build import build_report

    runs = sorted(p for p in root.iterdir() if (p / "DONE").exists() and (p / "eval.json").exists())
    if not runs:
        print("no finished runs to report", file=sys.stderr)
        return {"runs": []}
    report = build_report(runs, root / "report", method=method, baseline=baseline)
    info = {"runs": [p.name for p in runs], "report": str(report)}
    print(json.dumps(info), flush=True)
    return info
