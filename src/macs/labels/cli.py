"""CLI commands of macs.labels (heavy imports inside the command functions)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from macs.cli_common import ConfigOpt, SetOpt, load


def _open_store(cfg, store: Path | None):
    from macs.corpus.store import CorpusStore, store_path

    return CorpusStore.open(store or cfg.labels.store or store_path(cfg))


def register(app: typer.Typer) -> None:
    """Add this layer's commands to the root app."""

    @app.command("label")
    def label(
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
        """Offline labels for every actor: one sidecar per actor in <store>/labels/<actor>/."""
        import time

        from macs.labels.job import run_labels

        cfg = load(config, sets)
        if ray_address:
            cfg.labels.ray_address = ray_address
        st = _open_store(cfg, store)
        names = [a.strip() for a in actors.split(",")] if actors else None
        t0 = time.perf_counter()
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
        dt = time.perf_counter() - t0
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

    @app.command("label-report")
    def label_report(
        config: ConfigOpt = None,
        sets: SetOpt = None,
        store: Annotated[
            Path | None, typer.Option(help="corpus store folder (default from the config)")
        ] = None,
        out: Annotated[Path | None, typer.Option(help="also write the report as JSON here")] = None,
    ) -> None:
        """Validate the sidecars: quality AUC (ham vs spam), per-domain means, topic NMI/ARI, tables."""
        from macs.io import write_json
        from macs.labels.validate import format_report, validation_report

        cfg = load(config, sets)
        st = _open_store(cfg, store)
        rep = validation_report(st, cfg.labels, cfg.run.seed)
        typer.echo(format_report(rep))
        if out:
            write_json(out, rep)
            typer.echo(f"report -> {out}")
