"""macs.core.timing: the one stopwatch every recorded cost (seconds) is measured with (issue 21)."""

from __future__ import annotations

import time

import pytest

from macs.core import timing
from macs.core.progress import Bar
from macs.core.timing import Stopwatch, Timer, timed


class FakeClock:
    """A perf_counter that moves only when told (exact arithmetic for the span bookkeeping)."""

    def __init__(self, t: float = 1000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t

    def tick(self, s: float) -> None:
        self.t += s


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    c = FakeClock()
    monkeypatch.setattr(timing.time, "perf_counter", c)
    return c


def test_stopwatch_measures_a_real_sleep():
    sw = Stopwatch()
    time.sleep(0.05)
    s = sw.seconds
    assert 0.05 <= s < 5.0
    with timed() as t:
        time.sleep(0.02)
    assert t.seconds >= 0.02
    assert not t.running


def test_stopwatch_stop_freezes_and_start_resumes(clock):
    sw = Stopwatch()
    clock.tick(2.0)
    assert sw.seconds == 2.0 and sw.running
    assert sw.stop() == 2.0
    clock.tick(100.0)  # a pause is not counted
    assert sw.seconds == 2.0 and not sw.running
    assert sw.stop() == 2.0  # stopping twice changes nothing
    sw.start()
    clock.tick(0.5)
    assert sw.seconds == 2.5
    assert sw.start() is sw  # starting a running one changes nothing
    clock.tick(0.5)
    assert sw.stop() == 3.0


def test_stopwatch_created_stopped_counts_from_start(clock):
    sw = Stopwatch(running=False)
    clock.tick(7.0)
    assert sw.seconds == 0.0
    sw.start()
    clock.tick(1.5)
    assert sw.seconds == 1.5


def test_laps_split_the_total(clock):
    sw = Stopwatch()
    clock.tick(1.0)
    assert sw.lap() == 1.0
    clock.tick(2.0)
    assert sw.lap() == 2.0
    clock.tick(4.0)
    assert sw.lap() == 4.0
    assert sw.lap() == 0.0
    assert sw.seconds == 7.0  # laps do not reset the total


def test_timed_adds_into_named_costs(clock):
    costs: dict[str, float] = {"io": 1.0}
    with timed(costs, "io") as sw:
        clock.tick(2.0)
    assert sw.seconds == 2.0
    with timed(costs, "fit"):
        clock.tick(3.0)
    with timed(costs, "io"):
        clock.tick(0.25)
    assert costs == {"io": 3.25, "fit": 3.0}
    assert list(costs) == ["io", "fit"]  # a new name joins at the end (log key order)


def test_timed_records_when_the_block_raises(clock):
    costs: dict[str, float] = {}
    with pytest.raises(ValueError, match="boom"), timed(costs, "work") as sw:
        clock.tick(1.5)
        raise ValueError("boom")
    assert costs == {"work": 1.5}
    assert not sw.running and sw.seconds == 1.5


def test_timed_nests(clock):
    costs: dict[str, float] = {}
    with timed(costs, "outer") as outer:
        clock.tick(1.0)
        with timed(costs, "inner") as inner:
            clock.tick(2.0)
        clock.tick(0.5)
    assert inner.seconds == 2.0 and outer.seconds == 3.5
    assert costs == {"inner": 2.0, "outer": 3.5}


def test_timed_needs_both_into_and_name():
    with pytest.raises(TypeError), timed({}):
        pass
    with pytest.raises(TypeError), timed(name="x"):
        pass


def test_timer_collects_named_spans(clock):
    t = Timer()
    with t("fetch"):
        clock.tick(1.0)
    with t("extract"):
        clock.tick(2.0)
    with pytest.raises(KeyError), t("fetch"):
        clock.tick(0.5)
        raise KeyError("x")
    t.add("extract", 0.25)
    assert t.seconds == {"fetch": 1.5, "extract": 2.25}
    assert t.total() == 3.75


def test_plain_bar_rate_and_interval_come_from_the_stopwatch(clock, monkeypatch, capsys):
    monkeypatch.setattr("sys.stderr.isatty", lambda: False, raising=False)
    bar = Bar(100, "demo", unit="docs", every_s=10.0)
    clock.tick(4.0)
    bar.update(20)  # before every_s: no line
    assert capsys.readouterr().err == ""
    clock.tick(6.0)
    bar.update(50, "half")
    assert capsys.readouterr().err == "[demo] 50/100 docs (5.0/s) half\n"
    clock.tick(5.0)
    bar.advance(10)  # 5 s since the last line: none
    assert capsys.readouterr().err == ""
    bar.close()
