"""CLI commands of macs.train (heavy imports inside the command functions)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from macs.app.cli_common import ConfigOpt, SetOpt, load


def train_cmd(
    config: ConfigOpt = None,
    sets: SetOpt = None,
    resume: Annotated[
        Path | None,
        typer.Option(
            "--resume", help="continue the run in this directory from its latest checkpoint"
        ),
    ] = None,
) -> None:
    """Staged pretraining with online multi-actor selection (run under torchrun for DDP)."""
    from macs.app.training import resume_config, train_from_config
    from macs.core.errors import MacsError

    if resume is not None:
        if config is not None or sets:
            raise MacsError("--resume uses the run's own config.yaml; drop --config/--set")
        cfg = resume_config(resume)
    else:
        cfg = load(config, sets)
    res = train_from_config(cfg)
    if res.finished:
        typer.echo(
            f"trained {res.steps} steps, {res.tokens} tokens, final loss {res.final_loss:.4f}, "
            f"online overhead {res.overhead:.1%} -> {res.run_dir}"
        )


def register(app: typer.Typer) -> None:
    """Add this layer's commands to the root app."""
    app.command("train")(train_cmd)
