"""One progress bar and one timer for every long job (import-light: rich is imported on use).

`Bar` draws a rich progress bar on an interactive stderr; elsewhere (CI, logs, pipes) it
prints a plain line at most every `every_s` seconds, so long work shows progress either way.
`Timer` accumulates named wall-clock spans (`with timer("reward"): ...`) into a dict.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager


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
        self._t0 = time.perf_counter()
        self._last = self._t0
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
            now = time.perf_counter()
            if now - self._last >= self.every_s:
                self._last = now
                print(f"[{self.what}] {self._count()} {self.text}".rstrip(), file=sys.stderr)

    def _count(self) -> str:
        rate = self.n / max(time.perf_counter() - self._t0, 1e-9)
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


class Timer:
    """Named wall-clock spans in seconds: `with t("reward"): ...`; `t.seconds` holds the totals."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - t0)

    def add(self, name: str, seconds: float) -> None:
        """Add `seconds` to the span `name`."""
        self.seconds[name] = self.seconds.get(name, 0.0) + float(seconds)

    def total(self) -> float:
        """Sum of all spans (seconds)."""
        return float(sum(self.seconds.values()))
