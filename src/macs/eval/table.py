"""Render eval.json results as a rich table."""

from __future__ import annotations


def _f(x, digits=3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def results_table(result: dict, title: str = "macs eval"):
    """A rich Table: one row per task and shots (accuracy higher = better, bits-per-byte lower = better)."""
    from rich.table import Table

    t = Table(title=title, title_justify="left")
    for col, just in [
        ("group", "left"),
        ("task", "left"),
        ("shots", "right"),
        ("docs", "right"),
        ("acc/char", "right"),
        ("acc raw", "right"),
        ("± (acc/char)", "right"),
        ("gold bpb", "right"),
    ]:
        t.add_column(col, justify=just)
    for entry in result.get("tasks", {}).values():
        for key, m in entry.items():
            if not key.endswith("shot") or not isinstance(m, dict):
                continue
            acc = m.get("acc_per_char", m.get("acc_greedy"))
            t.add_row(
                entry["group"],
                entry["title"],
                key[:-4],
                str(m["n_docs"]),
                _f(acc),
                _f(m.get("acc_raw")),
                _f(m.get("acc_per_char_stderr", m.get("acc_greedy_stderr"))),
                _f(m["bpb"]),
            )
    for grp, by_shot in result.get("groups", {}).items():
        for key, g in by_shot.items():
            t.add_row(
                f"[bold]{grp}",
                f"[bold]mean of {g['n_tasks']}",
                "own" if key == "scored" else key[:-4],  # each task at its own rendering
                "",
                _f(g.get("acc_per_char")),
                _f(g.get("acc_raw")),
                "",
                _f(g.get("bpb")),
            )
    return t


def heldout_table(result: dict):
    """A rich Table of per-domain held-out bits-per-byte (lower = better)."""
    from rich.table import Table

    t = Table(title="held-out bits per byte", title_justify="left")
    for col in ("domain", "docs", "bytes", "bpb"):
        t.add_column(col, justify="left" if col == "domain" else "right")
    for name, d in result["domains"].items():
        t.add_row(name, str(d["n_docs"]), str(d["n_bytes"]), _f(d["bpb"]))
    o = result["overall"]
    t.add_row("[bold]all (pooled)", str(o["n_docs"]), str(o["n_bytes"]), _f(o["bpb"]))
    return t
