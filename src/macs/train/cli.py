"""CLI commands of macs.train (heavy imports inside the command functions)."""

import typer


def register(app: typer.Typer) -> None:
    """Add this layer's commands to the root app."""
