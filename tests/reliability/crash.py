"""Kill -9 harness shared by the crash tests and benchmarks/fault_campaign.py: run a real
`python -m macs ...` in a subprocess, SIGKILL it at a seeded random point while it works,
and compare output folders by content (never by mtime)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "mini_corpus.jsonl"


@dataclass
class Run:
    """One CLI run: exit status (-9 when killed), whether we killed it, seconds of work."""

    rc: int
    killed: bool
    work_s: float
    out: str
    err: str


def run_cli(
    args: Iterable,
    cwd: Path,
    started: Callable[[], bool] | None = None,
    kill_after: float | None = None,
    timeout: float = 300.0,
) -> Run:
    """Run `python -m macs ARGS`; with kill_after, SIGKILL it that many seconds after
    `started()` first holds (its work has begun). work_s = seconds from then to the end."""
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    p = subprocess.Popen(
        [sys.executable, "-m", "macs", *map(str, args)],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    t_end = time.monotonic() + timeout
    t_work = None
    killed = False
    while p.poll() is None and time.monotonic() < t_end:
        now = time.monotonic()
        if t_work is None and (started is None or started()):
            t_work = now
        if t_work is not None and kill_after is not None and now - t_work >= kill_after:
            p.send_signal(signal.SIGKILL)
            killed = True
            break
        time.sleep(0.005)
    if p.poll() is None and not killed:
        p.kill()
    out, err = p.communicate()
    work = time.monotonic() - t_work if t_work is not None else 0.0
    return Run(p.returncode, killed, work, out, err)


def digest(root: Path, skip: Iterable[str] = (), json_drop: Iterable[str] = ()) -> dict[str, str]:
    """Content of every file under `root` (relative path -> sha256; JSON files parsed, the
    keys in json_drop removed at any depth: timings and absolute paths); `skip` = top-level
    names left out."""
    skip, drop = set(skip), set(json_drop)
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if not p.is_file() or rel.parts[0] in skip:
            continue
        data = p.read_bytes()
        if p.suffix == ".json":
            data = json.dumps(_drop(json.loads(data), drop), sort_keys=True).encode()
        out[rel.as_posix()] = hashlib.sha256(data).hexdigest()
    return out


def _drop(obj, keys: set[str]):
    if isinstance(obj, dict):
        return {k: _drop(v, keys) for k, v in obj.items() if k not in keys}
    if isinstance(obj, list):
        return [_drop(v, keys) for v in obj]
    return obj


def big_corpus(path: Path, repeats: int) -> Path:
    """The mini corpus repeated with distinct ids (about 0.5 MB of real text per repeat)."""
    recs = [json.loads(x) for x in FIXTURE.read_text(encoding="utf-8").splitlines()]
    with open(path, "w", encoding="utf-8") as f:
        for k in range(repeats):
            for r in recs:
                f.write(json.dumps({**r, "id": f"{r['id']}~{k}"}) + "\n")
    return path


def partial_exists(folder: Path, name: str) -> Callable[[], bool]:
    """started(): a `.NAME.partial-PID` working folder exists beside folder/NAME."""
    return lambda: folder.is_dir() and any(folder.glob(f".{name}.partial-*"))


DIE_AT = Path(__file__).resolve().parent / "die_at.py"


def run_die(k: int, args: Iterable, cwd: Path, timeout: float = 600.0) -> Run:
    """Run `macs ARGS` under die_at.py: it dies (exit 137, like kill -9) just before its k-th
    file-system mutation; k=0 runs to the end and reports its number of mutations."""
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    t0 = time.monotonic()
    p = subprocess.run(
        [sys.executable, str(DIE_AT), str(k), "--", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Run(p.returncode, p.returncode == 137, time.monotonic() - t0, p.stdout, p.stderr)


def mutations(run: Run) -> int:
    """The number of file-system mutations a k=0 run_die reported."""
    line = [x for x in run.err.splitlines() if x.startswith("mutations ")][-1]
    return int(line.split()[1])


def sweep_points(n: int, cap: int) -> list[int]:
    """Every mutation 1..n, or `cap` of them evenly spaced (first and last included)."""
    if n <= cap:
        return list(range(1, n + 1))
    return sorted({1 + round(i * (n - 1) / (cap - 1)) for i in range(cap)})
