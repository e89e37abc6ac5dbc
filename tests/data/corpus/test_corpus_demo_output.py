"""`macs corpus build demo --out DIR` guards its output as `macs corpus import` does: a folder
that is not a corpus store is refused (--force replaces it), and a store another command uses
is refused with a line naming `macs corpus build demo`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from macs.app.cli import main
from macs.core.errors import MacsError
from macs.core.names import is_store
from macs.data.corpus.demo import Source, build_demo_corpus

SRC = Path(__file__).resolve().parents[3] / "src"
LOCAL = (Source("cpython-stdlib", "local", "python stdlib", "code", "x_cpython"),)


def _thesis(tmp_path: Path) -> Path:
    thesis = tmp_path / "thesis"
    thesis.mkdir()
    (thesis / "paper.tex").write_text("chapter 1")
    return thesis


def test_cli_build_refuses_a_folder_that_is_not_a_store(tmp_path, capsys):
    thesis = _thesis(tmp_path)
    cache = tmp_path / "cache"
    argv = ["corpus", "build", "demo", "--out", str(thesis), "--cache-dir", str(cache)]
    with pytest.raises(SystemExit) as e:
        main([*argv, "--max-mb-per-domain", "0.01"])
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if x.strip()]
    assert e.value.code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert f"error: {thesis} exists and is not a macs corpus store" in lines[0]
    assert "--force" in lines[0]
    assert sorted(p.name for p in thesis.iterdir()) == ["paper.tex"]
    assert not cache.exists()  # refused before fetching anything


def test_build_force_replaces_a_folder_that_is_not_a_store(tmp_path):
    thesis = _thesis(tmp_path)
    with pytest.raises(MacsError, match="not a macs corpus store"):
        build_demo_corpus(thesis, tmp_path / "cache", 0.02, sources=LOCAL, progress=False)
    assert (thesis / "paper.tex").read_text() == "chapter 1"
    s = build_demo_corpus(
        thesis, tmp_path / "cache", 0.02, sources=LOCAL, progress=False, force=True
    )
    assert is_store(thesis) and s.n_docs > 0 and not (thesis / "paper.tex").exists()


HOLDER = textwrap.dedent(
    """
    import sys, time
    from macs.core.lock import store_lock

    with store_lock(sys.argv[1], "macs label", shared=True):
        print("holding", flush=True)
        time.sleep(120)
    """
)


def test_build_into_a_store_in_use_names_the_build(mini_store, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(mini_store.path, store, ignore=shutil.ignore_patterns("labels", "tokens"))
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(store)], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        ino = (store / "manifest.json").stat().st_ino
        with pytest.raises(MacsError) as e:
            build_demo_corpus(store, tmp_path / "cache", 0.02, sources=LOCAL, progress=False)
        msg = str(e.value)
        assert f"in use by pid {holder.pid} (macs label)" in msg, msg
        assert "macs corpus build demo cannot run" in msg and "macs corpus import" not in msg
        assert (store / "manifest.json").stat().st_ino == ino
        assert not list(tmp_path.glob(".store.*"))
    finally:
        holder.kill()
        holder.wait()


WRITER = textwrap.dedent(
    """
    import sys, time
    from macs.data.corpus.store import StoreWriter

    w = StoreWriter(sys.argv[1], what=sys.argv[2])
    print("writing", flush=True)
    time.sleep(120)
    """
)


@pytest.mark.parametrize("command", ["macs corpus build demo", "macs corpus import"])
def test_a_reader_refused_by_a_writer_names_its_command(command, mini_store, tmp_path):
    from macs.core.lock import store_lock

    store = tmp_path / "store"
    shutil.copytree(mini_store.path, store, ignore=shutil.ignore_patterns("labels", "tokens"))
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(store), command],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout.readline().strip() == "writing"
        with pytest.raises(MacsError) as e, store_lock(store, "macs label", shared=True):
            pass
        assert f"in use by pid {writer.pid} ({command}) since " in str(e.value), str(e.value)
    finally:
        writer.kill()
        writer.wait()
