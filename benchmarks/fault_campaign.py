"""The reliability campaign of issue 16: every fault kind the tests cover, run at scale, one
table: fault kind, cases tried, survived, records lost (must be 0), tracebacks shown (must be 0).

1. fuzz: the hypothesis properties of tests/reliability/test_fuzz_readers.py under the long
   profile (MACS_FUZZ=long): random cuts, byte flips, random bytes of every reader's formats,
   random JSON values in text/id/domain, random .txt folders; every case logged and judged.
2. cut sweep: each format's valid file cut at evenly spaced byte offsets (deterministic).
3. kill -9: `macs corpus import`, `macs corpus tokenize`, `macs label` (and `macs select`,
   `macs train`, `macs run` on the mini corpus) killed at seeded
   random points of their work, then rerun; the output must equal an uninterrupted run's
   and what is visible after a kill must be a complete output.
3b. death at every write: `macs corpus import`, `corpus tokenize`, `label`, `select` and `train`
   die (os._exit, as under kill -9) just before their k-th file-system mutation (an open for
   writing, a rename, an unlink, a tree removal), for every k up to 400 per command (evenly
   spaced beyond), then run again: the output equals an uninterrupted run's, and nothing
   half-written is left behind; `macs run` (two trainings, eval, report) at 60 evenly spaced
   of its writes.
4. disk full: ENOSPC injected at every write call of import/tokenize/label in turn (the
   previous output must stay intact, the error must say disk full), a real file-size limit
   (RLIMIT_FSIZE) at several sizes and a read-only output folder, through the real CLI.
5. bad arguments: every command of the CLI with a missing/bad/unknown-field/wrong-type
   config, an invalid --set, a negative budget and nonexistent input paths.
6. files from others: tampered checkpoints (wrong shape, missing/extra key, a non-tensor, a
   pickle that runs code, cut files), outputs of a newer/older macs, and two processes
   racing for one run directory's lock (and a SIGKILLed holder).
7. security (benchmarks/fault_security.py, issue 22): names that escape, outputs that are not
   macs's, fuzzed names; a 200 MB line and 2 GB decompression bombs under /usr/bin/time -v,
   fuzzed nesting depths and record sizes; the pickle, lock and resume rows' tests.

Survived = the documented outcome (imported with reconciling counts keeping every readable
record, or a one-line MacsError naming the file/field; an identical output after a kill; a
clear disk error with the previous output intact). Usage:
    python benchmarks/fault_campaign.py [--quick] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import io
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REL = ROOT / "tests" / "reliability"
sys.path.insert(0, str(REL))

from crash import (  # noqa: E402
    big_corpus,
    digest,
    mutations,
    partial_exists,
    run_cli,
    run_die,
    sweep_points,
)
from faults import FORMATS, damage, fixture_records, run_import, survivors, write_valid  # noqa: E402

import fault_security  # noqa: E402  (benchmarks/, beside this file)


class Table:
    """Rows of (fault kind, cases, survived, records lost, tracebacks)."""

    def __init__(self):
        self.rows: dict[str, list[int]] = {}
        self.notes: dict[str, list[str]] = defaultdict(list)

    def add(self, kind: str, survived: bool, lost: int = 0, traceback: bool = False, note=""):
        r = self.rows.setdefault(kind, [0, 0, 0, 0])
        r[0] += 1
        r[1] += bool(survived)
        r[2] += lost
        r[3] += bool(traceback)
        if not survived and note and len(self.notes[kind]) < 3:
            self.notes[kind].append(note[:300])

    def render(self) -> str:
        w = max(len(k) for k in self.rows) + 2
        lines = [f"{'fault kind':<{w}}{'cases':>7}{'survived':>10}{'lost':>7}{'tracebacks':>12}"]
        tot = [0, 0, 0, 0]
        for k, r in self.rows.items():
            lines.append(f"{k:<{w}}{r[0]:>7}{r[1]:>10}{r[2]:>7}{r[3]:>12}")
            tot = [a + b for a, b in zip(tot, r, strict=True)]
        lines.append(f"{'total':<{w}}{tot[0]:>7}{tot[1]:>10}{tot[2]:>7}{tot[3]:>12}")
        for k, notes in self.notes.items():
            for n in notes:
                lines.append(f"  FAILED {k}: {n}")
        return "\n".join(lines)


# --- 1. fuzz ----------------------------------------------------------------------------------


def fuzz(table: Table, tmp: Path, quick: bool) -> None:
    log = tmp / "fuzz.jsonl"
    env = {**os.environ, "MACS_FUZZ": "short" if quick else "long", "MACS_FUZZ_LOG": str(log)}
    env["PYTHONPATH"] = str(ROOT / "src")
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        str(REL / "test_fuzz_readers.py"),
    ]
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    print(
        r.stdout.strip().splitlines()[-1] if r.stdout.strip() else r.stderr[-500:], file=sys.stderr
    )
    for line in log.read_text().splitlines():
        o = json.loads(line)
        table.add(f"fuzz: {o['kind']}", o["survived"], o["lost"], o["traceback"], o["detail"])


# --- 2. cut sweep -----------------------------------------------------------------------------


def cut_sweep(table: Table, tmp: Path, points: int) -> None:
    records = fixture_records(24)
    for fmt in (f for f in FORMATS if f != "txt"):
        data = write_valid(fmt, records, tmp / f"valid-{fmt.replace('.', '-')}").read_bytes()
        cuts = sorted({len(data) * k // points for k in range(points)})
        for cut in cuts:
            path = tmp / f"cut.{fmt}"
            path.write_bytes(damage(data, cut=cut))
            o = run_import(f"cut {fmt}", [path], tmp / "s", survivors(fmt, path, records))
            table.add(f"cut sweep: {fmt}", o.survived, o.lost, o.traceback, o.detail)


# --- 3. kill -9 -------------------------------------------------------------------------------


def _visible_ok(out: Path, want: dict, drop=()) -> bool:
    return not out.exists() or digest(out, json_drop=drop) == want


def kills(table: Table, tmp: Path, n_import: int, n_tok: int, n_label: int, n_ray: int) -> None:
    """kill -9 at seeded random points of each step's work, then the same command again."""
    from macs.data.corpus.tokenizer import build_tokenizer

    big_corpus(tmp / "big.jsonl", 20)
    build_tokenizer("byte", tmp / "tok")
    rng = random.Random(16)
    ref_store = _kill_import(table, tmp, n_import, rng)
    _kill_tokenize(table, tmp, ref_store, n_tok, rng)
    _kill_label(table, tmp, ref_store, n_label, n_ray, rng)


def _n_docs(store: Path) -> int:
    return json.loads((store / "manifest.json").read_text())["n_docs"]


def _kill_import(table: Table, tmp: Path, n: int, rng) -> Path:
    def imp(out):
        return ["corpus", "import", "big.jsonl", "--out", out, "-q", "--set", "corpus.shard_mb=0.5"]

    ref = run_cli(imp(tmp / "ref" / "s"), tmp, partial_exists(tmp / "ref", "s"))
    want = digest(tmp / "ref" / "s")
    n_docs = _n_docs(tmp / "ref" / "s")
    out = tmp / "run" / "s"
    for _ in range(n):
        delay = rng.uniform(0.05, 0.95) * ref.work_s
        run_cli(imp(out), tmp, partial_exists(out.parent, "s"), delay)
        visible = _visible_ok(out, want)
        r = run_cli(imp(out), tmp)
        same = r.rc == 0 and digest(out) == want
        ok = visible and same and sorted(p.name for p in out.parent.iterdir()) == ["s"]
        table.add("kill -9: corpus import", ok, 0 if same else n_docs, "Traceback" in r.err, r.err)
    return tmp / "ref" / "s"


def _kill_tokenize(table: Table, tmp: Path, ref_store: Path, n: int, rng) -> None:
    args = ["corpus", "tokenize", "--tokenizer", "tok", "--workers", "1", "--force", "--store"]
    drop = ("seconds", "store", "rust_threads", "workers")
    ref = run_cli([*args, ref_store], tmp, partial_exists(ref_store / "tokens", "tok"))
    want = digest(ref_store / "tokens" / "tok", json_drop=drop)
    store = tmp / "tokstore"
    shutil.copytree(ref_store, store, ignore=shutil.ignore_patterns("tokens"))
    out = store / "tokens" / "tok"
    for _ in range(n):
        delay = rng.uniform(0.05, 0.95) * ref.work_s
        run_cli([*args, store], tmp, partial_exists(store / "tokens", "tok"), delay)
        visible = _visible_ok(out, want, drop)
        r = run_cli([*args, store], tmp)
        same = r.rc == 0 and digest(out, json_drop=drop) == want
        ok = visible and same
        lost = 0 if same else _n_docs(ref_store)
        table.add("kill -9: corpus tokenize", ok, lost, "Traceback" in r.err, r.err)


def _kill_label(table: Table, tmp: Path, ref_store: Path, n_local: int, n_ray: int, rng) -> None:
    """Local: killed twice in a row, then resumed. Ray: the driver killed once, then rerun;
    both must give the uninterrupted local run's sidecar (local and Ray agree)."""
    import importlib.util

    args = ["label", "--actors", "quality", "--set", "labels.rows_per_part=500", "--store"]
    drop = ("created", "seconds", "path", "executor", "executor_info")
    a = tmp / "lab-ref"
    shutil.copytree(ref_store, a, ignore=shutil.ignore_patterns("tokens", "labels"))
    ref = run_cli([*args, a, "--workers", "1"], tmp, lambda: (a / "labels" / ".work").exists())
    want = digest(a / "labels" / "quality", json_drop=drop)
    ray = importlib.util.find_spec("ray") is not None
    runs = [("local", 2, 1.0)] * n_local + ([("ray", 1, 3.0)] * n_ray if ray else [])
    for i, (executor, n_kills, stretch) in enumerate(runs):
        b = tmp / f"lab-{i}"
        shutil.copytree(ref_store, b, ignore=shutil.ignore_patterns("tokens", "labels"))
        cmd = [*args, b, "--workers", "1", "--executor", executor]
        visible = True
        for _ in range(n_kills):
            started = lambda b=b: (b / "labels" / ".work").exists()  # noqa: E731
            run_cli(cmd, tmp, started, rng.uniform(0.05, 0.95) * ref.work_s * stretch)
            visible &= _visible_ok(b / "labels" / "quality", want, drop)
        r = run_cli(cmd, tmp)
        same = r.rc == 0 and digest(b / "labels" / "quality", json_drop=drop) == want
        kind = f"kill -9: label ({executor})"
        lost = 0 if same else _n_docs(ref_store)
        table.add(kind, visible and same, lost, "Traceback" in r.err, r.err)
        shutil.rmtree(b)


def _job_outcome(root: Path) -> str:
    """Every finished run under `root`: stage manifests, final weights, steps/tokens/loss (as text)."""
    import hashlib

    import pyarrow.parquet as pq

    out = []
    for run in sorted(p for p in root.rglob("DONE")):
        d = run.parent
        stages = [
            json.dumps(pq.read_table(f).to_pydict()) for f in sorted(d.glob("stages/*.parquet"))
        ]
        summ = json.loads((d / "summary.json").read_text())
        w = hashlib.sha256((d / "model" / "model.safetensors").read_bytes()).hexdigest()
        out.append(
            json.dumps([d.name, stages, summ["steps"], summ["tokens"], summ["final_loss"], w])
        )
    return "\n".join(out)


def _mini_data(tmp: Path) -> list[str]:
    """The mini corpus imported, tokenized and labelled under tmp/data; the CLI's --set flags."""
    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import SMALL_SETS
    from macs.app.config import load_config
    from macs.app.pipeline import prepare_data
    from macs.data.corpus.importer import import_corpus

    data = tmp / "data"
    import_corpus(
        [REL.parent / "fixtures" / "mini_corpus.jsonl"],
        data / "corpus" / "mini",
        name="mini",
        max_chunk_bytes=8192,
        heldout_fraction=0.1,
        progress=False,
    )
    sets = [f"run.data_dir={data}", *SMALL_SETS]
    prepare_data(load_config(None, sets))
    return [x for kv in sets for x in ("--set", kv)]


def kill_jobs(table: Table, tmp: Path, n_select: int, n_train: int, n_run: int) -> None:
    """kill -9 of `macs select`, `macs train` and `macs run` (the compare harness) on the mini
    corpus at seeded random points, then the same command: outputs equal an uninterrupted run's."""
    flat = _mini_data(tmp)
    rng = random.Random(17)

    def sel(out):
        return ["select", *flat, "--set", "selection.fraction=0.3", "--out", out]

    _kill_job(table, tmp, "select", sel, lambda out: out, n_select, rng, None)

    def train(runs):
        return [
            "train",
            *flat,
            "--set",
            f"run.runs_dir={runs}",
            "--set",
            "train.checkpoint_every=4",
        ]

    _kill_job(table, tmp, "train", train, lambda runs: runs, n_train, rng, "demo/metrics.jsonl")

    def run(runs):
        return ["run", *flat, "--set", f"run.runs_dir={runs}", "--methods", "multi_actor,random"]

    _kill_job(
        table,
        tmp,
        "run (compare harness)",
        run,
        lambda r: r,
        n_run,
        rng,
        "demo/multi_actor-s0/metrics.jsonl",
    )


def _kill_job(table, tmp, name, args, out_of, n, rng, started_file) -> None:
    import pyarrow.parquet as pq

    ref_out = out_of(tmp / name.split()[0] / "ref" / ("m.parquet" if name == "select" else "runs"))
    ref = run_cli(args(ref_out), tmp, timeout=900)
    if name == "select":
        want = json.dumps(pq.read_table(ref_out).to_pydict())
    else:
        want = _job_outcome(ref_out)
    for k in range(n):
        out = out_of(
            tmp / name.split()[0] / f"run{k}" / ("m.parquet" if name == "select" else "runs")
        )
        started = (lambda o=out: (o / started_file).exists()) if started_file else None
        delay = rng.uniform(0.1, 0.9) * (ref.work_s if started_file is None else 3.0)
        run_cli(args(out), tmp, started, delay, timeout=900)
        r = run_cli(args(out), tmp, timeout=900)
        if name == "select":
            got = json.dumps(pq.read_table(out).to_pydict()) if out.exists() else ""
        else:
            got = _job_outcome(out)
        ok = r.rc == 0 and got == want
        table.add(f"kill -9: {name}", ok, 0, "Traceback" in r.err, r.err[-300:])


# --- 3b. death at every write -------------------------------------------------------------


_TEMP = re.compile(r"^\..+\.[0-9a-f]{8}\.tmp$")  # macs.core.io.atomic_path's temp files


def die_sweep(table: Table, tmp: Path, cap: int) -> None:
    """Each command dies (os._exit, as under kill -9) just before its k-th file-system mutation
    for every k (or `cap` evenly spaced ones), then runs again: same output as an uninterrupted
    run, and a store output visible after the death is the old complete one or none."""
    from macs.data.corpus.tokenizer import build_tokenizer

    big_corpus(tmp / "big.jsonl", 2)
    build_tokenizer("byte", tmp / "tok")
    imp = ["corpus", "import", "big.jsonl", "-q", "--set", "corpus.shard_mb=0.25", "--out"]
    _die_cmd(table, tmp, "corpus import", lambda d: [*imp, d / "s"], lambda d: d / "s", (), cap)
    ref_store = tmp / "corpus import" / "ref" / "s"

    def store_copy(d: Path) -> Path:
        if not (d / "s").exists():
            shutil.copytree(ref_store, d / "s", ignore=shutil.ignore_patterns("tokens", "labels"))
        return d / "s"

    tok = ["corpus", "tokenize", "--tokenizer", tmp / "tok", "--workers", "1", "--store"]
    drop = ("seconds", "store", "rust_threads", "workers")
    _die_cmd(
        table,
        tmp,
        "corpus tokenize",
        lambda d: [*tok, store_copy(d)],
        lambda d: d / "s" / "tokens" / "tok",
        drop,
        cap,
    )
    lab = ["label", "--actors", "quality", "--workers", "1", "--set", "labels.rows_per_part=200"]
    # fit.model.source says "cache" where the rerun reused the classifier the dead run trained
    drop = ("created", "seconds", "path", "executor", "executor_info", "source")
    _die_cmd(
        table,
        tmp,
        "label",
        lambda d: [*lab, "--store", store_copy(d)],
        lambda d: d / "s" / "labels" / "quality",
        drop,
        cap,
    )
    flat = _mini_data(tmp)
    sel = [*flat, "--set", "selection.fraction=0.3", "--out"]
    _die_cmd(table, tmp, "select", lambda d: ["select", *sel, d / "m.parquet"], None, (), cap)
    train = [*flat, "--set", "train.checkpoint_every=4", "--set"]
    _die_cmd(table, tmp, "train", lambda d: ["train", *train, f"run.runs_dir={d}"], None, (), cap)


def die_sweep_run(table: Table, tmp: Path, cap: int) -> None:
    """`macs run` (data, two trainings, evaluation, the comparison report) dying at `cap` evenly
    spaced ones of its file-system mutations: the finished runs equal an uninterrupted
    `macs run`'s and the report's comparison table is there."""
    flat = _mini_data(tmp)

    def args(d: Path) -> list:
        return ["run", *flat, "--set", f"run.runs_dir={d}", "--methods", "multi_actor,random"]

    _die_cmd(table, tmp, "run (two trainings + report)", args, None, (), cap)


def _die_cmd(table, tmp, name, args, output, drop, cap) -> None:
    """Sweep one command; output(d) = the folder judged by digest (None: a select manifest or
    the finished runs under d)."""
    import pyarrow.parquet as pq

    def outcome(d: Path):
        if output is not None:
            return digest(output(d), json_drop=drop) if output(d).exists() else None
        if (d / "m.parquet").exists():
            return json.dumps(pq.read_table(d / "m.parquet").to_pydict())
        report = (d / "demo" / "report" / "compare" / "table.md").exists()
        return _job_outcome(d) + ("\nreport" if report else "")

    base = tmp / name
    ref = run_die(0, args(base / "ref"), tmp)
    assert ref.rc == 0, ref.err
    want, n = outcome(base / "ref"), mutations(ref)
    t0 = time.perf_counter()
    for k in sweep_points(n, cap):
        d = base / f"k{k}"
        died = run_die(k, args(d), tmp)
        seen = outcome(d)  # none, or the whole output; of runs: only ones equal to the ref's
        visible = seen is None or seen == want
        if isinstance(seen, str):  # finished runs (and the report) are each complete
            visible = set(seen.splitlines()) <= set(want.splitlines())
        r = run_cli(args(d), tmp, timeout=900)
        same = r.rc == 0 and outcome(d) == want
        left = [
            p.relative_to(d) for p in d.rglob(".*") if _TEMP.match(p.name) or ".partial" in p.name
        ]
        same = same and not left  # nothing half-written left behind
        note = f"k={k}/{n} died={died.killed} left={left[:3]}: {r.err[-300:]}"
        table.add(f"death at a write: {name}", visible and same, 0, "Traceback" in r.err, note)
        if visible and same:
            shutil.rmtree(d, ignore_errors=True)
    print(f"[die sweep] {name}: {n} mutations, {time.perf_counter() - t0:.0f} s", file=sys.stderr)


# --- 4. disk full -----------------------------------------------------------------------------


class WriteFaults:
    """Count the write calls of a step, or make the k-th one fail with ENOSPC."""

    def __init__(self, fail_at: int | None = None):
        self.fail_at = fail_at
        self.calls = 0
        self._undo = []

    def _wrap(self, obj, name):
        orig = getattr(obj, name)

        def wrapper(*a, **kw):
            self.calls += 1
            if self.fail_at is not None and self.calls == self.fail_at:
                raise OSError(errno.ENOSPC, "No space left on device")
            return orig(*a, **kw)

        setattr(obj, name, wrapper)
        self._undo.append((obj, name, orig))

    def __enter__(self):
        import numpy as np
        import pyarrow.parquet as pq

        import macs.core.io

        for obj, name in (
            (pq.ParquetWriter, "write_table"),
            (pq, "write_table"),
            (np, "save"),
            (macs.core.io, "write_bytes"),
        ):
            self._wrap(obj, name)
        return self

    def __exit__(self, *exc):
        for obj, name, orig in reversed(self._undo):
            setattr(obj, name, orig)


def disk_full(table: Table, tmp: Path, quick: bool) -> None:
    from macs.core.errors import MacsError
    from macs.data.corpus.importer import import_corpus
    from macs.data.corpus.store import CorpusStore
    from macs.data.corpus.tokenizer import build_tokenizer
    from macs.data.corpus.tokens import tokenize_store
    from macs.data.labels.config import LabelsConfig
    from macs.data.labels.job import run_labels

    fixture = ROOT / "tests" / "fixtures" / "mini_corpus.jsonl"
    store_dir = tmp / "df" / "s"
    import_corpus([fixture], store_dir, progress=False, shard_mb=0.1)
    tok = build_tokenizer("byte", tmp / "df" / "tok")
    store = CorpusStore.open(store_dir)
    tokenize_store(store, tok, progress=False)
    cfg = LabelsConfig.model_validate({"actors": ["domain"], "rows_per_part": 50, "workers": 1})
    run_labels(store, cfg, seed=0, progress=False)
    steps = {
        "import": (
            lambda: import_corpus([fixture], store_dir, progress=False, shard_mb=0.1),
            store_dir,
        ),
        "tokenize": (
            lambda: tokenize_store(store, tok, progress=False, force=True),
            store_dir / "tokens",
        ),
        "label": (
            lambda: run_labels(store, cfg, seed=0, progress=False, force=True),
            store_dir / "labels" / "domain",
        ),
    }
    for step, (fn, out) in steps.items():
        with WriteFaults() as w:
            fn()
        n_docs = store.n_docs
        for k in range(1, w.calls + 1):
            before = digest(out)
            tb = False
            try:
                with WriteFaults(fail_at=k):
                    fn()
                ok, note = False, "no error"
            except MacsError as e:
                ok, note = "disk full" in str(e) and "\n" not in str(e), str(e)
            except Exception as e:  # noqa: BLE001
                ok, tb, note = False, True, repr(e)
            intact = digest(out) == before
            table.add(
                f"ENOSPC at each write: {step}", ok and intact, 0 if intact else n_docs, tb, note
            )
    _real_faults(table, tmp, fixture, store_dir, tok, quick)


def _real_faults(table, tmp, fixture, store_dir, tok, quick) -> None:
    """Through the CLI: RLIMIT_FSIZE at several sizes, a read-only output folder."""
    from test_disk_full import _drop_dac_override, _limit_file_size, macs_cli

    label = [
        "label",
        "--actors",
        "domain",
        "--force",
        "--set",
        "labels.rows_per_part=50",
        "--store",
        store_dir,
    ]
    cmds = {
        "import": ["corpus", "import", fixture, "--out", store_dir, "-q"],
        "tokenize": ["corpus", "tokenize", "--store", store_dir, "--tokenizer", tok, "--force"],
        "label": label,
    }
    sizes = [1 << 10, 16 << 10] if quick else [512, 1 << 10, 4 << 10, 16 << 10, 64 << 10]

    def judge(kind: str, r, before: dict, needle: str) -> None:
        errors = [x for x in r.stderr.splitlines() if x.startswith("error:")]
        ok = r.returncode == 2 and len(errors) == 1 and needle in errors[0]
        intact = _published(store_dir) == before  # labels/.work keeps resumable units
        table.add(kind, ok and intact, 0 if intact else 1, "Traceback" in r.stderr, r.stderr)

    for step, args in cmds.items():
        for size in sizes:
            before = _published(store_dir)
            r = macs_cli(*args, cwd=tmp, preexec=_limit_file_size(size))
            if r.returncode == 0:
                continue  # every file of this step fits under the limit: no fault happened
            judge(f"file-size limit: {step}", r, before, "file too large")
    for step, args in cmds.items():
        parent = store_dir.parent if step == "import" else store_dir
        folders = [parent, *[p for p in parent.rglob("*") if p.is_dir()]]
        for d in folders:
            d.chmod(0o555)
        before = _published(store_dir)
        try:
            r = macs_cli(*args, cwd=tmp, preexec=_drop_dac_override if os.geteuid() == 0 else None)
        finally:
            for d in folders:
                d.chmod(0o755)
        judge(f"read-only folder: {step}", r, before, "not writable")


def _published(store_dir: Path) -> dict:
    """The content of a store and its published tokens and sidecars (not labels/.work)."""
    return {k: v for k, v in digest(store_dir).items() if not k.startswith("labels/.work/")}


# --- 5. files from others and concurrent runs ---------------------------------------------


def others(table: Table, tmp: Path, n_races: int) -> None:
    """Tampered checkpoints, outputs of a newer/older macs, two processes on one run dir."""
    import torch

    from macs.core.formats import check_format
    from macs.core.safe_load import expected_shapes, load_state_file

    model = torch.nn.Sequential(torch.nn.Embedding(16, 4), torch.nn.Linear(4, 3))
    want = expected_shapes(model)
    sd = dict(model.state_dict())
    data = {
        "wrong shape": {**sd, "1.weight": torch.zeros(5, 4)},
        "missing key": {k: v for k, v in sd.items() if k != "1.bias"},
        "extra key": {**sd, "x": torch.zeros(1)},
        "not a tensor": {**sd, "0.weight": [1, 2]},
        "code in pickle": {**sd, "x": _Payload(tmp / "pwned")},
    }
    for name, obj in data.items():
        torch.save(obj, tmp / "c.pt")
        _expect_error(
            table, f"tampered checkpoint: {name}", lambda: load_state_file(tmp / "c.pt", want)
        )
    raw = (tmp / "c.pt").read_bytes()
    for cut in (10, len(raw) // 3, len(raw) - 10):
        (tmp / "c.pt").write_bytes(raw[:cut])
        _expect_error(
            table, "tampered checkpoint: truncated", lambda: load_state_file(tmp / "c.pt", want)
        )
    assert not (tmp / "pwned").exists()
    for kind in ("store", "tokens", "labels", "run"):
        for fmt in (0, 99):
            _expect_error(
                table,
                f"format: {kind} from another macs",
                lambda kind=kind, fmt=fmt: check_format(kind, {"format": fmt}, tmp),
            )
    _lock_races(table, tmp, n_races)


class _Payload:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _expect_error(table: Table, kind: str, fn) -> None:
    from macs.core.errors import MacsError

    try:
        fn()
        table.add(kind, False, note="accepted")
    except MacsError as e:
        table.add(kind, "\n" not in str(e), note=str(e))
    except Exception as e:  # noqa: BLE001
        table.add(kind, False, traceback=True, note=repr(e))


_RACER = """
import sys, time
from macs.core.errors import MacsError
from macs.core.lock import run_lock
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
try:
    with run_lock(sys.argv[1]):
        time.sleep(float(sys.argv[3]))
        print("won")
except MacsError as e:
    print("refused", e)
"""


def _lock_races(table: Table, tmp: Path, n: int) -> None:
    """Two processes start together on one run dir: exactly one runs; a SIGKILLed holder
    frees the lock for the next."""
    import signal

    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    for k in range(n):
        start = str(time.time() + 1.5)
        run = tmp / f"run{k}"
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", _RACER, str(run), start, "1.0"],
                env=env,
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        outs = sorted(p.communicate(timeout=120)[0].strip() for p in procs)
        ok = outs[1] == "won" and outs[0].startswith("refused") and "in use by pid" in outs[0]
        table.add("two runs on one run dir", ok, note=str(outs))
        holder = subprocess.Popen(
            [sys.executable, "-c", _RACER, str(run), "0", "60"],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(2.0)
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        r = subprocess.run(
            [sys.executable, "-c", _RACER, str(run), "0", "0"],
            env=env,
            capture_output=True,
            text=True,
        )
        table.add("lock of a SIGKILLed holder", r.stdout.strip() == "won", note=r.stdout + r.stderr)


# --- 6. bad arguments -------------------------------------------------------------------------


def bad_args(table: Table, tmp: Path) -> None:
    import test_cli_bad_args as t

    from macs.app.cli import main

    cwd = os.getcwd()
    os.chdir(tmp)
    try:
        for words, fn in t.COMMANDS:
            for name, argv, culprit in t._cases(words, fn, tmp):
                err = io.StringIO()
                code = 0
                with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                    try:
                        main(argv)
                    except SystemExit as e:
                        code = e.code
                    except Exception:  # noqa: BLE001
                        import traceback

                        traceback.print_exc()
                        code = -1
                text = err.getvalue()
                lines = [x for x in text.splitlines() if x.strip()]
                ok = code not in (0, None) and len(lines) == 1 and lines[0].startswith("error: ")
                ok = ok and (culprit in lines[0] or t.NOWHERE in lines[0])
                table.add(
                    f"bad arguments: {name}",
                    ok,
                    0,
                    "Traceback" in text,
                    f"macs {' '.join(argv)}: {text}",
                )
    finally:
        os.chdir(cwd)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer cases (a smoke run)")
    ap.add_argument("--json", type=Path, help="also write the table as JSON here")
    ap.add_argument("--only", help="run only the sections whose name contains this")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    table = Table()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="macs-campaign-") as d:
        tmp = Path(d)
        sections = [
            ("fuzz", lambda d: fuzz(table, d, args.quick)),
            ("cut sweep", lambda d: cut_sweep(table, d, 40 if args.quick else 200)),
            (
                "kill -9",
                lambda d: kills(table, d, *((2, 1, 1, 0) if args.quick else (10, 6, 3, 2))),
            ),
            (
                "kill -9 of jobs",
                lambda d: kill_jobs(table, d, *((1, 1, 1) if args.quick else (4, 3, 2))),
            ),
            ("death at every write", lambda d: die_sweep(table, d, 6 if args.quick else 400)),
            (
                "death at writes of macs run",
                lambda d: die_sweep_run(table, d, 4 if args.quick else 60),
            ),
            ("disk full", lambda d: disk_full(table, d, args.quick)),
            ("bad arguments", lambda d: bad_args(table, d)),
            ("files from others", lambda d: others(table, d, 2 if args.quick else 5)),
            ("security: names and outputs", lambda d: fault_security.names(table, d, args.quick)),
            ("security: bounded memory", lambda d: fault_security.memory(table, d, args.quick)),
            (
                "security: rows of the locks and pickles work",
                lambda d: fault_security.others_rows(table, d),
            ),
        ]
        for k, (name, run) in enumerate(sections):
            if args.only and args.only not in name:
                continue
            t1 = time.perf_counter()
            d = tmp / f"s{k}"
            d.mkdir()
            run(d)
            print(f"[{name}] {time.perf_counter() - t1:.0f} s", file=sys.stderr, flush=True)
    wall = time.perf_counter() - t0
    print(table.render())
    load = os.getloadavg()[0]
    print(f"wall {wall:.0f} s; load {load:.1f} on {os.cpu_count()} cores")
    for what, mb in fault_security.peaks.items():
        print(f"peak RSS {mb:.0f} MB: {what} (bound {fault_security.MEM_BOUND_MB} MB)")
    if args.json:
        rec = {"rows": table.rows, "notes": table.notes, "wall_s": wall}
        rec["peak_rss_mb"] = fault_security.peaks
        args.json.write_text(json.dumps(rec, indent=1))


if __name__ == "__main__":
    main()
