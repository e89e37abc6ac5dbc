"""Export round trips: every format written with `write_export`, read back with the library
that consumes it, and compared with the selection (ids, texts, tokens; order and repeats).

Input: the committed real-text mini corpus replicated (unique ids) to --mb megabytes, a BPE
tokenizer trained on it, and a two-stage selection (each stage a seeded --fraction of the
docs in canonical order, concatenated, so documents chosen in both stages appear twice).
Reads: hf `datasets.load_from_disk`; litdata `StreamingDataset(item_loader=TokensLoader(
block_size))` as LitGPT reads it (every block compared with the token stream; the tail of
each chunk shorter than a block is what LitGPT skips, counted); mds `streaming.
StreamingDataset(local=...)`; flat `np.memmap` + index.npy; jsonl `json.loads` per line.

    python benchmarks/bench_export.py [--mb 20] [--vocab 4096] [--block 2049] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "mini_corpus.jsonl"


def make_store(d: Path, mb: float, vocab: int):
    """Import the replicated mini corpus and tokenize it; returns (store, token store)."""
    from macs.data.corpus.importer import import_corpus
    from macs.data.corpus.store import CorpusStore
    from macs.data.corpus.tokenizer import build_tokenizer
    from macs.data.corpus.tokens import tokenize_store

    recs = [json.loads(x) for x in FIXTURE.read_text(encoding="utf-8").splitlines()]
    src, size, k = d / "in.jsonl", 0, 0
    with open(src, "w", encoding="utf-8") as f:
        while size < mb * 1e6:
            for r in recs:
                line = json.dumps({**r, "id": f"{k}/{r['id']}"}, ensure_ascii=False) + "\n"
                f.write(line)
                size += len(line.encode())
            k += 1
    import_corpus([src], d / "store", name="bench", progress=False)
    store = CorpusStore.open(d / "store")
    tok = build_tokenizer("bpe", d / "tok", store=store, vocab_size=vocab, seed=0)
    return store, tokenize_store(store, tok, progress=False)


def selection(n: int, fraction: float, seed: int = 0) -> np.ndarray:
    """Two stages of sorted doc indices (each a seeded `fraction` of n), concatenated."""
    rng = np.random.default_rng(seed)
    k = int(n * fraction)
    return np.concatenate([np.sort(rng.choice(n, k, replace=False)) for _ in range(2)])


def read_hf(out: Path, want: dict) -> bool:
    import datasets

    ds = datasets.load_from_disk(str(out))
    ok = ds["id"] == want["id"] and ds["text"] == want["text"]
    for a in range(0, len(ds), 4096):
        got = ds[a : a + 4096]["input_ids"]
        ok &= all(np.array_equal(g, w) for g, w in zip(got, want["tokens"][a:], strict=False))
    return bool(ok)


def read_litdata(out: Path, want: dict, block: int) -> tuple[bool, int, int]:
    """Every LitGPT block equals the stream slice; returns (ok, blocks, tokens in chunk tails)."""
    from litdata import StreamingDataset, TokensLoader

    chunks = json.loads((out / "index.json").read_text())["chunks"]
    ds = StreamingDataset(str(out), item_loader=TokensLoader(block_size=block), shuffle=False)
    stream, pos, k, ok, tails = want["stream"], 0, 0, True, 0
    for c in chunks:
        nb = c["dim"] // block
        for j in range(nb):
            ok &= np.array_equal(np.asarray(ds[k]), stream[pos + j * block : pos + (j + 1) * block])
            k += 1
        tails += c["dim"] - nb * block
        pos += c["dim"]
    return bool(ok and pos == len(stream) and k == len(ds)), k, tails


def read_mds(out: Path, want: dict) -> bool:
    from macs.app.export.mds import import_streaming

    ds = import_streaming().StreamingDataset(local=str(out), shuffle=False, batch_size=1)
    ok = len(ds) == len(want["id"])
    for r, i, t, w in zip(ds, want["id"], want["text"], want["tokens"], strict=False):
        ok &= r["id"] == i and r["text"] == t and np.array_equal(r["input_ids"], w)
    return bool(ok)


def read_flat(out: Path, want: dict, dtype) -> bool:
    tokens = np.memmap(out / "train.bin", dtype=dtype, mode="r")
    index = np.load(out / "index.npy")
    return bool(np.array_equal(tokens, want["stream"]) and len(index) == len(want["id"]))


def read_jsonl(out: Path, want: dict) -> bool:
    with open(out, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    return [r["id"] for r in rows] == want["id"] and [r["text"] for r in rows] == want["text"]


def main() -> None:
    """Run every format once and print one row per format (MB, docs/s, read-back result)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=20.0)
    ap.add_argument("--vocab", type=int, default=4096)
    ap.add_argument("--fraction", type=float, default=0.4)
    ap.add_argument("--block", type=int, default=2049, help="LitGPT block: seq_len + 1")
    ap.add_argument("--out", type=Path, default=None, help="keep the exports here")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from macs.app.export import write_export

    with tempfile.TemporaryDirectory(prefix="macs-bench-export-") as td:
        d = args.out or Path(td)
        (Path(td) / "tmp").mkdir()
        tempfile.tempdir = str(Path(td) / "tmp")  # MDS readers' file locks go here, not /tmp
        t0 = time.perf_counter()
        store, ts = make_store(d, args.mb, args.vocab)
        idx = selection(store.n_docs, args.fraction)
        docs = [np.asarray(ts.doc(int(i))) for i in idx]
        want = {
            "id": store.ids(idx),
            "text": store.texts(idx),
            "tokens": docs,
            "stream": np.concatenate([x for t in docs for x in (t, [ts.eos_id])]),
        }
        print(
            f"store {store.n_docs:,} docs, {store.manifest.get('n_bytes', 0) / 1e6:.1f} MB text; "
            f"selection {len(idx):,} docs ({len(idx) - len(np.unique(idx)):,} repeats), "
            f"{sum(map(len, docs)):,} tokens ({ts.dtype.name}); setup {time.perf_counter() - t0:.0f} s; "
            f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs",
            file=sys.stderr,
        )
        rows = []
        for fmt in ("hf", "litdata", "mds", "flat", "jsonl"):
            out = d / (f"{fmt}.jsonl" if fmt == "jsonl" else fmt)
            s = write_export(fmt, out, store, idx, tokens=ts)
            t1 = time.perf_counter()
            extra = ""
            if fmt == "litdata":
                ok, blocks, tails = read_litdata(out, want, args.block)
                extra = f"{blocks:,} blocks of {args.block}; {tails:,} tokens in chunk tails"
            else:
                ok = {
                    "hf": lambda o: read_hf(o, want),
                    "mds": lambda o: read_mds(o, want),
                    "flat": lambda o: read_flat(o, want, ts.dtype),
                    "jsonl": lambda o: read_jsonl(o, want),
                }[fmt](out)
            read_s = time.perf_counter() - t1
            rows.append(
                (fmt, s["bytes"] / 1e6, s["seconds"], s["docs"] / s["seconds"], read_s, ok, extra)
            )
        print(f"{'format':8} {'MB':>8} {'write s':>8} {'docs/s':>9} {'read s':>7}  equal")
        for fmt, mb, ws, rate, rs, ok, extra in rows:
            print(f"{fmt:8} {mb:8.1f} {ws:8.1f} {rate:9,.0f} {rs:7.1f}  {ok}  {extra}")


if __name__ == "__main__":
    main()
