"""Each export read back with the library that consumes it equals the selection (order, repeats)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from macs.app.export import write_export


def _check_summary(s, out, fmt, expected, with_tokens=True):
    assert s["format"] == fmt and s["path"] == str(out)
    assert s["docs"] == len(expected["id"])
    want = sum(len(d) for d in expected["tokens"]) if with_tokens else None
    assert s["tokens"] == want
    assert s["bytes"] > 0 and s["seconds"] >= 0


def test_hf_round_trip(mini_store, mini_tokens, selection, expected, tmp_path):
    datasets = pytest.importorskip("datasets")
    out = tmp_path / "hf"
    s = write_export("hf", out, mini_store, selection, tokens=mini_tokens)
    _check_summary(s, out, "hf", expected)
    ds = datasets.load_from_disk(str(out))
    assert ds.column_names == ["id", "text", "domain", "input_ids"]
    assert ds["id"] == expected["id"] and ds["text"] == expected["text"]
    assert ds["domain"] == expected["domain"]
    for got, want in zip(ds["input_ids"], expected["tokens"], strict=True):
        assert np.array_equal(np.asarray(got), want)


def test_hf_without_tokens_has_no_input_ids(mini_store, selection, expected, tmp_path):
    datasets = pytest.importorskip("datasets")
    out = tmp_path / "hf"
    s = write_export("hf", out, mini_store, selection)
    _check_summary(s, out, "hf", expected, with_tokens=False)
    ds = datasets.load_from_disk(str(out))
    assert ds.column_names == ["id", "text", "domain"] and ds["id"] == expected["id"]


def test_litdata_round_trip_as_litgpt_reads_it(
    mini_store, mini_tokens, selection, expected, tmp_path
):
    pytest.importorskip("litdata")
    from litdata import StreamingDataset, TokensLoader

    out = tmp_path / "lit"
    s = write_export(
        "litdata",
        out,
        mini_store,
        selection,
        tokens=mini_tokens,
        chunk_bytes=16_000,
        workers=2,
        span_docs=16,
    )
    _check_summary(s, out, "litdata", expected)
    chunks = json.loads((out / "index.json").read_text())["chunks"]
    names = [c["filename"] for c in chunks]
    assert any(n.startswith("chunk-0-") for n in names) and any(
        n.startswith("chunk-1-") for n in names
    )
    # every token, one at a time: the stream is each doc + EOS in selection order
    ds = StreamingDataset(str(out), item_loader=TokensLoader(block_size=1), shuffle=False)
    got = np.concatenate([np.asarray(x) for x in ds])
    assert got.dtype == np.int32 and np.array_equal(got, expected["stream"])
    # LitGPT's pretraining read: blocks of seq_len + 1 tokens inside each chunk
    block = 65
    ds = StreamingDataset(str(out), item_loader=TokensLoader(block_size=block), shuffle=False)
    assert len(ds) == sum(c["dim"] // block for c in chunks)
    first = np.asarray(ds[0])
    assert first.shape == (block,) and np.array_equal(first, expected["stream"][:block])
    docs = __import__("pyarrow.parquet").parquet.read_table(out / "docs.parquet")
    assert docs.column("id").to_pylist() == expected["id"]
    off, n = docs.column("offset").to_numpy(), docs.column("length").to_numpy()
    k = len(expected["id"]) - 1
    assert np.array_equal(got[off[k] : off[k] + n[k]], expected["tokens"][k])


def test_mds_round_trip(mini_store, mini_tokens, selection, expected, tmp_path, monkeypatch):
    import tempfile

    from macs.app.export.mds import import_streaming

    # StreamingDataset keeps its file locks in the temp folder: this test's, not /tmp
    (tmp_path / "locks").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "locks"))

    try:
        sb = import_streaming()
    except Exception as e:  # the mds extra is not installed
        pytest.skip(str(e))
    out = tmp_path / "mds"
    s = write_export("mds", out, mini_store, selection, tokens=mini_tokens, size_limit=60_000)
    _check_summary(s, out, "mds", expected)
    assert len(list(out.glob("shard.*.mds"))) >= 2
    ds = sb.StreamingDataset(local=str(out), shuffle=False, batch_size=1)
    assert len(ds) == len(expected["id"])
    rows = list(ds)
    assert [r["id"] for r in rows] == expected["id"]
    assert [r["text"] for r in rows] == expected["text"]
    assert [r["domain"] for r in rows] == expected["domain"]
    for r, want in zip(rows, expected["tokens"], strict=True):
        assert r["input_ids"].dtype == mini_tokens.dtype and np.array_equal(r["input_ids"], want)
    assert ds[len(rows) - 1]["id"] == expected["id"][-1]  # random access too


def test_flat_round_trip_with_memmap(mini_store, mini_tokens, selection, expected, tmp_path):
    import pyarrow.parquet as pq

    out = tmp_path / "flat"
    s = write_export("flat", out, mini_store, selection, tokens=mini_tokens)
    _check_summary(s, out, "flat", expected)
    assert mini_tokens.vocab_size < 65536
    tokens = np.memmap(out / "train.bin", dtype=np.uint16, mode="r")
    assert np.array_equal(tokens, expected["stream"])  # nanoGPT reads exactly this
    index = np.load(out / "index.npy")
    assert index.shape == (len(selection), 2)
    for (off, n), want in zip(index, expected["tokens"], strict=True):
        assert np.array_equal(tokens[off : off + n], want) and tokens[off + n] == mini_tokens.eos_id
    docs = pq.read_table(out / "docs.parquet")
    assert docs.column("id").to_pylist() == expected["id"]
    assert np.array_equal(docs.column("doc").to_numpy(), selection)
    rec = json.loads((out / "macs_export.json").read_text())
    assert rec["token_dtype"] == "uint16" and rec["eos_id"] == mini_tokens.eos_id


def test_flat_uses_uint32_past_65536_ids(mini_store, wide_tokens, selection, tmp_path):
    assert wide_tokens.vocab_size > 65536 and wide_tokens.dtype == np.uint32
    out = tmp_path / "flat"
    write_export("flat", out, mini_store, selection, tokens=wide_tokens)
    rec = json.loads((out / "macs_export.json").read_text())
    assert rec["token_dtype"] == "uint32" and rec["vocab_size"] == wide_tokens.vocab_size
    tokens = np.memmap(out / "train.bin", dtype=np.uint32, mode="r")
    docs = [wide_tokens.doc(int(i)) for i in selection]
    want = np.concatenate([x for d in docs for x in (d, [wide_tokens.eos_id])])
    assert np.array_equal(tokens, want) and tokens.max() > 65535


def test_jsonl_round_trip_with_columns(mini_store, mini_tokens, selection, expected, tmp_path):
    out = tmp_path / "sel.jsonl"
    scores = np.linspace(1, 0, len(selection), dtype=np.float32)
    s = write_export(
        "jsonl", out, mini_store, selection, tokens=mini_tokens, columns={"score": scores}
    )
    _check_summary(s, out, "jsonl", expected)
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == expected["id"]
    assert [r["text"] for r in rows] == expected["text"]
    assert [r["tokens"] for r in rows] == [len(d) for d in expected["tokens"]]
    assert np.allclose([r["score"] for r in rows], scores)


def test_readme_mds_line_reads_the_export(mini_store, selection, expected, tmp_path, monkeypatch):
    """The README's 'how to load it' for mds works as written in this venv (issue 25: a bare
    `import streaming` needs torchvision)."""
    import re
    import tempfile
    from pathlib import Path

    from macs.app.export import mds

    (tmp_path / "locks").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "locks"))
    try:
        mds.import_streaming()
    except Exception as e:  # the mds extra is not installed
        pytest.skip(str(e))
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| `mds` |"))
    load, setup = re.findall(r"`([^`]*)`", row.split("|")[3])[:2]
    out = tmp_path / "mds"
    write_export("mds", out, mini_store, selection)
    ns: dict = {}
    exec(setup, ns)
    ds = eval(load.replace("OUT", repr(str(out))).replace("...", "1"), ns)
    assert [r["id"] for r in ds] == expected["id"]
