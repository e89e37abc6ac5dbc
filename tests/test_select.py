"""`macs select` end to end on a real mini corpus store (CLI in-process)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from macs.app.cli import main
from macs.data.manifest import read_manifest
from macs.select.actors import Actor


class LengthActor(Actor):
    """A user-defined actor named in the config by dotted path: short / medium / long docs."""

    @classmethod
    def from_store(cls, name, store, labels=None, n_tokens=None, **kwargs):
        n_bytes = np.asarray(store.read_column("n_bytes"))
        groups = np.digitize(n_bytes, [1000, 4000])
        return cls(name, groups, ["short", "medium", "long"], n_tokens=n_tokens, **kwargs)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, mini_corpus_path):
    from macs.data.corpus.importer import import_corpus

    d = tmp_path_factory.mktemp("select")
    import_corpus(
        [mini_corpus_path], d / "corpus" / "mini", name="mini", heldout_fraction=0.1, progress=False
    )
    return d


def _config(tmp_path, data_dir, tokenizer: str = "byte", **selection) -> str:
    cfg = {
        "run": {"name": "sel", "data_dir": str(data_dir), "runs_dir": str(tmp_path / "runs")},
        "corpus": {"name": "mini"},
        "tokenizer": {"kind": tokenizer},
        "selection": selection,
    }
    path = tmp_path / "c.yaml"
    path.write_text(json.dumps(cfg))  # JSON is valid YAML
    return str(path)


def test_select_with_a_custom_actor_writes_manifest_summary_and_jsonl(tmp_path, data_dir, capsys):
    from macs.data.corpus.store import CorpusStore

    cfg = _config(
        tmp_path,
        data_dir,
        actors=[
            "domain",
            {"name": "length", "cls": "test_select:LengthActor", "init": [1, 1, 4]},
        ],
        init="natural",
        fraction=0.2,
    )
    main(["select", "-c", cfg, "--jsonl", str(tmp_path / "sel.jsonl"), "--show", "all"])
    out, err = capsys.readouterr()
    assert "estimated as n_bytes / 4" in err  # no token shards in this store
    assert "selected vs pool tokens by domain" in out and "by length" in out
    manifest = tmp_path / "runs" / "sel" / "select" / "manifest.parquet"
    table, meta = read_manifest(manifest)
    store = CorpusStore.open(data_dir / "corpus" / "mini")
    held = store.heldout_mask()
    docs = np.array(table.column("doc").to_pylist())
    assert not held[docs].any()
    assert store.ids(docs) == table.column("id").to_pylist()
    n_bytes = np.asarray(store.read_column("n_bytes"))
    content = np.ceil(n_bytes / 4).astype(int)
    tok = np.where(content > 0, content + 1, 0)  # the pool's token rule: content + 1 EOS
    budget = int(np.ceil(0.2 * tok[~held].sum()))
    got = sum(table.column("tokens").to_pylist())
    assert budget <= got < budget + tok[docs].max()
    assert set(table.column("length").to_pylist()) <= {"short", "medium", "long"}
    assert meta["budget"] == meta["select"]["budget"] == budget and meta["seed"] == 0
    assert meta["kind"] == "static_select" and meta["method"] == "multi_actor"
    # length weights 1, 1, 4 (x 0.5 mean-1 scale: 0.5, 0.5, 2): long docs are preferred
    summary = json.loads((manifest.parent / "manifest.summary.json").read_text())
    assert summary["actors"]["length"]["long"]["ratio"] > 1.0
    assert summary["selected_tokens"] == got
    lines = [json.loads(x) for x in (tmp_path / "sel.jsonl").read_text().splitlines()]
    assert [x["id"] for x in lines] == table.column("id").to_pylist()
    assert all(x["text"] and x["domain"] and x["length"] for x in lines)
    from macs.select.console.state import load_state

    state = load_state(manifest.parent / "manifest.selector.npz")
    assert state["stage"] == 0 and state["selector"]["console"]["counts"][docs].min() == 1
    # the same config and seed give the same manifest
    main(["select", "-c", cfg, "-o", str(tmp_path / "again.parquet")])
    again, _ = read_manifest(tmp_path / "again.parquet")
    assert again.column("id").equals(table.column("id"))


def test_select_uses_token_shards_when_present(tmp_path, data_dir, capsys):
    from macs.data.corpus.store import CorpusStore
    from macs.data.corpus.tokenizer import build_tokenizer
    from macs.data.corpus.tokens import TokenStore, tokenize_store

    store = CorpusStore.open(data_dir / "corpus" / "mini")
    path = build_tokenizer("byte", data_dir / "tokenizers" / "byte")
    tokenize_store(store, path, progress=False)
    cfg = _config(tmp_path, data_dir, actors=["domain"], mode="random")
    shards = tmp_path / "selected-tokens"
    main(["select", "-c", cfg, "--tokens", "20000", "--token-shards", str(shards)])
    _, err = capsys.readouterr()
    assert "token shards" in err
    table, _ = read_manifest(tmp_path / "runs" / "sel" / "select" / "manifest.parquet")
    lengths = TokenStore.open(data_dir / "corpus" / "mini" / "tokens" / "byte").lengths
    docs = np.array(table.column("doc").to_pylist())
    assert table.column("tokens").to_pylist() == (lengths[docs] + 1).tolist()  # + 1 EOS each
    assert 20000 <= (lengths[docs] + 1).sum() < 20000 + lengths[docs].max() + 1
    # the selected docs' tokens, copied into a TokenStore of their own
    src, sel = (
        TokenStore.open(data_dir / "corpus" / "mini" / "tokens" / "byte"),
        TokenStore.open(shards),
    )
    assert sel.n_docs == len(docs) and np.load(shards / "docs.npy").tolist() == docs.tolist()
    for k in (0, len(docs) // 2, len(docs) - 1):
        np.testing.assert_array_equal(sel.doc(k), src.doc(int(docs[k])))
    assert sel.memmap(0)[len(sel.doc(0))] == src.eos_id


def test_select_regmix_without_token_shards_is_a_clear_user_error(tmp_path, data_dir, capsys):
    # GPT-2's tokenizer: this store never gets its token shards (another test makes byte ones)
    cfg = _config(tmp_path, data_dir, tokenizer="gpt2", actors=["domain"], init="regmix")
    with pytest.raises(SystemExit) as e:
        main(["select", "-c", cfg])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "RegMix trains proxies on token shards" in err and "macs corpus tokenize" in err
    assert "Traceback" not in err


def test_select_reads_label_sidecars(tmp_path, data_dir, capsys):
    from macs.data.labels.sidecar import load_labels

    cfg = _config(tmp_path, data_dir, actors=["topic", "domain"], init="natural", fraction=0.3)
    text = json.loads(Path(cfg).read_text())
    text["labels"] = {
        "workers": 1,
        "actors": ["domain", "topic"],
        "topic": {"n_groups": 4, "sample_size": 100, "svd_dims": 10, "max_features": 2000},
    }
    Path(cfg).write_text(json.dumps(text))
    main(["label", "-c", cfg])
    main(["select", "-c", cfg, "--show", "topic"])
    out = capsys.readouterr().out
    assert "selected vs pool tokens by topic" in out
    table, meta = read_manifest(tmp_path / "runs" / "sel" / "select" / "manifest.parquet")
    from macs.data.corpus.store import CorpusStore

    store = CorpusStore.open(data_dir / "corpus" / "mini")
    topic = load_labels(store, "topic")
    docs = np.array(table.column("doc").to_pylist())
    names = [topic.group_names[g] for g in topic.group[docs]]
    assert table.column("topic").to_pylist() == names
    # natural init: the topic holding the most tokens has the highest weight and is taken first
    w = meta["weights"]["topic"]
    assert max(w, key=w.get) in set(names)


def test_select_exports_with_format(tmp_path, data_dir, capsys):
    """`macs select --format hf --export DIR` writes the selection as a datasets folder."""
    pytest.importorskip("datasets")
    from datasets import load_from_disk

    cfg = _config(tmp_path, data_dir, actors=["domain"], method="random", fraction=0.1)
    main(["select", "-c", cfg, "--format", "hf", "--export", str(tmp_path / "hf")])
    table, _ = read_manifest(tmp_path / "runs" / "sel" / "select" / "manifest.parquet")
    ds = load_from_disk(str(tmp_path / "hf"))
    assert ds["id"] == table.column("id").to_pylist()
    with pytest.raises(SystemExit):
        main(["select", "-c", cfg, "--format", "hf"])
    assert "give --format and --export together" in capsys.readouterr().err


def test_select_jsonl_export_has_the_manifest_score_and_groups(tmp_path, data_dir, capsys):
    """Issue 25: `macs select --format jsonl` writes what `macs export --format jsonl` writes."""
    cfg = _config(tmp_path, data_dir, actors=["domain"], fraction=0.1)
    main(["select", "-c", cfg, "--format", "jsonl", "--export", str(tmp_path / "sel.jsonl")])
    manifest = tmp_path / "runs" / "sel" / "select" / "manifest.parquet"
    main(["export", str(manifest), "-f", "jsonl", "-o", str(tmp_path / "exp.jsonl"), "-c", cfg])
    got = [json.loads(x) for x in (tmp_path / "sel.jsonl").read_text().splitlines()]
    assert got == [json.loads(x) for x in (tmp_path / "exp.jsonl").read_text().splitlines()]
    assert got and all({"id", "text", "domain", "score"} <= set(r) for r in got)
    table, _ = read_manifest(manifest)
    assert [r["score"] for r in got] == table.column("score").to_pylist()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "selection.actors=[qualty]"], "selection.actors: unknown actor 'qualty'; did"),
        (["--show", "nosuch"], "--show: unknown actor 'nosuch'; the actors are quality, domain"),
    ],
)
def test_select_names_unknown_actors_in_one_line(tmp_path, data_dir, capsys, args, message):
    cfg = _config(tmp_path, data_dir, fraction=0.1)
    with pytest.raises(SystemExit) as e:
        main(["select", "-c", cfg, *args])
    errors = [x for x in capsys.readouterr().err.splitlines() if x.startswith("error:")]
    assert e.value.code == 2 and len(errors) == 1 and message in errors[0], errors


def test_select_writes_under_the_corpus_name_and_says_which_token_count(tmp_path, data_dir, capsys):
    """Issue 25: every `macs select` wrote runs/demo/select whatever the corpus; the two token
    counts of one selection (with and without EOS) were unexplained."""
    from macs.data.corpus.store import CorpusStore
    from macs.data.corpus.tokenizer import build_tokenizer
    from macs.data.corpus.tokens import tokenize_store

    store = CorpusStore.open(data_dir / "corpus" / "mini")
    tokenize_store(store, build_tokenizer("byte", data_dir / "tokenizers" / "byte"), progress=False)
    cfg = _config(tmp_path, data_dir, actors=["domain"], fraction=0.1)
    text = json.loads(Path(cfg).read_text())
    del text["run"]["name"]
    Path(cfg).write_text(json.dumps(text))
    main(["select", "-c", cfg, "--format", "jsonl", "--export", str(tmp_path / "s.jsonl")])
    manifest = tmp_path / "runs" / "mini" / "select" / "manifest.parquet"
    table, meta = read_manifest(manifest)
    assert Path(meta["store"]) == data_dir / "corpus" / "mini"
    err = capsys.readouterr().err
    assert "training tokens (one EOS per doc counted;" in err
    assert "tokens (no EOS counted; training adds one per doc)" in err
    assert not (tmp_path / "runs" / "demo").exists()


def test_export_finds_the_store_a_manifest_records(tmp_path, data_dir, monkeypatch, capsys):
    """Issue 25: a manifest remembers its store, so `macs export MANIFEST` needs no config."""
    cfg = _config(tmp_path, data_dir, actors=["domain"], fraction=0.1)
    main(["select", "-c", cfg])
    manifest = tmp_path / "runs" / "sel" / "select" / "manifest.parquet"
    monkeypatch.chdir(tmp_path)  # no .macs here: the default store would not exist
    main(["export", str(manifest), "-f", "jsonl", "-o", str(tmp_path / "x.jsonl"), "--no-tokens"])
    rows = [json.loads(x) for x in (tmp_path / "x.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == read_manifest(manifest)[0].column("id").to_pylist()
