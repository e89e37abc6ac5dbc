"""Disk full, a file-size limit or an unwritable folder during import, tokenize and label: one
clear error naming the path, the cause and the fix, and the previous output left intact.

Faults are real where this machine allows: a read-only folder (as root, the command runs
without CAP_DAC_OVERRIDE so permissions apply), RLIMIT_FSIZE (the kernel refuses the write,
EFBIG); disk full is ENOSPC injected at pyarrow's/numpy's write calls."""

from __future__ import annotations

import ctypes
import errno
import hashlib
import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from macs.core.errors import MacsError
from macs.data.corpus.importer import import_corpus
from macs.data.corpus.store import CorpusStore

SRC = Path(__file__).resolve().parents[2] / "src"
LABEL_SETS = [
    "--set",
    "labels.rows_per_part=100",
    "--set",
    "labels.workers=1",
    "--actors",
    "domain",
]


def snapshot(root: Path) -> dict[str, str]:
    """sha256 of every file under root (relative path -> digest): what 'intact' compares."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.fixture
def store(mini_store, tmp_path):
    dst = tmp_path / "store"
    shutil.copytree(mini_store.path, dst, ignore=shutil.ignore_patterns("labels", "tokens"))
    return CorpusStore.open(dst)


def test_import_disk_full_keeps_the_previous_store(tmp_path, mini_corpus_path, monkeypatch):
    out = tmp_path / "s"
    import_corpus([mini_corpus_path], out, progress=False)
    before = snapshot(out)
    monkeypatch.setattr(pq.ParquetWriter, "write_table", _no_space)
    with pytest.raises(MacsError) as e:
        import_corpus([mini_corpus_path], out, progress=False)
    msg = str(e.value)
    assert msg.startswith(f"cannot write {out}: disk full; ")
    assert "free some space or write to another folder" in msg and "is unchanged" in msg
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]  # no partial folder left


def test_tokenize_disk_full_keeps_the_previous_shards(store, mini_tokenizer, monkeypatch):
    from macs.data.corpus.tokens import tokenize_store

    ts = tokenize_store(store, mini_tokenizer, progress=False)
    before = snapshot(ts.path)
    monkeypatch.setattr(np, "save", _no_space)
    with pytest.raises(MacsError, match=r"cannot write .*tokens.*: disk full") as e:
        tokenize_store(store, mini_tokenizer, progress=False, force=True)
    assert "previous token shards" in str(e.value)
    assert snapshot(ts.path) == before
    assert [p.name for p in ts.path.parent.iterdir()] == [ts.path.name]


def test_label_disk_full_keeps_the_published_sidecar(store, monkeypatch):
    from macs.data.labels.config import LabelsConfig
    from macs.data.labels.job import run_labels

    cfg = LabelsConfig.model_validate({"actors": ["domain"], "rows_per_part": 100, "workers": 1})
    run_labels(store, cfg, seed=0, progress=False)
    side = store.path / "labels" / "domain"
    before = snapshot(side)
    monkeypatch.setattr(pq, "write_table", _no_space)
    with pytest.raises(MacsError, match=r"cannot write .*labels: disk full; .*rerun the same"):
        run_labels(store, cfg, seed=0, progress=False, force=True)
    assert snapshot(side) == before


def _drop_dac_override() -> None:
    """In the child, as root: lose the capabilities that ignore file permissions."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def _limit_file_size(nbytes: int):
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))

    return apply


def macs_cli(*args, cwd: Path, preexec=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "macs", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        preexec_fn=preexec,
        timeout=300,
    )


def _read_only(folder: Path):
    """Make `folder` read-only for the child; the preexec function to use (root: drop caps)."""
    folder.chmod(0o555)
    if os.geteuid() != 0:
        return None
    try:  # check that dropping works here (a container may forbid it)
        subprocess.run([sys.executable, "-c", ""], preexec_fn=_drop_dac_override, check=True)
    except (subprocess.SubprocessError, OSError):
        folder.chmod(0o755)
        pytest.skip("running as root and cannot drop CAP_DAC_OVERRIDE: permissions do not apply")
    return _drop_dac_override


def _one_error_line(r: subprocess.CompletedProcess, *needles: str) -> str:
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert "Traceback" not in r.stderr
    lines = [x for x in r.stderr.splitlines() if x.strip() and x.startswith("error:")]
    assert len(lines) == 1, r.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("step", ["import", "tokenize", "label"])
def test_read_only_folder(step, store, mini_corpus_path, mini_tokenizer, tmp_path):
    """The output folder is not writable: each step says so and changes nothing."""
    if step == "import":
        parent = tmp_path / "ro"
        parent.mkdir()
        import_corpus([mini_corpus_path], parent / "s", progress=False)
        args = ["corpus", "import", mini_corpus_path, "--out", parent / "s", "-q"]
    elif step == "tokenize":
        parent = store.path
        args = ["corpus", "tokenize", "--store", store.path, "--tokenizer", mini_tokenizer]
    else:
        parent = store.path
        args = ["label", "--store", store.path, *LABEL_SETS]
    before = snapshot(parent)
    preexec = _read_only(parent)
    try:
        r = macs_cli(*args, cwd=tmp_path, preexec=preexec)
    finally:
        parent.chmod(0o755)
    _one_error_line(r, "not writable (permission denied)", str(parent))
    assert snapshot(parent) == before


def test_file_size_limit_during_import(tmp_path, mini_corpus_path):
    """A real refused write (RLIMIT_FSIZE, EFBIG) while the shards are written."""
    import_corpus([mini_corpus_path], tmp_path / "s", progress=False)
    before = snapshot(tmp_path / "s")
    r = macs_cli(
        "corpus",
        "import",
        mini_corpus_path,
        "--out",
        tmp_path / "s",
        "-q",
        cwd=tmp_path,
        preexec=_limit_file_size(64 << 10),
    )
    _one_error_line(r, "cannot write", "file too large", "is unchanged")
    assert snapshot(tmp_path / "s") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]
