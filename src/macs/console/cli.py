"""CLI commands of macs.console (heavy imports inside the command functions)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from macs.cli_common import ConfigOpt, SetOpt


def register(app: typer.Typer) -> None:
    """Add this layer's commands to the root app."""
    app.command("select")(select_cmd)


def select_cmd(
    config: ConfigOpt = None,
    sets: SetOpt = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Manifest path (default: selection.out or run_dir/select/manifest.parquet).",
        ),
    ] = None,
    tokens: Annotated[
        float | None,
        typer.Option(
            "--tokens",
            help="Token budget (default: selection.tokens or selection.fraction of the pool).",
        ),
    ] = None,
    token_shards: Annotated[
        Path | None,
        typer.Option(
            "--token-shards",
            help="Also copy the selected documents' tokens into this folder (TokenStore layout).",
        ),
    ] = None,
    jsonl: Annotated[
        Path | None,
        typer.Option(
            "--jsonl", help="Also write the selected documents (id, text, groups) as JSONL."
        ),
    ] = None,
    show: Annotated[
        str,
        typer.Option(
            "--show", help="Actors whose summary to print: comma list, 'all' (default: domain)."
        ),
    ] = "domain",
) -> None:
    """Static selection: stage 0 of selection.method at a token budget; write a stage manifest and print the mixture.

    For the multi-actor method every eligible (not held-out) document scores S = sum over actors of theta_A * w_A(group) with the initial weights, higher = chosen first; baselines (random, quality_topk, ...) choose their own way. Documents are taken until the token budget is met; writes the manifest (Parquet: doc, id, tokens, each label's group, score), a summary JSON and the selector state beside it.
    """
    import sys
    import time

    from macs.cli_common import load

    cfg = load(config, sets)
    t0 = time.perf_counter()
    result = run_select(
        cfg,
        out=out,
        tokens=tokens,
        jsonl=jsonl,
        token_shards=token_shards,
        log=lambda m: typer.echo(m, err=True),
    )
    print_summary(result["summary"], show)
    s = result["summary"]
    typer.echo(
        f"selected {s['n_selected']:,} docs, {s['selected_tokens']:,} tokens "
        f"({100 * s['selected_fraction']:.1f}% of {s['pool_tokens']:,} eligible) in "
        f"{time.perf_counter() - t0:.1f} s; manifest -> {result['manifest']}",
        err=True,
    )
    sys.stderr.flush()


def run_select(
    cfg,
    out: Path | None = None,
    tokens: float | None = None,
    jsonl: Path | None = None,
    token_shards: Path | None = None,
    log=print,
) -> dict:
    """Run a static selection (stage 0 of selection.method) for a Config; returns {'manifest', 'summary', ...}."""
    import numpy as np

    from macs.console.export import write_selected_jsonl, write_selected_tokens
    from macs.console.manifest import stage_table, summarize, write_manifest
    from macs.console.state import save_state
    from macs.errors import MacsError
    from macs.io import write_json
    from macs.online import OnlineSelection
    from macs.pool import open_pool

    s = cfg.selection
    pool = open_pool(cfg, need_tokens=False)
    log(
        f"pool: {pool.n_docs:,} docs ({int((~pool.eligible).sum()):,} not eligible: held out or "
        f"empty); tokens {pool.token_source}"
    )
    pool_tok = pool.eligible_tokens
    budget = tokens if tokens is not None else s.tokens
    if budget is None:
        budget = s.fraction * pool_tok
    budget = int(np.ceil(budget))
    if budget <= 0:
        raise MacsError(f"token budget must be positive, not {budget}")
    sel = OnlineSelection.from_config(cfg, [budget], pool=pool, log=log)
    stage = sel.initial()
    info = stage.log.get("select_info", {})
    if info.get("exhausted"):
        log(
            f"note: the budget {budget:,} is at least the eligible pool ({pool_tok:,} tokens): all selected"
        )
    out = Path(out or s.out or Path(cfg.run.run_dir) / "select" / "manifest.parquet")
    extra = sel.selector.group_columns()
    weights = sel.selector.weights()
    meta = {
        "kind": "static_select",
        "method": s.method,
        "store": str(pool.store.path),
        "token_source": pool.token_source,
        "seed": cfg.run.seed,
        "budget": budget,
        "selection": s.model_dump(mode="json"),
        "select": info,
        "weights": {
            a: dict(
                zip(
                    (pool.labels[a].group_names if a in pool.labels else extra[a][1]),
                    w.tolist(),
                    strict=True,
                )
            )
            for a, w in weights.items()
        },
    }
    write_manifest(out, stage_table(pool, stage.idx, sel.counts, stage.scores, extra), meta)
    summary = summarize(pool, stage.idx, weights, extra)
    summary.update({"budget": budget, "method": s.method, "token_source": pool.token_source})
    summary_path = out.with_name(out.stem + ".summary.json")
    write_json(summary_path, summary)
    state_path = out.with_name(out.stem + ".selector.npz")
    save_state(state_path, sel.state_dict())
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
    return {
        "manifest": out,
        "summary": summary,
        "summary_path": summary_path,
        "state": state_path,
        "jsonl": jsonl,
        "token_shards": token_shards,
    }


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
