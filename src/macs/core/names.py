"""Names that become paths (corpus, run, method, actor, variant, tokenizer) and output folders
that macs replaces: the one safe-name rule, and the check that an existing output is macs's own.

A safe name is 1-128 characters: letters, digits, `_`, and `. + : = , @ -` after the first
character (no path separators, no `..`, no leading dot or dash), so `root / name` always stays
inside `root`. A run name may hold several such names joined by `/` (a comparison's runs are
`<root>/<method>-s<seed>`).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from macs.core.errors import MacsError

_SAFE = re.compile(r"^\w[\w.+:=,@-]{0,127}$")


def name_problem(value: object, nested: bool = False) -> str | None:
    """Why `value` is not a safe name (None when it is); nested=True allows `a/b` segments."""
    if not isinstance(value, str):
        return f"a name must be a string, not {type(value).__name__}"
    parts = value.split("/") if nested else [value]
    for part in parts:
        if not part:
            return (
                "it is empty"
                if value == ""
                else "it has an empty part (a leading, trailing or double '/')"
            )
        if ".." in part:
            return "it contains '..'"
        if part.startswith("."):
            return "it starts with '.'"
        if not _SAFE.match(part):
            bad = sorted({c for c in part if not (c.isalnum() or c in "_.+:=,@-")})
            if bad:
                return f"it contains {''.join(bad)!r} (allowed: letters, digits, _ . + : = , @ -)"
            if len(part) > 128:
                return "it is longer than 128 characters"
            return "it must start with a letter, digit or '_'"
    return None


def method_label(spec: str) -> str:
    """A file-name-safe label of a method spec ('multi_actor:quality+domain' ->
    'multi_actor-quality+domain'; 'pkg/mod:Class' -> 'pkg_mod-Class')."""
    return str(spec).replace(":", "-").replace("/", "_")


def method_run_name(method: str, seed: int) -> str:
    """The folder of one (method, seed) run of a comparison, under its root: <label>-s<seed>.
    The one rule: `macs compare` (macs.app.pipeline.run_dir_name) and the GPU bundle's phases
    (macs_bundle.phases.run_dir in tools/, outside macs) both name runs with it."""
    return f"{method_label(method)}-s{seed}"


def check_name(value: object, what: str, nested: bool = False) -> str:
    """`value` if it is a safe name, else a one-line MacsError naming `what` and the rule."""
    problem = name_problem(value, nested)
    if problem is not None:
        raise MacsError(
            f"{what} {value!r} is not a safe name: {problem}; use letters, digits, _ . + : = , @ - "
            "(no path separators, no '..', no leading dot)"
        )
    return value  # type: ignore[return-value]


def check_under(path: str | os.PathLike, parent: str | os.PathLike, what: str) -> Path:
    """`path` when it resolves (symlinks followed) to a folder strictly inside `parent`, else
    a one-line MacsError naming both."""
    path, parent = Path(path), Path(parent)
    real, top = path.resolve(), parent.resolve()
    if real == top or top not in real.parents:
        raise MacsError(
            f"{what} {path} resolves to {real}, outside {top}; choose a plain name (and no "
            "symlink there)"
        )
    return path


def is_store(path: Path) -> bool:
    """True when `path` holds a macs corpus store (a manifest.json with n_docs and shards)."""
    try:
        with open(path / "manifest.json", encoding="utf-8") as f:
            m = json.load(f)
    except (OSError, ValueError):
        return False
    return isinstance(m, dict) and "n_docs" in m and "shards" in m


def check_output(
    out: str | os.PathLike,
    what: str,
    is_ours,
    force: bool = False,
    fix: str = "choose another --out, or add --force to replace it",
) -> None:
    """Refuse to replace an existing `out` that is not macs's own `what` (is_ours(path) False):
    a file, a symlink or a non-empty folder. `force` replaces it anyway (the user asked)."""
    out = Path(out)
    if force or not (out.exists() or out.is_symlink()):
        return
    if out.is_dir() and not out.is_symlink() and (not any(out.iterdir()) or is_ours(out)):
        return
    kind = "a symlink" if out.is_symlink() else ("a folder" if out.is_dir() else "a file")
    raise MacsError(f"{out} exists and is not a macs {what} ({kind}); {fix}")
