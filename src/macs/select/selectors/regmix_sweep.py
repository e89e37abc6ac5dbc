"""RegMix step 1: the proxy sweep (Liu et al., "RegMix", arXiv 2407.01492; method.md section 5).

Proxy `i` trains a fresh small Llama on packed sequences drawn from the pool's groups in the
proportions of mixture `i`, then records its target loss (nats per token, lower = better).
Mixture `i` is a Dirichlet draw around the pool's token distribution: centre = share ** power
(renormalised; the paper's power is 0.5), strength log-uniform in [strength_min, strength_max].
Every random choice of proxy `i` comes from (seed, i) only, so runs are independent of the
order they finish in, of the number of workers, and of how many runs the sweep has.

Runs are resumable: one JSON file per finished run, written atomically; a rerun skips them.
They run in this process (workers=1), in spawned processes, or as Ray tasks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from macs.core.errors import MacsError
from macs.core.executor import Executor, RaySpec
from macs.core.io import read_json, write_json
from macs.core.timing import Stopwatch

_MIX, _INIT, _DATA = 0x4E6, 0x4E7, 0x4E8  # seed salts: mixture draw, model init, data order
_NO_RAY = (
    "baselines.regmix.executor ray: Ray is not installed; run `bash scripts/setup.sh ray` "
    "or use executor: local"
)


def dirichlet_mixtures(
    share: np.ndarray,
    n: int,
    rng: np.random.Generator,
    power: float = 0.5,
    strength_min: float = 0.1,
    strength_max: float = 5.0,
) -> np.ndarray:
    """n mixtures (rows of token shares summing to 1) from Dirichlet(s * share**power / sum), s log-uniform."""
    p = np.asarray(share, dtype=np.float64) ** power
    if not np.isfinite(p).all() or p.sum() <= 0 or (p <= 0).any():
        raise MacsError(f"RegMix: the Dirichlet centre needs positive group shares, got {share}")
    p /= p.sum()
    s = np.exp(rng.uniform(np.log(strength_min), np.log(strength_max), size=n))
    g = rng.standard_gamma(s[:, None] * p[None, :])
    tot = g.sum(axis=1)
    out = np.empty_like(g)
    ok = np.isfinite(tot) & (tot > 0)
    out[ok] = g[ok] / tot[ok, None]
    for r in np.flatnonzero(~ok):  # every gamma draw underflowed: numpy's stick-breaking path
        out[r] = rng.dirichlet(s[r] * p)
    return out


def largest_remainder(mixture: np.ndarray, n: int) -> np.ndarray:
    """Integer counts summing to n in the proportions of mixture (largest remainders, ties by index)."""
    m = np.asarray(mixture, dtype=np.float64) * n
    base = np.floor(m).astype(np.int64)
    extra = int(n - base.sum())
    if extra > 0:
        base[np.argsort(-(m - base), kind="stable")[:extra]] += 1
    return base


def proxy_seed(seed: int, i: int, salt: int) -> int:
    """A 32-bit seed of proxy i for one purpose (salt), from the sweep seed."""
    return int(np.random.SeedSequence([int(seed), salt, int(i)]).generate_state(1)[0])


@dataclass
class SweepJob:
    """Everything a proxy run needs (picklable; sent once to each worker)."""

    tokens_dir: str  # the pool's token shards (macs.data.corpus.tokens.TokenStore)
    group_docs: list[np.ndarray]  # eligible doc indices of each mixed group
    share: np.ndarray  # pool token share of each mixed group (the Dirichlet centre before power)
    settings: dict[str, Any]  # regmix config fields: proxy_size, proxy_tokens, seq_len, lr, ...
    vocab_size: int
    eos_id: int
    seed: int
    threads: int = 1  # torch threads per proxy
    target: dict[str, list] = field(default_factory=dict)  # task -> [influence.batching.Unit]
    _tokens: Any = field(default=None, repr=False)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_tokens": None}

    def tokens(self):
        """The TokenStore (opened once per process)."""
        if self._tokens is None:
            from macs.data.corpus.tokens import TokenStore

            self._tokens = TokenStore.open(self.tokens_dir)
        return self._tokens

    @property
    def n_seqs(self) -> int:
        """Training sequences per proxy (whole batches; at least one batch)."""
        s = self.settings
        steps = max(1, int(s["proxy_tokens"]) // (int(s["seq_len"]) * int(s["batch_size"])))
        return steps * int(s["batch_size"])

    def mixture(self, i: int) -> np.ndarray:
        """The drawn mixture of proxy i (token share per mixed group; depends only on seed and i)."""
        s = self.settings
        rng = np.random.default_rng([self.seed, _MIX, int(i)])
        return dirichlet_mixtures(
            self.share, 1, rng, s["prior_power"], s["strength_min"], s["strength_max"]
        )[0]


def proxy_sequences(job: SweepJob, i: int) -> tuple[np.ndarray, np.ndarray]:
    """Proxy i's training sequences (int64, n_seqs x seq_len, shuffled) and sequences per group."""
    from macs.train.data import PackedStage

    seq_len = int(job.settings["seq_len"])
    counts = largest_remainder(job.mixture(i), job.n_seqs)
    data_seed = proxy_seed(job.seed, i, _DATA)
    rows = []
    for g, c in enumerate(counts):
        if c:  # group g's documents in a seeded order, packed with EOS, cycled when c needs more
            st = PackedStage(job.tokens(), job.group_docs[g], seq_len, data_seed, stage=g)
            rows.append(np.stack([st.sequence(k) for k in range(int(c))]))
    seqs = np.concatenate(rows)
    return seqs[np.random.default_rng(data_seed).permutation(len(seqs))], counts


def _lr_factor(step: int, steps: int, warm: int) -> float:
    """Linear warmup over `warm` steps, then cosine decay to 10% of the peak."""
    if step < warm:
        return (step + 1) / warm
    t = (step - warm) / max(1, steps - warm)
    return 0.1 + 0.45 * (1.0 + np.cos(np.pi * min(t, 1.0)))


def target_losses(model, target: dict[str, list], device: str, chunk: int = 32) -> dict[str, float]:
    """Mean loss (nats per target token, lower = better) of each target task's units under model."""
    import torch

    from macs.select.rewards.batching import chunks, collate, model_loss

    out = {}
    model.eval()
    with torch.no_grad():
        for task, units in target.items():
            total = 0.0
            for idx in chunks(units, chunk):
                ids, mask = collate([units[k] for k in idx], device)
                total += float(model_loss(model, ids, mask).double().sum())
            out[task] = total / len(units)
    return out


def train_proxy(job: SweepJob, i: int) -> dict[str, Any]:
    """Train proxy i (AdamW, packed mixture data) and return its record (target_loss: nats, lower = better)."""
    import torch

    from macs.core.device import resolve_device
    from macs.train.config import ModelConfig
    from macs.train.model import build_model

    clock = Stopwatch()
    s = job.settings
    seqs, counts = proxy_sequences(job, i)
    dev = resolve_device(s["device"])
    threads = torch.get_num_threads()
    torch.set_num_threads(job.threads)
    try:
        model = build_model(
            ModelConfig(size=s["proxy_size"]),
            job.vocab_size,
            int(s["seq_len"]),
            job.eos_id,
            proxy_seed(job.seed, i, _INIT),
        ).to(dev)
        opt = torch.optim.AdamW(
            model.parameters(), lr=s["lr"], betas=(0.9, 0.95), weight_decay=s["weight_decay"]
        )
        bs = int(s["batch_size"])
        steps = len(seqs) // bs
        warm = max(1, round(s["warmup"] * steps))
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: _lr_factor(k, steps, warm))
        model.train()
        losses = []
        for k in range(steps):
            x = torch.from_numpy(seqs[k * bs : (k + 1) * bs]).to(dev)
            loss = model(input_ids=x, labels=x).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
        per_task = target_losses(model, job.target, dev)
    finally:
        torch.set_num_threads(threads)
    value = float(np.mean(list(per_task.values())))
    return {
        "index": int(i),
        "ok": bool(np.isfinite(value)),
        "error": None if np.isfinite(value) else "the target loss is not finite (diverged)",
        "mixture": (counts / counts.sum()).tolist(),  # realised token share per group
        "drawn": job.mixture(i).tolist(),
        "target_loss": value if np.isfinite(value) else None,
        "target_per_task": per_task,
        "train_loss": float(np.mean(losses[-max(1, steps // 10) :])),
        "steps": int(steps),
        "tokens": int(seqs.size),
        "seconds": clock.seconds,
    }


def run_one(job: SweepJob, i: int) -> dict[str, Any]:
    """train_proxy, with a failure turned into a record (ok=False, error) instead of an exception."""
    try:
        return train_proxy(job, i)
    except Exception as e:  # a proxy that fails is counted and reported, never silently dropped
        return {"index": int(i), "ok": False, "error": f"{type(e).__name__}: {e}"}


def run_path(runs_dir: Path, i: int) -> Path:
    """The result file of proxy i."""
    return Path(runs_dir) / f"proxy-{int(i):05d}.json"


def finished_run(job: SweepJob, runs_dir: Path, i: int) -> dict[str, Any] | None:
    """Proxy i's saved record if it finished successfully for this job's mixture, else None."""
    p = run_path(runs_dir, i)
    if not p.exists():
        return None
    try:
        rec = read_json(p)
    except ValueError:
        return None  # unreadable (cannot happen with atomic writes): run it again
    if not rec.get("ok") or rec.get("index") != i:
        return None
    drawn, want = np.asarray(rec.get("drawn", []), dtype=np.float64), job.mixture(i)
    if drawn.shape != want.shape or not np.allclose(drawn, want, rtol=0, atol=1e-12):
        raise MacsError(
            f"{p}: this proxy run was made for a different mixture; the sweep folder "
            f"{runs_dir} is stale: delete it and run again"
        )
    return rec


def run_sweep(
    job: SweepJob,
    runs_dir: Path,
    n: int,
    make_target: Callable[[], dict[str, list]],
    workers: int = 1,
    executor: str = "local",
    ray_address: str | None = None,
    log: Callable[[str], None] = print,
    on_result: Callable[[int, dict], None] | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Proxy runs 0..n-1 (finished ones reused, the rest trained), one record each in index order.

    `make_target()` builds the target units; it is called only when some run is missing.
    `on_result(i, record)` is called after each new record is saved (progress hooks).
    """
    from macs.core.progress import Bar

    runs_dir = Path(runs_dir)
    runs: dict[int, dict[str, Any]] = {}
    for i in range(n):
        rec = finished_run(job, runs_dir, i)
        if rec is not None:
            runs[i] = rec
    todo = [i for i in range(n) if i not in runs]
    reused, clock = len(runs), Stopwatch()
    if todo:
        job.target = make_target()
        with Bar(n, "regmix proxies", enabled=progress, unit="runs", done=reused) as bar:

            def record(i: int, rec: dict[str, Any]) -> None:
                write_json(run_path(runs_dir, i), rec)
                runs[i] = rec
                loss = rec.get("target_loss")
                bar.advance(1, f"proxy {i}: " + (f"loss {loss:.4f}" if rec["ok"] else "failed"))
                if on_result is not None:
                    on_result(i, rec)

            # Ray: tasks of one CPU each, the job put in the object store once; local: here
            # when workers <= 1, else spawned processes that each receive the job once
            ray = None
            if executor == "ray":
                ray = RaySpec(ray_address, max(1, workers), missing=_NO_RAY)
            elif executor != "local":
                raise MacsError(f"baselines.regmix.executor {executor!r}: use local or ray")
            with Executor(workers, job, ray=ray) as ex:
                for i, rec in ex.map(run_one, todo):
                    record(i, rec)
    secs = clock.seconds
    new = [runs[i] for i in todo]
    failed = [r for r in new if not r["ok"]]
    log(
        f"[regmix] sweep: {len(new) - len(failed)} proxy runs trained, {len(failed)} failed, "
        f"{reused} reused, in {secs:.1f}s ({len(new) / max(secs, 1e-9):.2f} runs/s, "
        f"{executor} x{workers}) -> {runs_dir}"
    )
    for r in failed[:3]:
        log(f"[regmix] proxy {r['index']} failed: {r['error']}")
    return [runs[i] for i in range(n)]
