"""Locks on corpus stores (issue 22): a label job holds its store, so a second label job and an
import into the store are refused with one line naming the holder, and leave nothing behind; a
store replaced under a reader is reported; a symlink where a lock goes is refused, never
written through."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from macs.core.errors import MacsError
from macs.core.lock import run_lock, store_lock

SRC = Path(__file__).resolve().parents[2] / "src"

# a real label job (run_labels) whose labeller stops in its first batch: it holds the store
SLOW_LABEL_JOB = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from macs.data.corpus.store import CorpusStore
    from macs.data.labels.base import Labeller
    from macs.data.labels.config import LabelsConfig
    from macs.data.labels.job import run_labels

    class Slow(Labeller):
        kind = "slow"
        group_names = ["all"]

        def score_batch(self, batch):
            print("labelling", flush=True)
            time.sleep(120)
            n = len(batch)
            return np.zeros(n, np.float32), np.zeros(n, np.int32)

    cfg = LabelsConfig.model_validate({"workers": 1, "rows_per_part": 100})
    run_labels(CorpusStore.open(sys.argv[1]), cfg, actors=[], labellers={"slow": Slow({})},
               progress=False)
    """
)


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}


def _macs(*args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "macs", *map(str, args)],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def store(mini_store, tmp_path) -> Path:
    dst = tmp_path / "store"
    shutil.copytree(mini_store.path, dst, ignore=shutil.ignore_patterns("labels", "tokens"))
    return dst


def _one_error_line(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 2, r.stderr[-3000:]
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, r.stderr
    return lines[0]


def test_label_job_holds_the_store(store, tmp_path, mini_corpus_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", SLOW_LABEL_JOB, str(store)],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "labelling", holder.stderr.read()
        manifest = (store / "manifest.json").stat()
        # a second label job: refused, naming the first; no work folder of its own
        r = _macs("label", "--store", store, "--actors", "domain", cwd=tmp_path)
        line = _one_error_line(r)
        assert f"the store {store} is in use by pid {holder.pid} (macs label)" in line, line
        assert "writing its labels" in line
        assert not list((store / "labels" / ".work").glob("domain-*"))
        assert not (store / "labels" / "domain").exists()
        # an import into the store: refused, the store untouched
        r = _macs("corpus", "import", mini_corpus_path, "--out", store, "-q", cwd=tmp_path)
        line = _one_error_line(r)
        assert f"in use by pid {holder.pid} (macs label)" in line, line
        assert (store / "manifest.json").stat().st_ino == manifest.st_ino
        assert not list(tmp_path.glob(".store.*"))  # no partial import beside it
    finally:
        holder.kill()
        holder.wait()
    # the killed holder's lock is gone: labelling works again
    r = _macs("label", "--store", store, "--actors", "domain", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (store / "labels" / "domain" / "manifest.json").exists()


def test_readers_share_an_importer_excludes(store):
    with store_lock(store, "macs select"):
        with store_lock(store, "macs select"):  # re-entrant in one process
            pass
        r = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from macs.core.lock import store_lock\n"
                "with store_lock(sys.argv[1], 'macs select'): pass\n"
                "try:\n"
                "    with store_lock(sys.argv[1], 'macs corpus import', shared=False): pass\n"
                "except Exception as e: print(e)\n",
                str(store),
            ],
            env=_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode == 0, r.stderr
        assert f"in use by pid {os.getpid()} (macs select)" in r.stdout, r.stdout


def test_a_store_replaced_under_a_reader_is_reported(store, mini_corpus_path):
    from macs.data.corpus.importer import import_corpus
    from macs.data.corpus.store import CorpusStore

    s = CorpusStore.open(store)
    s.check_unchanged()
    import_corpus([mini_corpus_path], store, progress=False, heldout_fraction=0.2)
    with pytest.raises(MacsError, match="was replaced or removed while this command read it"):
        s.check_unchanged()


def test_a_symlinked_lock_is_refused_and_its_target_kept(tmp_path):
    target = tmp_path / "somefile"
    target.write_text("precious\n")
    run_dir = tmp_path / "runs" / "R"
    run_dir.mkdir(parents=True)
    (run_dir / ".lock").symlink_to(target)
    with (
        pytest.raises(MacsError, match="is a symbolic link; macs does not write"),
        run_lock(run_dir),
    ):
        pass
    assert target.read_text() == "precious\n"
    store = tmp_path / "store"
    store.mkdir()
    (store / ".lock").symlink_to(target)
    with pytest.raises(MacsError, match="symbolic link"), store_lock(store, "macs label"):
        pass
    assert target.read_text() == "precious\n"


def test_macs_train_refuses_a_symlinked_run_lock(tmp_path):
    target = tmp_path / "somefile"
    target.write_text("precious\n")
    run_dir = tmp_path / "runs" / "R"
    run_dir.mkdir(parents=True)
    (run_dir / ".lock").symlink_to(target)
    r = _macs(
        "train",
        "--set",
        "run.name=R",
        "--set",
        f"run.runs_dir={tmp_path / 'runs'}",
        cwd=tmp_path,
    )
    line = _one_error_line(r)
    assert "symbolic link" in line, line
    assert target.read_text() == "precious\n"


def test_an_appended_log_that_is_a_symlink_is_refused(tmp_path):
    from macs.core.io import append_jsonl, read_jsonl

    target = tmp_path / "somefile"
    target.write_text("precious\n")
    (tmp_path / "metrics.jsonl").symlink_to(target)
    with pytest.raises(MacsError, match="symbolic link"):
        append_jsonl(tmp_path / "metrics.jsonl", {"step": 1})
    assert target.read_text() == "precious\n"
    append_jsonl(tmp_path / "real.jsonl", {"step": 1})  # a plain file still appends
    append_jsonl(tmp_path / "real.jsonl", {"step": 2})
    assert read_jsonl(tmp_path / "real.jsonl") == [{"step": 1}, {"step": 2}]


def test_macs_train_holds_its_store(tmp_path, mini_data):
    """A run reads the store for its whole length: it takes the store's shared lock, so it is
    refused (naming the holder) while an import holds the store, as an import is while it runs."""
    data, sets = mini_data
    store = data / "corpus" / "mini"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from macs.data.corpus.store import StoreWriter\n"
            "w = StoreWriter(sys.argv[1])  # an import replacing the store, before its swap\n"
            "print('held', flush=True); time.sleep(120)\n",
            str(store),
        ],
        env=_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        flat = [x for kv in sets for x in ("--set", kv)]
        r = _macs("train", *flat, "--set", f"run.runs_dir={tmp_path / 'runs'}", cwd=tmp_path)
        line = _one_error_line(r)
        assert f"in use by pid {holder.pid} (macs corpus import)" in line, line
    finally:
        holder.kill()
        holder.wait()
        for p in store.parent.glob(f".{store.name}.partial-*"):  # what the killed import left
            shutil.rmtree(p)


def _hold(code: str, store: Path) -> subprocess.Popen:
    p = subprocess.Popen(
        [sys.executable, "-c", code + "\nprint('held', flush=True); time.sleep(120)\n", str(store)],
        env=_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert p.stdout.readline().strip() == "held"
    return p


def test_tokenize_and_select_take_the_store_lock(store, mini_tokenizer):
    """A second tokenize of one store is refused naming the first; so is a selection while an
    import replaces the store (both in this process: the library calls take the locks)."""
    from macs.data.corpus.store import CorpusStore
    from macs.data.corpus.tokens import tokenize_store

    s = CorpusStore.open(store)
    p = _hold(
        "import sys, time; from macs.core.lock import store_lock\n"
        "lock = store_lock(sys.argv[1], 'macs corpus tokenize', area='tokens'); lock.__enter__()",
        store,
    )
    try:
        with pytest.raises(MacsError, match=rf"in use by pid {p.pid} \(macs corpus tokenize\)"):
            tokenize_store(s, mini_tokenizer, name="bpe", progress=False)
        assert not (store / "tokens" / "bpe").exists()
    finally:
        p.kill()
        p.wait()
    tokenize_store(s, mini_tokenizer, name="bpe", progress=False)  # free again
    p = _hold(
        "import sys, time; from macs.data.corpus.store import StoreWriter\nw = StoreWriter(sys.argv[1])",
        store,
    )
    try:
        from macs.app.config import load_config
        from macs.app.select_cmd import run_select

        cfg = load_config(None, [f"labels.store={store}"])
        with pytest.raises(MacsError, match=rf"in use by pid {p.pid} \(macs corpus import\)"):
            run_select(cfg, out=store.parent / "sel.parquet", log=lambda s: None)
    finally:
        p.kill()
        p.wait()
        for q in store.parent.glob(f".{store.name}.partial-*"):
            shutil.rmtree(q)


def test_a_read_only_store_can_still_be_read(store, tmp_path):
    """A reader (select, train) of a store it cannot write holds the lock without a record;
    a writer (label) is one line naming the folder."""
    sys.path.insert(0, str(Path(__file__).parent))
    from test_disk_full import _read_only, macs_cli

    for p in store.glob(".*lock"):
        p.unlink()
    preexec = _read_only(store)
    reader = (
        "import sys; from macs.core.lock import store_lock\n"
        "with store_lock(sys.argv[1], 'macs select'): print('read')\n"
    )
    try:
        r = subprocess.run(
            [sys.executable, "-c", reader, str(store)],
            env=_env(),
            capture_output=True,
            text=True,
            preexec_fn=preexec,
            timeout=60,
        )
        w = macs_cli("label", "--store", store, "--actors", "domain", cwd=tmp_path, preexec=preexec)
    finally:
        store.chmod(0o755)
    assert r.returncode == 0 and r.stdout.strip() == "read", r.stderr[-2000:]
    line = _one_error_line(w)
    assert "not writable (permission denied)" in line and str(store) in line, line
    assert not list(store.glob(".*lock")) and not (store / "labels").exists()
