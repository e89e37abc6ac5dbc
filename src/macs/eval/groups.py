"""Group means of an evaluation: per task group, the mean over ALL its tasks, at named renderings.

A mean is never taken over part of a group. The reference tasks are each scored at one rendering
of their own (LAMBADA 0-shot, SQuAD and Jeopardy 5-shot): their group mean is the key "scored",
over the three tasks at those renderings, and says which in "renderings". A group whose tasks all
have a rendering ("0shot", "5shot") gets the mean at that rendering.
"""

from __future__ import annotations

HEADLINE = ("acc_per_char", "acc_raw", "bpb")
SCORED = "scored"  # the key of a group mean over each task's own (single) rendering


def _renderings(entry: dict) -> list[str]:
    return [k for k, m in entry.items() if k.endswith("shot") and isinstance(m, dict)]


def _mean_entry(members: list[tuple[str, str, dict]]) -> dict:
    """Means of the headline metrics every member has, with n_tasks and each member's rendering."""
    out: dict = {}
    for metric in HEADLINE:
        vals = [m[metric] for _, _, m in members if metric in m]
        if len(vals) == len(members):
            out[metric] = sum(vals) / len(vals)
    out["n_tasks"] = len(members)
    out["renderings"] = {title: f"{key[:-4]}-shot" for title, key, _ in members}
    return out


def group_summary(tasks: dict) -> dict:
    """{group: {"<k>shot" | "scored": {metric means, "n_tasks", "renderings"}}} over a result's tasks.

    "<k>shot" is there when every task of the group was scored at k shots; "scored" when they
    were not, but each task was scored at exactly one rendering (the reference tasks).
    """
    by_group: dict[str, list[tuple[str, dict]]] = {}
    for name, entry in tasks.items():
        if isinstance(entry, dict) and "group" in entry:
            by_group.setdefault(entry["group"], []).append((name, entry))
    out: dict[str, dict] = {}
    for grp, entries in by_group.items():
        rend = [_renderings(e) for _, e in entries]
        common = [k for k in rend[0] if all(k in r for r in rend)]
        g: dict[str, dict] = {}
        for key in sorted(common):
            g[key] = _mean_entry([(e.get("title", n), key, e[key]) for n, e in entries])
        if not common and all(len(r) == 1 for r in rend):
            g[SCORED] = _mean_entry(
                [
                    (e.get("title", n), r[0], e[r[0]])
                    for (n, e), r in zip(entries, rend, strict=True)
                ]
            )
        if g:
            out[grp] = g
    return out


def group_label(entry: dict) -> str:
    """'LAMBADA 0-shot, SQuAD 5-shot, Jeopardy 5-shot' (or '8 tasks, 0-shot' when all share one)."""
    rend = entry.get("renderings") or {}
    if len(set(rend.values())) == 1 and len(rend) > 1:
        return f"{len(rend)} tasks, {next(iter(rend.values()))}"
    return ", ".join(f"{t} {r}" for t, r in rend.items())
