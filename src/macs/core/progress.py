"""One progress bar for every long job (import-light: rich is imported on use).

`Bar` draws a rich progress bar on an interactive stderr; elsewhere (CI, logs, pipes) it
prints a plain line at most every `every_s` seconds, so long work shows progress either way.
Timing (stopwatches, named spans) lives in `macs.core.timing`.
"""

from __future__ import annotations

import sys

from macs.core.timing import Stopwatch


class Bar:
    """Progress over `total` units (docs, bytes, steps); `update`/`advance` it, `close` it (or use `with`)."""

    def __init__(
        self,
        total: int | None,
        what: str,
        enabled: bool = True,
        unit: str = "",
        every_s: float = 30.0,
        done: int = 0,
        transfer: bool = False,
    ):
        self.total = total
        self.what = what
        self.unit = unit
        self.every_s = float(every_s)
        self.n = int(done)
        self.text = ""
        self._clock = Stopwatch()
        self._last = 0.0
        self._p = None
        self._plain = bool(enabled) and not sys.stderr.isatty() and every_s > 0
        if enabled and sys.stderr.isatty():
            self._start_rich(transfer)

    def _start_rich(self, transfer: bool) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        counts = (DownloadColumn(), TransferSpeedColumn()) if transfer else (MofNCompleteColumn(),)
        self._p = Progress(
            TextColumn(f"[bold]{self.what}"),
            BarColumn(),
            *counts,
            TimeRemainingColumn(),
            TextColumn("{task.description}"),
            console=Console(stderr=True),
            transient=True,
        )
        self._p.start()
        self._task = self._p.add_task("", total=self.total, completed=self.n)

    def advance(self, n: int = 1, text: str | None = None) -> None:
        """Count `n` more units done (and optionally replace the status text)."""
        self.update(self.n + int(n), text)

    def update(self, done: int, text: str | None = None) -> None:
        """Set the units done so far (and optionally the status text)."""
        self.n = int(done)
        if text is not None:
            self.text = text
        if self._p is not None:
            self._p.update(self._task, completed=self.n, description=self.text)
        elif self._plain:
            now = self._clock.seconds
            if now - self._last >= self.every_s:
                self._last = now
                print(f"[{self.what}] {self._count()} {self.text}".rstrip(), file=sys.stderr)

    def _count(self) -> str:
        rate = self.n / max(self._clock.seconds, 1e-9)
        of = f"/{self.total:,}" if self.total else ""
        return f"{self.n:,}{of} {self.unit}".rstrip() + f" ({rate:,.1f}/s)"

    def close(self) -> None:
        """Remove the bar (the caller prints its own summary line)."""
        if self._p is not None:
            self._p.stop()
            self._p = None
        self._plain = False

    def __enter__(self) -> Bar:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
