"""`macs select`: a static selection (stage 0 of selection.method) at a token budget, written as a
stage manifest with its summary and the selector's state; optionally JSONL or token shards."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from macs.core.errors import MacsError


def select_budget(cfg, pool, tokens: float | None) -> int:
    """The token budget: --tokens, else selection.tokens, else selection.fraction of the eligible pool."""
    s = cfg.selection
    budget = tokens if tokens is not None else s.tokens
    if budget is None:
        budget = s.fraction * pool.eligible_tokens
    budget = int(np.ceil(budget))
    if budget <= 0:
        raise MacsError(f"token budget must be positive, not {budget}")
    return budget


def select_dir(cfg) -> Path:
    """Where `macs select` writes by default: run_dir/select when run.name is set, else
    runs_dir/<corpus name>/select (a selection of one corpus never lands in another's folder)."""
    from macs.data.rundir import RunDir

    run = cfg.run
    if "name" not in run.model_fields_set:
        run = run.model_copy(update={"name": cfg.corpus.name})
    return RunDir(run.run_dir).select_dir


def selection_meta(cfg, pool, budget: int, stage, selector) -> dict:
    """The manifest's metadata: method, store, token rule, seed, budget, what the selector reported, weights."""
    extra = selector.group_columns()
    names = {a: lab.group_names for a, lab in pool.labels.items()}
    names.update({a: g[1] for a, g in extra.items()})
    return {
        "kind": "static_select",
        "method": cfg.selection.method,
        "store": str(Path(pool.store.path).resolve()),
        "token_source": pool.token_source,
        "seed": cfg.run.seed,
        "budget": budget,
        "selection": cfg.selection.model_dump(mode="json"),
        "select": stage.log.get("select_info", {}),
        "weights": {
            a: dict(zip(names[a], w.tolist(), strict=True)) for a, w in selector.weights().items()
        },
    }


def run_select(
    cfg,
    out: Path | None = None,
    tokens: float | None = None,
    jsonl: Path | None = None,
    token_shards: Path | None = None,
    log=print,
    export: tuple[str, Path] | None = None,
) -> dict:
    """Run a static selection for a Config; returns {'manifest', 'summary', 'summary_path', 'state', ...}.

    `export` = (format, folder) also writes the selection with macs.app.export (hf, litdata, mds,
    flat, jsonl)."""
    from macs.core.lock import store_lock
    from macs.data.corpus.store import store_path

    # the store's shared lock: an import cannot replace it while it is read
    with store_lock(store_path(cfg), "macs select"):
        return _run_select(cfg, out, tokens, jsonl, token_shards, log, export)


def _run_select(cfg, out, tokens, jsonl, token_shards, log, export) -> dict:
    from macs.core.io import write_json
    from macs.data.manifest import stage_table, summarize, write_manifest
    from macs.data.pool import open_pool
    from macs.select.console.state import save_state
    from macs.select.online import OnlineSelection

    pool = open_pool(cfg, need_tokens=False)
    log(
        f"pool: {pool.n_docs:,} docs ({int((~pool.eligible).sum()):,} not eligible: held out or "
        f"empty); tokens {pool.token_source}"
    )
    budget = select_budget(cfg, pool, tokens)
    sel = OnlineSelection.from_config(cfg, [budget], pool=pool, log=log)
    stage = sel.initial()
    if stage.log.get("select_info", {}).get("exhausted"):
        log(
            f"note: the budget {budget:,} is at least the eligible pool ({pool.eligible_tokens:,} tokens): all selected"
        )
    out = Path(out or cfg.selection.out or select_dir(cfg) / "manifest.parquet")
    extra = sel.selector.group_columns()
    meta = selection_meta(cfg, pool, budget, stage, sel.selector)
    write_manifest(out, stage_table(pool, stage.idx, sel.counts, stage.scores, extra), meta)
    summary = summarize(pool, stage.idx, sel.selector.weights(), extra)
    summary.update(
        {"budget": budget, "method": cfg.selection.method, "token_source": pool.token_source}
    )
    summary_path = out.with_name(out.stem + ".summary.json")
    write_json(summary_path, summary)
    state_path = save_state(out.with_name(out.stem + ".selector.npz"), sel.state_dict())
    write_extras(pool, stage, extra, jsonl, token_shards, log)
    exported = None
    if export is not None:
        from macs.app.export.api import write_export

        fmt, folder = export
        opts = {}
        if fmt == "jsonl":  # the manifest's score and groups, as `macs export` writes them
            from macs.app.export.manifests import read_selection

            _, opts["columns"] = read_selection([out], pool.store)
            if pool.tokens is not None:
                opts["columns"].pop("tokens", None)  # the token shards' counts are written
        exported = write_export(
            fmt, folder, pool.store, stage.idx, tokens=pool.tokens, log=log, **opts
        )
    return {
        "export": exported,
        "manifest": out,
        "summary": summary,
        "summary_path": summary_path,
        "state": state_path,
        "jsonl": jsonl,
        "token_shards": token_shards,
    }


def write_extras(
    pool, stage, extra: dict, jsonl: Path | None, token_shards: Path | None, log
) -> None:
    """The selected documents as JSONL and/or as token shards, when asked for."""
    from macs.app.export.jsonl import write_selected_jsonl
    from macs.app.export.shards import write_selected_tokens

    if jsonl is not None:
        write_selected_jsonl(
            jsonl,
            pool.store,
            _groups_view(pool, extra),
            stage.idx,
            pool.n_tokens,
            stage.scores,
            log,
        )
    if token_shards is not None:
        if pool.tokens is None:
            raise MacsError(
                f"--token-shards needs the store's token shards ({pool.token_source}); run "
                "`macs corpus tokenize` first"
            )
        write_selected_tokens(token_shards, pool.tokens.path, stage.idx, log)


def _groups_view(pool, extra: dict):
    """The group columns of a selection as objects with name / groups / group_names (the exporter's view)."""
    from types import SimpleNamespace

    cols = {n: (lab.groups, lab.group_names) for n, lab in pool.labels.items()}
    cols.update(extra)
    actors = [
        SimpleNamespace(name=n, groups=g, group_names=list(names)) for n, (g, names) in cols.items()
    ]
    return SimpleNamespace(actors=actors)


def print_summary(summary: dict, show: str = "domain") -> None:
    """Print per-group token shares (selected vs pool) for the chosen actors as rich tables."""
    from rich.console import Console as RichConsole
    from rich.table import Table

    actors = summary.get("actors", {})
    if show == "all":
        names = list(actors)
    else:
        names = [n.strip() for n in show.split(",") if n.strip() in actors]
        if not names and actors:
            names = [next(iter(actors))]
    import shutil

    rc = RichConsole(width=max(shutil.get_terminal_size((100, 24)).columns, 100))
    for name in names:
        t = Table(title=f"selected vs pool tokens by {name}")
        t.add_column("group", no_wrap=True, max_width=30)
        for col in ("weight", "pool %", "sel %", "sel/pool"):
            t.add_column(col, justify="right", no_wrap=True)
        for g, r in actors[name].items():
            t.add_row(
                g,
                "-" if r["weight"] is None else f"{r['weight']:.3f}",
                f"{100 * r['pool_share']:.1f}",
                f"{100 * r['selected_share']:.1f}",
                "-" if r["ratio"] is None else f"{r['ratio']:.2f}",
            )
        rc.print(t)
