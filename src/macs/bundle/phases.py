"""`macs compare` in phases that fit the time left: the core methods on the first seeds, then the
other selectors (as many as fit), then the remaining seeds. Finished runs are reused by every later
`macs compare`, so a phase cut at its deadline still leaves its finished runs for the report."""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

from macs.bundle.guard import Clock, guarded


@dataclass
class Phase:
    """Methods x seeds trained by one `macs compare` call."""

    name: str
    methods: list[str]
    seeds: list[int]
    requires: list[int] = field(default_factory=list)  # seeds a method must have finished first


def plan_phases(
    methods: list[str], seeds: list[int], core: tuple[str, ...], first: int
) -> list[Phase]:
    """core x first seeds, then the others x first seeds, then everything x the remaining seeds."""
    c = [m for m in methods if m in core]
    rest = [m for m in methods if m not in core]
    s1, s2 = seeds[:first], seeds[first:]
    phases = [
        Phase("core", c, s1),
        Phase("selectors", rest, s1),
        Phase("seeds", list(methods), s2, requires=s1),  # only methods with the first seeds done
    ]
    return [p for p in phases if p.methods and p.seeds]


def run_dir(root: Path, method: str, seed: int) -> Path:
    """The run folder `macs compare` writes for (method, seed) under root (macs.pipeline.run_dir_name)."""
    return root / f"{method.replace(':', '-').replace('/', '_')}-s{seed}"


def done(root: Path, method: str, seed: int) -> bool:
    """True when that run finished (DONE written after its evaluation)."""
    return (run_dir(root, method, seed) / "DONE").exists()


def pending(phase: Phase, root: Path) -> list[str]:
    """The phase's methods with an unfinished run (and every run of the required seeds finished)."""
    return [
        m
        for m in phase.methods
        if any(not done(root, m, s) for s in phase.seeds)
        and all(done(root, m, s) for s in phase.requires)
    ]


def fit_methods(phase: Phase, root: Path, jobs: int, wave_s: float, avail_s: float) -> list[str]:
    """The prefix of the phase's pending methods whose unfinished runs fit `avail_s` at `wave_s`
    per wave of `jobs` runs."""
    slots = math.floor(avail_s / max(wave_s, 1.0)) * jobs
    out, used = [], 0
    for m in pending(phase, root):
        need = sum(not done(root, m, s) for s in phase.seeds)
        if used + need > slots:
            break
        out.append(m)
        used += need
    return out


def run_phases(
    phases: list[Phase],
    compare_cmd,
    root: Path,
    jobs: int,
    clock: Clock,
    reserve_s: float,
    wave_prior_s: float,
    log: Path,
    env: dict,
    on_update=None,
) -> list[dict]:
    """Run each phase that fits (the first always, cut at the deadline); returns the phase records.

    `compare_cmd(methods, seeds)` is the command line of one `macs compare` call. The time of one
    wave of `jobs` runs is measured on the first phase and used to size the later ones (x1.3 for
    the heavier selectors).
    """
    wave_s, out = wave_prior_s, []
    for i, ph in enumerate(phases):
        rec = {"phase": ph.name, "methods": ph.methods, "seeds": ph.seeds}
        avail = clock.left() - reserve_s
        todo = pending(ph, root)
        methods = todo
        if todo and i > 0:
            methods = fit_methods(ph, root, jobs, wave_s * (1.3 if i == 1 else 1.0), avail)
        if not todo:
            rec["note"] = "nothing to run (all finished, or the earlier seeds are not)"
        elif not methods:
            rec["note"] = f"skipped: {avail:.0f}s left, one wave takes about {wave_s:.0f}s"
        else:
            if methods != todo:
                rec["note"] = f"only {len(methods)} of {len(todo)} methods fit the time left"
            n_todo = sum(not done(root, m, s) for m in methods for s in ph.seeds)
            cmd = compare_cmd(methods, ph.seeds)
            print(f"[gpu_run] phase {ph.name}: {n_todo} runs, {avail:.0f}s left", file=sys.stderr)
            rec.update(guarded(cmd, avail, log, env=env))
            rec["ran_methods"] = methods
            n_new = sum(done(root, m, s) for m in methods for s in ph.seeds) - (
                len(methods) * len(ph.seeds) - n_todo
            )
            rec["runs_finished"] = n_new
            if rec.get("rc") == 0 and n_new:
                wave_s = rec["seconds"] / math.ceil(n_new / jobs)
                rec["wave_seconds"] = round(wave_s, 1)
        out.append(rec)
        if on_update:
            on_update(out)
    return out
