"""`macs export`: a stage manifest, or a run's stages, in the format another trainer reads."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from macs.app.cli_common import ConfigOpt, SetOpt


def register(app: typer.Typer) -> None:
    """Add `macs export` to the root app."""
    app.command("export")(export_cmd)


def export_cmd(
    source: Annotated[
        Path, typer.Argument(help="A stage manifest (.parquet) or a run directory (stages/).")
    ],
    fmt: Annotated[str, typer.Option("--format", "-f", help="hf | litdata | mds | flat | jsonl")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (a file for jsonl).")],
    stage: Annotated[
        str,
        typer.Option(help="For a run directory: a stage number, or 'all' (stages in order)."),
    ] = "all",
    config: ConfigOpt = None,
    sets: SetOpt = None,
    store: Annotated[
        Path | None,
        typer.Option(help="Corpus store folder (default: from the config, as other commands)."),
    ] = None,
    tokens: Annotated[
        Path | None,
        typer.Option(
            help="Token-shard folder (default: <store>/tokens/<configured tokenizer> if present)."
        ),
    ] = None,
    no_tokens: Annotated[
        bool, typer.Option("--no-tokens", help="Text only (hf, mds, jsonl): no token ids.")
    ] = False,
) -> None:
    """Write the documents a selection chose (order and repeats kept) with the format's own library.

    Load hf with datasets.load_from_disk(OUT), litdata with litdata.StreamingDataset(OUT, item_loader=TokensLoader(block_size)) as LitGPT does, mds with streaming.StreamingDataset(local=OUT), flat with np.memmap(OUT/train.bin) and OUT/index.npy (docs/exports.md).
    """
    from macs.app.export import write_export

    src = resolve_source(source, stage, config, sets, store, tokens, no_tokens)
    opts: dict[str, Any] = {}
    if fmt == "jsonl":
        opts["columns"] = src["columns"]
    summary = write_export(
        fmt,
        out,
        src["store"],
        src["idx"],
        tokens=src["tokens"],
        log=lambda m: typer.echo(m, err=True),
        **opts,
    )
    typer.echo(
        f"exported {summary['docs']:,} docs from {src['what']} as {fmt} -> {summary['path']}"
    )


def resolve_source(
    source: Path,
    stage: str = "all",
    config: Path | None = None,
    sets: list[str] | None = None,
    store: Path | None = None,
    tokens: Path | None = None,
    no_tokens: bool = False,
) -> dict[str, Any]:
    """Open what `macs export` reads: store, token shards, doc indices, manifest columns."""
    from macs.app.cli_common import load
    from macs.app.export.manifests import read_selection, stage_manifests
    from macs.core.errors import MacsError
    from macs.data.corpus.store import CorpusStore, store_path
    from macs.data.rundir import RunDir

    if source.is_dir():
        paths = stage_manifests(source, stage)
        run_cfg = RunDir(source).config
        cfg_from_run = run_cfg.is_file()
        cfg = load(config or (run_cfg if cfg_from_run else None), sets)
        what = f"{source} (stage {stage})"
    elif source.is_file():
        if stage != "all":
            raise MacsError("--stage applies to a run directory; SOURCE is a manifest file")
        paths = [source]
        cfg_from_run = False
        cfg = load(config, sets)
        what = str(source)
    else:
        raise MacsError(f"{source} does not exist (pass a stage manifest or a run directory)")
    if store is None and config is None and not sets and not cfg_from_run:
        store = _recorded_store(paths[0])  # the store the manifest was selected from
    st = CorpusStore.open(store or store_path(cfg))
    idx, columns = read_selection(paths, st)
    ts = None if no_tokens else _token_store(st, cfg, tokens)
    if ts is not None:
        columns.pop("tokens", None)  # the token shards' counts are written instead
    return {"store": st, "tokens": ts, "idx": idx, "columns": columns, "what": what}


def _recorded_store(manifest: Path) -> Path | None:
    """The store folder a manifest records (macs select and training write it), if it exists."""
    from macs.data.manifest import read_manifest

    recorded = read_manifest(manifest, columns=["id"])[1].get("store")
    return Path(recorded) if recorded and Path(recorded).is_dir() else None


def _token_store(st, cfg, tokens: Path | None):
    """--tokens, else the configured tokenizer's shards of the store when they exist, else None."""
    from macs.data.corpus.tokenizer import tokenizer_name
    from macs.data.corpus.tokens import TokenStore, tokens_dir

    if tokens is not None:
        return TokenStore.open(tokens)
    path = tokens_dir(st, tokenizer_name(cfg.tokenizer))
    return TokenStore.open(path) if (path / "meta.json").is_file() else None
