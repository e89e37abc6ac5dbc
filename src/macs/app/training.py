"""Wire the layers for one training run: pool -> OnlineSelection (selector + rewards) -> the staged
loop (macs.train.loop.train) -> evaluation."""

from __future__ import annotations

import sys
from functools import cached_property
from pathlib import Path

from macs.core.errors import MacsError


class RunEvaluator:
    """The trainer's evaluator (macs.train.protocols.Evaluator) of one run.

    `evaluator(model, run_dir)`: `macs.eval.suite.evaluate_config` (the same suite and held-out
    bpb as `macs eval`) plus the n-gram gate of the run's training tokens. `evaluator.boundary(
    model)`: the reference tasks on eval.boundary_limit examples (the data-efficiency curve).
    The examples come from eval.seed, not run.seed: every run of a comparison is scored on the
    same ones."""

    def __init__(self, cfg, pool):
        self.cfg, self.pool = cfg, pool

    @cached_property
    def tokenizer(self):
        """The run's tokenizer, loaded once (boundary() runs at every stage boundary)."""
        from macs.train.model import hf_tokenizer

        return hf_tokenizer(self.pool.tokenizer_path)

    def __call__(self, model, run_dir: Path) -> dict:
        from macs.eval.gate import run_gate  # the count n-gram gate of this run's tokens
        from macs.eval.suite import evaluate_config

        e, pool = self.cfg.eval, self.pool
        out = evaluate_config(model, self.tokenizer, e, e.seed, pool.store)
        if "heldout" in out and pool.tokens is not None:
            out["gate"] = run_gate(pool, run_dir, e, out["heldout"])
        return out

    def boundary(self, model) -> dict:
        from macs.eval.suite import evaluate

        e = self.cfg.eval
        return evaluate(
            model,
            self.tokenizer,
            tasks=["reference"],
            limit=e.boundary_limit,
            seed=e.seed,
            batch_size=e.batch_size,
            max_length=e.max_length,
            split_seed=e.split_seed,
            progress=False,
        )


def evaluator_for(cfg, pool) -> RunEvaluator:
    """The evaluator of a run of `cfg` over `pool` (see RunEvaluator)."""
    return RunEvaluator(cfg, pool)


def selection_factory(cfg, pool, cache_dir: Path | None = None):
    """fn(stage_budgets) -> OnlineSelection for cfg.selection.method over `pool`."""
    from macs.select.online import OnlineSelection
    from macs.select.selectors.cache import default_cache_dir

    def make(stage_budgets: list[int]):
        return OnlineSelection.from_config(
            cfg, stage_budgets, pool=pool, cache_dir=cache_dir or default_cache_dir(cfg)
        )

    return make


def train_job(cfg):
    """The macs.train.job.TrainJob of a run of the root config `cfg`: the sections and values the
    trainer reads, and `cfg` itself as the record it writes (config.yaml) and checks on a resume."""
    from macs.train.job import InRunSchedule, TrainJob

    i = cfg.influence
    inrun = (
        InRunSchedule(i.train_every, i.train_fraction, i.train_dirs_every)
        if i.source == "train"
        else None
    )
    return TrainJob(
        run_dir=Path(cfg.run.run_dir),
        seed=cfg.run.seed,
        device=cfg.run.device,
        train=cfg.train,
        model=cfg.model,
        method=cfg.selection.method,
        method_label=cfg.selection.label or cfg.selection.method,
        boundary_limit=cfg.eval.boundary_limit,
        inrun=inrun,
        config=cfg,
    )


def train_from_config(cfg, stop_at_step: int | None = None, pool=None):
    """Open the pool for cfg and run or resume the staged training in cfg.run.run_dir.

    The run directory is locked for the run (rank 0 of a DDP job holds the lock): a second
    `macs train` on it refuses with the holder's pid and command. The store is held shared (an
    import into it is refused while the run reads it). A fresh run writes its config.yaml first."""
    import contextlib
    import os

    from macs.core.lock import run_lock, store_lock
    from macs.data.corpus.store import store_path

    main = int(os.environ.get("RANK", "0")) == 0
    lock = run_lock(cfg.run.run_dir, "macs train") if main else contextlib.nullcontext()
    with lock:
        if main:
            save_config_first(cfg)
        # the store's shared lock: no import replaces the store while this run reads it
        with store_lock(store_path(cfg), "macs train"):
            return _train_locked(cfg, pool, stop_at_step)


def _train_locked(cfg, pool, stop_at_step: int | None):
    """Open the pool (unless given), then train (run and store locks held by the caller)."""
    from macs.data.pool import open_pool
    from macs.train.loop import train

    pool = pool if pool is not None else open_pool(cfg)
    evaluator = evaluator_for(cfg, pool) if cfg.train.eval_at_end else None
    job = train_job(cfg)
    return train(job, pool, selection_factory(cfg, pool), evaluator, stop_at_step=stop_at_step)


def save_config_first(cfg) -> None:
    """A fresh run (no checkpoint yet) writes its resolved config.yaml before anything else,
    atomically, so a run killed at any point after the lock can be resumed with --resume."""
    from macs.app.config import save_config
    from macs.data.rundir import RunDir
    from macs.train.checkpoint import latest_checkpoint

    rd = RunDir(cfg.run.run_dir)
    if latest_checkpoint(rd.checkpoints) is None:
        save_config(cfg, rd.config)


def resume_config(run_dir: Path):
    """The resolved config saved in a run directory."""
    from macs.app.config import load_config
    from macs.data.rundir import RunDir

    path = RunDir(run_dir).config
    if not path.exists():
        started = Path(run_dir).is_dir() and all(
            f.name == ".lock" or f.name.startswith(f".{RunDir.CONFIG}.")
            for f in Path(run_dir).iterdir()
        )  # only what `macs train` writes before its config: killed at its start
        if started:
            raise MacsError(
                f"{run_dir} has no config.yaml: its `macs train` was stopped before it saved its "
                "config (nothing was trained); start it again with the original command "
                f"(`macs train --config FILE --set run.name={Path(run_dir).name}`)"
            )
        raise MacsError(
            f"{run_dir} is not a macs run directory (no config.yaml); give the run's folder"
        )
    cfg = load_config(path)
    if Path(cfg.run.run_dir).resolve() != Path(run_dir).resolve():
        print(f"[train] note: {run_dir} was moved; writing there", file=sys.stderr)
        cfg.run.runs_dir = Path(run_dir).parent
        cfg.run.name = Path(run_dir).name
    return cfg
