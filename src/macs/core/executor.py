"""One executor for "run this function over these work items": in this process, on spawned
local processes, or as Ray tasks; the results come back as each item finishes.

    with Executor(workers, shared, setup=prepare, threads=2) as ex:
        for item, result in ex.map(fn, items):
            ...

`fn(shared, item)` computes one item. `shared` (a job, fitted models) goes to each worker
once, in memory: multiprocessing or Ray serialises it, nothing is written to disk. Each worker
process then runs `setup(shared)` once, before its first item (lazy model loading), with
`threads` (when given) in its OMP / MKL / OpenBLAS thread variables. A setup that fails is
raised by that worker's first item, so the caller gets the real error, not a broken pool.

Where the items run:

- `ray` given (a `RaySpec`): as Ray tasks of one CPU each, on the cluster at `ray.address` or
  on a local Ray started for the block (and shut down when the block ends); `shared` goes to
  the object store once.
- else `workers` <= 1, or a single item: here, in order, one item per step of the iteration,
  on the caller's own objects (no copy, no setup, no thread limits: this is not a worker).
- else min(workers, items) spawned processes.

A worker's exception is raised here as the worker raised it (from Ray: Ray's error, which is
an instance of the original type and carries its message). The first error, or the caller's
own (a KeyboardInterrupt while it handles a result), cancels the items not yet started;
leaving the block waits for the running ones, so no worker outlives it.

This is macs.core: it imports nothing of macs above core, and Ray only when a Ray executor runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from macs.core.errors import MacsError, require

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")

# in a worker process: the shared object (and the Ray object it came from), a failed setup
_STATE: dict[str, Any] = {}


def _prepare(shared: Any, setup: Callable[[Any], None] | None, threads: int | None, key=None):
    """Make this worker process ready: thread limits, the shared object, setup (once)."""
    if threads is not None:
        for var in THREAD_VARS:
            os.environ[var] = str(threads)
    _STATE.clear()
    _STATE.update(shared=shared, key=key)
    if setup is not None:
        try:
            setup(shared)
        except Exception as e:  # raised by the first item, so the driver gets the real error
            _STATE["error"] = e


def _run(fn: Callable[[Any, Any], Any], item: Any) -> Any:
    if "error" in _STATE:
        raise _STATE["error"]
    return fn(_STATE["shared"], item)


def _ray_run(fn, item, setup, threads, boxed: list) -> Any:
    """One Ray task; the Ray worker process is prepared the first time it sees this shared object
    (it comes as a ref inside a list, so Ray does not fetch it for every task)."""
    ref = boxed[0]
    if _STATE.get("key") != ref.hex():
        import ray

        _prepare(ray.get(ref), setup, threads, ref.hex())
    return _run(fn, item)


@dataclass(frozen=True)
class RaySpec:
    """Where Ray runs and how its set-up fails."""

    address: str | None = None  # a running cluster; None starts a local Ray in this process
    cpus: int = 1  # CPUs of a local Ray
    why: str = ""  # what asked for Ray (named when Ray is not installed)
    missing: str | None = None  # the whole message (a MacsError) when Ray is not installed
    address_from: str | None = None  # names where `address` came from: a failed connection
    # is then a MacsError naming it (else Ray's own error)
    log_to_driver: bool = True  # show the Ray workers' stdout and stderr here


def init_ray(spec: RaySpec) -> tuple[Any, bool]:
    """Ray, initialised for macs (no dashboard, errors-only logging, no auth, no uv run):
    (the ray module, whether this call started it). A Ray already initialised is kept."""
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    if spec.missing is None:
        ray = require("ray", "ray[data]", "ray", why=spec.why)
    else:
        try:
            import ray
        except ImportError as e:
            raise MacsError(spec.missing) from e
    if ray.is_initialized():
        return ray, False
    import logging

    kw: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": spec.log_to_driver,
        "logging_level": logging.ERROR,
        "configure_logging": True,
    }
    if not spec.address:
        ray.init(num_cpus=spec.cpus, **kw)
        return ray, True
    try:
        ray.init(address=spec.address, **kw)
    except (ConnectionError, ValueError, RuntimeError) as e:
        if spec.address_from is None:
            raise
        first = str(e).splitlines()[0] if str(e) else ""
        raise MacsError(
            f"cannot connect to the Ray cluster at {spec.address!r} ({spec.address_from}): "
            f"{type(e).__name__}: {first}; check `ray status --address ...` on the head node"
        ) from e
    return ray, True


class Executor:
    """Runs `fn(shared, item)` over work items here, on spawned processes or on Ray (module doc);
    use it as a `with` block."""

    def __init__(
        self,
        workers: int = 1,
        shared: Any = None,
        *,
        setup: Callable[[Any], None] | None = None,
        threads: int | None = None,
        ray: RaySpec | None = None,
    ):
        self.workers = int(workers)
        self.shared = shared
        self.setup = setup
        self.threads = threads
        self.ray = ray
        self._entered = False
        self._maps: list[Generator] = []
        self._pool = None
        self._ray = None
        self._ref = None
        self._started = False

    def __enter__(self) -> Executor:
        if self.ray is not None:
            self._ray, self._started = init_ray(self.ray)
        self._entered = True
        return self

    def __exit__(self, *exc) -> None:
        try:
            for g in self._maps:
                g.close()  # cancels what a map left unstarted
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
        finally:
            self._entered = False
            self._maps.clear()
            self._pool = self._ref = None
            if self._started:
                self._ray.shutdown()
                self._started = False

    def map(self, fn: Callable[[Any, Any], Any], items: Iterable) -> Iterator[tuple[Any, Any]]:
        """(item, fn(shared, item)) for every item, as each finishes (in order when run here).
        `fn` must be importable by name (a module-level function or a partial of one)."""
        if not self._entered:
            raise RuntimeError("Executor.map runs inside `with Executor(...) as ex:`")
        items = list(items)
        if self.ray is not None:
            gen = self._map_ray(fn, items)
        elif self.workers <= 1 or len(items) <= 1:
            gen = self._map_here(fn, items)
        else:
            gen = self._map_pool(fn, items)
        self._maps.append(gen)
        return gen

    def _map_here(self, fn, items: list) -> Generator:
        for item in items:
            yield item, fn(self.shared, item)

    def _map_pool(self, fn, items: list) -> Generator:
        from concurrent.futures import as_completed

        if self._pool is None:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            self._pool = ProcessPoolExecutor(
                min(self.workers, len(items)),
                mp_context=mp.get_context("spawn"),
                initializer=_prepare,
                initargs=(self.shared, self.setup, self.threads),
            )
        futs = {self._pool.submit(_run, fn, item): item for item in items}
        try:
            for f in as_completed(futs):
                yield futs[f], f.result()
        finally:
            for f in futs:
                f.cancel()

    def _map_ray(self, fn, items: list) -> Generator:
        ray = self._ray
        if self._ref is None:
            self._ref = ray.put(self.shared)
        task = ray.remote(num_cpus=1)(_ray_run)
        pending = {task.remote(fn, i, self.setup, self.threads, [self._ref]): i for i in items}
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for r in done:
                    item = pending.pop(r)
                    yield item, ray.get(r)
        finally:
            for r in pending:
                ray.cancel(r)


__all__ = ["THREAD_VARS", "Executor", "RaySpec", "init_ray"]
