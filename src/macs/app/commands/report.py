"""CLI commands of macs.app.report (heavy imports inside the command functions)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def report_cmd(
    run_dirs: Annotated[list[Path], typer.Argument(help="run directories written by `macs train`")],
    out: Annotated[
        Path | None, typer.Option(help="output folder (default: <first run>/report)")
    ] = None,
    method: Annotated[
        str, typer.Option(help="the mode compared against the others")
    ] = "multi_actor",
    title: Annotated[str, typer.Option(help="report title")] = "macs report",
) -> None:
    """Plots (theta, group weights, selected mix vs pool, loss) and the eval table -> report.md + report.html."""
    from macs.app.report.build import build_report

    path = build_report(run_dirs, out, method=method, title=title)
    typer.echo(f"report: {path} (and {path.with_suffix('.html')})")


def register(app: typer.Typer) -> None:
    """Add this layer's commands to the root app."""
    app.command("report")(report_cmd)
