"""The labelling job: sidecars, manifests, load_labels, resume, faults, and both executors."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from macs.core.errors import MacsError
from macs.data.labels.job import LabelBatchError, run_labels
from macs.data.labels.quality import QualityLabeller
from macs.data.labels.sidecar import available_actors, load_labels


class Interrupting(QualityLabeller):
    """Raises KeyboardInterrupt on the batch holding `stop_at` while armed: an interrupted run."""

    armed = True

    def score_batch(self, batch):
        if self.armed and self.stop_at in batch.ids:
            raise KeyboardInterrupt
        return super().score_batch(batch)


class Broken(QualityLabeller):
    """Raises on the batch holding `bad`."""

    def score_batch(self, batch):
        if self.bad in batch.ids:
            raise ValueError("model exploded")
        return super().score_batch(batch)


def test_sidecars_are_keyed_by_id_with_a_manifest(labelled_store):
    store, manifests = labelled_store
    assert sorted(manifests) == ["domain", "quality", "topic"] == available_actors(store)
    shard_ids = pq.read_table(store.shards[0], columns=["id"]).column("id").to_pylist()
    for actor, m in manifests.items():
        folder = store.path / "labels" / actor
        parts = sorted(folder.glob("part-*.parquet"))
        assert (
            [p.name for p in parts]
            == m["parts"]
            == [f"part-00000-000{k}.parquet" for k in range(3)]
        )
        table = pq.read_table(parts[0])
        assert table.schema.names == ["id", "score", "group"]
        assert (
            str(table.schema.field("score").type) == "float"
            and str(table.schema.field("group").type) == "int32"
        )
        assert table.column("id").to_pylist() == shard_ids[:100]
        assert m["actor"] == actor and m["n_docs"] == store.n_docs
        assert sum(m["counts"].values()) == store.n_docs
        assert list(m["counts"]) == m["group_names"]
        assert m["version"] and m["config"]["kind"] == actor and m["key"]
        assert not (folder / ".done").exists() and not (folder / ".labeller.pkl").exists()
    assert manifests["quality"]["fit"]["n_train_pos"] > 0
    assert len(manifests["topic"]["group_names"]) == 5


def test_load_labels_is_aligned_to_canonical_order(labelled_store):
    store, manifests = labelled_store
    lab = load_labels(store, "domain")
    codes, names = store.domains()
    assert lab.group.dtype == np.int32 and lab.score.dtype == np.float32
    assert lab.group_names == names and (lab.group == codes).all()
    q = load_labels(store, "quality")
    assert q.counts().tolist() == list(manifests["quality"]["counts"].values())
    assert len(q.score) == store.n_docs
    with pytest.raises(MacsError, match="no labels for actor 'nope'"):
        load_labels(store, "nope")


def test_rerun_is_up_to_date_and_a_config_change_relabels(store_copy, make_config):
    cfg = make_config(actors=["domain", "quality"])
    first = run_labels(store_copy, cfg, progress=False)
    assert sorted(first) == ["domain", "quality"]
    msgs = []
    assert run_labels(store_copy, cfg, progress=False, log=msgs.append) == {}
    assert any("up to date" in m for m in msgs)
    changed = make_config(actors=["domain", "quality"], quality={"cuts": [0.5, 1.5, 2.5, 3.5]})
    again = run_labels(store_copy, changed, progress=False)
    assert list(again) == ["quality"]


def test_interrupted_run_resumes_and_matches(store_copy, make_config, labelled_store):
    ref_store, ref = labelled_store
    cfg = make_config(actors=["quality"])
    lab = Interrupting(cfg.quality, seed=0)
    lab.stop_at = store_copy.ids([250])[0]
    Interrupting.armed = True
    with pytest.raises(KeyboardInterrupt):
        run_labels(store_copy, cfg, progress=False, labellers={"quality": lab})
    Interrupting.armed = False  # the rerun reloads the fitted labeller saved by the first run
    assert not (store_copy.path / "labels" / "quality").exists()  # nothing half-written visible
    work = next((store_copy.path / "labels" / ".work").glob("quality-*"))
    assert len(list((work / ".done").glob("*.json"))) == 2  # units 0 and 1 finished
    msgs = []
    resumed = run_labels(store_copy, cfg, progress=False, log=msgs.append)
    assert any("resuming" in m for m in msgs)
    assert any("skipping 2 finished unit(s) of 3" in m for m in msgs)
    got, want = load_labels(store_copy, "quality"), load_labels(ref_store, "quality")
    assert (got.group == want.group).all() and np.allclose(got.score, want.score)
    assert resumed["quality"]["counts"] == ref["quality"]["counts"]
    assert not (store_copy.path / "labels" / ".work" / work.name).exists()


def test_a_failing_batch_names_shard_and_batch(store_copy, make_config):
    cfg = make_config(actors=["quality"])

    lab = Broken(cfg.quality, seed=0)
    lab.bad = store_copy.ids([150])[0]
    with pytest.raises(LabelBatchError) as err:
        run_labels(store_copy, cfg, progress=False, labellers={"quality": lab})
    msg = str(err.value)
    assert "shard part-00000.parquet rows 100-163 (unit part-00000-0001, batch 0)" in msg
    assert "model exploded" in msg and "labeller quality" in msg
    assert not (store_copy.path / "labels" / "quality").exists()
    assert isinstance(err.value, MacsError)


def test_empty_and_huge_docs_are_truncated_and_counted(tmp_path, make_config):
    import pyarrow as pa

    from macs.data.corpus.store import CorpusStore, StoreWriter

    words = [
        "the",
        "committee",
        "approved",
        "the",
        "annual",
        "budget",
        "for",
        "the",
        "city",
        "library",
        "and",
        "the",
        "new",
        "school",
    ]
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(words, size=int(n))) for n in rng.integers(5, 80, size=60)]
    texts[3] = ""
    texts[10] = "   "
    texts[20] = " ".join(rng.choice(words, size=20000))  # ~110 kB
    doms = ["news" if i % 2 else "email_spam" for i in range(60)]
    table = pa.table(
        {
            "id": [f"d{i}" for i in range(60)],
            "text": texts,
            "domain": doms,
            "source": ["t"] * 60,
            "n_bytes": [len(t) for t in texts],
            "parent_id": [f"d{i}" for i in range(60)],
        }
    )
    w = StoreWriter(tmp_path / "odd")
    w.write(table)
    store = CorpusStore.open(w.finish({"name": "odd"}, 0.0, 0))
    cfg = make_config(
        actors=["quality"],
        quality={
            "max_chars": 200,
            "classifier": {"positive_domains": ["news"], "pool_negatives": 0, "min_count": 1},
        },
    )
    m = run_labels(store, cfg, progress=False)["quality"]
    n_long = sum(len(t) > 200 for t in texts)
    assert m["n_truncated"] == n_long and n_long >= 1
    assert m["n_empty"] == 2
    q = load_labels(store, "quality")
    assert q.score[3] == 0 and q.score[10] == 0


def test_local_processes_match_in_process(store_copy, make_config, labelled_store):
    ref_store, _ = labelled_store
    cfg = make_config(actors=["quality", "topic"], workers=2)
    run_labels(store_copy, cfg, progress=False)
    for actor in ("quality", "topic"):
        a, b = load_labels(store_copy, actor), load_labels(ref_store, actor)
        assert (a.group == b.group).all() and np.allclose(a.score, b.score, atol=1e-6)
        assert a.group_names == b.group_names
        assert a.manifest["key"] == b.manifest["key"]


def test_missing_store_column_is_a_clear_error(store_copy, make_config):
    cfg = make_config(
        actors=["quality"], quality={"method": "field", "field": {"name": "edu_score"}}
    )
    with pytest.raises(MacsError, match="edu_score"):
        run_labels(store_copy, cfg, progress=False)
