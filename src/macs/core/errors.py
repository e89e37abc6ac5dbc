"""User-facing errors: the CLI prints these as one clear message, never a traceback."""

# exit statuses of the `macs` command
EXIT_USER_ERROR = 2  # a MacsError (bad input, config, missing file or package); nothing written
EXIT_PARTIAL = 3  # `macs corpus import --on-error skip`: a damaged input file was cut short
EXIT_INTERRUPTED = 130  # Ctrl-C; rerun the same command to resume


class MacsError(Exception):
    """A problem the user can fix (bad input, missing file or package); the message says how."""


class MissingDependency(MacsError):
    """An optional package is needed; the message names what to install."""

    def __init__(self, package: str, extra: str | None = None, why: str = ""):
        how = f'pip install "macs[{extra}]"' if extra else f"pip install {package}"
        super().__init__(
            f"{why + ': ' if why else ''}the package '{package}' is not installed; run `{how}`"
        )
        self.package = package


def require(module: str, package: str | None = None, extra: str | None = None, why: str = ""):
    """Import and return `module`, or raise MissingDependency naming what to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:  # pragma: no cover - exercised via tests with fake names
        raise MissingDependency(package or module, extra, why) from e
