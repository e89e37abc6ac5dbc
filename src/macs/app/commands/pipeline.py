"""CLI commands of the jobs that wire several layers (`macs run`, `macs compare`, `macs select`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from macs.app.cli_common import ConfigOpt, SetOpt, load


def _ints(text: str | None, what: str) -> list[int] | None:
    from macs.core.errors import MacsError

    if not text:
        return None
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError as e:
        raise MacsError(f"{what} {text!r}: expected a comma list of integers, e.g. 0,1,2") from e


def _names(text: str | None) -> list[str] | None:
    return [m.strip() for m in text.split(",") if m.strip()] if text else None


MethodsOpt = Annotated[
    str | None,
    typer.Option(
        "--methods",
        help="comma list of methods (selector names; multi_actor:quality+domain for an actor subset); "
        "default: compare.methods",
    ),
]
SeedsOpt = Annotated[
    str | None, typer.Option("--seeds", help="comma list of seeds (default: compare.seeds)")
]


def run_cmd(
    config: ConfigOpt = None,
    sets: SetOpt = None,
    methods: MethodsOpt = None,
    seeds: SeedsOpt = None,
) -> None:
    """The main job: corpus -> tokenizer -> token shards -> labels -> each method at equal tokens -> eval -> report.

    Without --config it runs the CPU demo (configs/demo.yaml; --set overrides apply on top): the
    multi-actor method against random and quality top-k. Finished steps are reused.
    """
    from macs.app.pipeline import demo_config, run_compare

    cfg = load(config, sets) if config is not None else demo_config(sets)
    report = run_compare(cfg, _names(methods), _ints(seeds, "--seeds"))
    typer.echo(f"report: {report}")


def compare_cmd(
    config: ConfigOpt = None,
    sets: SetOpt = None,
    methods: MethodsOpt = None,
    seeds: SeedsOpt = None,
    baseline: Annotated[
        str | None,
        typer.Option("--baseline", help="the reference method (default: compare.baseline)"),
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option("--jobs", "-j", help="runs at once, one process each (default: compare.jobs)"),
    ] = None,
) -> None:
    """Train every method for every seed at equal tokens on one pool; evaluate; a table with paired 95% intervals.

    Writes <runs_dir>/<run.name>/<method>-s<seed>/ per run and the report with compare/table.md,
    table.json and plots; rerunning picks up where a killed run stopped.
    """
    from macs.app.pipeline import run_compare

    cfg = load(config, sets)
    report = run_compare(cfg, _names(methods), _ints(seeds, "--seeds"), baseline, jobs)
    typer.echo(f"report: {report}; table: {report.parent / 'compare' / 'table.md'}")


def select_cmd(
    config: ConfigOpt = None,
    sets: SetOpt = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Manifest path (default: selection.out, else run_dir/select/manifest.parquet with run.name set, else runs_dir/<corpus.name>/select/manifest.parquet).",
        ),
    ] = None,
    tokens: Annotated[
        float | None,
        typer.Option(
            "--tokens",
            help="Token budget (default: selection.tokens or selection.fraction of the pool).",
        ),
    ] = None,
    token_shards: Annotated[
        Path | None,
        typer.Option(
            "--token-shards",
            help="Also copy the selected documents' tokens into this folder (TokenStore layout).",
        ),
    ] = None,
    jsonl: Annotated[
        Path | None,
        typer.Option(
            "--jsonl", help="Also write the selected documents (id, text, groups) as JSONL."
        ),
    ] = None,
    show: Annotated[
        str,
        typer.Option(
            "--show", help="Actors whose summary to print: comma list, 'all' (default: domain)."
        ),
    ] = "domain",
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format", help="Also export the selection: hf | litdata | mds | flat | jsonl."
        ),
    ] = None,
    export: Annotated[
        Path | None, typer.Option("--export", help="Folder of the --format export.")
    ] = None,
) -> None:
    """Static selection: stage 0 of selection.method at a token budget; write a stage manifest and print the mixture.

    For the multi-actor method every eligible (not held-out) document scores S = sum over actors of theta_A * w_A(group) with the initial weights, higher = chosen first; baselines (random, quality_topk, ...) choose their own way. Documents are taken until the token budget is met; writes the manifest (Parquet: doc, id, tokens, each label's group, score), a summary JSON and the selector state beside it.
    """
    import sys

    from macs.app.select_cmd import print_summary, run_select
    from macs.core.errors import MacsError
    from macs.core.timing import Stopwatch

    if (fmt is None) != (export is None):
        raise MacsError("give --format and --export together (e.g. --format hf --export out/hf)")
    cfg = load(config, sets)
    _check_show(show, cfg)
    clock = Stopwatch()
    result = run_select(
        cfg,
        out=out,
        tokens=tokens,
        jsonl=jsonl,
        token_shards=token_shards,
        log=lambda m: typer.echo(m, err=True),
        export=(fmt, export) if fmt else None,
    )
    print_summary(result["summary"], show)
    s = result["summary"]
    typer.echo(
        f"selected {s['n_selected']:,} docs, {s['selected_tokens']:,} training tokens (one EOS "
        f"per doc counted; {100 * s['selected_fraction']:.1f}% of {s['pool_tokens']:,} eligible) in "
        f"{clock.seconds:.1f} s; manifest -> {result['manifest']}",
        err=True,
    )
    sys.stderr.flush()


def _check_show(show: str, cfg) -> None:
    """--show names built-in or configured actors (or 'all'); anything else is a one-line error."""
    from macs.core.errors import MacsError
    from macs.data.labels.registry import ACTOR_KINDS, unknown_actor

    known = [*ACTOR_KINDS]
    for a in cfg.selection.actors:
        name = a if isinstance(a, str) else a.name
        if name not in known:
            known.append(name)
    for n in (x.strip() for x in show.split(",")):
        if n != "all" and n not in known:
            raise MacsError(unknown_actor(n, "--show", [*known, "all"]))


def register(app: typer.Typer) -> None:
    """Add the jobs' commands to the root app."""
    app.command("run")(run_cmd)
    app.command("compare")(compare_cmd)
    app.command("select")(select_cmd)
