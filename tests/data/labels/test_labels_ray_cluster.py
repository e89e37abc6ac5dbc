"""The Ray executor on a real two-node Ray cluster started on this machine (`ray start --head`
plus `ray start --address`, one CPU each): the labels equal the local executor's."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from macs.data.labels.sidecar import load_labels

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _group_members(pgid: int) -> list[int]:
    """Pids of live processes in process group `pgid` (Ray's daemons and workers)."""
    out = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            stat = (p / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            out.append(int(p.name))
    return out


def _stop(pgid: int) -> None:
    """SIGTERM the node's process group, then SIGKILL whatever is left after 5 s."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while _group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    deadline = time.monotonic() + 10  # a killed process can take a moment to go (busy machine)
    while _group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.2)


def _ray_start(args: list[str], env: dict[str, str], groups: list[int]) -> None:
    """Run `ray start ...` in a new session; its daemons stay in that process group."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "ray.scripts.scripts", "start", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    groups.append(proc.pid)  # the session leader's pid is the group id
    out, _ = proc.communicate(timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"ray start {' '.join(args)} failed:\n{out[-3000:]}")


def _node_ports() -> list[str]:
    names = (
        "node-manager-port",
        "object-manager-port",
        "dashboard-agent-listen-port",
        "dashboard-agent-grpc-port",
        "metrics-export-port",
        "runtime-env-agent-port",
    )
    return [f"--{n}={_free_port()}" for n in names]


@pytest.fixture
def ray_cluster():
    """A head node and a worker node on this machine (1 CPU each); yields the head's address."""
    pytest.importorskip("ray")
    import macs

    tmp = tempfile.mkdtemp(prefix="macs-ray-", dir="/tmp")  # short: Ray's socket paths
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    src = str(Path(macs.__file__).resolve().parents[1])  # the nodes run the code under test
    env.update(
        PYTHONPATH=os.pathsep.join([src, *filter(None, [os.environ.get("PYTHONPATH")])]),
        RAY_AUTH_MODE="disabled",
        RAY_USAGE_STATS_ENABLED="0",
        RAY_ENABLE_UV_RUN_RUNTIME_ENV="0",
        OMP_NUM_THREADS="1",
    )
    port = _free_port()
    common = ["--num-cpus=1", "--object-store-memory=100000000"]
    groups: list[int] = []
    try:
        _ray_start(
            [
                "--head",
                f"--port={port}",
                f"--temp-dir={tmp}",
                "--include-dashboard=false",
                f"--dashboard-port={_free_port()}",
                "--disable-usage-stats",
                *common,
                *_node_ports(),
            ],
            env,
            groups,
        )
        _ray_start(
            [f"--address=127.0.0.1:{port}", f"--temp-dir={tmp}", *common, *_node_ports()],
            env,
            groups,
        )
        yield f"127.0.0.1:{port}"  # Ray itself swaps 127.0.0.1 for this machine's node IP
    finally:
        import ray

        ray.shutdown()
        for g in reversed(groups):
            _stop(g)
        shutil.rmtree(tmp, ignore_errors=True)
        left = [p for g in groups for p in _group_members(g)]
        assert not left, f"Ray processes left running: {left}"


def test_labels_on_a_two_node_cluster_equal_local(
    ray_cluster, store_copy, make_config, labelled_store, tmp_path
):
    """`macs label --executor ray --ray-address HEAD:PORT` with the small test config."""
    import json

    from macs.app.cli import main
    from macs.core.io import read_json

    ref_store, ref = labelled_store
    labels = make_config(workers=0).model_dump(mode="json", exclude_none=True)
    (tmp_path / "c.yaml").write_text(json.dumps({"labels": labels}))  # JSON is valid YAML
    t0 = time.perf_counter()
    main(
        [
            "label", "-c", str(tmp_path / "c.yaml"), "--store", str(store_copy.path),
            "--executor", "ray", "--ray-address", ray_cluster,
        ]
    )  # fmt: skip
    seconds = time.perf_counter() - t0
    for actor in ("quality", "domain", "topic"):
        a, b = load_labels(store_copy, actor), load_labels(ref_store, actor)
        assert (a.group == b.group).all() and np.allclose(a.score, b.score, atol=1e-6), actor
        m = read_json(Path(store_copy.path) / "labels" / actor / "manifest.json")
        assert m["counts"] == ref[actor]["counts"] and m["parts"] == ref[actor]["parts"]
        info = m["executor_info"]
        # the driver joined the running cluster (not a local Ray): 2 nodes, 2 CPUs, and one
        # labelling actor (a CPU is left for the read tasks, which run on the other node)
        port = ray_cluster.rsplit(":", 1)[1]
        assert m["executor"] == "ray" and info["address"].endswith(f":{port}")
        assert info["nodes"] == 2 and info["cpus"] == 2 and info["workers"] == 1
    print(f"labelled {store_copy.n_docs} docs x 3 actors on 2 Ray nodes in {seconds:.1f} s")
