"""The staged training loop: train U steps -> refresh (rewards, actors, console) -> next stage.

`train()` runs four named steps over a `TrainState`:
`setup` (model, optimiser, selection), `start_or_resume` (fresh run directory or the latest
checkpoint), `fit` (per stage: `open_stage` selects or reloads the stage's documents, then
`train_step` until the stage ends, with `log_metrics` and `checkpoint`), and `finish` (model,
evaluation, summary). Single process or DDP under torchrun (macs.train.dist): the selection
runs on rank 0 and its document indices are broadcast. Everything is checkpointed, so a
killed run resumes to the same selections, weights and (on CPU) the same final loss.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from macs.core.errors import MacsError
from macs.core.io import remove_temps
from macs.core.progress import Bar
from macs.core.timing import Stopwatch, timed
from macs.data.rundir import RunDir
from macs.train.boundary import boundary_eval
from macs.train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint, set_rng_state
from macs.train.data import PackedStage
from macs.train.dist import Dist, barrier, broadcast, init_dist, mean_over_ranks
from macs.train.job import SavedConfig, TrainJob
from macs.train.schedule import lr_at
from macs.train.state import MetricWindow, Plan, TrainResult, TrainState, plan


@dataclass
class Trainer:
    """The fixed parts of a run: job, pool, process, model, optimiser, selection, evaluator."""

    job: TrainJob
    pool: Any  # macs.data.pool.Pool
    dist: Dist
    device: str
    run_dir: Path
    model: Any  # the plain model (checkpoints, rewards, evaluation)
    forward: Any  # what the step calls: the model, compiled and/or wrapped in DDP
    optimizer: Any
    selection: Any  # macs.select.online.OnlineSelection (every rank builds it; rank 0 uses it)
    evaluator: Callable[[Any, Path], dict] | None
    use_bf16: bool
    keep_steps: set[int]
    plan: Plan  # computed once per run (macs.train.state.plan)
    inrun: Any = None  # macs.train.inrun.InRunHook when influence.source=train

    @property
    def files(self) -> RunDir:
        """The run directory's paths, readers and writers."""
        return RunDir(self.run_dir)


def train(
    job: TrainJob,
    pool,
    make_selection: Callable[[list[int]], Any],
    evaluator: Callable[[Any, Path], dict] | None = None,
    stop_at_step: int | None = None,
) -> TrainResult:
    """Run (or resume) the staged training of `job` in job.run_dir; returns totals (loss in nats/token).

    `make_selection(stage_budgets)` builds the selection (macs.train.protocols.Selection) on every
    rank; `evaluator` is a macs.train.protocols.Evaluator (or None: no evaluation).
    """
    run_dir = Path(job.run_dir)
    done = finished_result(job.config, run_dir)
    if done is not None:
        return done
    tr = setup(job, pool, make_selection, evaluator)
    st = start_or_resume(tr)
    fit(tr, st, stop_at_step)
    finished = st.stage >= st.n_stages
    if finished and tr.dist.main:
        finish(tr, st)
    barrier(tr.dist)
    return TrainResult.of(run_dir, st, finished)


def finished_result(config: SavedConfig, run_dir: Path) -> TrainResult | None:
    """The saved result of a finished run directory (same config), else None."""
    rd = RunDir(run_dir)
    if not rd.is_finished():
        return None
    rd.check_format()
    rd.check_same_config(config)
    s = rd.read_summary()
    Dist().say(f"[train] {run_dir} is finished already (delete it to train again)")
    keys = ("steps", "tokens", "final_loss", "train_seconds", "refresh_seconds")
    return TrainResult(run_dir, *(s[k] for k in keys), True)


def setup(job: TrainJob, pool, make_selection, evaluator) -> Trainer:
    """Join the process group, build the model (seeded), optimiser and, on rank 0, the selection."""
    import torch

    from macs.train.model import build_model

    t = job.train
    dist, device = init_dist(job.device)
    if t.threads > 0:
        torch.set_num_threads(t.threads)
    p = plan(t, dist.world)
    torch.manual_seed(job.seed)
    np.random.seed(job.seed % 2**32)
    model = build_model(
        job.model, int(pool.tokens.vocab_size), t.seq_len, int(pool.tokens.eos_id), job.seed
    )
    model.to(device)
    optimizer = torch.optim.AdamW(
        param_groups(model, t.weight_decay),
        lr=t.lr,
        betas=(t.beta1, t.beta2),
        fused=device.startswith("cuda"),
    )
    forward = model
    if t.compile and device.startswith("cuda"):
        forward = torch.compile(model)
    if dist.world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        forward = DDP(forward, device_ids=[dist.local_rank] if device.startswith("cuda") else None)
    use_bf16 = t.precision == "bf16" or (t.precision == "auto" and device.startswith("cuda"))
    # every rank builds the selection (cheap: arrays over the pool) so that all score rewards with
    # the same function; only rank 0 selects, writes and checkpoints it
    selection = make_selection(p.stage_budgets)
    tr = Trainer(
        job,
        pool,
        dist,
        device,
        Path(job.run_dir),
        model,
        forward,
        optimizer,
        selection,
        evaluator,
        use_bf16,
        set(),
        p,
    )
    if getattr(selection, "inrun", None) is not None:
        from macs.train.inrun import InRunHook

        tr.inrun = InRunHook(tr)
    return tr


def param_groups(model, weight_decay: float) -> list[dict]:
    """AdamW parameter groups: weight decay on matrices, none on norms and biases."""
    decay, no_decay, seen = [], [], set()
    for name, p in model.named_parameters():
        if not p.requires_grad or id(p) in seen:
            continue
        seen.add(id(p))
        (no_decay if p.ndim < 2 or "norm" in name else decay).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def start_or_resume(tr: Trainer) -> TrainState:
    """A fresh state (run directory prepared) or the state of the latest checkpoint (outputs truncated to it)."""
    from macs.train.model import n_params

    run_dir, rd, dist, p = tr.run_dir, tr.files, tr.dist, tr.plan
    if dist.main:  # under the run lock: no other writer; drop half-done writes of a killed run
        remove_temps(run_dir, recursive=True)
    latest = latest_checkpoint(rd.checkpoints) if run_dir.exists() else None
    if latest is None:
        if dist.main:
            rd.prepare(tr.job.config, tr.job.method_label, tr.pool.mixes())
            dist.say(
                f"[train] {run_dir}: {n_params(tr.model) / 1e6:.2f}M params, {p.total_steps} "
                f"steps x {p.step_tokens} tokens in {p.n_stages} stages, method "
                f"{tr.job.method}, device {tr.device}"
            )
        return TrainState(plan=p)
    rd.check_format()
    rd.check_same_config(tr.job.config)
    loaded = load_checkpoint(latest, tr.model, tr.optimizer)
    if loaded["plan"] != p.to_dict():  # the checkpoint's plan is the plain dict of its Plan
        raise MacsError(
            f"{run_dir}: the checkpoint was made with a different plan "
            f"({loaded['plan']['total_steps']} steps) than the config gives ({p.total_steps}); "
            "resume with the run's own config.yaml"
        )
    if dist.main:
        tr.selection.load_state_dict(loaded["selector"])
    if tr.inrun is not None:
        tr.inrun.load_state_dict(loaded.get("inrun") or {})
    set_rng_state(loaded["rng"])
    st = TrainState.from_dict({**loaded, "plan": p})
    dist.say(f"[train] resuming {run_dir} at step {st.step}/{p.total_steps} (stage {st.stage})")
    if dist.main:
        rd.truncate_to(st.step, st.stage if st.stage_ready else st.stage - 1)
    return st


def checkpoint(tr: Trainer, st: TrainState, data_state: dict | None) -> None:
    """Save model, optimiser, state and selection (rank 0); keeps stage-start checkpoints if configured."""
    if tr.inrun is not None:  # every rank: the in-run sums go to rank 0's selection state
        tr.inrun.reduce()
    if not tr.dist.main:
        return
    st.data = data_state
    keep = tr.keep_steps if tr.job.train.keep_stage_checkpoints else set()
    state = {**st.to_dict(), "selector": tr.selection.state_dict()}
    if tr.inrun is not None:
        state["inrun"] = tr.inrun.state_dict()
    save_checkpoint(tr.files.checkpoints, st.step, tr.model, tr.optimizer, state, keep)


def fit(tr: Trainer, st: TrainState, stop_at_step: int | None = None) -> None:
    """Train stage after stage until the plan ends (or `stop_at_step`, a test's stand-in for a kill)."""
    total = st.plan.total_steps
    bar = Bar(total, "train", enabled=tr.dist.main, unit="steps", done=st.step)
    try:
        while st.stage < st.n_stages:
            data = open_stage(tr, st)
            if not run_stage(tr, st, data, bar, stop_at_step):
                break
    finally:
        bar.close()


def open_stage(tr: Trainer, st: TrainState) -> PackedStage:
    """The current stage's packed data: select it (rank 0, then broadcast) or reload its manifest."""
    t, seed = tr.job.train, tr.job.seed
    if st.stage_ready:
        data = PackedStage(
            tr.pool.tokens,
            tr.files.stage_docs(st.stage),
            t.seq_len,
            seed,
            st.stage,
        )
        if st.data is not None:
            data.load_state_dict(st.data)
        if tr.inrun is not None:  # the directions the checkpoint saved (else the stage start's)
            h = tr.inrun.local_seconds
            tr.inrun.resume(st.plan.bounds[st.stage])
            st.inrun_seconds += tr.inrun.local_seconds - h
        return data
    if tr.inrun is not None:
        tr.inrun.reduce()
    if st.stage > 0:  # the data-efficiency curve (eval.boundary_limit), before the refresh
        boundary_eval(tr, st.stage, st.step, st.tokens)
    split = tr.dist.world > 1 and st.stage > 0 and tr.selection.online
    if not split:
        idx = broadcast(select_stage(tr, st) if tr.dist.main else None, tr.dist)
    else:  # every rank scores a share of the refresh's reward samples (macs.train.split_rewards)
        splitter = _splitter(tr, st)
        idx = splitter.finish(select_stage(tr, st, splitter)) if tr.dist.main else splitter.serve()
    st.stage_ready = True
    data = PackedStage(tr.pool.tokens, idx, t.seq_len, seed, st.stage)
    _begin_inrun(tr, st, st.step)
    tr.keep_steps.add(st.step)
    checkpoint(tr, st, data.state_dict())
    return data


def _begin_inrun(tr: Trainer, st: TrainState, step: int) -> None:
    """influence.source=train: the stage start's reference directions (timed as in-run reward work)."""
    if tr.inrun is not None:
        h = tr.inrun.local_seconds
        tr.inrun.begin(step)
        st.inrun_seconds += tr.inrun.local_seconds - h


def _splitter(tr: Trainer, st: TrainState):
    """The rank-split reward transport of this refresh (its local scorer built on first use)."""
    from macs.train.split_rewards import SplitRewards

    def local(idx):
        tr.model.eval()
        try:
            return tr.selection.reward_fn()(tr.model, idx, st.step, tr.optimizer)
        finally:
            tr.model.train()

    return SplitRewards(tr.dist, tr.pool.n_tokens, local)


def select_stage(tr: Trainer, st: TrainState, rewards_via=None):
    """Rank 0: choose the stage's documents (initial or refresh on the current model) and write them."""
    sel = tr.selection
    with timed() as sw:
        if st.stage == 0:
            stage = sel.initial()
        else:
            stage = sel.refresh(tr.model, st.step, tr.optimizer, rewards_via=rewards_via)
    dt = sw.seconds
    if st.stage > 0:
        st.refresh_seconds += dt
        for k, v in (stage.log.get("seconds") or {}).items():
            if k != "total":
                st.costs[k] = st.costs.get(k, 0.0) + float(v)
    stage.log["step"] = st.step
    stage.log.setdefault("seconds", {})["wall"] = dt
    stage.log["overhead_so_far"] = st.overhead
    stage.log["costs_so_far"] = st.cost_summary()  # per refresh: the difference of two records
    meta = {"method": tr.job.method, "seed": tr.job.seed, "step": st.step}
    tr.files.write_stage(tr.pool, stage, sel.counts, meta, sel.group_columns())
    theta = stage.log.get("theta") or {}
    tr.dist.say(
        f"[train] stage {st.stage}: selected {stage.idx.size} docs, {stage.n_tokens} tokens "
        f"(budget {stage.budget}) in {dt:.1f}s"
        + (f"; theta {', '.join(f'{k} {v:.3f}' for k, v in theta.items())}" if theta else "")
    )
    return stage.idx


def run_stage(
    tr: Trainer, st: TrainState, data: PackedStage, bar: Bar, stop_at: int | None
) -> bool:
    """Optimiser steps until the stage ends; False when stopped early at `stop_at`."""
    end_step = st.stage_end
    while st.step < end_step:
        loss, gnorm, lr, dt = train_step(tr, st, data)
        st.train_seconds += dt
        st.tokens += st.plan.step_tokens
        st.step += 1
        st.last_loss = loss
        st.window.add(loss, st.plan.step_tokens, dt)
        bar.update(st.step, f"stage {st.stage} loss {loss:.3f}")
        end = st.step == end_step
        if tr.dist.main and (st.step % tr.job.train.log_every == 0 or end):
            log_metrics(tr, st, data, lr, gnorm, loss)
        if end:
            st.stage += 1
            st.stage_ready = False
            checkpoint(tr, st, None)
            tr.dist.say(
                f"[train] step {st.step}/{st.plan.total_steps} loss {loss:.4f} lr {lr:.2e} "
                f"({st.tokens} tokens, {st.train_seconds:.1f}s training)"
            )
        elif tr.job.train.checkpoint_every and st.step % tr.job.train.checkpoint_every == 0:
            checkpoint(tr, st, data.state_dict())
        if stop_at is not None and st.step >= stop_at:
            return False
    return True


def train_step(tr: Trainer, st: TrainState, data: PackedStage) -> tuple[float, float, float, float]:
    """One optimiser step (with gradient accumulation): (mean loss over ranks, grad norm, lr, seconds)."""
    import torch

    t = tr.job.train
    total = st.plan.total_steps
    lr = lr_at(
        st.step,
        total,
        t.lr,
        int(round(t.warmup_frac * total)),
        t.schedule,
        t.min_lr_ratio,
        t.decay_frac,
    )
    for g in tr.optimizer.param_groups:
        g["lr"] = lr
    clock = Stopwatch()
    dev_type = "cuda" if tr.device.startswith("cuda") else "cpu"
    loss_sum = 0.0
    hook0 = tr.inrun.local_seconds if tr.inrun is not None else 0.0
    for micro in range(t.grad_accum):
        ks = data.position + tr.dist.rank + tr.dist.world * np.arange(t.batch_size)
        x = torch.from_numpy(data.batch(t.batch_size, tr.dist.rank, tr.dist.world)).to(tr.device)
        last = micro == t.grad_accum - 1
        sync = (
            tr.forward.no_sync() if (tr.dist.world > 1 and not last) else contextlib.nullcontext()
        )
        score = (
            tr.inrun.capture(st.step, data, ks)
            if tr.inrun is not None
            else contextlib.nullcontext()
        )
        with sync, score, torch.autocast(dev_type, dtype=torch.bfloat16, enabled=tr.use_bf16):
            loss = tr.forward(input_ids=x, labels=x).loss / t.grad_accum
            loss.backward()
        loss_sum += float(loss.detach())
    gnorm = float("nan")
    if t.grad_clip > 0:
        gnorm = float(torch.nn.utils.clip_grad_norm_(tr.model.parameters(), t.grad_clip))
    tr.optimizer.step()
    tr.optimizer.zero_grad(set_to_none=True)
    loss_sum = mean_over_ranks(loss_sum, tr.dist, tr.device)
    if dev_type == "cuda":
        torch.cuda.synchronize()
    if tr.inrun is not None:
        st.inrun_seconds += tr.inrun.local_seconds - hook0
    return loss_sum, gnorm, lr, clock.seconds


def log_metrics(
    tr: Trainer, st: TrainState, data: PackedStage, lr: float, gnorm: float, loss: float
) -> None:
    """Append one metrics.jsonl line for the steps since the last one, and reset the window."""
    w = st.window
    tr.files.append_metrics(
        {
            "step": st.step,
            "stage": st.stage,
            "tokens": st.tokens,
            "loss": w.loss / max(w.steps, 1),
            "last_loss": loss,
            "lr": lr,
            "grad_norm": gnorm,
            "tokens_per_s": w.tokens / max(w.seconds, 1e-9),
            "train_seconds": st.train_seconds,
            "refresh_seconds": st.refresh_seconds,
            "overhead": st.overhead,
            "epochs_of_stage": data.epochs,
        },
    )
    st.window = MetricWindow()


def finish(tr: Trainer, st: TrainState) -> None:
    """Rank 0 after the last stage: save the model, evaluate it, write summary.json and DONE."""
    from macs.train.model import n_params, save_model

    run_dir, rd = tr.run_dir, tr.files
    if tr.pool.tokenizer_path is not None:
        save_model(tr.model, tr.pool.tokenizer_path, rd.model)
    else:
        tr.model.save_pretrained(rd.model)
    boundary_eval(tr, st.n_stages, st.step, st.tokens)
    if tr.evaluator is not None and tr.job.train.eval_at_end:
        tr.model.eval()
        res = tr.evaluator(tr.model, run_dir)
        if res is not None:
            rd.write_eval(res)
    summary = {
        "steps": st.step,
        "tokens": st.tokens,
        "final_loss": st.last_loss,
        "train_seconds": st.train_seconds,
        "refresh_seconds": st.refresh_seconds,
        "overhead": st.overhead,
        "costs": st.cost_summary(),
        "n_params": n_params(tr.model),
        "method": tr.job.method,
        "world": tr.dist.world,
        "device": tr.device,
        "labels_seconds": label_costs(tr.pool, tr.selection.labels_used()),
    }
    rd.finish(summary)
    tr.dist.say(
        f"[train] done: {st.step} steps, {st.tokens} tokens, final loss {st.last_loss:.4f}, "
        f"online overhead {summary['overhead']:.1%}, run dir {run_dir}"
    )


def label_costs(pool, names: list[str]) -> dict[str, float]:
    """Offline labelling seconds (fit + label wall time) of the label sets a method reads."""
    out = {}
    for n in names:
        sec = (pool.labels[n].manifest or {}).get("seconds") or {} if n in pool.labels else {}
        out[n] = float(sec.get("fit", 0.0)) + float(sec.get("label_wall", 0.0))
    return out
