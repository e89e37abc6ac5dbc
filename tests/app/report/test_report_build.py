"""The report from run directories: exact eval differences over seeds, plots, markdown and HTML."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from macs.app.config import Config, save_config
from macs.app.report.build import build_report, compare_table
from macs.app.report.load import eval_metrics, load_run, stage_mix
from macs.core.errors import MacsError
from macs.core.io import append_jsonl, write_json
from macs.data.manifest import write_manifest


def write_run(
    d: Path, mode: str, seed: int, lambada_bpb: float, arc_acc: float, heldout: dict[str, float]
) -> Path:
    """A run directory in the format `macs train` writes (3 stages, actors domain and quality)."""
    cfg = Config.model_validate({"run": {"seed": seed}, "selection": {"method": mode}})
    save_config(cfg, d / "config.yaml")
    write_json(
        d / "pool.json",
        {
            "n_docs": 10,
            "n_tokens": 1000,
            "actors": {"quality": {"group_names": ["low", "high"], "token_share": [0.5, 0.5]}},
            "store_domain": {
                "group_names": ["web", "code", "wiki"],
                "token_share": [0.5, 0.3, 0.2],
            },
        },
    )
    rng = np.random.default_rng(seed)

    def groups(codes, names):
        return pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()), pa.array(names))

    for k in range(3):
        idx = np.sort(rng.choice(10, 4, replace=False))
        write_manifest(
            d / "stages" / f"stage-{k}.parquet",
            pa.table(
                {
                    "doc": idx,
                    "id": [f"d{i}" for i in idx],
                    "tokens": np.full(4, 100),
                    "times_selected": np.ones(4, dtype=np.uint16),
                    "score": np.full(4, np.nan, dtype=np.float32),
                    "quality": groups([0, 1, 1, 1], ["low", "high"]),
                    "store_domain": groups(
                        [0, 0, 1, 2] if k == 0 else [2, 2, 2, 0], ["web", "code", "wiki"]
                    ),
                }
            ),
            {"kind": "stage", "stage": k},
        )
        actors = (
            {}
            if mode == "random"
            else {
                "quality": {
                    "w": [1.0 - 0.2 * k, 1.0 + 0.2 * k],
                    "group_names": ["low", "high"],
                    "R_j": [0.0, 0.1],
                },
                "domain": {
                    "w": [1.0, 1.0 + 0.1 * k, 1.0 - 0.1 * k],
                    "group_names": ["web", "code", "wiki"],
                },
            }
        )
        theta = {} if mode == "random" else {"quality": 0.5 + 0.01 * k, "domain": 0.5 - 0.01 * k}
        append_jsonl(
            d / "selection.jsonl",
            {
                "stage": k,
                "step": 10 * k,
                "budget": 400,
                "n_tokens": 400,
                "theta": theta,
                "actors": actors,
                "seconds": {"total": 0.1},
            },
        )
    for s in range(1, 31):
        append_jsonl(
            d / "metrics.jsonl",
            {
                "step": s,
                "tokens": 40 * s,
                "loss": 5.0 - s / 10 - 0.1 * (mode != "random"),
                "last_loss": 2.0,
                "train_seconds": s * 0.1,
                "refresh_seconds": 0.02,
                "overhead": 0.1,
            },
        )
    write_json(
        d / "eval.json",
        {
            "tasks": {
                "lambada": {"group": "reference", "0shot": {"bpb": lambada_bpb}},
                "arc_easy": {"group": "downstream", "0shot": {"acc_per_char": arc_acc, "bpb": 3.0}},
            },
            "heldout": {
                "domains": {k: {"bpb": v} for k, v in heldout.items()},
                "overall": {"bpb": float(np.mean(list(heldout.values())))},
            },
        },
    )
    write_json(
        d / "summary.json",
        {
            "steps": 30,
            "tokens": 1200,
            "final_loss": 2.0,
            "train_seconds": 3.0,
            "refresh_seconds": 0.3,
            "overhead": 0.1,
        },
    )
    return d


@pytest.fixture
def runs(tmp_path) -> list[Path]:
    return [
        write_run(tmp_path / "ma0", "multi_actor", 0, 2.0, 0.50, {"web": 3.0, "code": 2.0}),
        write_run(tmp_path / "ma1", "multi_actor", 1, 2.2, 0.60, {"web": 3.2, "code": 2.2}),
        write_run(tmp_path / "rnd0", "random", 0, 2.5, 0.40, {"web": 3.5, "code": 2.0}),
        write_run(tmp_path / "rnd1", "random", 1, 2.7, 0.40, {"web": 3.3, "code": 2.4}),
    ]


def test_eval_table_means_over_seeds_and_differences(runs):
    loaded = [load_run(r) for r in runs]
    head, rows, data = compare_table(loaded, "multi_actor")
    assert head == ["metric", "multi_actor (n=2)", "random (n=2)", "multi_actor - random"]
    assert data["reference/lambada 0shot bpb"]["multi_actor"] == pytest.approx(2.1)
    assert data["reference/lambada 0shot bpb"]["random"] == pytest.approx(2.6)
    by_name = {r[0]: r for r in rows}
    # the two seeds give the same difference: a zero-width interval that excludes zero
    assert by_name["reference/lambada 0shot bpb (lower = better)"][3] == (
        "-0.5000 [-0.5000, -0.5000] better"
    )
    # arc: +0.10, +0.20 -> mean 0.15, half width t(0.975, 1) * sd / sqrt(2) = 12.706 * 0.0707 / 1.414 = 0.635
    assert by_name["downstream/arc_easy 0shot acc_per_char (higher = better)"][3] == (
        "+0.1500 [-0.4853, +0.7853] no measurable difference"
    )
    # web: -0.5 and -0.1 -> the interval includes zero: no gain claimed
    assert by_name["heldout/web bpb (lower = better)"][3].endswith("no measurable difference")
    # reference tasks first, then downstream, then held-out domains
    groups = [r[0].split("/")[0].split(" ")[0] for r in rows]
    assert groups == sorted(groups, key=["reference", "downstream", "heldout"].index)


def test_stage_mix_and_eval_flattening(runs):
    r = load_run(runs[0])
    mix = stage_mix(r, "store_domain", 3)
    np.testing.assert_allclose(mix[0], [0.5, 0.25, 0.25])
    np.testing.assert_allclose(mix[1], [0.25, 0.0, 0.75])
    m = eval_metrics(r.eval)
    assert m["heldout overall bpb"] == (2.5, False) and m[
        "downstream/arc_easy 0shot acc_per_char"
    ] == (
        0.5,
        True,
    )


def test_build_report_writes_md_html_and_plots(runs, tmp_path):
    out = tmp_path / "rep"
    md = build_report(runs, out)
    assert md == out / "report.md"
    text = md.read_text()
    for png in (
        "theta.png",
        "weights-multi_actor-s0.png",
        "weights-multi_actor-s1.png",
        "mix.png",
        "loss.png",
    ):
        assert (out / "plots" / png).stat().st_size > 5000, png
        assert f"plots/{png}" in text
    assert "quality 0.5000 -> 0.5200" in text  # the theta trajectory in words
    assert "highest weight high (1.40)" in text
    html = (out / "report.html").read_text()
    assert html.count("<img") == 8 and "<table>" in html and "multi_actor - random" in html
    assert (out / "compare" / "table.md").exists() and (
        out / "compare" / "plots" / "forest.png"
    ).exists()
    assert "✓" not in text and "no measurable difference" in text


def test_report_rejects_a_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(MacsError, match="not a macs run directory"):
        build_report([tmp_path])
