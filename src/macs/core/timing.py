"""Wall-clock timing for every cost macs records (seconds from `time.perf_counter`).

`Stopwatch` runs from creation: `sw.seconds` reads the time so far, `sw.lap()` the time since
the previous lap, `sw.stop()` freezes it and `sw.start()` resumes (so pauses are left out).
`timed()` is the `with` form: it yields a stopwatch, stops it when the block ends (also on an
exception) and, given a dict and a name, adds the block's seconds to that entry. `Timer` collects named spans in one dict:
`with timer("fetch"): ...`; `timer.seconds` holds the totals.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager


class Stopwatch:
    """Seconds of wall-clock time, running from creation unless `running=False`."""

    def __init__(self, running: bool = True) -> None:
        self._done = 0.0
        self._t0: float | None = time.perf_counter() if running else None
        self._lap = 0.0

    @property
    def running(self) -> bool:
        return self._t0 is not None

    @property
    def seconds(self) -> float:
        """Seconds measured so far (the stopped spans plus the running one)."""
        if self._t0 is None:
            return self._done
        return self._done + (time.perf_counter() - self._t0)

    def lap(self) -> float:
        """Seconds measured since the previous lap (the first: since the start)."""
        s = self.seconds
        dt, self._lap = s - self._lap, s
        return dt

    def start(self) -> Stopwatch:
        """Resume (a no-op if running); later time adds to what was measured."""
        if self._t0 is None:
            self._t0 = time.perf_counter()
        return self

    def stop(self) -> float:
        """Stop (a no-op if stopped) and return the seconds measured."""
        if self._t0 is not None:
            self._done += time.perf_counter() - self._t0
            self._t0 = None
        return self._done

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"Stopwatch({self.seconds:.6f} s, {state})"


@contextmanager
def timed(
    into: MutableMapping[str, float] | None = None, name: str | None = None
) -> Iterator[Stopwatch]:
    """Time the `with` block: yields a running Stopwatch, stopped when the block ends (also when
    it raises); with `into` and `name`, the block's seconds are added to `into[name]`."""
    if (into is None) != (name is None):
        raise TypeError("timed() takes both `into` and `name`, or neither")
    sw = Stopwatch()
    try:
        yield sw
    finally:
        seconds = sw.stop()
        if into is not None:
            into[name] = into.get(name, 0.0) + seconds


class Timer:
    """Named wall-clock spans in seconds: `with t("reward"): ...`; `t.seconds` holds the totals."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def __call__(self, name: str):
        """A `with` block whose seconds add to span `name` (see `timed`)."""
        return timed(self.seconds, name)

    def add(self, name: str, seconds: float) -> None:
        """Add `seconds` to the span `name`."""
        self.seconds[name] = self.seconds.get(name, 0.0) + float(seconds)

    def total(self) -> float:
        """Sum of all spans (seconds)."""
        return float(sum(self.seconds.values()))


__all__ = ["Stopwatch", "Timer", "timed"]
