"""Outputs from a newer or older macs, damaged manifests and a missing tokenizer: one clear
line naming the folder or file and what to do."""

from __future__ import annotations

import json
import shutil

import pytest

from macs.app.cli import main
from macs.core.errors import MacsError
from macs.core.formats import FORMATS, check_format, stamp
from macs.data.corpus.store import CorpusStore


@pytest.fixture
def store(mini_store, tmp_path):
    dst = tmp_path / "store"
    shutil.copytree(mini_store.path, dst, ignore=shutil.ignore_patterns("labels", "tokens"))
    return CorpusStore.open(dst)


def _set(path, **fields):
    data = json.loads(path.read_text())
    data.update(fields)
    path.write_text(json.dumps(data))


def test_stores_record_their_format(store):
    assert store.manifest["format"] == FORMATS["store"] and store.manifest["macs_version"]


def test_store_from_a_newer_or_older_macs(store):
    m = store.path / "manifest.json"
    _set(m, format=FORMATS["store"] + 1, macs_version="9.0")
    with pytest.raises(MacsError) as e:
        CorpusStore.open(store.path)
    msg = str(e.value)
    assert "written by macs 9.0 in format 2, newer than this macs" in msg
    assert "upgrade macs" in msg and "\n" not in msg
    _set(m, format=0)
    with pytest.raises(MacsError, match="older than this macs .* re-import it"):
        CorpusStore.open(store.path)
    _set(m, format="one")
    with pytest.raises(MacsError, match="format field is 'one', not an integer"):
        CorpusStore.open(store.path)


def test_damaged_manifest_and_shard(store):
    shard = store.path / "shards" / "part-00000.parquet"
    shard.write_bytes(shard.read_bytes()[:1000])
    with pytest.raises(MacsError, match=r"store: a shard is damaged \(.*\); re-import the corpus"):
        CorpusStore.open(store.path)
    (store.path / "manifest.json").write_text('{"name": ')
    with pytest.raises(MacsError, match=r"manifest\.json: not valid JSON"):
        CorpusStore.open(store.path)


def test_token_shards_and_labels_from_a_newer_macs(store, mini_tokenizer):
    from macs.data.corpus.tokens import TokenStore, tokenize_store
    from macs.data.labels.config import LabelsConfig
    from macs.data.labels.job import run_labels
    from macs.data.labels.sidecar import load_labels

    ts = tokenize_store(store, mini_tokenizer, progress=False)
    assert ts.meta["format"] == FORMATS["tokens"]
    _set(ts.path / "meta.json", format=FORMATS["tokens"] + 1)
    with pytest.raises(MacsError, match="token shards was written by macs .* newer"):
        TokenStore.open(ts.path)
    # tokenize again: the unreadable shards are rebuilt, not reused
    assert tokenize_store(store, mini_tokenizer, progress=False).meta["format"] == 1
    cfg = LabelsConfig.model_validate({"actors": ["domain"], "rows_per_part": 100, "workers": 1})
    run_labels(store, cfg, seed=0, progress=False)
    lab = load_labels(store, "domain")
    assert lab.manifest["format"] == FORMATS["labels"]
    _set(store.path / "labels" / "domain" / "manifest.json", format=FORMATS["labels"] + 1)
    with pytest.raises(MacsError, match="label sidecar was written by macs .* newer"):
        load_labels(store, "domain")


def test_missing_tokenizer_file_names_it(store, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(
            [
                "corpus",
                "tokenize",
                "--store",
                str(store.path),
                "--tokenizer",
                str(tmp_path / "t.json"),
            ]
        )
    err = capsys.readouterr().err
    assert e.value.code == 2 and "t.json" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_check_format_accepts_outputs_from_before_the_field():
    check_format("run", {}, "runs/old")  # no format field: written before it existed
    check_format("run", stamp("run"), "runs/new")
    with pytest.raises(MacsError, match="run directory was written in format 7, newer"):
        check_format("run", {"format": 7}, "runs/x")
