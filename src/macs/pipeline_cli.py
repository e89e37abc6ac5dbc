"""CLI commands of the main jobs (`macs run`); heavy imports inside the command functions."""

from __future__ import annotations

from typing import Annotated

import typer

from macs.cli_common import ConfigOpt, SetOpt, load


def run_cmd(
    config: ConfigOpt = None,
    sets: SetOpt = None,
    baselines: Annotated[
        str,
        typer.Option(
            help="comma-separated baseline methods run at equal tokens (random, fixed_theta, ...)"
        ),
    ] = "random",
    seeds: Annotated[
        str | None, typer.Option(help="comma-separated seeds (default: run.seed)")
    ] = None,
    method: Annotated[str, typer.Option(help="the method (a selector name)")] = "multi_actor",
) -> None:
    """The main job: corpus -> tokenizer -> token shards -> labels -> method + baselines -> eval -> report.

    Without --config it runs the CPU demo (configs/demo.yaml; --set overrides apply on top).
    Finished steps are reused.
    """
    from macs.pipeline import demo_config, run_pipeline

    cfg = load(config, sets) if config is not None else demo_config(sets)
    seed_list = [int(s) for s in seeds.split(",")] if seeds else None
    report = run_pipeline(
        cfg, method=method, baselines=[b for b in baselines.split(",") if b], seeds=seed_list
    )
    typer.echo(f"report: {report}")


def register(app: typer.Typer) -> None:
    """Add the main jobs' commands to the root app."""
    app.command("run")(run_cmd)
