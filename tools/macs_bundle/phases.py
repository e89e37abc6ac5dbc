"""`macs compare` in phases that fit the time left: the core methods on the first seeds, then the
compute-matched arms of those (BASE@TARGET: trained on TARGET's measured extra work, so only after
TARGET's runs), then the other arms (as many as fit) and their matched arms, then the remaining
seeds. Finished runs are reused by every later `macs compare`, so a phase cut at its deadline still
leaves its finished runs for the report."""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

from macs.core.names import method_run_name
from macs_bundle.guard import Clock, guarded


@dataclass
class Phase:
    """Methods x seeds trained by one `macs compare` call."""

    name: str
    methods: list[str]
    seeds: list[int]
    requires: list[int] = field(default_factory=list)  # seeds a method must have finished first


MATCH = "@"  # as macs.app.pipeline.MATCH: 'random@multi_actor'


def target_of(method: str) -> str | None:
    """TARGET of a compute-matched arm 'BASE@TARGET', None for any other method."""
    base, sep, target = method.partition(MATCH)
    return target if sep and base and target else None


def with_targets(methods: list[str]) -> list[str]:
    """`methods` with each matched arm's target put before it (macs compare needs the target among
    its methods; the target's finished runs are reused, not trained again)."""
    out: list[str] = []
    for m in methods:
        t = target_of(m)
        out += [x for x in ([t] if t else []) + [m] if x not in out]
    return out


def plan_phases(
    methods: list[str], seeds: list[int], core: tuple[str, ...], first: int
) -> list[Phase]:
    """core x first seeds, their matched arms, the other arms x first seeds, their matched arms, then
    everything x the remaining seeds. A matched arm whose target is not among `methods` is dropped."""
    matched = [m for m in methods if target_of(m) in methods and target_of(target_of(m)) is None]
    plain = [m for m in methods if target_of(m) is None]
    c = [m for m in plain if m in core]
    rest = [m for m in plain if m not in core]
    s1, s2 = seeds[:first], seeds[first:]
    phases = [
        Phase("core", c, s1),
        Phase("matched", [m for m in matched if target_of(m) in c], s1),
        Phase("selectors", rest, s1),
        Phase("matched-selectors", [m for m in matched if target_of(m) in rest], s1),
        # only methods with the first seeds done
        Phase("seeds", plain + matched, s2, requires=s1),
    ]
    return [p for p in phases if p.methods and p.seeds]


def run_dir(root: Path, method: str, seed: int) -> Path:
    """The run folder `macs compare` writes for (method, seed) under root (macs.app.pipeline.run_dir_name)."""
    return root / method_run_name(method, seed)


def done(root: Path, method: str, seed: int) -> bool:
    """True when that run finished (DONE written after its evaluation)."""
    return (run_dir(root, method, seed) / "DONE").exists()


def pending(phase: Phase, root: Path) -> list[str]:
    """The phase's methods with an unfinished run (and every run of the required seeds finished;
    a matched arm's target finished on the phase's seeds, unless the target runs in this phase)."""

    def ready(m: str) -> bool:
        t = target_of(m)
        return t is None or t in phase.methods or all(done(root, t, s) for s in phase.seeds)

    return [
        m
        for m in phase.methods
        if any(not done(root, m, s) for s in phase.seeds)
        and all(done(root, m, s) for s in phase.requires)
        and ready(m)
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
            methods = fit_methods(
                ph, root, jobs, wave_s * (1.3 if ph.name == "selectors" else 1.0), avail
            )
        if not todo:
            rec["note"] = "nothing to run (all finished, or the earlier seeds are not)"
        elif not methods:
            rec["note"] = f"skipped: {avail:.0f}s left, one wave takes about {wave_s:.0f}s"
        else:
            if methods != todo:
                rec["note"] = f"only {len(methods)} of {len(todo)} methods fit the time left"
            n_todo = sum(not done(root, m, s) for m in methods for s in ph.seeds)
            cmd = compare_cmd(with_targets(methods), ph.seeds)
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
