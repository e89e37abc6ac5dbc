"""`macs train` killed at each of its first file-system writes (issue 22, item 5): the resolved
config is the first thing a run writes (atomically, under the run lock), so `macs train --resume
RUN` continues any run whose folder exists; a run killed before that has no config, and
`--resume` says which command starts it again. Never "not a macs run directory" for a run
macs started."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from crash import run_cli, run_die  # noqa: E402


def _args(mini_data, runs: Path) -> list:
    _, sets = mini_data
    flat = [x for kv in sets for x in ("--set", kv)]
    return ["train", *flat, "--set", f"run.runs_dir={runs}"]


def test_train_killed_at_its_first_writes_resumes(tmp_path, mini_data):
    seen_config = 0
    for k in (1, 3, 6):  # the run lock, the config's temp file, a write after the config
        runs = tmp_path / f"k{k}"
        died = run_die(k, _args(mini_data, runs), tmp_path)
        assert died.killed, died.err[-2000:]
        run = runs / "demo"
        r = run_cli(["train", "--resume", run], tmp_path, timeout=600)
        assert "Traceback" not in r.err, f"k={k}: {r.err[-3000:]}"
        if not run.exists():  # died before the run folder existed: nothing to resume
            assert r.rc == 2 and "not a macs run directory" in r.err, r.err
            continue
        if (run / "config.yaml").exists():
            assert r.rc == 0, f"k={k}: {r.err[-2000:]}"
            seen_config += 1
            assert (run / "DONE").exists() and "trained" in r.out, f"k={k}: {r.err[-2000:]}"
        else:
            err = [ln for ln in r.err.splitlines() if ln.startswith("error:")]
            assert r.rc == 2 and len(err) == 1, f"k={k}: {r.err[-2000:]}"
            assert "stopped before it saved its config" in err[0], err[0]
            assert "macs train --config FILE --set run.name=demo" in err[0], err[0]
    assert seen_config >= 1  # from the config write on, a kill resumes
