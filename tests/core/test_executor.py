"""macs.core.executor on real spawned processes (and a local Ray): the shared object and the
setup reach each worker once, results come back for every item, a worker's exception comes
back with its message, and no worker outlives the block."""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from pathlib import Path

import pytest

from macs.core.errors import MacsError
from macs.core.executor import Executor, RaySpec, init_ray

_SETUPS = 0  # per process: how often setup ran in it


def _setup(shared: dict) -> None:
    global _SETUPS
    _SETUPS += 1
    shared["ready"] = f"set up in {os.getpid()}"


def _fail_setup(shared: dict) -> None:
    raise RuntimeError("the model file is corrupt")


def _square(shared: dict, item: int) -> int:
    return item * item * shared["factor"]


def _where(shared: dict, item: int) -> dict:
    return {
        "value": _square(shared, item),
        "pid": os.getpid(),
        "ready": shared.get("ready"),
        "setups": _SETUPS,
        "threads": os.environ.get("OMP_NUM_THREADS"),
    }


def _boom_on_3(shared: dict, item: int) -> int:
    if item == 3:
        raise ValueError(f"item {item} is bad")
    return _square(shared, item)


def _slow_mark(shared: dict, item: int) -> int:
    Path(shared["dir"], f"{item}.done").touch()
    time.sleep(0.3)
    return item


def test_spawned_workers_get_the_shared_object_and_setup_once(tmp_path):
    items = list(range(6))
    with Executor(2, {"factor": 3}, setup=_setup, threads=5) as ex:
        out = dict(ex.map(_where, items))
    assert sorted(out) == items
    assert {i: r["value"] for i, r in out.items()} == {i: 3 * i * i for i in items}
    pids = {r["pid"] for r in out.values()}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2
    for r in out.values():
        # setup ran once in the worker that computed the item, on its own copy of the object
        assert r["ready"] == f"set up in {r['pid']}" and r["setups"] == 1
        assert r["threads"] == "5"
    assert not mp.active_children()  # the pool is gone when the block ends


def test_in_process_gives_the_same_results_in_order_and_lazily(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    shared = {"factor": 3}
    with Executor(2, {"factor": 3}) as ex:
        spawned = dict(ex.map(_square, range(5)))
    with Executor(1, shared, setup=_setup, threads=5) as ex:
        got = ex.map(_where, range(5))
        first = next(got)
        assert first[0] == 0 and first[1]["pid"] == os.getpid()
        rest = list(got)
    here = [first, *rest]
    assert [i for i, _ in here] == list(range(5))  # in order
    assert {i: r["value"] for i, r in here} == spawned
    # the caller's own objects and process: no setup, no copy, thread variables untouched
    assert "ready" not in shared and all(r["setups"] == 0 for _, r in here)
    assert os.environ["OMP_NUM_THREADS"] == "7"
    # a single item runs here even with several workers
    with Executor(4, shared) as ex:
        assert [(i, r["pid"]) for i, r in ex.map(_where, [2])] == [(2, os.getpid())]


def test_a_worker_exception_comes_back_with_its_message():
    with pytest.raises(ValueError, match="item 3 is bad"), Executor(2, {"factor": 1}) as ex:
        for _ in ex.map(_boom_on_3, range(6)):
            pass
    assert not mp.active_children()
    with pytest.raises(ValueError, match="item 3 is bad"), Executor(1, {"factor": 1}) as ex:
        list(ex.map(_boom_on_3, range(6)))


def test_a_failed_setup_is_raised_by_the_first_item_not_as_a_broken_pool():
    with (
        pytest.raises(RuntimeError, match="the model file is corrupt"),
        Executor(2, {}, setup=_fail_setup) as ex,
    ):
        list(ex.map(_square, range(4)))
    assert not mp.active_children()


def test_an_interrupt_while_handling_a_result_cancels_the_rest(tmp_path):
    n = 30
    seen = []
    with pytest.raises(KeyboardInterrupt), Executor(2, {"dir": str(tmp_path)}) as ex:
        for item, _ in ex.map(_slow_mark, range(n)):
            seen.append(item)
            raise KeyboardInterrupt  # the user pressed Ctrl-C
    assert len(seen) == 1
    assert not mp.active_children()  # the running items finished, the workers are gone
    started = len(list(tmp_path.glob("*.done")))
    assert 1 <= started < n  # the items not yet sent to a worker never ran


def test_map_outside_a_with_block_is_refused():
    with pytest.raises(RuntimeError, match="inside `with Executor"):
        Executor(2).map(_square, [1, 2])


def test_ray_missing_or_unreachable_is_a_clear_error(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails
    with pytest.raises(MacsError, match="regmix: no ray here"):
        init_ray(RaySpec(missing="regmix: no ray here"))
    with pytest.raises(MacsError, match=r"--executor ray: the package 'ray\[data\]'"):
        init_ray(RaySpec(why="--executor ray"))


@pytest.mark.slow
def test_ray_tasks_get_the_shared_object_and_setup_and_raise_worker_errors(monkeypatch):
    pytest.importorskip("ray")
    import ray

    # the Ray workers import this module by name (they inherit the environment of ray.init)
    path = [str(Path(__file__).parent), *filter(None, [os.environ.get("PYTHONPATH")])]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(path))

    assert not ray.is_initialized()
    with Executor(2, {"factor": 3}, setup=_setup, threads=1, ray=RaySpec(cpus=2)) as ex:
        assert ray.is_initialized()
        out = dict(ex.map(_where, range(4)))
        assert {i: r["value"] for i, r in out.items()} == {i: 3 * i * i for i in range(4)}
        for r in out.values():  # set up once per Ray worker process, on its own copy
            assert r["ready"] == f"set up in {r['pid']}" and r["setups"] == 1
        with pytest.raises(ValueError, match="item 3 is bad"):
            list(ex.map(_boom_on_3, range(5)))
    assert not ray.is_initialized()  # a Ray the block started is shut down with it
