"""The staged training loop: train U steps -> refresh rewards -> update actors and console -> reselect.

Single process or DDP under torchrun (gloo on CPU, nccl on CUDA). The selection runs on rank 0
and its document indices are broadcast. Everything is checkpointed so a killed run resumes to
the same selections, weights and (on CPU) the same final loss.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from macs.errors import MacsError
from macs.io import append_jsonl, read_jsonl, write_json, write_parquet, write_text
from macs.train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint, set_rng_state
from macs.train.data import PackedStage
from macs.train.pool import Pool
from macs.train.schedule import lr_at, stage_bounds
from macs.train.selection import Selector


@dataclass
class Dist:
    """This process's place in a torchrun job (world 1 when not distributed)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Rank 0: the process that selects, logs and checkpoints."""
        return self.rank == 0


@dataclass
class TrainResult:
    """What train() returns."""

    run_dir: Path
    steps: int
    tokens: int
    final_loss: float
    train_seconds: float
    refresh_seconds: float
    finished: bool

    @property
    def overhead(self) -> float:
        """Online selection time (rewards + updates + selection) as a fraction of training time."""
        return self.refresh_seconds / self.train_seconds if self.train_seconds > 0 else float("nan")


def init_dist(device_pref: str) -> tuple[Dist, str]:
    """Join the torchrun process group if WORLD_SIZE > 1; return (Dist, device string)."""
    import torch

    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device_pref == "auto":
        device = f"cuda:{local}" if torch.cuda.is_available() else "cpu"
    elif device_pref == "cuda" and world > 1:
        device = f"cuda:{local}"
    else:
        device = device_pref
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise MacsError(
                f"run.device={device_pref}: CUDA is not available here; use run.device=cpu"
            )
        torch.cuda.set_device(torch.device(device))
    if world > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if device.startswith("cuda") else "gloo"
        torch.distributed.init_process_group(backend=backend)
    return Dist(rank, world, local), device


def _broadcast(obj, dist: Dist):
    if dist.world == 1:
        return obj
    import torch.distributed as td

    box = [obj]
    td.broadcast_object_list(box, src=0)
    return box[0]


def _say(dist: Dist, msg: str) -> None:
    if dist.main:
        print(msg, file=sys.stderr, flush=True)


def plan(cfg, world: int) -> dict:
    """Steps, stage bounds and token counts implied by the config (tokens per optimiser step = all ranks)."""
    t = cfg.train
    step_tokens = t.batch_size * t.grad_accum * t.seq_len * world
    total = max(t.stages, math.ceil(t.tokens / step_tokens))
    bounds = stage_bounds(total, t.stages)
    return {
        "total_steps": total,
        "bounds": bounds,
        "step_tokens": step_tokens,
        "stage_budgets": [
            (bounds[k + 1] - bounds[k]) * step_tokens for k in range(len(bounds) - 1)
        ],
    }


def _param_groups(model, weight_decay: float):
    decay, no_decay = [], []
    seen = set()
    for name, p in model.named_parameters():
        if not p.requires_grad or id(p) in seen:
            continue
        seen.add(id(p))
        (no_decay if p.ndim < 2 or "norm" in name else decay).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def _truncate_jsonl(path: Path, keep: Callable[[dict], bool]) -> None:
    if path.exists():
        recs = [r for r in read_jsonl(path) if keep(r)]
        write_text(path, "".join(json.dumps(r) + "\n" for r in recs))


def stage_table(pool: Pool, idx: np.ndarray, counts_before: np.ndarray | None):
    """The stage manifest as a pyarrow Table: index, id, n_tokens, times selected before, group per actor."""
    import pyarrow as pa

    cols = {
        "index": pa.array(idx, pa.int64()),
        "id": pa.array(pool.ids(idx), pa.string()),
        "n_tokens": pa.array(pool.doc_tokens[idx], pa.int64()),
        "times_selected_before": pa.array(
            (counts_before[idx] if counts_before is not None else np.zeros(idx.size)).astype(
                np.int32
            ),
            pa.int32(),
        ),
    }
    if pool.domain_codes is not None:
        cols["domain"] = pa.array(np.asarray(pool.domain_codes)[idx].astype(np.int32), pa.int32())
    for name, lab in pool.actors.items():
        cols[f"group_{name}"] = pa.array(np.asarray(lab.groups)[idx].astype(np.int32), pa.int32())
    return pa.table(cols)


def train(
    cfg,
    pool: Pool,
    make_selector: Callable[[Pool], Selector],
    make_reward_fn: Callable[[Pool], Callable[[object, list[int]], np.ndarray]] | None = None,
    evaluator: Callable[[object, Path], dict] | None = None,
    stop_at_step: int | None = None,
) -> TrainResult:
    """Run (or resume) the staged training of `cfg` in cfg.run.run_dir; returns totals (loss in nats/token)."""
    import torch

    from macs.config import save_config
    from macs.train.model import build_model, n_params, save_model

    t_cfg = cfg.train
    run_dir = Path(cfg.run.run_dir)
    if (run_dir / "DONE").exists() and (run_dir / "summary.json").exists():
        check_same_config(cfg, run_dir)
        s = json.loads((run_dir / "summary.json").read_text())
        print(f"[train] {run_dir} is finished already (delete it to train again)", file=sys.stderr)
        return TrainResult(
            run_dir,
            s["steps"],
            s["tokens"],
            s["final_loss"],
            s["train_seconds"],
            s["refresh_seconds"],
            True,
        )
    dist, device = init_dist(cfg.run.device)
    if t_cfg.threads > 0:
        torch.set_num_threads(t_cfg.threads)
    ckpt_dir = run_dir / "checkpoints"
    p = plan(cfg, dist.world)
    total, bounds = p["total_steps"], p["bounds"]
    n_stages = len(bounds) - 1

    seed = cfg.run.seed
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    model = build_model(
        cfg.model, int(pool.tokens.vocab_size), t_cfg.seq_len, int(pool.tokens.eos_id), seed
    )
    model.to(device)
    optimizer = torch.optim.AdamW(
        _param_groups(model, t_cfg.weight_decay),
        lr=t_cfg.lr,
        betas=(t_cfg.beta1, t_cfg.beta2),
        fused=device.startswith("cuda"),
    )
    selector = make_selector(pool) if dist.main else None
    reward_fn_for = make_reward_fn  # built lazily (reference sets are tokenized once)
    reward_fn = None

    # state that is checkpointed besides model/optimiser
    st = {
        "step": 0,
        "stage": 0,
        "stage_ready": False,
        "data": None,
        "train_seconds": 0.0,
        "refresh_seconds": 0.0,
        "tokens": 0,
        "last_loss": float("nan"),
        "plan": p,
        "acc": [0.0, 0, 0, 0.0],
    }  # metrics accumulated since the last metrics line: loss, n, tokens, s
    latest = latest_checkpoint(ckpt_dir) if run_dir.exists() else None
    if latest is not None:
        check_same_config(cfg, run_dir)
        loaded = load_checkpoint(latest, model, optimizer)
        if loaded["plan"] != p:
            raise MacsError(
                f"{run_dir}: the checkpoint was made with a different plan ({loaded['plan']['total_steps']} steps) "
                f"than the config gives ({total}); resume with the run's own config.yaml"
            )
        if dist.main:
            selector.load_state_dict(loaded["selector"])
        set_rng_state(loaded["rng"])
        st = {k: loaded[k] for k in st}
        _say(dist, f"[train] resuming {run_dir} at step {st['step']}/{total} (stage {st['stage']})")
        if dist.main:
            _truncate_jsonl(run_dir / "metrics.jsonl", lambda r: r.get("step", 0) <= st["step"])
            last_sel = st["stage"] if st["stage_ready"] else st["stage"] - 1
            _truncate_jsonl(run_dir / "selection.jsonl", lambda r: r.get("stage", 0) <= last_sel)
    elif dist.main:
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, run_dir / "config.yaml")
        for f in ("metrics.jsonl", "selection.jsonl"):
            (run_dir / f).unlink(missing_ok=True)
        write_json(run_dir / "pool.json", pool.mixes())
        _say(
            dist,
            f"[train] {run_dir}: {n_params(model) / 1e6:.2f}M params, {total} steps x "
            f"{p['step_tokens']} tokens in {n_stages} stages, mode {cfg.selection.mode}, device {device}",
        )

    stage_keep: set[int] = set()

    def checkpoint(data_state) -> None:
        if not dist.main:
            return
        st["data"] = data_state
        keep = stage_keep if t_cfg.keep_stage_checkpoints else set()
        save_checkpoint(
            ckpt_dir, st["step"], model, optimizer, {**st, "selector": selector.state_dict()}, keep
        )

    raw_model = model
    if t_cfg.compile and device.startswith("cuda"):
        model = torch.compile(model)
    ddp_model = model
    if dist.world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        ddp_model = DDP(model, device_ids=[dist.local_rank] if device.startswith("cuda") else None)
    use_bf16 = t_cfg.precision == "bf16" or (
        t_cfg.precision == "auto" and device.startswith("cuda")
    )
    dev_type = "cuda" if device.startswith("cuda") else "cpu"

    stopped = False
    bar = _Bar(total, st["step"], enabled=dist.main and sys.stderr.isatty())
    while st["stage"] < n_stages and not stopped:
        stage = st["stage"]
        budget = p["stage_budgets"][stage]
        manifest = run_dir / "stages" / f"stage-{stage}.parquet"
        if not st["stage_ready"]:
            idx = None
            if dist.main:
                counts_before = np.asarray(selector.counts).copy()
                t0 = time.perf_counter()
                if stage == 0:
                    idx, log = selector.initial(budget, st["step"])
                else:
                    if (
                        reward_fn is None
                        and reward_fn_for is not None
                        and cfg.selection.mode != "random"
                    ):
                        reward_fn = reward_fn_for(pool)
                    raw_model.eval()
                    try:
                        idx, log = selector.refresh(
                            stage, st["step"], budget, _bind(reward_fn, raw_model)
                        )
                    finally:
                        raw_model.train()
                dt = time.perf_counter() - t0
                if stage > 0:
                    st["refresh_seconds"] += dt
                write_parquet(manifest, stage_table(pool, idx, counts_before))
                rec = log.record()
                rec["seconds"]["wall"] = dt
                rec["overhead_so_far"] = st["refresh_seconds"] / max(st["train_seconds"], 1e-9)
                append_jsonl(run_dir / "selection.jsonl", rec)
                _say(
                    dist,
                    f"[train] stage {stage}: selected {idx.size} docs, {int(log.n_tokens)} tokens "
                    f"(budget {budget}) in {dt:.1f}s"
                    + (f"; theta {_fmt(log.theta)}" if log.theta else ""),
                )
            idx = _broadcast(idx, dist)
            st["stage_ready"] = True
            data = PackedStage(pool.tokens, idx, t_cfg.seq_len, seed, stage)
            stage_keep.add(st["step"])
            checkpoint(data.state_dict())
        else:
            import pyarrow.parquet as pq

            idx = pq.read_table(manifest, columns=["index"]).column("index").to_numpy()
            data = PackedStage(pool.tokens, idx, t_cfg.seq_len, seed, stage)
            if st["data"] is not None:
                data.load_state_dict(st["data"])

        while st["step"] < bounds[stage + 1]:
            step = st["step"]
            lr = lr_at(
                step,
                total,
                t_cfg.lr,
                int(round(t_cfg.warmup_frac * total)),
                t_cfg.schedule,
                t_cfg.min_lr_ratio,
                t_cfg.decay_frac,
            )
            for g in optimizer.param_groups:
                g["lr"] = lr
            t0 = time.perf_counter()
            step_loss = 0.0
            for micro in range(t_cfg.grad_accum):
                x = torch.from_numpy(data.batch(t_cfg.batch_size, dist.rank, dist.world)).to(device)
                sync = micro == t_cfg.grad_accum - 1
                ctx = ddp_model.no_sync() if (dist.world > 1 and not sync) else _null()
                with ctx, torch.autocast(dev_type, dtype=torch.bfloat16, enabled=use_bf16):
                    loss = ddp_model(input_ids=x, labels=x).loss / t_cfg.grad_accum
                    loss.backward()
                step_loss += float(loss.detach())
            if t_cfg.grad_clip > 0:
                gnorm = float(
                    torch.nn.utils.clip_grad_norm_(raw_model.parameters(), t_cfg.grad_clip)
                )
            else:
                gnorm = float("nan")
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if dist.world > 1:
                tl = torch.tensor([step_loss], device=device)
                torch.distributed.all_reduce(tl)
                step_loss = float(tl) / dist.world
            if dev_type == "cuda":
                torch.cuda.synchronize()
            dt = time.perf_counter() - t0
            st["train_seconds"] += dt
            st["tokens"] += p["step_tokens"]
            st["step"] += 1
            st["last_loss"] = step_loss
            bar.update(
                st["step"],
                f"stage {stage} loss {step_loss:.3f} {p['step_tokens'] / max(dt, 1e-9):,.0f} tok/s",
            )
            loss_acc, n_acc, tok_acc, t_int = st["acc"]
            loss_acc, n_acc, tok_acc, t_int = (
                loss_acc + step_loss,
                n_acc + 1,
                tok_acc + p["step_tokens"],
                t_int + dt,
            )
            st["acc"] = [loss_acc, n_acc, tok_acc, t_int]
            end_of_stage = st["step"] == bounds[stage + 1]
            if dist.main and (st["step"] % t_cfg.log_every == 0 or end_of_stage):
                append_jsonl(
                    run_dir / "metrics.jsonl",
                    {
                        "step": st["step"],
                        "stage": stage,
                        "tokens": st["tokens"],
                        "loss": loss_acc / n_acc,
                        "last_loss": step_loss,
                        "lr": lr,
                        "grad_norm": gnorm,
                        "tokens_per_s": tok_acc / max(t_int, 1e-9),
                        "train_seconds": st["train_seconds"],
                        "refresh_seconds": st["refresh_seconds"],
                        "overhead": st["refresh_seconds"] / max(st["train_seconds"], 1e-9),
                        "epochs_of_stage": data.epochs,
                    },
                )
                st["acc"] = [0.0, 0, 0, 0.0]
            if end_of_stage:
                st["stage"] += 1
                st["stage_ready"] = False
                checkpoint(None)
                _say(
                    dist,
                    f"[train] step {st['step']}/{total} loss {step_loss:.4f} lr {lr:.2e} "
                    f"({st['tokens']} tokens, {st['train_seconds']:.1f}s training)",
                )
            elif t_cfg.checkpoint_every and st["step"] % t_cfg.checkpoint_every == 0:
                checkpoint(data.state_dict())
            if stop_at_step is not None and st["step"] >= stop_at_step:
                stopped = True
                break
        if stop_at_step is not None and st["step"] >= stop_at_step and st["stage"] < n_stages:
            stopped = True

    bar.close()
    finished = st["stage"] >= n_stages
    if finished and dist.main:
        tok_path = pool.tokenizer_path
        if tok_path is not None:
            save_model(raw_model, tok_path, run_dir / "model")
        else:
            getattr(raw_model, "_orig_mod", raw_model).save_pretrained(run_dir / "model")
        if evaluator is not None and t_cfg.eval_at_end:
            raw_model.eval()
            res = evaluator(raw_model, run_dir)
            if res is not None:
                write_json(run_dir / "eval.json", res)
        summary = {
            "steps": st["step"],
            "tokens": st["tokens"],
            "final_loss": st["last_loss"],
            "train_seconds": st["train_seconds"],
            "refresh_seconds": st["refresh_seconds"],
            "overhead": st["refresh_seconds"] / max(st["train_seconds"], 1e-9),
            "n_params": n_params(raw_model),
            "mode": cfg.selection.mode,
            "world": dist.world,
            "device": device,
        }
        write_json(run_dir / "summary.json", summary)
        write_text(run_dir / "DONE", "finished\n")
        _say(
            dist,
            f"[train] done: {st['step']} steps, {st['tokens']} tokens, final loss {st['last_loss']:.4f}, "
            f"online overhead {summary['overhead']:.1%}, run dir {run_dir}",
        )
    if dist.world > 1:
        import torch.distributed as td

        td.barrier()
    return TrainResult(
        run_dir,
        st["step"],
        st["tokens"],
        st["last_loss"],
        st["train_seconds"],
        st["refresh_seconds"],
        finished,
    )


# fields that may differ between a run and its resumption (where it runs, not what it computes)
_RUNTIME_FIELDS = {"run": {"device", "runs_dir", "name"}, "train": {"threads", "eval_at_end"}}


def check_same_config(cfg, run_dir: Path) -> None:
    """MacsError unless cfg computes the same run as the config.yaml saved in run_dir."""
    import yaml

    path = run_dir / "config.yaml"
    if not path.exists():
        return
    saved = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    now = cfg.model_dump(mode="json")
    diffs = []
    for sec in sorted(set(saved) | set(now)):
        a, b = saved.get(sec) or {}, now.get(sec) or {}
        for k in sorted(set(a) | set(b)):
            if k in _RUNTIME_FIELDS.get(sec, set()):
                continue
            if a.get(k) != b.get(k):
                diffs.append(f"{sec}.{k}: {a.get(k)!r} -> {b.get(k)!r}")
    if diffs:
        raise MacsError(
            f"{run_dir} holds a run with a different config ({'; '.join(diffs[:5])}); "
            f"use `macs train --resume {run_dir}` to continue it, or set run.name to start a new run"
        )


def _bind(reward_fn, model):
    if reward_fn is None:
        return lambda docs: np.full(len(docs), np.nan)
    return lambda docs: reward_fn(model, docs)


def _fmt(d: dict) -> str:
    return ", ".join(f"{k} {v:.3f}" for k, v in d.items())


class _Bar:
    """A rich progress bar over optimiser steps on an interactive stderr (else nothing)."""

    def __init__(self, total: int, done: int, enabled: bool):
        self.progress = None
        if enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self.progress = Progress(
                TextColumn("train"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.description}"),
                transient=True,
            )
            self.progress.start()
            self.task = self.progress.add_task("", total=total, completed=done)

    def update(self, step: int, text: str) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=step, description=text)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False
