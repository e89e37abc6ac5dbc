"""RunDir, the one spelling of a run directory: a real short run writes exactly its paths, its
readers read them back, and a stage manifest that was tampered with is refused."""

from __future__ import annotations

import shutil

import numpy as np
import pyarrow as pa
import pytest

from macs.app.config import load_config
from macs.core.errors import MacsError
from macs.data.manifest import read_manifest, write_manifest
from macs.data.rundir import RunDir, read_stage_manifest


def _manifest_table(docs) -> pa.Table:
    docs = np.asarray(docs, dtype=np.int64)
    return pa.table(
        {
            "doc": docs,
            "id": [f"d{i}" for i in docs],
            "tokens": np.full(docs.size, 10, dtype=np.int64),
            "times_selected": np.ones(docs.size, dtype=np.uint16),
            "score": np.full(docs.size, np.nan, dtype=np.float32),
        }
    )


def test_the_layout_is_spelled_as_it_always_was(tmp_path):
    rd = RunDir(tmp_path / "r")
    rel = {
        n: getattr(rd, n).relative_to(rd.path).as_posix()
        for n in (
            "config", "meta", "stages_dir", "rewards_dir", "selection", "metrics", "pool",
            "checkpoints", "boundary_dir", "model", "eval", "summary", "done", "select_dir",
        )
    }  # fmt: skip
    assert rel == {
        "config": "config.yaml",
        "meta": "run.json",
        "stages_dir": "stages",
        "rewards_dir": "rewards",
        "selection": "selection.jsonl",
        "metrics": "metrics.jsonl",
        "pool": "pool.json",
        "checkpoints": "checkpoints",
        "boundary_dir": "boundary",
        "model": "model",
        "eval": "eval.json",
        "summary": "summary.json",
        "done": "DONE",
        "select_dir": "select",
    }
    assert rd.stage(3).relative_to(rd.path).as_posix() == "stages/stage-3.parquet"
    assert rd.rewards(2).relative_to(rd.path).as_posix() == "rewards/stage-2.parquet"
    assert rd.boundary(1).relative_to(rd.path).as_posix() == "boundary/stage-1.json"
    assert RunDir.of_trainer_output(tmp_path / "out").path == tmp_path / "out" / "macs"
    assert RunDir.stage_number(rd.stage(12)) == 12
    assert RunDir.stage_number(tmp_path / "stage-x.parquet") is None
    assert RunDir.stage_number(tmp_path / "manifest.parquet") is None


def test_stage_listing_and_reading(tmp_path):
    rd = RunDir(tmp_path)
    assert rd.stage_count() == 0 and rd.stage_files() == {}
    for k, docs in ((0, [1, 4, 9]), (1, [2, 3]), (3, [5])):  # stage 2 missing
        write_manifest(rd.stage(k), _manifest_table(docs), {"kind": "stage", "stage": k})
    (rd.stages_dir / "stage-0.parquet.bak").write_bytes(b"")  # not a stage file
    assert rd.stage_count() == 2  # 0, 1: up to the first gap (what the report and gate read)
    assert list(rd.stage_files()) == [0, 1, 3]
    assert rd.stage_docs(1).tolist() == [2, 3] and rd.stage_docs(1).dtype == np.int64
    assert [d.tolist() for d in rd.all_stage_docs()] == [[1, 4, 9], [2, 3]]
    table, meta = rd.read_stage(3, columns=["id"])
    assert table.column_names == ["id"] and meta["stage"] == 3 and meta["schema"] == 1


def test_a_tampered_stage_manifest_is_refused(tmp_path):
    rd = RunDir(tmp_path)
    for k in range(3):
        write_manifest(rd.stage(k), _manifest_table([k, k + 5]), {"kind": "stage", "stage": k})
    # swapped into another stage's place: the file records the stage it was written for
    shutil.copyfile(rd.stage(0), rd.stage(1))
    read_manifest(rd.stage(1))  # the schema alone cannot tell
    with pytest.raises(MacsError, match=r"stage-1\.parquet: records stage 0, not stage 1"):
        rd.read_stage(1)
    # another kind of manifest (a static `macs select` output) dropped in
    write_manifest(rd.stage(1), _manifest_table([1]), {"kind": "static_select"})
    with pytest.raises(MacsError, match="'static_select' manifest, not a run's stage manifest"):
        rd.stage_docs(1)
    # written by a newer macs (manifest schema)
    write_manifest(rd.stage(2), _manifest_table([2]), {"kind": "stage", "stage": 2, "schema": 99})
    with pytest.raises(MacsError, match="newer macs"):
        rd.read_stage(2)
    # cut short
    data = rd.stage(0).read_bytes()
    rd.stage(0).write_bytes(data[: len(data) // 2])
    with pytest.raises(MacsError, match="cannot be read"):
        rd.read_stage(0)
    with pytest.raises(MacsError, match="does not exist"):
        rd.read_stage(7)
    # a manifest without macs metadata (a hand-made one) is read as it is
    import pyarrow.parquet as pq

    pq.write_table(_manifest_table([4, 6]), rd.stage(4))
    assert read_stage_manifest(rd.stage(4))[0].column("doc").to_pylist() == [4, 6]


def test_the_report_and_export_read_stages_through_the_checks(tmp_path):
    from macs.app.export.manifests import _read
    from macs.app.report.load import load_run

    rd = RunDir(tmp_path / "r")
    rd.path.mkdir()
    rd.config.write_text("run: {seed: 3}\nselection: {method: random}\n", encoding="utf-8")
    for k in range(2):
        write_manifest(rd.stage(k), _manifest_table([k, 7]), {"kind": "stage", "stage": k})
    run = load_run(rd.path)
    assert [s["doc"].tolist() for s in run.stages] == [[0, 7], [1, 7]] and run.seed == 3
    assert _read(rd.stage(1)).column("doc").to_pylist() == [1, 7]
    shutil.copyfile(rd.stage(0), rd.stage(1))
    with pytest.raises(MacsError, match="records stage 0, not stage 1"):
        load_run(rd.path)
    with pytest.raises(MacsError, match="records stage 0, not stage 1"):
        _read(rd.stage(1))


@pytest.fixture(scope="module")
def real_run(tmp_path_factory, mini_data):
    """A real short multi_actor run (3 stages, boundary evaluations, eval.json), killed at step 10
    and resumed; with the plan its checkpoint held at the kill."""
    from macs.app.training import train_from_config
    from macs.core.safe_load import load_tensors
    from macs.train.checkpoint import latest_checkpoint

    _, sets = mini_data
    root = tmp_path_factory.mktemp("runs")
    extra = [f"run.runs_dir={root}", "run.name=r", "selection.method=multi_actor"]
    extra += ["eval.tasks=[reference]", "eval.limit=2", "eval.boundary_limit=2"]
    cfg = load_config(None, [*sets, *extra])
    first = train_from_config(cfg, stop_at_step=10)
    rd = RunDir(cfg.run.run_dir)
    state = load_tensors(latest_checkpoint(rd.checkpoints) / "state.pt", allow_numpy=True)
    res = train_from_config(cfg)
    return {"cfg": cfg, "rd": rd, "first": first, "res": res, "ckpt_plan": state["plan"]}


@pytest.mark.slow
def test_a_real_run_writes_exactly_the_rundir_paths(real_run):
    from macs.core.lock import LOCK_NAME

    rd, res = real_run["rd"], real_run["res"]
    assert not real_run["first"].finished and res.finished
    top = {p for p in rd.path.iterdir() if p.name != LOCK_NAME}
    assert top == {
        rd.config, rd.meta, rd.stages_dir, rd.rewards_dir, rd.selection, rd.metrics, rd.pool,
        rd.checkpoints, rd.boundary_dir, rd.model, rd.eval, rd.summary, rd.done,
    }  # fmt: skip
    assert set(rd.stages_dir.iterdir()) == {rd.stage(k) for k in range(3)}
    assert set(rd.rewards_dir.iterdir()) == {rd.rewards(k) for k in (1, 2)}  # the refreshes
    assert set(rd.boundary_dir.iterdir()) == {rd.boundary(k) for k in (1, 2, 3)}
    assert rd.is_run() and rd.is_finished() and rd.is_evaluated()
    assert rd.stage_count() == 3 and list(rd.stage_files()) == [0, 1, 2]


@pytest.mark.slow
def test_rundir_reads_back_what_the_run_wrote(real_run):
    from macs.app.report.load import load_run
    from macs.core.io import read_json, read_jsonl

    rd, res = real_run["rd"], real_run["res"]
    assert rd.read_summary() == read_json(rd.path / "summary.json")
    assert rd.read_summary()["tokens"] == res.tokens
    assert rd.read_eval() == read_json(rd.path / "eval.json") and "gate" in rd.read_eval()
    assert [r["stage"] for r in rd.read_selection()] == [0, 1, 2]  # truncated at the resume
    assert rd.read_metrics() == read_jsonl(rd.path / "metrics.jsonl")
    steps = [r["step"] for r in rd.read_metrics()]
    assert steps == sorted(set(steps)) and steps[-1] == res.steps
    assert [r["stage"] for r in rd.read_boundary()] == [1, 2, 3]
    assert rd.read_config()["run"]["name"] == "r"
    rd.check_format()
    rd.check_same_config(real_run["cfg"])
    run = load_run(rd.path)
    for k in range(3):
        docs = read_manifest(rd.path / "stages" / f"stage-{k}.parquet")[0].column("doc")
        assert rd.stage_docs(k).tolist() == docs.to_pylist() == run.stages[k]["doc"].tolist()
    assert run.extra["boundary"] == rd.read_boundary()


@pytest.mark.slow
def test_the_checkpoint_holds_the_plan_as_its_plain_dict(real_run):
    import dataclasses

    from macs.train.state import plan

    p = plan(real_run["cfg"].train, 1)
    held = real_run["ckpt_plan"]
    assert type(held) is dict and held == dataclasses.asdict(p) == p.to_dict()
    assert list(held) == ["total_steps", "bounds", "step_tokens", "stage_budgets"]
    assert real_run["res"].steps == p.total_steps and p.n_stages == 3
    assert real_run["res"].tokens == p.total_steps * p.step_tokens == sum(p.stage_budgets)
