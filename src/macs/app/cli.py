"""The `macs` command. Each layer registers its own subcommands; heavy imports stay inside them."""

from __future__ import annotations

import importlib
import sys
from typing import Annotated

import typer

from macs import __version__

app = typer.Typer(
    name="macs",
    help="Multi-actor collaborative pretraining data selection: corpus -> labels -> staged training "
    "with online selection -> evaluation -> report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Each module defines `register(app: typer.Typer) -> None`.
_COMMAND_MODULES = [
    "macs.app.commands.corpus",
    "macs.app.commands.labels",
    "macs.app.commands.rewards",
    "macs.app.commands.train",
    "macs.app.commands.eval",
    "macs.app.commands.report",
    "macs.app.commands.pipeline",
    "macs.app.commands.export",
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"macs {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """macs: select pretraining data by multi-actor collaboration (Bai et al., ACL 2025)."""


for _mod in _COMMAND_MODULES:
    importlib.import_module(_mod).register(app)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app; user errors print one clear line and exit 2, no traceback;
    a command's own exit status (typer.Exit, e.g. 3 for a partial import) is passed on."""
    from macs.core.errors import EXIT_INTERRUPTED, EXIT_USER_ERROR, MacsError

    try:
        rv = app(args=argv, standalone_mode=False)
    except MacsError as e:
        _error(str(e))
        sys.exit(EXIT_USER_ERROR)
    except KeyboardInterrupt:
        typer.secho("interrupted (rerun the same command to resume)", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except SystemExit:
        raise
    except OSError as e:  # disk full or a folder that is not writable, anywhere
        from macs.core.io import write_failure

        err = write_failure(e)
        if err is None:
            raise
        _error(str(err))
        sys.exit(EXIT_USER_ERROR)
    except Exception as e:  # usage errors of click (or of the click that typer vendors)
        if callable(getattr(e, "show", None)) and isinstance(getattr(e, "exit_code", None), int):
            e.show()
            sys.exit(e.exit_code)
        if type(e).__name__ == "Abort":
            sys.exit(1)
        raise
    if isinstance(rv, int) and not isinstance(rv, bool) and rv:
        sys.exit(rv)


def _error(msg: str) -> None:
    """Print a user error as `error: ...` on one line (inner line breaks become '; ')."""
    one = "; ".join(part.strip() for part in msg.splitlines() if part.strip())
    typer.secho(f"error: {one}", err=True, fg=typer.colors.RED)
