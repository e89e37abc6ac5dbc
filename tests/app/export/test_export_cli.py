"""`macs export` on stage manifests and run directories (CLI in-process, real mini store)."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from macs.app.cli import main


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, mini_store, mini_byte_tokens, selection):
    """A run directory as `macs train` leaves it: config.yaml and stages/stage-K.parquet."""
    root = tmp_path_factory.mktemp("export-cli")
    data = root / "data"
    (data / "corpus").mkdir(parents=True)
    (data / "corpus" / "mini").symlink_to(mini_store.path)  # store_path(cfg) = data/corpus/mini
    run = root / "runs" / "r"
    (run / "stages").mkdir(parents=True)
    cfg = {
        "run": {"data_dir": str(data)},
        "corpus": {"name": "mini"},
        "tokenizer": {"kind": "byte"},
    }
    (run / "config.yaml").write_text(json.dumps(cfg))
    for k, part in enumerate((selection[:50], selection[50:])):
        table = pa.table(
            {
                "id": pa.array(mini_store.ids(part), pa.string()),
                "doc": pa.array(part, pa.int64()),
                "tokens": pa.array(mini_byte_tokens.lengths[part], pa.int64()),
                "score": pa.array(np.linspace(1, 0, len(part)), pa.float32()),
            }
        )
        pq.write_table(table, run / "stages" / f"stage-{k}.parquet")
    return run


def _stream(ts, idx):
    return np.concatenate([x for i in idx for x in (ts.doc(int(i)), [ts.eos_id])])


def test_run_dir_all_stages_in_order(run_dir, mini_byte_tokens, selection, tmp_path, capsys):
    out = tmp_path / "flat"
    main(["export", str(run_dir), "--format", "flat", "--out", str(out)])
    got = np.memmap(out / "train.bin", dtype=mini_byte_tokens.dtype, mode="r")
    assert np.array_equal(got, _stream(mini_byte_tokens, selection))  # stage 0 then stage 1
    assert f"exported {len(selection)} docs" in capsys.readouterr().out


def test_one_stage_as_jsonl_keeps_manifest_columns(run_dir, mini_store, selection, tmp_path):
    out = tmp_path / "s1.jsonl"
    main(["export", str(run_dir), "--stage", "1", "-f", "jsonl", "-o", str(out)])
    rows = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == mini_store.ids(selection[50:])
    assert rows[0]["score"] == 1.0 and rows[-1]["score"] == 0.0
    assert rows[0]["tokens"] == len(rows[0]["text"].encode("utf-8"))  # byte tokenizer


def test_all_stages_as_jsonl_say_which_stage(run_dir, selection, tmp_path):
    out = tmp_path / "all.jsonl"
    main(["export", str(run_dir), "-f", "jsonl", "-o", str(out)])
    stages = [json.loads(x)["stage"] for x in out.read_text(encoding="utf-8").splitlines()]
    assert stages == [0] * 50 + [1] * (len(selection) - 50)


def test_manifest_file_with_config_text_only(run_dir, mini_store, selection, tmp_path):
    datasets = pytest.importorskip("datasets")
    out = tmp_path / "hf"
    main(
        [
            "export", str(run_dir / "stages" / "stage-0.parquet"), "-f", "hf", "-o", str(out),
            "--config", str(run_dir / "config.yaml"), "--no-tokens",
        ]
    )  # fmt: skip
    ds = datasets.load_from_disk(str(out))
    assert ds.column_names == ["id", "text", "domain"]
    assert ds["text"] == mini_store.texts(selection[:50])


def test_manifest_without_doc_column_maps_ids(run_dir, mini_store, mini_byte_tokens, tmp_path):
    t = pq.read_table(run_dir / "stages" / "stage-1.parquet").drop(["doc"])
    pq.write_table(t, tmp_path / "m.parquet")
    out = tmp_path / "flat"
    main(
        [
            "export", str(tmp_path / "m.parquet"), "-f", "flat", "-o", str(out),
            "--store", str(mini_store.path), "--tokens", str(mini_byte_tokens.path),
        ]
    )  # fmt: skip
    docs = pq.read_table(out / "docs.parquet")
    assert docs.column("id").to_pylist() == t.column("id").to_pylist()


@pytest.mark.parametrize(
    ("args", "msg"),
    [
        (["--stage", "7"], "no stage 7 (stages: 0, 1)"),
        (["--stage", "x"], "--stage must be a stage number or 'all'"),
        (["--format", "csv"], "unknown export format 'csv'"),
    ],
)
def test_cli_errors_are_one_line(run_dir, tmp_path, capsys, args, msg):
    argv = ["export", str(run_dir), "-o", str(tmp_path / "o"), *args]
    if "--format" not in args:
        argv += ["--format", "flat"]
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert msg in err and "Traceback" not in err


def test_manifest_of_another_store_is_refused(run_dir, tmp_path, capsys):
    t = pq.read_table(run_dir / "stages" / "stage-0.parquet")
    ids = t.column("id").to_pylist()
    ids[3] = "not-in-this-store"
    t = t.set_column(0, "id", pa.array(ids, pa.string()))
    pq.write_table(t, tmp_path / "m.parquet")
    with pytest.raises(SystemExit):
        main(["export", str(tmp_path / "m.parquet"), "-f", "flat", "-o", str(tmp_path / "o"),
              "-c", str(run_dir / "config.yaml")])  # fmt: skip
    err = capsys.readouterr().err
    assert "m.parquet row 3: id 'not-in-this-store' but the store" in err
    assert not (tmp_path / "o").exists()


def test_a_macs_select_manifest_exports(run_dir, mini_store, mini_byte_tokens, tmp_path):
    """The manifest `macs select` writes is a valid SOURCE (its id and doc columns)."""
    cfg = json.loads((run_dir / "config.yaml").read_text())
    cfg["selection"] = {"actors": ["domain"], "fraction": 0.2}
    cfg["run"]["runs_dir"] = str(tmp_path / "runs")
    (tmp_path / "c.yaml").write_text(json.dumps(cfg))
    man = tmp_path / "sel.parquet"
    main(["select", "-c", str(tmp_path / "c.yaml"), "--out", str(man)])
    out = tmp_path / "flat"
    main(["export", str(man), "-f", "flat", "-o", str(out), "-c", str(tmp_path / "c.yaml")])
    doc = pq.read_table(man).column("doc").to_numpy()
    got = np.memmap(out / "train.bin", dtype=mini_byte_tokens.dtype, mode="r")
    assert len(doc) > 10 and np.array_equal(got, _stream(mini_byte_tokens, doc))


def test_a_trainers_output_dir_exports_its_stages(run_dir, mini_store, selection, tmp_path):
    """Issue 25: SelectionCallback writes stages under <output_dir>/macs/stages; export finds them."""
    out_dir = tmp_path / "hf-mine"
    (out_dir / "macs" / "stages").mkdir(parents=True)
    for p in (run_dir / "stages").iterdir():
        (out_dir / "macs" / "stages" / p.name).symlink_to(p)
    out = tmp_path / "all.jsonl"
    main(
        ["export", str(out_dir), "-f", "jsonl", "-o", str(out), "-c", str(run_dir / "config.yaml")]
    )
    rows = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == mini_store.ids(selection)
