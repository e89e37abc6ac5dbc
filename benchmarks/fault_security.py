"""Security sections of the fault campaign (issue 22): the adversary's and careless user's
cases, each checked for a one-line error or the documented outcome, 0 tracebacks, 0 valid
records lost, 0 writes outside the output, and peak memory under a bound.

names: `corpus import --name ../../../victim`, an existing --out that is not a store (and
   --force), `--set run.name=../../../x`, `--actors a/b`, a file of blank lines, through the
   real CLI in a sandbox whose other files are snapshotted before and compared after; then
   fuzzed names (hypothesis) for store, run, tokenizer and actor names: each is refused with
   one MacsError line, or accepted and its path stays inside its parent.
memory: a 200 MB line, a 61 KB .zst that expands to 2 GB of newlines and one that expands to
   one 2 GB line, a 1 GB gzip of newlines, all through `macs corpus import --on-error skip`
   under `/usr/bin/time -v` (peak RSS must stay under MEM_BOUND_MB, the good records around
   them kept); fuzzed nesting depths and record sizes around a 1 MB limit (hypothesis).
rows of helper A1 (pickles, locks, symlinked locks, resume after an early kill): the tests
   that check each row, run and counted case by case (see `others_rows`).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
MEM_BOUND_MB = 1024
MB = 1 << 20
peaks: dict[str, float] = {}  # case -> peak RSS MB (printed and stored with the table)


def _cli(args, cwd: Path, timed: bool = False, timeout: float = 900) -> tuple[int, str, str, float]:
    """(exit status, stdout, stderr, peak RSS MB or 0) of `python -m macs ARGS`."""
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    cmd = [sys.executable, "-m", "macs", *map(str, args)]
    if timed:
        cmd = ["/usr/bin/time", "-v", *cmd]
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr)
    err = r.stderr.split("\tCommand being timed:")[0] if timed else r.stderr
    return r.returncode, r.stdout, err, int(m.group(1)) / 1024 if m else 0.0


def _snapshot(root: Path, skip: tuple[Path, ...] = ()) -> dict[str, tuple]:
    """path -> (size, mtime_ns) of every file (and each folder's existence) under root,
    outside `skip`."""
    out = {}
    for p in root.rglob("*"):
        if any(p == s or s in p.parents for s in skip):
            continue
        st = p.lstat()  # a folder's mtime moves when a temp sibling comes and goes: not kept
        key = str(p.relative_to(root))
        out[key] = (st.st_size, st.st_mtime_ns) if p.is_file() or p.is_symlink() else (-1, 0)
    return out


def _one_error(code: int, err: str, must: str = "") -> bool:
    lines = [x for x in err.splitlines() if x.strip()]
    return code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and must in lines[0]


def _rec(i: int, text: str) -> bytes:
    return json.dumps({"id": f"r{i}", "text": text}).encode() + b"\n"


# --- names and outputs ---------------------------------------------------------------------


def names(table, tmp: Path, quick: bool) -> None:
    box = tmp / "box"
    cwd = box / "work" / "a" / "b"
    cwd.mkdir(parents=True)
    (box / "victim").mkdir()
    (box / "victim" / "keep.txt").write_text("precious")
    (box / "thesis").mkdir()
    (box / "thesis" / "paper.tex").write_text("chapter 1")
    tiny = cwd / "tiny.jsonl"
    tiny.write_bytes(b"".join(_rec(i, f"document number {i}") for i in range(5)))
    (cwd / "blanks.jsonl").write_bytes(b"\n \n\n")
    store = cwd / ".macs" / "corpus" / "tiny"
    code, _, err, _ = _cli(["corpus", "import", tiny, "--name", "tiny", "-q"], cwd)
    assert code == 0, err
    cases = [  # (row, argv, text the one error line must hold)
        ("name escapes", ["corpus", "import", tiny, "--name", "../../../victim"], "safe"),
        ("output not a store", ["corpus", "import", tiny, "--out", box / "thesis"], "--force"),
        ("run name escapes", ["select", "--set", "run.name=../../../x"], "safe run name"),
        ("run name escapes (train)", ["train", "--set", "run.name=../../x"], "safe run name"),
        ("actor with a slash", ["label", "--store", store, "--actors", "a/b"], "safe name"),
        ("actor typo", ["label", "--store", store, "--actors", "qualty"], "did you mean"),
        ("file of blank lines", ["corpus", "import", "blanks.jsonl", "--out", "bl"], "empty"),
    ]
    for row, argv, must in cases:
        before = _snapshot(box, skip=(store.parent,))
        code, _, err, _ = _cli([*argv, "-q"] if argv[0] == "corpus" else argv, cwd)
        outside = before != _snapshot(box, skip=(store.parent,))
        ok = _one_error(code, err, must) and not outside
        table.add(f"security: {row}", ok, 0, "Traceback" in err, f"{argv}: rc {code} {err}")
    # --force replaces the non-store output (the user asked), and only it
    before = _snapshot(box, skip=(box / "thesis",))
    code, _, err, _ = _cli(["corpus", "import", tiny, "--out", box / "thesis", "--force"], cwd)
    ok = code == 0 and (box / "thesis" / "manifest.json").exists()
    ok = ok and before == _snapshot(box, skip=(box / "thesis",))
    table.add("security: output not a store, --force", ok, 0, "Traceback" in err, err)
    _fuzz_names(table, tmp, 60 if quick else 400)


def _fuzz_names(table, tmp: Path, n: int) -> None:
    """Hypothesis names for store, run, tokenizer and actor: refused in one MacsError line, or
    accepted with every path they make inside its parent."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from macs.app.config import load_config
    from macs.core.errors import MacsError
    from macs.data.corpus.store import store_path
    from macs.data.corpus.tokenizer import tokenizer_dir

    runs, data = tmp / "runs", tmp / "data"
    alphabet = st.sampled_from(list("ab/.\\-_ :+~$*\x00é\n") + ["..", "../", "/etc"])
    fields = ["corpus.name", "run.name", "tokenizer.name", "selection.actors"]

    @settings(max_examples=n, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(alphabet, max_size=12).map("".join), st.sampled_from(fields))
    def case(name: str, field: str) -> None:
        value = json.dumps([name]) if field == "selection.actors" else json.dumps(name)
        sets = [f"run.runs_dir={runs}", f"run.data_dir={data}", f"{field}={value}"]
        kind = f"security: fuzzed {field.split('.')[0]} names"
        try:
            cfg = load_config(None, sets)
        except MacsError as e:
            table.add(kind, "\n" not in str(e), 0, False, str(e))
            return
        except Exception as e:  # noqa: BLE001 - the campaign counts these
            table.add(kind, False, 0, True, f"{name!r}: {type(e).__name__}: {e}")
            return
        try:
            paths = [
                (cfg.run.run_dir, runs),
                (store_path(cfg), data / "corpus"),
                (tokenizer_dir(cfg), data / "tokenizers"),
            ]
            paths += [
                (data / "corpus" / "s" / "labels" / a.name, data / "corpus" / "s" / "labels")
                for a in cfg.selection.actor_specs()
            ]
        except MacsError as e:
            table.add(kind, "\n" not in str(e), 0, False, str(e))
            return
        inside = all(
            p.resolve().parent == top.resolve() or top.resolve() in p.resolve().parents
            for p, top in paths
        )
        table.add(kind, inside, 0, False, f"{field}={name!r} accepted and leads outside")

    case()


# --- bounded memory per record -------------------------------------------------------------


def _write_zst(path: Path, head: bytes, fill: bytes, n_fill: int, tail: bytes) -> None:
    import zstandard

    with open(path, "wb") as f, zstandard.ZstdCompressor(level=19).stream_writer(f) as w:
        w.write(head)
        for _ in range(n_fill):
            w.write(fill)
        w.write(tail)


def _write_gz(path: Path, head: bytes, fill: bytes, n_fill: int, tail: bytes) -> None:
    import gzip

    with gzip.open(path, "wb", compresslevel=9) as w:
        w.write(head)
        for _ in range(n_fill):
            w.write(fill)
        w.write(tail)


def memory(table, tmp: Path, quick: bool) -> None:
    scale = 8 if quick else 1  # --quick: 8x smaller inputs
    head, tail = _rec(1, "before the bomb"), b"\n" + _rec(2, "after the bomb")
    big = tmp / "line200.jsonl"
    with open(big, "wb") as f:
        f.write(head + b'{"id": "huge", "text": "')
        piece = b"word " * (MB // 5)
        for _ in range(200 // scale):
            f.write(piece)
        f.write(b'"}' + tail)
    under = tmp / "line60.jsonl"  # under the 64 MB default: imported and chunked
    with open(under, "wb") as f:
        f.write(head + b'{"id": "long", "text": "')
        piece = b"word " * (MB // 5)
        for _ in range(60 // scale):
            f.write(piece)
        f.write(b'"}' + tail)
    fill = 16 * MB
    n = 2048 // 16 // scale
    _write_zst(tmp / "nl.jsonl.zst", head, b"\n" * fill, n, tail)
    _write_zst(tmp / "oneline.jsonl.zst", head, b"a" * fill, n, tail)
    _write_gz(tmp / "nl.jsonl.gz", head, b"\n" * fill, n // 2, tail)
    cases = [
        (f"a {200 // scale} MB line", big, {"record_too_large": 1} if 200 // scale > 64 else {}),
        (f"a {60 // scale} MB line (imported, chunked)", under, {}),
        (
            f"a {(tmp / 'nl.jsonl.zst').stat().st_size // 1024} KB .zst of {2048 // scale} MB "
            "of newlines",
            tmp / "nl.jsonl.zst",
            {},
        ),
        (
            f"a {(tmp / 'oneline.jsonl.zst').stat().st_size // 1024} KB .zst of one "
            f"{2048 // scale} MB line",
            tmp / "oneline.jsonl.zst",
            {"record_too_large": 1},
        ),
        (
            f"a {(tmp / 'nl.jsonl.gz').stat().st_size // 1024} KB .gz of {1024 // scale} MB "
            "of newlines",
            tmp / "nl.jsonl.gz",
            {},
        ),
    ]
    for k, (what, path, skipped) in enumerate(cases):
        out = tmp / f"s{k}"
        code, stdout, err, peak = _cli(
            ["corpus", "import", path, "--out", out, "--on-error", "skip", "-q"], tmp, timed=True
        )
        peaks[what] = peak
        from macs.data.corpus.store import CorpusStore

        kept = CorpusStore.open(out).read_column("id") if code == 0 else []
        lost = 2 - len([x for x in kept if x in ("r1", "r2")])
        want = ", ".join(f"{a}={b}" for a, b in skipped.items())
        ok = code == 0 and lost == 0 and peak < MEM_BOUND_MB and (want in stdout)
        table.add(
            f"memory: {what}",
            ok,
            lost,
            "Traceback" in err,
            f"rc {code}, peak {peak:.0f} MB, {stdout.strip()} {err[-300:]}",
        )
        print(f"  {what}: peak RSS {peak:.0f} MB, rc {code}", file=sys.stderr, flush=True)
        for p in (out,):
            subprocess.run(["rm", "-rf", str(p)], check=False)
    for p in (big, under, tmp / "nl.jsonl.zst", tmp / "oneline.jsonl.zst", tmp / "nl.jsonl.gz"):
        p.unlink()
    _fuzz_records(table, tmp, 15 if quick else 60)


def _compress(data: bytes, suffix: str) -> bytes:
    import gzip

    import zstandard

    if suffix.endswith(".gz"):
        return gzip.compress(data, compresslevel=1)
    if suffix.endswith(".zst"):
        return zstandard.ZstdCompressor().compress(data)
    return data


def _fuzz_records(table, tmp: Path, n: int) -> None:
    """Hypothesis: a record nested to a random depth, or of a random size around a 1 MB limit,
    between two good records, under --on-error skip: the good ones kept, the bad one counted."""
    from faults import run_import
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    @settings(max_examples=n, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        st.one_of(
            st.tuples(st.just("depth"), st.integers(1, 300_000)),
            st.tuples(st.just("size"), st.integers(MB - 64, MB + 64) | st.integers(1, 4 * MB)),
        ),
        st.sampled_from(["jsonl", "jsonl.gz", "jsonl.zst"]),
    )
    def case(bad: tuple[str, int], suffix: str) -> None:
        what, k = bad
        if what == "depth":
            line = b'{"id": "x", "text": "nested", "v": ' + b"[" * k + b"]" * k + b"}\n"
        else:
            line = b'{"id": "x", "text": "' + b"s" * max(0, k - 27) + b'"}\n'
        data = _rec(1, "good one") + line + _rec(3, "good two")
        path = tmp / f"rec.{suffix}"
        path.write_bytes(_compress(data, suffix))
        rows = [("r1", "good one", "default"), ("r3", "good two", "default")]
        o = run_import(f"memory: fuzzed record {what}", [path], tmp / "s", rows, max_record_mb=1)
        table.add(o.kind, o.survived, o.lost, o.traceback, o.detail)

    case()


# --- the rows landed by helper A1 (their tests, each counted as a case) -----------------------

A1_ROWS = {
    "a planted pickle": [
        "tests/data/labels/test_labels_no_pickle.py",
        "tests/reliability/test_no_unsafe_loads.py",
    ],
    "a symlinked lock": [
        "tests/reliability/test_store_lock.py::test_a_symlinked_lock_is_refused_and_its_target_kept",
        "tests/reliability/test_store_lock.py::test_macs_train_refuses_a_symlinked_run_lock",
        "tests/reliability/test_store_lock.py::test_an_appended_log_that_is_a_symlink_is_refused",
    ],
    "two label jobs / import while labelling": [
        "tests/reliability/test_store_lock.py::test_label_job_holds_the_store",
        "tests/reliability/test_store_lock.py::test_readers_share_an_importer_excludes",
        "tests/reliability/test_store_lock.py::test_a_store_replaced_under_a_reader_is_reported",
        "tests/reliability/test_store_lock.py::test_macs_train_holds_its_store",
    ],
    "a resume right after start": ["tests/reliability/test_resume_early_kill.py"],
}


def others_rows(table, tmp: Path) -> None:
    """Run the tests that check the rows helper A1 landed; one case per test."""
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    for row, nodes in A1_ROWS.items():
        missing = [n for n in nodes if not (ROOT / n.split("::")[0]).exists()]
        if missing:
            table.add(f"security: {row}", False, 0, False, f"not yet covered: {missing}")
            continue
        cmd = [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", *nodes]
        r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
        results = re.findall(r"^(PASSED|FAILED|ERROR) (\S+)", r.stdout, flags=re.M)
        if not results:
            table.add(f"security: {row}", False, 0, False, r.stdout[-300:] + r.stderr[-300:])
        for status, node in results:
            tb = status != "PASSED" and "Traceback" in r.stdout
            table.add(f"security: {row}", status == "PASSED", 0, tb, node)
