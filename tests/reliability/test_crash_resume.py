"""kill -9 at seeded random points of the real `macs corpus import`, `macs corpus tokenize`
and `macs label` (local executor), then the same command again: the outputs equal an
uninterrupted run's (contents, not mtimes), and what is visible after a kill is always a
complete output (the previous one or none), never a half-written one."""

from __future__ import annotations

import random
import shutil
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from crash import big_corpus, digest, partial_exists, run_cli  # noqa: E402

from macs.core.io import read_json  # noqa: E402

pytestmark = pytest.mark.slow
REPEATS = 20  # the mini corpus 20 times: 10 MB, 5,580 records


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    d = tmp_path_factory.mktemp("crash")
    big_corpus(d / "big.jsonl", REPEATS)
    return d


def _import_args(out: Path) -> list:
    return ["corpus", "import", "big.jsonl", "--out", out, "-q", "--set", "corpus.shard_mb=0.5"]


@pytest.fixture(scope="module")
def ref_import(work) -> tuple[Path, float]:
    """The uninterrupted import (the reference store) and the seconds its work took."""
    r = run_cli(_import_args(work / "ref" / "s"), work, partial_exists(work / "ref", "s"))
    assert r.rc == 0, r.err
    return work / "ref" / "s", r.work_s


@pytest.fixture(scope="module")
def ref_store(ref_import) -> Path:
    return ref_import[0]


def _kill_points(seed: int, n: int, work_s: float) -> list[float]:
    rng = random.Random(seed)
    return [rng.uniform(0.05, 0.9) * work_s for _ in range(n)]


def test_import(work, ref_import):
    ref_store, work_s = ref_import
    want = digest(ref_store)
    out = work / "run" / "s"
    kills = 0
    for delay in _kill_points(1601, 3, work_s):
        r = run_cli(_import_args(out), work, partial_exists(out.parent, "s"), kill_after=delay)
        kills += r.killed
        if r.killed and out.exists():  # visible = complete: the previous store, unchanged
            assert digest(out) == want
        r = run_cli(_import_args(out), work)
        assert r.rc == 0, r.err
        assert digest(out) == want
        assert sorted(p.name for p in out.parent.iterdir()) == ["s"]  # stale partials cleaned
    assert kills >= 2


def _tok_args(store: Path) -> list:
    return ["corpus", "tokenize", "--store", store, "--tokenizer", "tok", "--workers", 1, "--force"]


TOKEN_META_VOLATILE = ("seconds", "store", "rust_threads", "workers")


def test_tokenize(work, ref_store):
    from macs.data.corpus.tokenizer import build_tokenizer

    build_tokenizer("byte", work / "tok")
    ref = run_cli(_tok_args(ref_store), work, partial_exists(ref_store / "tokens", "tok"))
    assert ref.rc == 0, ref.err
    want = digest(ref_store / "tokens" / "tok", json_drop=TOKEN_META_VOLATILE)
    store = work / "tokstore"
    shutil.copytree(ref_store, store, ignore=shutil.ignore_patterns("tokens", "labels"))
    out = store / "tokens" / "tok"
    kills = 0
    for delay in _kill_points(1602, 2, ref.work_s):
        r = run_cli(_tok_args(store), work, partial_exists(store / "tokens", "tok"), delay)
        kills += r.killed
        if r.killed and out.exists():
            assert digest(out, json_drop=TOKEN_META_VOLATILE) == want
        r = run_cli(_tok_args(store), work)
        assert r.rc == 0, r.err
        assert digest(out, json_drop=TOKEN_META_VOLATILE) == want
        assert sorted(p.name for p in out.parent.iterdir()) == ["tok"]
    assert kills >= 1


def _label_args(store: Path) -> list:
    return [
        "label",
        "--store",
        store,
        "--actors",
        "quality",
        "--set",
        "labels.rows_per_part=500",
        "--set",
        "labels.workers=1",
    ]


# fit.model.source says how this process got the classifier: a job killed between caching
# its classifier and writing its fit record reuses the cache ("cache"), an uninterrupted one
# trained it ("trained"); the model's name, version and sha256 are still compared
LABEL_VOLATILE = ("created", "seconds", "path", "source")


def _finished_units_are_complete(store: Path) -> int:
    """Every unit with a completion marker has its whole part file: returns how many."""
    n = 0
    for marker in (store / "labels" / ".work").glob("*/.done/*.json"):
        part = marker.parent.parent / f"{marker.stem}.parquet"
        assert pq.read_table(part).num_rows == read_json(marker)["rows"]
        n += 1
    return n


def test_label_local(work, ref_store):
    a, b = work / "lab-ref", work / "lab-run"
    for d in (a, b):
        shutil.copytree(ref_store, d, ignore=shutil.ignore_patterns("tokens", "labels"))
    ref = run_cli(_label_args(a), work, lambda: (a / "labels" / ".work").exists())
    assert ref.rc == 0, ref.err
    want = digest(a / "labels" / "quality", json_drop=LABEL_VOLATILE)
    side = b / "labels" / "quality"
    kills = 0
    for delay in _kill_points(1603, 2, ref.work_s):  # killed twice in a row, then resumed
        r = run_cli(_label_args(b), work, lambda: (b / "labels" / ".work").exists(), delay)
        kills += r.killed
        _finished_units_are_complete(b)
        if side.exists():
            assert digest(side, json_drop=LABEL_VOLATILE) == want
    done = _finished_units_are_complete(b)
    r = run_cli(_label_args(b), work)
    assert r.rc == 0, r.err
    if done:
        assert "resuming in" in r.err and f"skipping {done} finished unit(s)" in r.err
    assert digest(side, json_drop=LABEL_VOLATILE) == want
    assert kills >= 1


def test_label_ray(work, mini_store):
    """The Ray executor killed (driver SIGKILLed while Ray starts or labels) and rerun: the
    sidecar equals the local executor's (the two are equal, tests/data/labels/test_labels_ray.py).
    The small mini store: Ray's start dominates the time anyway."""
    pytest.importorskip("ray")
    from macs.data.corpus.store import CorpusStore
    from macs.data.labels.config import LabelsConfig
    from macs.data.labels.job import run_labels

    a, b = work / "ray-ref", work / "ray-run"
    for d in (a, b):
        shutil.copytree(mini_store.path, d, ignore=shutil.ignore_patterns("tokens", "labels"))
    cfg = {"actors": ["quality"], "rows_per_part": 100, "workers": 1}
    run_labels(CorpusStore.open(a), LabelsConfig.model_validate(cfg), seed=0, progress=False)
    drop = (*LABEL_VOLATILE, "executor", "executor_info")
    want = digest(a / "labels" / "quality", json_drop=drop)
    args = [*_label_args(b), "--executor", "ray", "--set", "labels.rows_per_part=100"]
    delay = random.Random(1604).uniform(1.0, 8.0)
    r = run_cli(args, work, lambda: (b / "labels" / ".work").exists(), kill_after=delay)
    _finished_units_are_complete(b)
    r = run_cli(args, work)
    assert r.rc == 0, r.err[-2000:]
    assert digest(b / "labels" / "quality", json_drop=drop) == want
