"""RegMix's target: what a proxy's loss is measured on (nats per target token, lower = better).

- `reference` (default): the influence config's reference tasks (reward split, disjoint from
  evaluation) and reference JSONL files; loss on the continuation tokens only, the context cut
  from the left to the proxy's sequence length.
- `heldout`: the pool's held-out documents (never selected); loss on all tokens of the first
  `seq_len` tokens of each.
- a path to a JSONL file: records `{"text": ...}` (loss on all tokens) or
  `{"context": ..., "continuation": ...}` (loss on the continuation).

`target_spec` describes the target without loading it (it keys the sweep's cache);
`build_target` tokenizes it into `influence.batching.Unit`s grouped by task.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from macs.core.errors import MacsError
from macs.core.io import file_sha256


def target_spec(pool, rcfg, icfg) -> dict[str, Any]:
    """A JSON-able description of the target (what changes it changes the sweep's cache key)."""
    n, seq_len = int(rcfg.target_examples), int(rcfg.seq_len)
    if rcfg.target == "reference":
        files = [{"path": str(p), "sha256": file_sha256(Path(p))} for p in icfg.reference_jsonl]
        return {
            "kind": "reference",
            "tasks": list(icfg.reference_tasks),
            "jsonl": files,
            "n": n,
            "seed": int(icfg.seed),
            "max_len": seq_len,
        }
    if rcfg.target == "heldout":
        docs = heldout_docs(pool)
        return {"kind": "heldout", "n": n, "max_len": seq_len, "n_heldout": int(docs.size)}
    path = Path(rcfg.target)
    if path.suffix not in (".jsonl", ".json") or not path.exists():
        raise MacsError(
            f"baselines.regmix.target {rcfg.target!r}: use reference, heldout, or the path of an "
            "existing JSONL file of {text} or {context, continuation} records"
        )
    return {
        "kind": "jsonl",
        "path": str(path),
        "sha256": file_sha256(path),
        "n": n,
        "max_len": seq_len,
    }


def heldout_docs(pool) -> np.ndarray:
    """Doc indices held out from selection that have tokens (the pool's evaluation split)."""
    return np.flatnonzero(~pool.eligible & (pool.n_tokens > 0))


def build_target(pool, spec: dict[str, Any], seed: int) -> tuple[dict[str, list], dict[str, int]]:
    """The target as {task: [Unit]} (loss on the continuation, or every token after the first),
    and the records skipped per task (no loss token after tokenization)."""
    from macs.select.rewards.batching import Unit

    kind, n, max_len = spec["kind"], int(spec["n"]), int(spec["max_len"])
    if kind == "heldout":
        docs = heldout_docs(pool)
        if docs.size == 0:
            raise MacsError(
                "baselines.regmix.target heldout: the pool has no held-out documents; import the "
                "corpus with a held-out fraction or use target: reference"
            )
        rng = np.random.default_rng([seed, 0x7A6])
        pick = np.sort(rng.choice(docs, size=min(n, docs.size), replace=False))
        units = [Unit(np.asarray(pool.doc(int(i))[:max_len], np.int64), 1) for i in pick]
        kept = [u for u in units if len(u.ids) >= 2]
        if not kept:
            raise MacsError("baselines.regmix.target heldout: every held-out document is 1 token")
        return {"heldout": kept}, {"heldout": len(units) - len(kept)}
    tok = _tokenizer(pool)
    if kind == "reference":
        from macs.select.rewards.base import reference_units
        from macs.select.rewards.reference import load_reference_set

        ref = load_reference_set(
            tok, spec["tasks"], n, spec["seed"], [f["path"] for f in spec["jsonl"]], max_len
        )
        return reference_units(ref), {t: int(k) for t, k in ref.skipped.items()}
    units, skipped = _jsonl_units(Path(spec["path"]), tok, n, seed, max_len)
    return {Path(spec["path"]).stem: units}, {Path(spec["path"]).stem: skipped}


def _tokenizer(pool):
    from macs.data.corpus.tokenizer import load_tokenizer

    if pool.tokenizer_path is None:
        raise MacsError("RegMix needs the pool's tokenizer; run `macs corpus tokenize` first")
    return load_tokenizer(pool.tokenizer_path)


def _jsonl_units(path: Path, tok, n: int, seed: int, max_len: int) -> tuple[list, int]:
    """Units of a JSONL target file and the records skipped; MacsError names a bad line."""
    from macs.data.tasks.data import iter_json_lines
    from macs.select.rewards.batching import Unit
    from macs.select.rewards.reference import encoder, tokenize_pair

    encode, units, skipped = encoder(tok), [], 0
    with path.open(encoding="utf-8") as f:
        rows = list(iter_json_lines(f, path))
    rng = np.random.default_rng([seed, 0x7A7])
    keep = np.sort(rng.choice(len(rows), size=min(n, len(rows)), replace=False))
    for k in keep:
        lineno, rec = rows[k]
        if isinstance(rec, dict) and isinstance(rec.get("text"), str):
            ids = np.asarray(encode(rec["text"])[:max_len], np.int64)
            one = (ids, 1) if len(ids) >= 2 else None
        elif (
            isinstance(rec, dict)
            and isinstance(rec.get("context"), str)
            and isinstance(rec.get("continuation"), str)
        ):
            one = tokenize_pair(encode, rec["context"], rec["continuation"], max_len)
        else:
            raise MacsError(
                f"{path}:{lineno}: expected an object with a string 'text', or string "
                "'context' and 'continuation'"
            )
        if one is None:
            skipped += 1
            continue
        units.append(Unit(one[0], max(1, int(one[1]))))
    if not units:
        raise MacsError(f"{path}: no record has at least 2 tokens ({skipped} skipped)")
    return units, skipped
