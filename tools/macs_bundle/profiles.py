"""The two bundle profiles: `gpu` (the real run on the lent H200) and `tiny` (the same path on a
CPU in minutes, for the emulation test). A profile fixes the config overrides the bundle is built
with, the pool size, the benchmarks' arguments and the time budget of each stage."""

from __future__ import annotations

from dataclasses import dataclass

from macs.core.errors import MacsError


@dataclass(frozen=True)
class Profile:
    """Sizes and time budget of one kind of bundle run (seconds are wall-clock)."""

    name: str
    sets: tuple[str, ...]  # --set overrides on top of the config (data and run sizes)
    max_mb_per_domain: float  # demo pool: MB of text per domain
    zstd_level: int  # corpus shards recompressed at this zstd level (0 = as built)
    budget_s: float  # whole run, from the start of scripts/gpu_run.sh (wheel install included)
    reserve_s: float  # kept for the final report and results after the comparison
    data_cap_s: float  # tokenization (and label reuse) at most
    influence_cap_s: float  # reward-engine benchmark at most
    train_cap_s: float  # training-throughput benchmark at most
    wave_prior_s: float  # guess of one wave of `jobs` comparison runs before one is measured
    bench_influence: tuple[str, ...]
    bench_train: tuple[str, ...]
    # the first phase's arms: the primary contrasts' baseline and method and the A/A arm; then the
    # compute-matched arm of the method, then the others (macs_bundle.phases.plan_phases)
    core_methods: tuple[str, ...] = ("random", "multi_actor", "random_aa")
    first_seeds: int = 5  # seeds of the first phases; the rest come last, if time is left


GPU = Profile(
    name="gpu",
    sets=(),
    max_mb_per_domain=12.0,
    zstd_level=19,
    budget_s=540.0,
    reserve_s=30.0,
    data_cap_s=120.0,
    influence_cap_s=60.0,  # the benchmarks are short: the comparison gets the time
    train_cap_s=60.0,
    wave_prior_s=60.0,
    bench_influence=(
        "--size",
        "25m",
        "--seq",
        "512",
        "--device",
        "cuda",
        "--dtype",
        "bf16",
        "--docs",
        "128",
        "--naive-docs",
        "32",
        "--probe-docs",
        "8",
        "--ref-n",
        "32",
        "--chunk",
        "32",
        "--proj-chunk",
        "128",
        "--repeat",
        "1",
        "--train-steps",
        "10",
        "--fidelity-docs",
        "32",
    ),  # fmt: skip
    bench_train=(
        "--device",
        "cuda",
        "--sizes",
        "llama-20m,llama-60m,llama-125m",
        "--vocab",
        "16384",
        "--seq",
        "2048",  # the comparison's step shape
        "--batch",
        "8",
        "--steps",
        "10",
        "--min-seconds",
        "1",
    ),  # fmt: skip
)

TINY = Profile(
    name="tiny",
    sets=(
        "tokenizer.vocab_size=512",
        "tokenizer.train_mb=1",
        "labels.topic.n_groups=4",
        "labels.topic.sample_size=100",
        "labels.topic.svd_dims=16",
        "labels.workers=1",
        "model.size=llama-tiny",
        "train.tokens=6000",
        "train.seq_len=64",
        "train.batch_size=4",
        "train.stages=3",
        "train.threads=1",
        "train.log_every=2",
        "selection.samples_per_group=4",
        "influence.n_per_task=4",
        "influence.window=64",
        "influence.overlap=0",
        "influence.max_windows=2",
        "influence.chunk_size=8",
        "influence.dtype=fp32",
        "eval.tasks=[reference]",
        "eval.limit=4",
        "eval.boundary_limit=2",
        "eval.heldout_docs_per_domain=2",
        "eval.batch_size=8",
        "baselines.mates.oracle_samples=8",
        "baselines.perplexity.batch_size=16",
        "baselines.perplexity.max_tokens=64",
        "baselines.perplexity.proxy.tokens=2000",
        "baselines.perplexity.proxy.seq_len=64",
        "baselines.perplexity.proxy.batch_size=4",
        "baselines.regmix.n_proxies=12",
        "baselines.regmix.proxy_size=llama-tiny",
        "baselines.regmix.proxy_tokens=1024",
        "baselines.regmix.seq_len=64",
        "baselines.regmix.batch_size=4",
        "baselines.regmix.target_examples=4",
        "baselines.regmix.folds=2",
        "baselines.regmix.search_samples=2000",
        "baselines.regmix.top_k=16",
        "compare.seeds=[0, 1]",
        "compare.jobs=2",
    ),
    max_mb_per_domain=0.05,
    zstd_level=3,
    budget_s=1200.0,
    reserve_s=30.0,
    data_cap_s=120.0,
    influence_cap_s=120.0,
    train_cap_s=90.0,
    wave_prior_s=60.0,
    bench_influence=(
        "--size",
        "tiny",
        "--seq",
        "64",
        "--device",
        "cpu",
        "--threads",
        "1",
        "--docs",
        "16",
        "--naive-docs",
        "8",
        "--probe-docs",
        "4",
        "--ref-n",
        "4",
        "--chunk",
        "8",
        "--proj-chunk",
        "16",
        "--projection-dim",
        "512",
        "--repeat",
        "1",
        "--train-steps",
        "3",
        "--fidelity-docs",
        "8",
    ),  # fmt: skip
    bench_train=(
        "--device",
        "cpu",
        "--threads",
        "1",
        "--sizes",
        "llama-tiny,llama-1m",
        "--vocab",
        "1024",
        "--seq",
        "64",
        "--batch",
        "4",
        "--steps",
        "3",
        "--min-seconds",
        "0.2",
    ),  # fmt: skip
)

PROFILES = {p.name: p for p in (GPU, TINY)}


def get_profile(name: str) -> Profile:
    """The profile called `name` (MacsError listing the known ones)."""
    if name not in PROFILES:
        raise MacsError(f"unknown bundle profile {name!r}; choose one of {', '.join(PROFILES)}")
    return PROFILES[name]
