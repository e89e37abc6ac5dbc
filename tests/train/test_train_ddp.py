"""DDP under torchrun with 2 CPU processes on gloo equals one process with the same global batch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from macs.core.io import read_json, read_jsonl

sys.path.insert(0, str(Path(__file__).parent))
from test_train_loop import make_cfg, run  # noqa: E402

HERE = Path(__file__).parent


@pytest.mark.slow
def test_ddp_two_cpu_ranks_match_single_process(tmp_path, pool):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(HERE.parents[1] / "src")}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(HERE / "ddp_worker.py"),
        str(tmp_path),
        "ddp",
        "2",
    ]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.count("rank done") == 2
    run(
        make_cfg(tmp_path, "single", **{"train.batch_size": 4}), pool
    )  # one process, same global batch
    ddp, single = tmp_path / "ddp", tmp_path / "single"
    s_ddp, s_one = read_json(ddp / "summary.json"), read_json(single / "summary.json")
    assert s_ddp["world"] == 2 and s_one["world"] == 1
    assert s_ddp["steps"] == s_one["steps"] and s_ddp["tokens"] == s_one["tokens"]
    # one selection log (rank 0 selects and broadcasts), same selections as the single process
    sel_d, sel_s = read_jsonl(ddp / "selection.jsonl"), read_jsonl(single / "selection.jsonl")
    assert len(sel_d) == len(sel_s) == 3
    from macs.data.manifest import read_manifest

    for k in range(3):
        ids_d = read_manifest(ddp / "stages" / f"stage-{k}.parquet")[0].column("id").to_pylist()
        ids_s = read_manifest(single / "stages" / f"stage-{k}.parquet")[0].column("id").to_pylist()
        assert ids_d == ids_s and len(ids_d) > 10, k
    # the refreshes' rewards were split across the 2 ranks and gathered: equal to one process's
    import pyarrow.parquet as pq

    for k in (1, 2):
        rd = pq.read_table(ddp / "rewards" / f"stage-{k}.parquet").to_pydict()
        rs = pq.read_table(single / "rewards" / f"stage-{k}.parquet").to_pydict()
        assert rd["doc"] == rs["doc"] and len(rd["doc"]) > 5
        np.testing.assert_allclose(rd["reward"], rs["reward"], rtol=1e-4, atol=1e-6)
    assert len(read_jsonl(ddp / "metrics.jsonl")) == len(read_jsonl(single / "metrics.jsonl"))
    assert s_ddp["final_loss"] == pytest.approx(s_one["final_loss"], rel=1e-3)
    wd = torch.load(
        ddp / "checkpoints" / read_json(ddp / "checkpoints/latest.json")["dir"] / "model.pt"
    )
    ws = torch.load(
        single / "checkpoints" / read_json(single / "checkpoints/latest.json")["dir"] / "model.pt"
    )
    assert max(float((wd[k] - ws[k]).abs().max()) for k in wd) < 1e-3
