"""One rule locates the corpus store: with labels.store set, every command opens that store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from macs.app.cli import main
from macs.core.io import read_json
from macs.data.manifest import read_manifest


@pytest.mark.slow
def test_every_command_opens_the_store_named_by_labels_store(tmp_path, mini_corpus_path, capsys):
    from macs.data.corpus.importer import import_corpus

    store = tmp_path / "elsewhere" / "my-store"  # not under run.data_dir/corpus/<name>
    import_corpus([mini_corpus_path], store, name="mine", heldout_fraction=0.1, progress=False)
    data_dir = tmp_path / "data"
    cfg = {
        "run": {"name": "sp", "data_dir": str(data_dir), "runs_dir": str(tmp_path / "runs")},
        "corpus": {"name": "other"},
        "tokenizer": {"kind": "byte"},
        "labels": {
            "store": str(store),
            "workers": 1,
            "actors": ["quality", "domain"],
            "quality": {"classifier": {"backend": "hashing"}},
        },
        "selection": {"actors": ["domain", "quality"], "samples_per_group": 2, "fraction": 0.2},
        "model": {"size": "llama-tiny"},
        "train": {"tokens": 3000, "seq_len": 64, "batch_size": 4, "stages": 2, "threads": 1},
        "influence": {"n_per_task": 2, "window": 64, "overlap": 0, "max_windows": 1},
        "eval": {"tasks": ["lambada"], "limit": 2, "heldout_docs_per_domain": 1},
    }
    path = tmp_path / "c.yaml"
    path.write_text(json.dumps(cfg))
    c = ["--config", str(path)]
    main(["corpus", "tokenize", *c])
    assert (store / "tokens" / "byte" / "meta.json").exists()
    main(["label", *c])
    assert (store / "labels" / "quality" / "manifest.json").exists()
    main(["select", *c])
    _, meta = read_manifest(tmp_path / "runs" / "sp" / "select" / "manifest.parquet")
    assert Path(meta["store"]) == store
    main(["train", *c])
    run_dir = tmp_path / "runs" / "sp"
    pool = read_json(run_dir / "pool.json")
    assert pool["token_source"] == f"token shards {store / 'tokens' / 'byte'}"
    main(["eval", str(run_dir), "--out", str(tmp_path / "ev.json")])
    ev = read_json(tmp_path / "ev.json")
    assert len(ev["heldout"]["domains"]) == 10  # the held-out docs of the store in labels.store
    assert not (data_dir / "corpus").exists()  # nothing looked for or made a default store
    capsys.readouterr()


def test_macs_home_finds_the_stores_from_any_folder(tmp_path, mini_store, monkeypatch):
    """Issue 25: `.macs` was resolved from the current folder only; MACS_HOME sets it once."""
    import shutil

    import macs

    home = tmp_path / "home"
    shutil.copytree(mini_store.path, home / "corpus" / "mini", symlinks=True)
    monkeypatch.setenv("MACS_HOME", str(home))
    monkeypatch.chdir(tmp_path)  # no .macs here
    cfg = macs.load_config(None, ["corpus.name=mini", "tokenizer.kind=byte"])
    assert cfg.run.data_dir == home
    pool = macs.open_pool(cfg, need_tokens=False)
    assert pool.n_docs == mini_store.n_docs
    assert macs.load_config(None, ["run.data_dir=elsewhere"]).run.data_dir == Path("elsewhere")
    monkeypatch.delenv("MACS_HOME")
    assert macs.load_config(None).run.data_dir == Path(".macs")
