"""Options shared by every subcommand (kept import-light: no torch, no pyarrow)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="YAML config file (defaults apply without one)."),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set", "-s", help="Override a config field, e.g. --set train.tokens=2e6 (repeatable)."
    ),
]


def load(config: Path | None, sets: list[str] | None):
    """Load the config with overrides (imported lazily so --help stays fast)."""
    from macs.app.config import load_config

    return load_config(config, sets)
