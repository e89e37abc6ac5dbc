"""What a killed writer leaves beside an output (a temp file of an atomic write, a partial or
moved-aside folder) is deleted by the next write of that output; a live writer's is kept."""

from __future__ import annotations

import os
import subprocess
import sys

from macs.core.io import remove_temps, write_json, write_text
from macs.data.corpus.store import replace_dir


def _dead_pid() -> int:
    p = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    return int(p.stdout)


def test_next_atomic_write_deletes_a_dead_writers_temp_only(tmp_path):
    dead, live = _dead_pid(), os.getppid()
    for name in ("a.json", "b.json"):
        (tmp_path / f".{name}.{dead}-0123abcd.tmp").write_text("half")
    (tmp_path / f".a.json.{live}-89abcdef.tmp").write_text("in flight")
    write_json(tmp_path / "a.json", {"x": 1})
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == [f".a.json.{live}-89abcdef.tmp", f".b.json.{dead}-0123abcd.tmp", "a.json"]
    # a whole folder (a run directory under its lock, a finished label job): every dead one
    (tmp_path / "sub").mkdir()
    write_text(tmp_path / "sub" / "c.txt", "ok")
    (tmp_path / "sub" / f".c.txt.{dead}-00000000.tmp").write_text("half")
    assert remove_temps(tmp_path, recursive=True) == 2
    assert sorted(p.name for p in tmp_path.rglob("*")) == sorted(
        [f".a.json.{live}-89abcdef.tmp", "a.json", "sub", "c.txt"]
    )


def test_replace_dir_tidies_dead_partial_and_tmp_folders(tmp_path):
    dead = _dead_pid()
    final = tmp_path / "out"
    for kind in ("partial", "tmp"):
        (tmp_path / f".out.{kind}-{dead}").mkdir()
    (tmp_path / f".out.partial-{os.getppid()}").mkdir()  # a live writer's: kept
    new = tmp_path / "new"
    new.mkdir()
    (new / "f").write_text("1")
    replace_dir(new, final)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f".out.partial-{os.getppid()}", "out"]
    assert (final / "f").read_text() == "1"
