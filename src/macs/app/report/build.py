"""The report: plots of the selection dynamics and training, the evaluation table, report.md + report.html."""

from __future__ import annotations

import html
import math
import sys
from pathlib import Path

import numpy as np

from macs.app.report.load import Run, load_run, stage_mix
from macs.app.report.plotting import pyplot as _plt
from macs.core.errors import MacsError
from macs.core.io import write_json, write_text

_MAX_LEGEND = 14


def _short(name: str, n: int = 28) -> str:
    return name if len(name) <= n else name[: n - 1] + "…"


def plot_theta(runs: list[Run], out: Path) -> Path | None:
    """theta_A per actor over refreshes, one line per actor (solid) per run."""
    with_theta = [r for r in runs if any(s.get("theta") for s in r.selection)]
    if not with_theta:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    styles = ["-", "--", ":", "-."]
    for i, r in enumerate(with_theta):
        names = list(r.selection[0]["theta"])
        th = np.array([[s["theta"].get(a, np.nan) for a in names] for s in r.selection])
        for j, a in enumerate(names):
            ax.plot(
                range(len(th)),
                th[:, j],
                styles[i % 4],
                marker="o",
                color=f"C{j}",
                label=f"{a} ({r.label})" if len(with_theta) > 1 else a,
            )
    ax.set_xlabel("stage (theta after the refresh that chose it)")
    ax.set_ylabel("theta (collaborative weight)")
    ax.set_title("Console: collaborative weight of each actor")
    ax.set_xticks(range(max(len(r.selection) for r in with_theta)))
    ax.legend(fontsize=7, ncol=2 if len(with_theta) > 2 else 1)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def plot_group_weights(run: Run, out: Path) -> Path | None:
    """Each actor's group weights w_A[j] over stages (one panel per actor)."""
    sel = [s for s in run.selection if s.get("actors")]
    if not sel:
        return None
    actors = list(sel[0]["actors"])
    plt = _plt()
    fig, axes = plt.subplots(1, len(actors), figsize=(4.6 * len(actors), 3.8), squeeze=False)
    for ax, a in zip(axes[0], actors, strict=True):
        w = np.array([s["actors"][a]["w"] for s in sel])
        names = sel[0]["actors"][a].get("group_names") or [str(j) for j in range(w.shape[1])]
        cmap = plt.get_cmap("tab20" if w.shape[1] > 10 else "tab10")
        for j in range(w.shape[1]):
            ax.plot(
                [s["stage"] for s in sel],
                w[:, j],
                marker=".",
                color=cmap(j % cmap.N),
                label=_short(names[j], 22),
            )
        ax.axhline(1.0, color="grey", lw=0.8, ls=":")
        ax.set_title(f"actor '{a}': group weights")
        ax.set_xlabel("stage")
        ax.set_ylabel("w_A[j] (mean 1)")
        ax.set_xticks([s["stage"] for s in sel])
        if w.shape[1] <= _MAX_LEGEND:
            ax.legend(fontsize=6, loc="best", ncol=1 if w.shape[1] <= 7 else 2)
    fig.suptitle(f"Actor group weights over stages: {run.label}", fontsize=10)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def _mix_specs(run: Run) -> list[tuple[str, str, list[str], list[float]]]:
    """(title, stage column, group names, pool share) for the store domain and each labelled actor."""
    specs = []
    pool = run.pool or {}
    if "store_domain" in pool:
        d = pool["store_domain"]
        specs.append(("domain (store)", "store_domain", d["group_names"], d["token_share"]))
    for a, d in (pool.get("actors") or {}).items():
        if a == "domain" and "store_domain" in pool:
            continue
        specs.append((f"labels '{a}'", a, d["group_names"], d["token_share"]))
    return specs


def plot_mix(runs: list[Run], out: Path) -> Path | None:
    """Stacked bars: selected token share per group for each stage of each run, beside the pool."""
    specs_all = {r.path: _mix_specs(r) for r in runs}
    base = next((s for s in specs_all.values() if s), None)
    if not base:
        return None
    titles = [t for t, *_ in base if t.startswith("domain") or "quality" in t] or [base[0][0]]
    plt = _plt()
    fig, axes = plt.subplots(
        len(titles),
        1,
        figsize=(max(6.0, 1.2 + 0.55 * sum(len(r.stages) + 1 for r in runs)), 3.4 * len(titles)),
        squeeze=False,
    )
    for ax, title in zip(axes[:, 0], titles, strict=True):
        _, col, names, pool_share = next(s for s in base if s[0] == title)
        cmap = plt.get_cmap("tab20" if len(names) > 10 else "tab10")
        labels, rows = ["pool"], [np.asarray(pool_share)]
        for r in runs:
            mix = stage_mix(r, col, len(names))
            for k in range(len(mix)):
                labels.append(
                    f"{r.mode}\ns{r.seed} st{k}" if len(runs) > 2 else f"{r.mode}\nstage {k}"
                )
                rows.append(mix[k])
        rows = np.array(rows)
        x = np.arange(len(rows))
        bottom = np.zeros(len(rows))
        for j, g in enumerate(names):
            ax.bar(
                x, rows[:, j], bottom=bottom, color=cmap(j % cmap.N), label=_short(g, 22), width=0.8
            )
            bottom += rows[:, j]
        ax.set_xticks(x, labels, fontsize=6)
        ax.set_ylim(0, 1)
        ax.set_ylabel("token share")
        ax.set_title(f"Selected mix per stage vs pool: {title}")
        ax.legend(fontsize=6, bbox_to_anchor=(1.01, 1), loc="upper left")
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def plot_loss(runs: list[Run], out: Path) -> Path | None:
    """Training loss (nats/token) against training tokens for every run."""
    if not any(r.metrics for r in runs):
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    modes = sorted({r.mode for r in runs})
    for r in runs:
        if not r.metrics:
            continue
        ls = "-" if r.mode == modes[0] else "--"
        ax.plot(
            [m["tokens"] for m in r.metrics],
            [m["loss"] for m in r.metrics],
            ls,
            color=f"C{modes.index(r.mode)}",
            alpha=0.9 if r.seed == runs[0].seed else 0.5,
            label=r.label,
        )
    bounds = sorted({s["step"] for r in runs[:1] for s in r.selection if s["stage"] > 0})
    if runs[0].metrics and bounds:
        tok_per_step = runs[0].metrics[-1]["tokens"] / runs[0].metrics[-1]["step"]
        for b in bounds:
            ax.axvline(b * tok_per_step, color="grey", lw=0.7, ls=":")
    ax.set_xlabel("training tokens")
    ax.set_ylabel("training loss (nats/token)")
    ax.set_title("Training loss (dotted lines: stage refreshes)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def compare_table(
    runs: list[Run], method: str, baseline: str = "random"
) -> tuple[list[str], list[list[str]], dict]:
    """Every metric: each method's mean over seeds, and its difference to the baseline with a 95% interval.

    The difference is paired by seed (macs.app.report.stats); a verdict of better/worse needs an
    interval that excludes zero, and one seed gives no interval.
    """
    from macs.app.report.compare import comparison

    cmp = comparison(runs, baseline)
    if not cmp["means"] or method not in cmp["means"]:
        return [], [], {}
    others = [m for m in cmp["methods"] if m != baseline]
    order = ("reference", "downstream", "heldout")
    metrics = sorted(
        set.intersection(*(set(v) for v in cmp["means"].values())),
        key=lambda k: (next((i for i, o in enumerate(order) if k.startswith(o)), 9), k),
    )
    head = ["metric"] + [f"{m} (n={len(cmp['seeds'][m])})" for m in cmp["methods"]]
    head += [f"{m} - {baseline}" for m in others if baseline in cmp["methods"]]
    rows, data = [], {}
    for k in metrics:
        hib = cmp["higher_is_better"][k]
        row = [f"{k} ({'higher' if hib else 'lower'} = better)"]
        row += [f"{cmp['means'][m][k]:.4f}" for m in cmp["methods"]]
        for m in others:
            d = cmp["diffs"].get(m, {}).get(k)
            if d is None:
                continue
            ci = "" if d["lo"] is None else f" [{d['lo']:+.4f}, {d['hi']:+.4f}]"
            row.append(f"{d['mean']:+.4f}{ci} {d['verdict']}")
        rows.append(row)
        data[k] = {"higher_is_better": hib, **{m: cmp["means"][m][k] for m in cmp["methods"]}}
    return head, rows, data


def _md_table(head: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def _runs_table(runs: list[Run]) -> tuple[list[str], list[list[str]]]:
    head = [
        "run",
        "mode",
        "seed",
        "steps",
        "tokens",
        "final loss",
        "train s",
        "online s",
        "overhead",
        "dir",
    ]
    rows = []
    for r in runs:
        s = r.summary or {}
        last = r.metrics[-1] if r.metrics else {}
        rows.append(
            [
                r.label,
                r.mode,
                str(r.seed),
                str(s.get("steps", last.get("step", "-"))),
                str(s.get("tokens", last.get("tokens", "-"))),
                f"{s.get('final_loss', last.get('last_loss', math.nan)):.4f}",
                f"{s.get('train_seconds', last.get('train_seconds', math.nan)):.1f}",
                f"{s.get('refresh_seconds', last.get('refresh_seconds', math.nan)):.1f}",
                f"{s.get('overhead', last.get('overhead', math.nan)):.1%}",
                str(r.path),
            ]
        )
    return head, rows


def _trajectory_notes(runs: list[Run]) -> list[str]:
    notes = []
    for r in runs:
        sel = [s for s in r.selection if s.get("actors")]
        if len(sel) < 2:
            continue
        first, last = sel[0], sel[-1]
        if last.get("theta"):
            th = ", ".join(
                f"{a} {first['theta'][a]:.4f} -> {v:.4f}" for a, v in last["theta"].items()
            )
            notes.append(f"- {r.label}: theta {th}.")
        for a, d in last["actors"].items():
            w = np.asarray(d["w"], dtype=float)
            names = d.get("group_names") or [str(j) for j in range(len(w))]
            hi, lo = int(np.argmax(w)), int(np.argmin(w))
            notes.append(
                f"  - actor {a}: highest weight {names[hi]} ({w[hi]:.2f}), lowest {names[lo]} "
                f"({w[lo]:.2f}); spread {np.ptp(w):.2f}."
            )
    return notes


def _mix_runs(seed_runs: list[Run], method_runs: list[Run], most: int = 4) -> list[Run]:
    """At most `most` runs of one seed for the mix plot: the method, random, then the others in order."""
    first = [r for r in seed_runs if method_runs and r.mode == method_runs[0].mode]
    rnd = [r for r in seed_runs if r.mode == "random" and r not in first]
    rest = [r for r in seed_runs if r not in first and r not in rnd]
    return (first + rnd + rest)[:most]


def _run_plots(runs: list[Run], method_runs: list[Run], plots: Path) -> list[tuple[str, Path]]:
    """(caption, png) of the selection dynamics and training plots."""
    figs: list[tuple[str, Path]] = []
    p = plot_theta(method_runs, plots / "theta.png")
    if p:
        figs.append(("Collaborative weights theta per actor over stages", p))
    for r in (method_runs or runs)[:2]:
        p = plot_group_weights(r, plots / f"weights-{r.mode}-s{r.seed}.png")
        if p:
            figs.append((f"Group weights of each actor over stages ({r.label})", p))
    seeds0 = [r for r in runs if r.seed == runs[0].seed]
    shown = _mix_runs(seeds0, method_runs)
    p = plot_mix(shown, plots / "mix.png")
    if p:
        names = ", ".join(r.mode for r in shown)
        more = (
            f" ({len(seeds0) - len(shown)} more methods in compare/)"
            if len(seeds0) > len(shown)
            else ""
        )
        figs.append((f"Selected domain and quality mix per stage vs the pool: {names}{more}", p))
    p = plot_loss(runs, plots / "loss.png")
    if p:
        figs.append(("Training loss vs tokens", p))
    return figs


def _markdown(title, runs, cmp, head, rows, baseline, notes, figs, out: Path) -> str:
    """The report's Markdown: runs, the comparison, all metrics, weight trajectories, plots."""
    from macs.app.report.compare import table_markdown

    rh, rr = _runs_table(runs)
    md = [
        f"# {title}",
        "",
        f"Runs: {len(runs)} ({', '.join(sorted({r.mode for r in runs}))}).",
        "",
        "## Runs",
        "",
        _md_table(rh, rr),
        "",
        "Overhead = online selection time (rewards + actor/console updates + selection) as a "
        "fraction of training time.",
        "",
        "## Comparison",
        "",
    ]
    if rows:
        md += [
            table_markdown(cmp),
            "",
            "## All metrics",
            "",
            f"Means over seeds; differences to {baseline} paired by seed with a 95% t-interval.",
            "",
            _md_table(head, rows),
            "",
        ]
    else:
        md += ["No evaluation results (eval.json) in these runs.", ""]
    if notes:
        md += ["## Weight trajectories", ""] + notes + [""]
    md += ["## Plots", ""]
    for cap, f in figs:
        md += [f"### {cap}", "", f"![{cap}]({f.relative_to(out).as_posix()})", ""]
    return "\n".join(md)


def build_report(
    run_dirs: list[str | Path],
    out_dir: str | Path | None = None,
    method: str = "multi_actor",
    title: str = "macs report",
    baseline: str = "random",
) -> Path:
    """Write report.md, report.html, plots/*.png and compare/ for the runs into out_dir; returns report.md."""
    from macs.app.report.compare import write_comparison

    if not run_dirs:
        raise MacsError("give at least one run directory")
    runs = [load_run(d) for d in run_dirs]
    out = Path(out_dir) if out_dir is not None else Path(run_dirs[0]) / "report"
    plots = out / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    method_runs = [r for r in runs if r.mode == method] or [r for r in runs if r.mode != "random"]
    figs = _run_plots(runs, method_runs, plots)
    head, rows, table = compare_table(runs, method, baseline)
    _, cmp, cmp_plots = write_comparison(runs, out / "compare", baseline)
    figs += [(f"Comparison: {p.stem}", p) for p in cmp_plots]
    notes = _trajectory_notes(method_runs)
    text = _markdown(title, runs, cmp, head, rows, baseline, notes, figs, out)
    write_text(out / "report.md", text)
    write_text(out / "report.html", _html(title, text))
    write_json(
        out / "table.json",
        {"method": method, "metrics": table, "runs": [str(r.path) for r in runs]},
    )
    print(
        f"[report] {len(runs)} runs, {len(figs)} plots, {len(rows)} eval rows -> {out / 'report.md'}",
        file=sys.stderr,
    )
    return out / "report.md"


def _html(title: str, md: str) -> str:
    """A self-contained HTML rendering of the report's small Markdown subset (headings, tables, images, lists)."""
    body, table = [], []

    def flush():
        if table:
            cells = [
                [c.strip() for c in line.strip("|").split("|")]
                for line in table
                if not line.startswith("|---")
            ]
            rows = "".join(
                "<tr>"
                + "".join(
                    f"<{'th' if i == 0 else 'td'}>{html.escape(c)}</{'th' if i == 0 else 'td'}>"
                    for c in row
                )
                + "</tr>"
                for i, row in enumerate(cells)
            )
            body.append(f"<table>{rows}</table>")
            table.clear()

    for line in md.splitlines():
        if line.startswith("|"):
            table.append(line)
            continue
        flush()
        if line.startswith("### "):
            body.append(f"<h3>{html.escape(line[4:])}</h3>")
        elif line.startswith("## "):
            body.append(f"<h2>{html.escape(line[3:])}</h2>")
        elif line.startswith("# "):
            body.append(f"<h1>{html.escape(line[2:])}</h1>")
        elif line.startswith("![") and "](" in line:
            alt, src = line[2:].split("](", 1)
            body.append(f'<img src="{html.escape(src.rstrip(")"))}" alt="{html.escape(alt)}">')
        elif line.lstrip().startswith("- "):
            body.append(f"<li>{html.escape(line.lstrip()[2:])}</li>")
        elif line.strip():
            body.append(f"<p>{html.escape(line)}</p>")
    flush()
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:2em auto;}table{border-collapse:collapse;"
        "font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}th{background:#eee}"
        "td:first-child{text-align:left}img{max-width:100%}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n"
    )
