"""CLI commands of macs.data.labels (heavy imports inside the command functions)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from macs.app.cli_common import ConfigOpt, SetOpt, load


def _open_store(cfg, store: Path | None):
    from macs.data.corpus.store import CorpusStore, store_path

    return CorpusStore.open(store or store_path(cfg))


def _training_store(cfg, source: str):
    """The store named by --from: 'demo' (must be the built-in corpus) or a store folder."""
    from macs.core.errors import MacsError
    from macs.data.corpus.store import CorpusStore
    from macs.data.labels.qtrain import DEMO_CREATED_BY

    if source != "demo":
        return CorpusStore.open(Path(source))
    path = Path(cfg.run.data_dir) / "corpus" / "demo"
    hint = f"build it with `macs corpus build demo --max-mb-per-domain 0 --out {path}`"
    if not (path / "manifest.json").exists():
        raise MacsError(f"--from demo: no demo corpus at {path}; {hint}, or pass --from STORE")
    st = CorpusStore.open(path)
    if st.manifest.get("created_by") != DEMO_CREATED_BY:
        raise MacsError(
            f"--from demo: {path} is not the built-in demo corpus (created by "
            f"{st.manifest.get('created_by')!r}); {hint}, or pass --from STORE"
        )
    return st


def _actor_names(actors: str | None) -> list[str] | None:
    """The --actors list, each a safe name of a built-in actor (a one-line MacsError otherwise)."""
    from macs.core.errors import MacsError
    from macs.core.names import check_name
    from macs.data.labels.registry import ACTOR_KINDS, unknown_actor

    if not actors:
        return None
    names = [a.strip() for a in actors.split(",")]
    for n in names:
        check_name(n, "--actors: actor")
        if n not in ACTOR_KINDS:
            raise MacsError(unknown_actor(n, "--actors"))
    return names


def label(
    ctx: typer.Context,
    config: ConfigOpt = None,
    sets: SetOpt = None,
    executor: Annotated[
        str | None, typer.Option(help="local | ray (default: labels.executor)")
    ] = None,
    actors: Annotated[
        str | None, typer.Option(help="comma-separated actors (default: labels.actors)")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="parallel workers (default: labels.workers)")
    ] = None,
    ray_address: Annotated[
        str | None,
        typer.Option(
            help="Ray cluster HOST:PORT or 'auto' for --executor ray (default: "
            "labels.ray_address, then $RAY_ADDRESS, else a local Ray)"
        ),
    ] = None,
    store: Annotated[
        Path | None, typer.Option(help="corpus store folder (default from the config)")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="relabel even if the sidecar is up to date")
    ] = False,
) -> None:
    """Offline labels for every actor: one sidecar per actor in <store>/labels/<actor>/.

    `macs label train-quality` trains a saved quality model instead (see its --help).
    """
    if ctx.invoked_subcommand is not None:
        return
    from macs.core.timing import Stopwatch
    from macs.data.labels.job import run_labels

    cfg = load(config, sets)
    if ray_address:
        cfg.labels.ray_address = ray_address
    st = _open_store(cfg, store)
    names = _actor_names(actors)
    clock = Stopwatch()
    out = run_labels(
        st,
        cfg.labels,
        cfg.run.seed,
        actors=names,
        executor=executor,
        workers=workers,
        force=force,
        log=lambda s: typer.echo(s, err=True),
    )
    dt = clock.seconds
    if not out:
        typer.echo(
            f"all sidecars up to date in {Path(st.path) / 'labels'} (use --force to relabel)"
        )
        return
    for a, m in out.items():
        counts = ", ".join(f"{k}={v}" for k, v in m["counts"].items())
        typer.echo(
            f"{a} ({m['labeller']}): {counts}; empty={m['n_empty']} truncated={m['n_truncated']}"
        )
    typer.echo(
        f"labelled {st.n_docs} docs x {len(out)} actor(s) in {dt:.1f}s "
        f"({st.n_docs * max(1, len(out)) / max(dt, 1e-9):,.0f} doc-labels/s) -> {Path(st.path) / 'labels'}"
    )
    _say_agreement(st)


def _say_agreement(st) -> None:
    """One line per pair of the store's actors: how much their groupings and scores agree."""
    from macs.data.labels.agreement import agreement_report
    from macs.data.labels.sidecar import available_actors, load_labels

    have = available_actors(st)
    if len(have) < 2:
        return
    rep = agreement_report({a: load_labels(st, a) for a in have})
    for p in rep["pairs"]:
        rho = p["score_spearman"]
        typer.echo(
            f"agreement {' x '.join(p['actors'])}: NMI {p['nmi']:.3f} (MI {p['mi_bits']:.3f} bits)"
            + ("" if rho is None else f", Spearman of scores {rho:+.3f}")
        )
    for e in rep["explained"]:
        if e["eta_squared"] is not None:
            t = e["top20"]
            typer.echo(
                f"agreement: {e['groups_of']} groups explain {e['eta_squared']:.1%} of the "
                f"{e['score_of']} score's variance; its top 20% is {t['share']:.0%} {t['group']}"
            )


def train_quality(
    config: ConfigOpt = None,
    sets: SetOpt = None,
    source: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="'demo' (the built-in corpus at run.data_dir/corpus/demo) or a store folder; "
            "its labels.quality.classifier positive/negative domains are the classes",
        ),
    ] = None,
    positive: Annotated[
        list[Path] | None,
        typer.Option(
            "--positive", help="file of positive docs (lines or JSONL 'text'); repeatable"
        ),
    ] = None,
    negative: Annotated[
        list[Path] | None,
        typer.Option(
            "--negative", help="file of negative docs (lines or JSONL 'text'); repeatable"
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="model folder (default: run.data_dir/quality-models/<name>-v<version>)"),
    ] = None,
    name: Annotated[str, typer.Option(help="model name recorded in model.json")] = "quality-model",
    version: Annotated[str, typer.Option(help="model version recorded in model.json")] = "1",
    weights: Annotated[
        str, typer.Option(help="stored weight type: int8 (smallest) | float16 | float32")
    ] = "int8",
) -> None:
    """Train a saved quality model (hashed word n-grams + logistic regression) reproducibly.

    Use it with `--set labels.quality.model=DIR`. Same data, config and seed -> same bytes.
    """
    from macs.data.labels.qtrain import train_quality_model

    cfg = load(config, sets)
    st = _training_store(cfg, source) if source else None
    seed = cfg.labels.seed if cfg.labels.seed is not None else cfg.run.seed
    dest = out or Path(cfg.run.data_dir) / "quality-models" / f"{name}-v{version}"
    model, rep = train_quality_model(
        dest,
        cfg.labels.quality,
        seed,
        store=st,
        positive_files=positive or [],
        negative_files=negative or [],
        name=name,
        version=version,
        weights=weights,
        log=lambda s: typer.echo(s, err=True),
    )
    ev = rep["eval"]
    aucs = ", ".join(
        f"{k[4:].replace('_', ' ')} {v:.4f} ({ev['n_' + k[4:]][0]:,} vs {ev['n_' + k[4:]][1]:,} docs)"
        for k, v in sorted(ev.items())
        if k.startswith("auc_") and v is not None
    )
    typer.echo(
        f"quality model {model.label()}: {rep['n_train_pos']:,} positive + "
        f"{rep['n_train_neg']:,} negative docs, fit {rep['fit_seconds']:.1f}s; held-out AUC "
        f"{aucs or 'n/a'}; {weights} weights, {rep['bytes'] / 1024:.0f} KiB -> {dest}"
    )
    typer.echo(f"use it: macs label --set labels.quality.model={dest}")


def label_report(
    config: ConfigOpt = None,
    sets: SetOpt = None,
    store: Annotated[
        Path | None, typer.Option(help="corpus store folder (default from the config)")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="also write the report as JSON here")] = None,
) -> None:
    """Validate the sidecars: quality AUC (ham vs spam), per-domain means, topic NMI/ARI, tables."""
    from macs.core.io import write_json
    from macs.data.labels.validate import format_report, validation_report

    cfg = load(config, sets)
    st = _open_store(cfg, store)
    rep = validation_report(st, cfg.labels, cfg.run.seed)
    typer.echo(format_report(rep))
    if out:
        write_json(out, rep)
        typer.echo(f"report -> {out}")


def register(app: typer.Typer) -> None:
    """Add this layer's commands to the root app."""
    label_app = typer.Typer(
        invoke_without_command=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
    )
    app.add_typer(label_app, name="label")
    label_app.callback()(label)
    label_app.command("train-quality")(train_quality)
    app.command("label-report")(label_report)
