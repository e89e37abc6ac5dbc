"""The GPU bundle end to end on CPU: build a tiny bundle here, then run scripts/gpu_run.sh from a copy
of the source tree inside a virtual environment that holds only what the GPU image holds plus the
bundle's wheels, so a missing package or a path that exists only here fails in CI, not on the GPU."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gpu_image_venv import image_venv
from macs.io import read_json

REPO = Path(__file__).resolve().parents[1]

OUT_FILES = {
    "results.md",
    "results.json",
    "table.json",
    "forest.png",
    "diversity.png",
    "bench_influence.txt",
    "bench_train.txt",
    "log.txt",
}
CORE = ["multi_actor", "random", "fixed_theta", "quality_topk"]


def _tree_copy(dest: Path) -> Path:
    """What the device call carries of the repository (tracked source), at another path."""
    for part in ("src", "scripts", "benchmarks", "configs"):
        shutil.copytree(REPO / part, dest / part, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def test_bundle_parts_are_what_the_image_lacks():
    """The carried wheels are exactly the distributions macs needs that the image's list lacks."""
    from macs.bundle.image import carried_packages, image_packages, missing_from_image

    have = image_packages()
    assert {"torch", "transformers", "numpy", "pyarrow", "typer"} <= have
    assert not set(carried_packages()) & have  # nothing carried that the image already holds
    assert missing_from_image(["pydantic", "torch", "faiss-cpu"]) == ["faiss-cpu"]


def test_eval_files_are_only_the_needed_ones():
    """The GPU config reads 11 tasks from 11 request files; MMLU (Arrow) is refused with a fix."""
    from macs.bundle.evalfiles import needed_files
    from macs.config import load_config
    from macs.errors import MacsError

    cfg = load_config(REPO / "configs" / "compare-gpu.yaml")
    gz = [f for f in needed_files(cfg) if f.endswith(".gz")]
    assert len(gz) == 11 and "oe_eval_tasks/hellaswag/rc_0shot/requests.jsonl.gz" in gz
    assert "oe_eval_tasks/squad/bpb_5shot/requests.jsonl.gz" in gz  # reward and 0-shot target
    with pytest.raises(MacsError, match="Arrow"):
        needed_files(load_config(None, ["eval.tasks=[mmlu]"]))


@pytest.mark.slow
@pytest.mark.network
def test_tiny_bundle_runs_in_the_gpu_image_emulation(tmp_path):
    """Build a tiny bundle (mini corpus, wheels for this Python), run gpu_run.sh in the emulation venv."""
    t0 = time.perf_counter()
    py, venv = image_venv()
    venv_s = time.perf_counter() - t0
    lacks = subprocess.run([str(py), "-c", "import pydantic"], capture_output=True)
    assert lacks.returncode != 0, "the emulation venv must lack pydantic, as the GPU image does"

    tree = _tree_copy(tmp_path / "tree")
    bundle = tree / ".gpu_bundle"
    pyver = f"{sys.version_info[0]}.{sys.version_info[1]}"
    build = subprocess.run(
        ["bash", "scripts/gpu_bundle.sh", "--profile", "tiny", "--out", str(bundle)]
        + ["--pool-jsonl", str(REPO / "tests" / "fixtures" / "mini_corpus.jsonl")]
        + ["--python-version", pyver],
        cwd=tree,
        env={**os.environ, "PYTHON": sys.executable, "MACS_CACHE": str(tmp_path / "cache")},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    info = read_json(bundle / "bundle.json")
    assert info["profile"] == "tiny" and info["config"] == "configs/compare-gpu.yaml"
    assert info["bytes"]["total"] < info["limit_mb"] * 2**20
    assert {w["dist"] for w in info["wheels"]} >= {"pydantic", "msgspec", "zstandard", "nltk"}
    assert not (bundle / "data" / "corpus" / "gpu_pool" / "tokens").exists()  # tokenized there
    assert "MiB" in build.stdout and "pool gpu_pool" in build.stdout

    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MACS_OLMO_EVAL_DIR")}
    env.update(
        PYTHON=str(py),
        OUT=str(out),
        MACS_WORK=str(tmp_path / "work"),
        MACS_SITE=str(tmp_path / "site"),
        OMP_NUM_THREADS="1",
    )
    t1 = time.perf_counter()
    run = subprocess.run(
        ["bash", "scripts/gpu_run.sh", ".gpu_bundle"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    run_s = time.perf_counter() - t1
    assert run.returncode == 0, run.stderr[-3000:]
    print(
        f"emulation venv {venv_s:.0f}s ({'created' if venv['created'] else 'cached'}), run {run_s:.0f}s"
    )

    assert {p.name for p in out.iterdir()} == OUT_FILES  # at most 8 files come back
    res = read_json(out / "results.json")
    for name, st in res["stages"].items():
        assert st.get("rc") == 0 and not st.get("timed_out"), (
            name,
            st,
            (out / "log.txt").read_text()[-3000:],
        )
    data = res["stages"]["data"]["info"]
    assert data["relabelled"] == [] and set(data["labels_reused"]) == {"quality", "domain", "topic"}
    phases = {p["phase"]: p for p in res["compare"]["phases"]}
    assert phases["core"]["runs_finished"] == 8 and phases["selectors"]["runs_finished"] == 8

    table = read_json(out / "table.json")
    assert set(table["methods"]) == set(CORE + ["qurating", "dsir", "perplexity", "mates"])
    assert table["baseline"] == "random" and table["costs"]["multi_actor"]["train_seconds"] > 0
    for png in ("forest.png", "diversity.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    bi = res["bench_influence"]["rows"]
    assert [r["estimator"] for r in bi] == [
        "naive loop", "alignment/ghost", "alignment/vmap", "projected", "probe"
    ]  # fmt: skip
    exact = {r["estimator"]: r for r in bi}["alignment/ghost"]
    assert exact["max_abs_err_vs_fp64"] < 1e-5 and exact["frac_of_training"] > 0
    assert "spearman_vs_fp64" in (out / "bench_influence.txt").read_text()
    bt = (out / "bench_train.txt").read_text()
    assert "llama-tiny" in bt and "llama-1m" in bt and "MFU" in bt

    md = (out / "results.md").read_text()
    for head in ("## 1. Reward engine", "## 2. Training throughput", "## 3. macs compare"):
        assert head in md
    assert "diff to random" in md and "Online overhead per run" in md
    assert "macs compare --config configs/compare-gpu.yaml" in md
    assert json.loads((out / "results.json").read_text())["profile"] == "tiny"
