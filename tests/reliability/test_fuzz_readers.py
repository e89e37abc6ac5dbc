"""Property-based fuzzing of every corpus reader (hypothesis): random bytes, random cuts and
byte flips of valid files in each format, random JSON values in the text/id/domain fields.
Every case either imports with reconciling counts and keeps every record the oracle can read
intact, or fails with a one-line MacsError naming the file; never another exception.

CI runs the short profile (derandomized, a few dozen cases per property); `MACS_FUZZ=long`
selects the long one (benchmarks/fault_campaign.py runs it and tabulates the outcomes).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))
from faults import (  # noqa: E402
    FORMATS,
    damage,
    fixture_records,
    run_import,
    survivors,
    write_valid,
)

_COMMON = {
    "deadline": None,
    "database": None,
    "derandomize": True,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}
settings.register_profile("short", max_examples=150, **_COMMON)
settings.register_profile("long", max_examples=2500, **_COMMON)
PROFILE = "long" if os.environ.get("MACS_FUZZ") == "long" else "short"
settings.load_profile(PROFILE)

RECORDS = fixture_records(24)
VALID: dict[str, bytes] = {}  # format -> bytes of the valid file (files: one per format)


def _valid_bytes(fmt: str) -> bytes:
    if fmt not in VALID:
        with tempfile.TemporaryDirectory() as d:
            VALID[fmt] = write_valid(fmt, RECORDS, Path(d) / "a").read_bytes()
    return VALID[fmt]


def _check(outcome) -> None:
    assert outcome.survived, outcome.detail
    assert not outcome.traceback and outcome.lost == 0


_CASE_DIRS: list[Path] = []


def _tmp() -> Path:
    """A fresh folder for one case; the previous case's folder is removed (hypothesis runs
    cases one after another, and function-scoped fixtures do not reset between them)."""
    while _CASE_DIRS:
        shutil.rmtree(_CASE_DIRS.pop(), ignore_errors=True)
    d = Path(tempfile.mkdtemp(prefix="macs-fuzz-"))
    _CASE_DIRS.append(d)
    return d


@pytest.fixture(autouse=True, scope="module")
def _remove_case_dirs():
    yield
    while _CASE_DIRS:
        shutil.rmtree(_CASE_DIRS.pop(), ignore_errors=True)


BINARY_FORMATS = [f for f in FORMATS if f != "txt"]


@given(
    fmt=st.sampled_from(BINARY_FORMATS),
    cut=st.floats(0.0, 1.0),
    on_error=st.sampled_from(["skip", "skip", "raise"]),
)
def test_truncated_files(fmt, cut, on_error):
    """A valid file cut anywhere."""
    data = _valid_bytes(fmt)
    d = _tmp()
    path = d / f"in.{fmt}"
    path.write_bytes(damage(data, cut=int(cut * len(data))))
    keep = survivors(fmt, path, RECORDS)
    _check(run_import(f"truncate {fmt}", [path], d / "s", keep, on_error=on_error))


@given(
    fmt=st.sampled_from(BINARY_FORMATS),
    flips=st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(1, 255)), min_size=1, max_size=3),
    cut=st.one_of(st.none(), st.floats(0.5, 1.0)),
)
def test_flipped_bytes(fmt, flips, cut):
    """A valid file with 1-3 flipped bytes (and sometimes cut too)."""
    data = _valid_bytes(fmt)
    d = _tmp()
    path = d / f"in.{fmt}"
    path.write_bytes(damage(data, cut=None if cut is None else int(cut * len(data)), flips=flips))
    keep = survivors(fmt, path, RECORDS)
    _check(run_import(f"flip {fmt}", [path], d / "s", keep))


_MAGIC = {
    "jsonl": b"",
    "jsonl.gz": b"\x1f\x8b\x08\x00",
    "jsonl.zst": b"\x28\xb5\x2f\xfd",
    "parquet": b"PAR1",
    "arrow": b"\xff\xff\xff\xff",
}


@given(
    fmt=st.sampled_from(BINARY_FORMATS),
    body=st.binary(max_size=600),
    magic=st.booleans(),
    on_error=st.sampled_from(["skip", "raise"]),
)
def test_random_bytes(fmt, body, magic, on_error):
    """Random bytes under each format's name (sometimes after its magic number)."""
    d = _tmp()
    path = d / f"in.{fmt}"
    data = (_MAGIC[fmt] if magic else b"") + body
    if fmt == "parquet" and magic:
        data += b"PAR1"
    path.write_bytes(data)
    _check(run_import(f"random bytes {fmt}", [path], d / "s", [], on_error=on_error))


@given(
    files=st.lists(
        st.one_of(
            st.binary(max_size=200),
            st.text(max_size=200).map(lambda s: s.encode("utf-8")),
            st.integers(0, len(RECORDS) - 1).map(lambda k: RECORDS[k]["text"].encode()),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_text_folders(files):
    """A folder of .txt files holding random bytes, random text and real documents."""
    d = _tmp()
    folder = d / "txt"
    folder.mkdir()
    for k, data in enumerate(files):
        (folder / f"{k:03d}.txt").write_bytes(data)
    keep = []
    for k, data in enumerate(files):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if text.strip():
            keep.append(((folder / f"{k:03d}.txt").as_posix(), text, "default"))
    _check(run_import("text folder", [folder], d / "s", keep))


_SURROGATES = st.sampled_from(["\ud800", "ab\udfffcd", "\udc00\ud83d"])
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(-(10**30), 10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | _SURROGATES
    | st.sampled_from(["", " ", "\t\n", "\u3000", "\x1c"])
)
_VALUES = st.recursive(
    _SCALARS,
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
    max_leaves=6,
)
_MISSING = object()


def _field(values):
    return st.one_of(st.just(_MISSING), values)


def _expected_row(obj, label: str, line: int):
    """The stored (id, text, domain) of a record under macs's rules, or None when skipped."""
    text = obj.get("text")
    if not isinstance(text, str) or not text.strip() or not _utf8(text):
        return None
    did = obj.get("id")
    if isinstance(did, bool) or (did is not None and not isinstance(did, str | int)):
        return None
    if isinstance(did, str) and not _utf8(did):
        return None
    dom = obj.get("domain")
    if isinstance(dom, str) and not _utf8(dom):
        return None
    if did is None or (isinstance(did, str) and not did.strip()):
        did = f"{label}:{line}"
    return str(did), text, dom if (dom is None or isinstance(dom, str)) else ...


def _utf8(s: str) -> bool:
    try:
        s.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


@given(
    recs=st.lists(
        st.fixed_dictionaries(
            {},
            optional={
                "text": _VALUES | st.text(min_size=1, max_size=50),
                "id": _VALUES,
                "domain": _VALUES,
            },
        ),
        min_size=1,
        max_size=12,
    ),
    ascii_only=st.booleans(),
    parse_threads=st.sampled_from([0, 0, 1]),
)
def test_random_json_field_values(recs, ascii_only, parse_threads):
    """Records with random JSON values in text/id/domain between real ones: each is stored
    exactly as macs's rules say (ids from ints, blank/missing ids generated) or skipped."""
    d = _tmp()
    path = d / "in.jsonl"
    lines, objs = [], []
    for k, r in enumerate(recs):
        real = RECORDS[k % len(RECORDS)]
        lines.append(json.dumps(real, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass"))
        objs.append(real)
        lines.append(json.dumps(r, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass"))
        objs.append(r)
    path.write_bytes(b"\n".join(lines) + b"\n")
    expect, seen = [], set()
    for k, (line, obj) in enumerate(zip(lines, objs, strict=True)):
        try:
            obj = json.loads(line.decode("utf-8"))
        except UnicodeDecodeError:
            continue  # a raw surrogate in the bytes: the line is invalid UTF-8
        row = _expected_row(obj, path.as_posix(), k + 1)
        if row is not None and row[0] not in seen:
            seen.add(row[0])
            expect.append(row)
    out = run_import(
        "json values", [path], d / "s", [], parse_threads=parse_threads, dedup_texts=False
    )
    _check(out)
    from macs.data.corpus.store import CorpusStore

    store = CorpusStore.open(d / "s")
    got = list(zip(*(store.read_column(c) for c in ("id", "text", "domain")), strict=True))
    assert [g[:2] for g in got] == [e[:2] for e in expect]
    for g, e in zip(got, expect, strict=True):
        if e[2] is not ...:
            assert g[2] == ("default" if e[2] is None else e[2])


@pytest.mark.parametrize("fmt", FORMATS)
def test_valid_files_import_whole(tmp_path, fmt):
    """The oracle's baseline: an undamaged file of each format keeps every record."""
    path = write_valid(fmt, RECORDS, tmp_path / "a")
    keep = survivors(fmt, path, RECORDS)
    assert len(keep) == len(RECORDS)
    out = run_import(f"valid {fmt}", [path], tmp_path / "s", keep, on_error="raise")
    _check(out)
    assert out.counts["written"] == len(RECORDS) and not out.counts["faults"]
