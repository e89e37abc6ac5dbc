"""CLI commands of macs.select.rewards (heavy imports inside the command functions)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from macs.app.cli_common import ConfigOpt, SetOpt, load


def _read_docs(path: Path, limit: int | None) -> tuple[list[str], list[str]]:
    """(ids, texts) from a JSONL of {text[, id]} or a plain text file (one document per line)."""
    import json

    from macs.core.errors import MacsError

    if not path.exists():
        raise MacsError(f"documents file {path} does not exist")
    ids, texts = [], []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if limit is not None and len(texts) >= limit:
                break
            if not line.strip():
                continue
            if path.suffix == ".jsonl":
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as e:
                    raise MacsError(f"{path}:{lineno}: not valid JSON ({e})") from e
                if not isinstance(rec, dict) or not isinstance(rec.get("text"), str):
                    raise MacsError(f"{path}:{lineno}: expected an object with a string 'text'")
                ids.append(str(rec.get("id", lineno)))
                texts.append(rec["text"])
            else:
                ids.append(str(lineno))
                texts.append(line.rstrip("\n"))
    return ids, texts


def rewards(
    docs: Annotated[
        Path, typer.Argument(help="documents: JSONL of {text[, id]} or a .txt, one per line")
    ],
    model: Annotated[Path, typer.Option(help="a Hugging Face causal LM folder (save_pretrained)")],
    tokenizer: Annotated[
        Path | None,
        typer.Option(help="tokenizer.json or its folder (default: the model folder)"),
    ] = None,
    out: Annotated[Path, typer.Option(help="JSONL of {id, reward, n_tokens} written here")] = Path(
        "rewards.jsonl"
    ),
    limit: Annotated[int | None, typer.Option(help="score only the first N documents")] = None,
    config: ConfigOpt = None,
    sets: SetOpt = None,
) -> None:
    """Score documents with the configured reward estimator (higher = more helpful); for debugging."""
    import numpy as np
    import torch

    from macs.core.errors import MacsError
    from macs.core.timing import timed
    from macs.data.corpus.tokenizer import load_tokenizer
    from macs.select.rewards import make_estimator, reference_for_config
    from macs.select.rewards.reference import encoder

    cfg = load(config, sets)
    icfg = cfg.influence
    if not (model / "config.json").exists():
        raise MacsError(f"--model {model}: no config.json there; give a save_pretrained folder")
    from transformers import AutoModelForCausalLM

    from macs.core.device import resolve_device

    dev = resolve_device(cfg.run.device)
    lm = AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32).to(dev)
    tok = load_tokenizer(tokenizer or model)
    encode = encoder(tok)
    ids, texts = _read_docs(docs, limit)
    toks = [np.asarray(encode(t), dtype=np.int64) for t in texts]
    ref = reference_for_config(tok, icfg, seed=cfg.run.seed)
    est = make_estimator(icfg, ref)
    with timed() as sw:
        r = _score(est, lm, toks, icfg)
    dt = sw.seconds
    _write_rewards(out, ids, r, toks, icfg, ref)
    ok = ~np.isnan(r)
    typer.echo(
        f"scored {int(ok.sum())}/{len(r)} docs ({est.stats['skipped_short']} too short) with "
        f"{icfg.estimator} on {dev} in {dt:.1f}s ({len(r) / max(dt, 1e-9):.1f} docs/s; "
        f"mean reward {np.nanmean(r) if ok.any() else float('nan'):.4f}) -> {out}"
    )


def _score(est, lm, toks: list, icfg):
    """Rewards of every doc on `lm` (NaN = not scored; higher = more helpful), in chunks
    of 4 x influence.chunk_size docs under a progress bar."""
    import numpy as np

    from macs.core.progress import Bar

    est.refresh(lm, step=0)
    r = np.full(len(toks), np.nan)
    step = max(1, icfg.chunk_size * 4)
    with Bar(len(toks), f"{icfg.estimator} rewards", unit="docs") as bar:
        for s in range(0, len(toks), step):
            r[s : s + step] = est.rewards(lm, toks[s : s + step], step=0)
            bar.advance(len(toks[s : s + step]))
    return r


def _write_rewards(out: Path, ids: list[str], r, toks: list, icfg, ref) -> None:
    """The rewards JSONL at `out` and the estimator config + reference set beside it."""
    import json

    import numpy as np

    from macs.core.io import write_json, write_text

    lines = [
        json.dumps({"id": i, "reward": None if np.isnan(x) else float(x), "n_tokens": len(t)})
        for i, x, t in zip(ids, r, toks, strict=True)
    ]
    write_text(out, "\n".join(lines) + "\n")
    write_json(
        out.with_suffix(".reference.json"),
        {"config": icfg.model_dump(), "reference": ref.manifest()},
    )


def register(app: typer.Typer) -> None:
    """Add this layer's commands to the root app."""
    app.command("rewards")(rewards)
