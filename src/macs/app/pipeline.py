"""The main jobs: `macs run` (the demo end to end) and the wiring of every layer for them.

corpus -> tokenizer -> token shards -> labels -> each method per seed at equal tokens (the
selector registry) -> evaluation -> report. Every step reuses what a previous run finished.
This is the only module that imports `macs.app.report`.
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

from macs.core.errors import MacsError
from macs.core.timing import Stopwatch


def demo_config_path() -> Path:
    """The packaged demo config (configs/demo.yaml in the repository links to it)."""
    return Path(str(resources.files("macs") / "configs" / "demo.yaml"))


def demo_config(sets: list[str] | None = None):
    """The demo's Config: the packaged demo.yaml plus `--set` overrides."""
    from macs.app.config import load_config

    return load_config(demo_config_path(), sets)


def _say(msg: str) -> None:
    print(f"[run] {msg}", file=sys.stderr, flush=True)


def prepare_data(cfg) -> None:
    """Corpus store (the demo is built when missing), tokenizer, token shards and labels; all reused if present."""
    from macs.data.corpus.store import CorpusStore, store_path
    from macs.data.corpus.tokenizer import ensure_tokenizer
    from macs.data.corpus.tokens import tokenize_store
    from macs.data.labels.job import run_labels

    spath = store_path(cfg)
    clock = Stopwatch()
    c = cfg.corpus
    if c.name.startswith("demo") and cfg.labels.store is None:  # built if missing, else reused
        from macs.data.corpus.demo import build_demo_corpus

        build_demo_corpus(
            spath,
            cfg.run.resolved_cache_dir / "demo",
            max_mb_per_domain=c.demo_max_mb_per_domain or None,
            strict=c.demo_strict,
            seed=cfg.run.seed,
            max_chunk_bytes=c.max_chunk_bytes,
            heldout_fraction=c.heldout_fraction,
        )
    elif not (spath / "manifest.json").exists():
        raise MacsError(
            f"no corpus store at {spath}; import one with `macs corpus import FILES --name "
            f"{c.name}` (only the demo corpus is built automatically)"
        )
    store = CorpusStore.open(spath)
    tok = ensure_tokenizer(cfg, store=store)
    tokenize_store(store, tok)
    run_labels(
        store, cfg.labels, seed=cfg.labels.seed if cfg.labels.seed is not None else cfg.run.seed
    )
    _say(f"data ready in {clock.seconds:.1f}s: {store.n_docs} docs at {spath}")


def run_dir_name(root: str, method: str, seed: int) -> str:
    """The run name of one (method, seed) under a job's root name: <root>/<method>-s<seed>."""
    from macs.core.names import method_run_name

    return f"{root}/{method_run_name(method, seed)}"


def method_config(cfg, name: str, seed: int):
    """The config of one (method or named variant, seed) run of a comparison."""
    import json

    from pydantic import ValidationError

    from macs.app.config import Config, deep_merge, parse_overrides

    v = cfg.compare.variants.get(name)
    data = cfg.model_dump(mode="json")
    if v is not None:
        data = deep_merge(data, parse_overrides([f"{k}={json.dumps(x)}" for k, x in v.set.items()]))
    data["run"]["seed"] = seed
    data["run"]["name"] = run_dir_name(cfg.run.name, name, seed)
    data["selection"]["method"] = v.method if v is not None else name
    data["selection"]["label"] = name if v is not None else None
    try:
        return Config.model_validate(data)
    except ValidationError as e:
        bad = "; ".join(f"{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in e.errors())
        raise MacsError(f"compare.variants.{name}: invalid overrides ({bad})") from e


MATCH = "@"  # 'random@multi_actor': random trained on multi_actor's extra compute as more tokens


def matched_arm(cfg, name: str) -> tuple[str, str] | None:
    """(base, target) of a compute-matched arm 'BASE@TARGET' (None for any other method or variant)."""
    if MATCH not in name or name in cfg.compare.variants:
        return None
    base, _, target = name.partition(MATCH)
    if not base or not target or MATCH in target:
        raise MacsError(
            f"method {name!r}: a compute-matched arm is BASE@TARGET, e.g. random@multi_actor"
        )
    return base, target


def matched_config(cfg, name: str, seed: int, extra_tokens: float):
    """The config of compute-matched arm `name` (BASE@TARGET): BASE on train.tokens + extra_tokens."""
    from macs.app.config import Config

    base, _ = matched_arm(cfg, name)
    data = method_config(cfg, base, seed).model_dump(mode="json")
    data["run"]["name"] = run_dir_name(cfg.run.name, name, seed)
    data["selection"]["label"] = name
    data["train"]["tokens"] = float(round(cfg.train.tokens + max(0.0, extra_tokens)))
    return Config.model_validate(data)


def extra_compute(run_dirs: list[Path]) -> float:
    """The mean over runs of the selection's extra work in training-token equivalents (macs.app.report.costs)."""
    from macs.app.report.costs import mean_costs
    from macs.app.report.load import load_run

    c = mean_costs([load_run(d) for d in run_dirs])
    if c is None:
        raise MacsError(f"no finished run among {[str(d) for d in run_dirs]} to measure compute on")
    return float(c["extra_tokens"])


def check_method_names(methods: list[str], where: str) -> None:
    """Each method's run folder name (method_label) is a safe name, else a one-line MacsError
    blaming `where` (--methods or compare.methods), before any data is prepared."""
    from macs.core.names import method_label, name_problem

    for m in methods:
        problem = name_problem(method_label(m))
        if problem:
            raise MacsError(
                f"{where}: method {m!r} is not a safe name: {problem} (it names the method's run "
                "folders); use a selector name, a compare.variants name or BASE@TARGET"
            )


def check_methods(cfg, methods: list[str], pool) -> None:
    """Validate every method (and variant) against the pool before any training (one-line errors)."""
    from macs.select.selectors.base import SelectorContext
    from macs.select.selectors.registry import check_method
    from macs.train.state import plan

    budgets = plan(cfg.train, 1).stage_budgets
    for m in methods:
        arm = matched_arm(cfg, m)
        if arm is not None:
            if arm[1] not in methods or matched_arm(cfg, arm[1]) is not None:
                raise MacsError(
                    f"method {m!r}: its target {arm[1]!r} must be one of the compared methods "
                    f"({', '.join(x for x in methods if matched_arm(cfg, x) is None)})"
                )
            m = arm[0]
        sub = method_config(cfg, m, cfg.run.seed)
        seed = sub.run.seed + sub.selection.seed_offset
        ctx = SelectorContext(pool=pool, cfg=sub, seed=seed, stage_budgets=budgets)
        check_method(sub.selection.method, ctx)


def check_contrasts(contrasts: list[str], methods: list[str]) -> None:
    """Every declared primary contrast 'A - B' names two of `methods` (MacsError if not); the report
    tests those whose runs exist and says 'no test' for the others."""
    from macs.app.report.stats import parse_contrast

    for c in contrasts:
        for name in parse_contrast(c):
            if name not in methods:
                raise MacsError(
                    f"compare.contrasts: {c!r} names {name!r}, which is not among the methods "
                    f"({', '.join(methods)}); add it to compare.methods or drop the contrast"
                )


def prepare_methods(cfg, methods: list[str], seeds: list[int], pool) -> None:
    """Each method's cached offline work (Selector.prepare: e.g. RegMix sweeps), once per seed,
    in this process, so that runs trained in parallel workers find it done."""
    from macs.select.selectors.base import SelectorContext
    from macs.select.selectors.cache import default_cache_dir
    from macs.select.selectors.registry import parse_method, selector_class
    from macs.train.state import plan

    budgets = plan(cfg.train, 1).stage_budgets
    for seed in seeds:
        for m in methods:
            if matched_arm(cfg, m) is not None:
                m = matched_arm(cfg, m)[0]
            sub = method_config(cfg, m, seed)
            name, actors = parse_method(sub.selection.method)
            ctx = SelectorContext(
                pool=pool,
                cfg=sub,
                seed=seed + sub.selection.seed_offset,  # as OnlineSelection.from_config
                stage_budgets=budgets,
                cache_dir=default_cache_dir(sub),
                actors=actors,
                log=lambda msg: print(msg, file=sys.stderr, flush=True),
            )
            selector_class(name).prepare(ctx)


def run_compare(
    cfg=None,
    methods: list[str] | None = None,
    seeds: list[int] | None = None,
    baseline: str | None = None,
    jobs: int | None = None,
) -> Path:
    """Train every method for every seed at equal tokens on one pool, evaluate, write the report; returns report.md.

    Finished runs are reused and interrupted ones resume, so rerunning after a kill picks up
    where it stopped. Methods default to compare.methods, seeds to compare.seeds.
    """
    clock = Stopwatch()
    cfg = cfg if cfg is not None else demo_config()
    check_method_names(
        methods or cfg.compare.methods, "--methods" if methods else "compare.methods"
    )
    methods = list(dict.fromkeys(methods or cfg.compare.methods))
    seeds = list(dict.fromkeys(seeds if seeds is not None else cfg.compare.seeds))
    baseline = baseline or cfg.compare.baseline
    if not methods or not seeds:
        raise MacsError("give at least one method and one seed")
    # names from the config too: a run of some methods (--methods) keeps the declared family
    known = list(dict.fromkeys([*methods, *cfg.compare.methods, *cfg.compare.variants]))
    check_contrasts(cfg.compare.contrasts, known)
    from macs.core.lock import run_lock

    root = Path(cfg.run.runs_dir) / cfg.run.name
    with run_lock(root, "macs compare"):
        return _compare_locked(cfg, methods, seeds, baseline, jobs, root, clock)


def _compare_locked(cfg, methods, seeds, baseline, jobs, root: Path, clock: Stopwatch) -> Path:
    """run_compare's work while it holds the lock of the job's root folder."""
    from macs.app.report.build import build_report
    from macs.data.pool import open_pool

    prepare_data(cfg)
    pool = open_pool(cfg)
    check_methods(cfg, methods, pool)
    prepare_methods(cfg, methods, seeds, pool)
    plain = [m for m in methods if matched_arm(cfg, m) is None]
    subs = [method_config(cfg, m, seed) for seed in seeds for m in plain]
    jobs = max(1, int(jobs or cfg.compare.jobs))
    run_dirs = _train_all(subs, jobs, pool)
    # compute-matched arms: BASE on as many more tokens as TARGET's measured extra work
    dirs = {
        (s.selection.label or s.selection.method, s.run.seed): d
        for s, d in zip(subs, run_dirs, strict=True)
    }
    matched = []
    for m in methods:
        arm = matched_arm(cfg, m)
        if arm is not None:
            extra = extra_compute([dirs[(arm[1], seed)] for seed in seeds])
            _say(f"{m}: {arm[0]} on {extra:,.0f} more tokens ({arm[1]}'s extra work)")
            matched += [matched_config(cfg, m, seed, extra) for seed in seeds]
    if matched:
        run_dirs += _train_all(matched, jobs, pool)
    report = build_report(run_dirs, root / "report", method=methods[0], baseline=baseline)
    _say(f"done in {clock.seconds:.0f}s: {len(run_dirs)} runs; report {report}")
    return report


def _train_all(subs: list, jobs: int, pool) -> list[Path]:
    """Train (or reuse) every run of `subs`, in this process or `jobs` workers; run dirs in order."""
    from macs.app.training import train_from_config

    if jobs > 1:
        return _train_parallel(subs, jobs)
    out = []
    for i, sub in enumerate(subs, 1):
        _say(
            f"[{i}/{len(subs)}] training {sub.run.name} ({sub.selection.method}, seed {sub.run.seed})"
        )
        out.append(train_from_config(sub, pool=pool).run_dir)
    return out


def _train_one(configs: list[dict], i: int) -> str:
    """One run of a parallel comparison, from its resolved config `configs[i]` (a worker)."""
    from macs.app.config import Config
    from macs.app.training import train_from_config

    cfg = Config.model_validate(configs[i])
    return str(train_from_config(cfg).run_dir)


def _train_parallel(subs: list, jobs: int) -> list[Path]:
    """Run the (method, seed) runs in `jobs` worker processes; results in the given order."""
    from macs.core.executor import Executor

    out: dict[int, Path] = {}
    configs = [s.model_dump(mode="json") for s in subs]
    with Executor(jobs, configs) as ex:
        for i, run_dir in ex.map(_train_one, range(len(subs))):
            out[i] = Path(run_dir)
            _say(f"[{len(out)}/{len(subs)}] finished {subs[i].run.name}")
    return [out[i] for i in range(len(subs))]


def run_pipeline(
    cfg=None,
    method: str = "multi_actor",
    baselines: list[str] | None = None,
    seeds: list[int] | None = None,
) -> Path:
    """`macs run`: the method and its baselines (default: the config's compare section) -> report.md."""
    cfg = cfg if cfg is not None else demo_config()
    methods = None
    if baselines is not None:
        methods = [method] + [b for b in baselines if b != method]
    return run_compare(cfg, methods, seeds)
