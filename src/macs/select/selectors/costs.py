"""One-off and oracle compute of a selector, as one record per selection log (`compute`):
wall seconds and model tokens processed forward and backward. Static methods put the one-off
cost of what they built (the RegMix sweep, the perplexity reference model's training and
scoring) in stage 0's record, whether built in this run or reused from the cache (`cached`:
then it was paid once, by an earlier run, and is shared); online methods (MATES' oracle) put
each refresh's work in that refresh's record. The comparison's cost table sums them per run.
"""

from __future__ import annotations

from typing import Any


def compute_record(
    what: str,
    seconds: float | None,
    forward_tokens: int = 0,
    backward_tokens: int = 0,
    cached: bool = False,
    **parts: Any,
) -> dict[str, Any]:
    """A `compute` record (seconds None = unknown: e.g. a cache written before costs were kept)."""
    return {
        "what": what,
        "seconds": None if seconds is None else float(seconds),
        "forward_tokens": int(forward_tokens),
        "backward_tokens": int(backward_tokens),
        "cached": bool(cached),
        **parts,
    }


def add_compute(a: dict[str, Any] | None, b: dict[str, Any] | None) -> dict[str, Any] | None:
    """The sum of two compute records (`what` joined with ' + '; seconds None if either is)."""
    if a is None or b is None:
        return a or b
    secs = None if a["seconds"] is None or b["seconds"] is None else a["seconds"] + b["seconds"]
    return compute_record(
        f"{a['what']} + {b['what']}",
        secs,
        a["forward_tokens"] + b["forward_tokens"],
        a["backward_tokens"] + b["backward_tokens"],
        a["cached"] and b["cached"],
    )
