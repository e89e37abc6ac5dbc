"""The comparison of methods over seeds: statistics table, forest plot, stage diversity, costs.

Reads run directories only (config, eval.json, summary.json, selection.jsonl, stage manifests).
Writes `table.md`, `table.json` (with every metric's per-seed values), `runs.csv` (one row per
run, every metric) and `plots/{forest,diversity,mix}.png` into the output folder.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from macs.app.report.costs import mean_costs
from macs.app.report.efficiency import efficiency, efficiency_md, plot_efficiency
from macs.app.report.load import Run, eval_metrics, group_labels
from macs.app.report.stats import PRIMARY, paired_diff, primary_contrasts, rank_methods
from macs.core.io import write_json, write_text


def _by_method(runs: list[Run]) -> dict[str, dict[int, Run]]:
    out: dict[str, dict[int, Run]] = defaultdict(dict)
    for r in runs:
        out[r.mode][r.seed] = r
    return dict(out)


def stage_diversity(run: Run) -> list[dict]:
    """Per stage: entropy (nats) of the store-domain token mix and the number of label cells touched."""
    label_cols = [c for c in (run.pool.get("actors") or {})]
    out = []
    for st in run.stages:
        tok = st["tokens"].astype(float)
        ent = float("nan")
        if "store_domain" in st:
            w = np.bincount(st["store_domain"].astype(np.int64), weights=tok)
            p = w[w > 0] / w.sum()
            ent = max(0.0, float(-(p * np.log(p)).sum()))  # no "-0.00" for a single domain
        cols = [st[c].astype(np.int64) for c in label_cols if c in st]
        cells = len({tuple(x) for x in np.stack(cols, 1).tolist()}) if cols else 0
        out.append({"domain_entropy": ent, "cells": cells, "docs": int(tok.size)})
    return out


def _max_entropy(run: Run) -> float:
    d = (run.pool.get("store_domain") or {}).get("group_names") or []
    return math.log(len(d)) if d else float("nan")


def comparison(runs: list[Run], baseline: str = "random") -> dict:
    """Everything the comparison table shows, as JSON-able data (see the module docstring)."""
    by = _by_method(runs)
    metrics: dict[str, bool] = {}
    values: dict[str, dict[str, dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    labels: dict[str, str] = {}
    for m, seeds in by.items():
        for s, r in seeds.items():
            labels.update(group_labels(r.eval))
            for k, (v, hib) in eval_metrics(r.eval).items():
                metrics[k] = hib
                values[k][m][s] = v
    means = {
        m: {k: float(np.mean(list(values[k][m].values()))) for k in metrics if values[k].get(m)}
        for m in by
    }
    sds = {
        m: {
            k: float(np.std(list(values[k][m].values()), ddof=1))
            if len(values[k].get(m, {})) > 1
            else None
            for k in metrics
            if values[k].get(m)
        }
        for m in by
    }
    diffs: dict[str, dict[str, dict]] = {}
    if baseline in by:
        for m in by:
            if m == baseline:
                continue
            diffs[m] = {}
            for k, hib in metrics.items():
                d = paired_diff(k, m, baseline, values[k], hib)
                if d is not None:
                    diffs[m][k] = d.as_dict()
    primary = [(k, metrics[k]) for k, _ in PRIMARY if k in metrics]
    declared, primary_metrics = _declared(runs)
    return {
        "baseline": baseline,
        "interval": "95% Student t over per-seed paired differences (method - baseline)",
        "methods": sorted(by),
        "seeds": {m: sorted(s) for m, s in by.items()},
        "higher_is_better": metrics,
        "labels": labels,
        "means": means,
        "sd": sds,
        "values": {  # metric -> method -> seed -> value: every interval can be recomputed
            k: {m: {str(s): v for s, v in sorted(per.items())} for m, per in values[k].items()}
            for k in metrics
        },
        "diffs": diffs,
        "contrasts": primary_contrasts(values, metrics, declared, primary_metrics),
        "aa": aa_arms(by, baseline),
        "compute_matched": _compute_matched(by, values, metrics),
        "efficiency": efficiency(by, baseline),
        "gate": _gate(by, values),
        "ranking": {
            "by": "mean rank over the primary metrics (means over seeds)",
            "metrics": [k for k, _ in primary],
            "order": rank_methods(means, primary),
        },
        "diversity": _diversity(by),
        "costs": _costs(by),
        "reliability": _reliability(by),
        "truncation": truncation(runs),
    }


def truncation(runs: list[Run]) -> dict:
    """Per task and rendering: scored pairs whose context was cut from the left to fit the window.

    {"window": tokens (None if the runs differ), "tasks": {"<title> <k>-shot": {"n_truncated":
    most over runs, "n_requests", "share"}}}; tasks with nothing cut are left out.
    """
    windows, tasks = set(), {}
    for r in runs:
        ev = r.eval or {}
        windows.add((ev.get("settings") or {}).get("max_length"))
        for name, entry in (ev.get("tasks") or {}).items():
            for key, m in entry.items():
                if not (key.endswith("shot") and isinstance(m, dict)) or not m.get("n_truncated"):
                    continue
                t = tasks.setdefault(f"{entry.get('title', name)} {key[:-4]}-shot", {})
                n_req = int(m.get("n_requests") or m.get("n_docs") or 0)
                if int(m["n_truncated"]) >= t.get("n_truncated", -1):
                    t.update(n_truncated=int(m["n_truncated"]), n_requests=n_req)
                    t["share"] = t["n_truncated"] / n_req if n_req else None
    windows.discard(None)
    return {"window": next(iter(windows)) if len(windows) == 1 else None, "tasks": tasks}


def aa_arms(by: dict[str, dict[int, Run]], baseline: str) -> list[str]:
    """Methods that are the baseline's selector with only the selection seed moved (selection.seed_offset
    > 0): their difference to the baseline is the noise floor of the comparison."""
    if baseline not in by:
        return []

    def sel(r: Run) -> dict:
        return r.config.get("selection") or {}

    base = {sel(r).get("method") for r in by[baseline].values()}
    return sorted(
        m
        for m, seeds in by.items()
        if m != baseline
        and all(
            sel(r).get("method") in base and sel(r).get("seed_offset", 0) > 0
            for r in seeds.values()
        )
    )


def _gate(by: dict[str, dict[int, Run]], values: dict) -> dict:
    """Per method: held-out bpb of the model, of the count unigram and bigram models of its training
    tokens, and the bigram's margin over the model (bigram - model, paired by seed, 95% interval)."""
    model, uni, bi = (values.get(k, {}) for k in GATE_METRICS)
    out = {}
    for m in by:
        if not bi.get(m) or not model.get(m):
            continue
        margin = paired_diff(
            "gate margin", "bigram", "model", {"bigram": bi[m], "model": model[m]}, True
        )
        out[m] = {
            "model_bpb": float(np.mean(list(model[m].values()))),
            "unigram_bpb": float(np.mean(list(uni.get(m, {}).values()))) if uni.get(m) else None,
            "bigram_bpb": float(np.mean(list(bi[m].values()))),
            "margin": None if margin is None else margin.as_dict(),
        }
        d = out[m]["margin"]
        out[m]["clears"] = bool(d and d["lo"] is not None and d["lo"] > 0)
    return out


GATE_METRICS = ("heldout overall bpb", "gate unigram bpb", "gate bigram bpb")


def _gate_md(cmp: dict) -> list[str]:
    g = cmp.get("gate") or {}
    if not g:
        return []
    out = [
        "### Gate: the model against count n-gram models of its own training tokens (held-out bpb)",
        "",
        "A model that does not beat the bigram by a clear margin has learnt little beyond token "
        "statistics; differences between methods then say little about data quality. Margin: "
        "bigram minus model, paired by seed, 95% interval; it clears the gate when the interval "
        "is above zero.",
        "",
        "| method | model | unigram | bigram | margin (bigram - model) | clears |",
        "|---|---:|---:|---:|---|---|",
    ]
    for m, d in g.items():
        mg = d["margin"]
        iv = "-" if mg is None or mg["lo"] is None else f" [{mg['lo']:+.4f}, {mg['hi']:+.4f}]"
        mtxt = "-" if mg is None else f"{mg['mean']:+.4f}{iv}"
        out.append(
            f"| {m} | {_fmt(d['model_bpb'])} | {_fmt(d['unigram_bpb'])} | {_fmt(d['bigram_bpb'])} "
            f"| {mtxt} | {'yes' if d['clears'] else 'no'} |"
        )
    return out + [""]


def _compute_matched(by: dict[str, dict[int, Run]], values: dict, metrics: dict) -> list[dict]:
    """Per compute-matched arm BASE@TARGET and primary metric: TARGET minus the arm, paired by seed."""
    out = []
    for arm in sorted(m for m in by if "@" in m):
        target = arm.split("@", 1)[1]
        if target not in by:
            continue
        tok = [int((r.summary or {}).get("tokens") or 0) for r in by[arm].values()]
        row = {"arm": arm, "target": target, "train_tokens": max(tok) if tok else 0, "diffs": {}}
        for k, _ in PRIMARY:
            if k in metrics:
                d = paired_diff(k, target, arm, values[k], metrics[k])
                if d is not None:
                    row["diffs"][k] = d.as_dict()
        out.append(row)
    return out


def _declared(runs: list[Run]) -> tuple[list[str], list[str]]:
    """compare.contrasts and compare.primary_metrics as the runs' saved configs declared them."""
    for r in runs:
        c = r.config.get("compare") or {}
        if c.get("contrasts"):
            return list(c["contrasts"]), list(c.get("primary_metrics") or [PRIMARY[0][0]])
    return [], [PRIMARY[0][0]]


def _primary_rows(cmp: dict) -> set[tuple[str, str]]:
    """(method, metric) of the declared contrasts against the baseline."""
    base = cmp["baseline"]
    return {
        (r["contrast"].split(" - ")[0].strip(), r["metric"])
        for r in (cmp.get("contrasts") or {}).get("rows", [])
        if r["contrast"].split(" - ")[1].strip() == base
    }


def _diversity(by: dict[str, dict[int, Run]]) -> dict:
    out = {}
    for m, seeds in by.items():
        per = [stage_diversity(r) for r in seeds.values()]
        flat = [x for p in per for x in p]
        if not flat:
            continue
        out[m] = {
            "domain_entropy_mean": float(np.nanmean([x["domain_entropy"] for x in flat])),
            "domain_entropy_min": float(np.nanmin([x["domain_entropy"] for x in flat])),
            "cells_mean": float(np.mean([x["cells"] for x in flat])),
            "max_entropy": _max_entropy(next(iter(seeds.values()))),
            "per_seed_stage": per,
        }
    return out


def _costs(by: dict[str, dict[int, Run]]) -> dict:
    out = {}
    for m, seeds in by.items():
        rs = [r for r in seeds.values() if r.summary]
        if not rs:
            continue
        sel = [sum((x.get("seconds") or {}).get("wall", 0.0) for x in r.selection) for r in rs]
        labels = {}
        for r in rs:
            labels.update(r.summary.get("labels_seconds") or {})
        out[m] = {
            "train_seconds": float(np.mean([r.summary["train_seconds"] for r in rs])),
            "selection_seconds": float(np.mean(sel)),
            "online_overhead": float(np.mean([r.summary.get("overhead", 0.0) for r in rs])),
            "labelling_seconds_shared": float(sum(labels.values())),
            "labels": sorted(labels),
            "work": mean_costs(
                rs
            ),  # seconds and training-token equivalents (macs.app.report.costs)
            "parts": _cost_parts(rs),
        }
    return out


COST_PARTS = (  # summary.json `costs` (macs.train.state.TrainState.cost_summary), in table order
    ("reward_inrun", "in-run reward"),
    ("reward_separate", "separate reward"),
    ("update", "update"),
    ("select", "selection"),
    ("other", "other"),
)


def _cost_parts(rs: list[Run]) -> dict | None:
    """Means over runs of summary.json's online cost split: each part's seconds and fraction of the
    training time without in-run work, and the online total's fraction (None for older summaries)."""
    cs = [r.summary["costs"] for r in rs if isinstance(r.summary.get("costs"), dict)]
    cs = [c for c in cs if "reward_separate_seconds" in c]
    if not cs:
        return None
    out = {"n_runs": len(cs)}
    for k in [f"{p}_{u}" for p, _ in COST_PARTS for u in ("seconds", "fraction")]:
        out[k] = float(np.mean([float(c.get(k) or 0.0) for c in cs]))
    out["online_fraction"] = float(np.mean([float(c.get("online_fraction") or 0.0) for c in cs]))
    return out


def _reliability(by: dict[str, dict[int, Run]]) -> dict:
    """Per method and actor, over refreshes: the split-half correlation of group-mean rewards (raw,
    half-size groups) and its Spearman-Brown correction to the full sample (macs.core.stats), the mean
    standard error of a group's mean reward (se_j), where the rewards came from (refresh: a separate
    pass; train: the training passes, topped up by a separate sample) and the documents behind the
    group means per refresh, in-run ones among them."""
    from macs.core.stats import spearman_brown

    def mean(v: list) -> float | None:
        v = [float(x) for x in v if x is not None and math.isfinite(float(x))]
        return float(np.mean(v)) if v else None

    out = {}
    for m, seeds in by.items():
        raw, sb, se, docs, inrun = (defaultdict(list) for _ in range(5))
        source = defaultdict(set)
        for r in seeds.values():
            for rec in r.selection:
                for a, d in (rec.get("actors") or {}).items():
                    if d.get("split_half_r") is None and not d.get("se_j"):
                        continue
                    raw[a].append(d.get("split_half_r"))
                    c = d.get("split_half_sb")
                    sb[a].append(spearman_brown(d.get("split_half_r")) if c is None else c)
                    se[a].append(mean(d.get("se_j") or []))
                    if d.get("n_j") is not None:
                        docs[a].append(sum(d["n_j"]))
                    inrun[a].append(sum(d.get("n_inrun_j") or []))
                    source[a].add(rec.get("reward_source") or "refresh")
        if raw:
            out[m] = {
                a: {
                    "mean": mean(v),
                    "spearman_brown": mean(sb[a]),
                    "n": sum(x is not None for x in v),
                    "se_j": mean(se[a]),
                    "source": "+".join(sorted(source[a])),
                    "docs_per_refresh": mean(docs[a]),
                    "inrun_docs_per_refresh": mean(inrun[a]),
                }
                for a, v in raw.items()
            }
    return out


def metric_title(cmp: dict, metric: str, title: str) -> str:
    """`title` plus, for a group mean, the tasks and renderings it averages."""
    label = (cmp.get("labels") or {}).get(metric)
    return f"{title} ({label})" if label else title


def _fmt(x: float | None, nd: int = 4) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{x:.{nd}f}"


def table_markdown(cmp: dict) -> str:
    """The comparison as Markdown: primary metrics with intervals, ranking, diversity, costs, reliability."""
    base = cmp["baseline"]
    lines = [
        f"Differences are method minus `{base}`, paired by seed, with a {cmp['interval']}. "
        "A difference whose interval includes zero is no measurable difference.",
        "",
    ] + _contrasts_md(cmp)
    if cmp.get("aa"):
        lines += [
            f"A/A arm{'s' if len(cmp['aa']) > 1 else ''} {', '.join(f'`{a}`' for a in cmp['aa'])}: "
            f"`{base}` with another selection seed (same model init, data order and evaluation "
            "examples); its difference to the baseline is the noise floor, and its interval "
            "should include zero.",
            "",
        ]
    primary_rows = _primary_rows(cmp)
    for k, title in PRIMARY:
        if k not in cmp["higher_is_better"]:
            continue
        title = metric_title(cmp, k, title)
        hib = cmp["higher_is_better"][k]
        lines += [f"### {title} ({'higher' if hib else 'lower'} = better)", ""]
        lines += ["| method | seeds | mean | sd | diff to " + base + " | 95% interval | verdict |"]
        lines += ["|---|---:|---:|---:|---:|---|---|"]
        for m in cmp["methods"]:
            if k not in cmp["means"].get(m, {}):
                continue
            d = cmp["diffs"].get(m, {}).get(k)
            interval = "-" if d is None or d["lo"] is None else f"[{d['lo']:+.4f}, {d['hi']:+.4f}]"
            diff = "-" if d is None else f"{d['mean']:+.4f}"
            verdict = "(baseline)" if m == base else (d or {}).get("verdict", "-")
            if m in cmp.get("aa", []):
                verdict = "A/A noise floor: " + verdict
            elif m != base:
                verdict = (
                    "primary, unadjusted: " if (m, k) in primary_rows else "exploratory: "
                ) + verdict
            lines.append(
                f"| {m} | {len(cmp['seeds'][m])} | {_fmt(cmp['means'][m][k])} | "
                f"{_fmt(cmp['sd'][m].get(k))} | {diff} | {interval} | {verdict} |"
            )
        lines.append("")
    rk = cmp["ranking"]
    if rk["order"]:
        lines += [
            f"Ranking ({rk['by']}): "
            + ", ".join(f"{i}. {m} ({r:.2f})" for i, (m, r) in enumerate(rk["order"], 1)),
            "",
        ]
    lines += (
        _gate_md(cmp)
        + _matched_md(cmp)
        + efficiency_md(cmp.get("efficiency") or {})
        + _truncation_md(cmp)
        + _diversity_md(cmp)
        + _costs_md(cmp)
        + _reliability_md(cmp)
    )
    return "\n".join(lines)


def _matched_md(cmp: dict) -> list[str]:
    rows = cmp.get("compute_matched") or []
    if not rows:
        return []
    base = cmp["baseline"]
    out = [
        "### Compute-matched arms (BASE@TARGET: BASE trained on TARGET's extra work as more tokens)",
        "",
        f"| target | metric | target - {base} (equal tokens) | target - arm (equal compute) | arm | arm's tokens |",
        "|---|---|---|---|---|---:|",
    ]

    def cell(d: dict | None) -> str:
        if d is None:
            return "-"
        iv = "" if d["lo"] is None else f" [{d['lo']:+.4f}, {d['hi']:+.4f}]"
        return f"{d['mean']:+.4f}{iv} {d['verdict']}"

    for r in rows:
        for k, d in r["diffs"].items():
            eq = cmp["diffs"].get(r["target"], {}).get(k)
            out.append(
                f"| {r['target']} | {metric_title(cmp, k, k)} | {cell(eq)} | {cell(d)} | "
                f"{r['arm']} | {r['train_tokens']:,} |"
            )
    return out + [""]


def _contrasts_md(cmp: dict) -> list[str]:
    c = cmp.get("contrasts") or {}
    if not c.get("rows"):
        return [
            "No primary contrasts were declared (compare.contrasts): every row below is "
            "exploratory, with no correction for multiplicity.",
            "",
        ]
    out = [
        f"### Primary contrasts (declared in compare.contrasts before the run; {len(c['rows'])} "
        f"tests Holm-adjusted together at alpha {c['alpha']})",
        "",
        "| contrast | metric | seeds | diff | 95% interval (unadjusted) | p | Holm p | verdict |",
        "|---|---|---:|---:|---|---:|---:|---|",
    ]
    for r in c["rows"]:
        iv = "-" if r["lo"] is None else f"[{r['lo']:+.4f}, {r['hi']:+.4f}]"
        diff = "-" if r["mean"] is None else f"{r['mean']:+.4f}"
        out.append(
            f"| {r['contrast']} | {metric_title(cmp, r['metric'], r['metric'])} | {r['n']} | {diff} "
            f"| {iv} | {_fmt(r['p'], 4)} | {_fmt(r['p_holm'], 4)} | {r['verdict']} |"
        )
    return out + [
        "",
        "Every other difference in this report is exploratory: no correction for multiplicity.",
        "",
    ]


def _truncation_md(cmp: dict) -> list[str]:
    tr = cmp.get("truncation") or {}
    win = tr.get("window")
    within = f"the {win}-token window" if win else "the model's window"
    if not tr.get("tasks"):
        return [f"Every scored context fit {within}: none was cut.", ""]
    out = [
        f"### Contexts cut to fit {within} (cut from the left: the earliest tokens dropped, "
        "so a 5-shot prompt may keep fewer than 5 examples)",
        "",
        "| task | pairs cut | of | share |",
        "|---|---:|---:|---:|",
    ]
    for t, d in tr["tasks"].items():
        share = "-" if d["share"] is None else f"{d['share']:.1%}"
        out.append(f"| {t} | {d['n_truncated']} | {d['n_requests']} | {share} |")
    return out + [""]


def _diversity_md(cmp: dict) -> list[str]:
    div = cmp["diversity"]
    if not div:
        return []
    out = [
        "### Stage diversity",
        "",
        "| method | domain entropy, mean (nats) | min | of max | cells touched, mean |",
        "|---|---:|---:|---:|---:|",
    ]
    for m, d in div.items():
        out.append(
            f"| {m} | {_fmt(d['domain_entropy_mean'], 2)} | {_fmt(d['domain_entropy_min'], 2)} | {_fmt(d['max_entropy'], 2)} | {d['cells_mean']:.1f} |"
        )
    return out + [""]


def _costs_md(cmp: dict) -> list[str]:
    c = cmp["costs"]
    if not c:
        return []
    out = [
        "### Cost per run (means over seeds)",
        "",
        "Seconds, and training-token equivalents (tokens of forward/backward work: counted "
        "tokens as (forward + 2 backward) / 3, else seconds at the run's training throughput). "
        "Online: refreshes and in-run rewards; one-off: stage 0's precomputation (a RegMix "
        "sweep, a perplexity reference model; counted in full even when cached); labelling: the "
        "offline label sets the method reads (shared by all runs reading them).",
        "",
        "| method | training s | training tokens | online s | online overhead | one-off s (what) "
        "| labelling s (labels) | extra work, token equivalents | extra / training |",
        "|---|---:|---:|---:|---:|---|---|---:|---:|",
    ]
    for m, d in c.items():
        w = d.get("work") or {}
        what = ", ".join(w.get("oneoff") or []) or "-"
        extra = w.get("extra_tokens")
        out.append(
            f"| {m} | {d['train_seconds']:.1f} | {w.get('train_tokens', 0):,.0f} | "
            f"{w.get('online_seconds', 0.0):.1f} | {d['online_overhead']:.1%} | "
            f"{w.get('oneoff_seconds', 0.0):.1f} ({what}) | "
            f"{d['labelling_seconds_shared']:.1f} ({', '.join(d['labels']) or '-'}) | "
            f"{'-' if extra is None else f'{extra:,.0f}'} | "
            f"{'-' if extra is None else format(w['extra_fraction'], '.1%')} |"
        )
    return out + [""] + _cost_parts_md(c)


def _cost_parts_md(c: dict) -> list[str]:
    parts = {
        m: d["parts"] for m, d in c.items() if d.get("parts") and d["parts"]["online_fraction"]
    }
    if not parts:
        return []
    out = [
        "Online cost by part (summary.json `costs`, means over seeds): seconds, and the share of "
        "training time without in-run reward work. In-run reward: scoring training batches in "
        "their backward pass (influence.source train); separate reward: the refresh's own "
        "forward/backward pass on sampled documents; update: the actors' theta update; "
        "selection: drawing the next stage; other: the rest of the refresh's wall time (e.g. "
        "influence.train_check's diagnostic pass).",
        "",
        "| method | " + " | ".join(t for _, t in COST_PARTS) + " | online total |",
        "|---|" + "---:|" * (len(COST_PARTS) + 1),
    ]
    for m, p in parts.items():
        cells = [_part(p[k + "_seconds"], p[k + "_fraction"]) for k, _ in COST_PARTS]
        out.append(f"| {m} | " + " | ".join(cells) + f" | {p['online_fraction']:.1%} |")
    return out + [""]


def _part(seconds: float, fraction: float) -> str:
    """'12.3 s (4.5%)', with more digits for small parts (an update of 0.03 s is not 0.0)."""
    sec = f"{seconds:.1f}" if seconds >= 1 or seconds == 0 else f"{seconds:.2g}"
    frac = f"{fraction:.1%}" if fraction >= 0.001 or fraction == 0 else f"{fraction * 100:.2g}%"
    return f"{sec} s ({frac})"


def _reliability_md(cmp: dict) -> list[str]:
    rel = cmp["reliability"]
    if not rel:
        return []
    out = [
        "### Reward reliability",
        "",
        "Split-half correlation of group-mean rewards (raw: half-size groups), and its "
        "Spearman-Brown correction 2r / (1 + r), the reliability of the full-sample group means; "
        "the mean standard error of a group's mean reward (se_j); the reward source (refresh: a "
        "separate pass at each refresh; train: the training passes' in-run rewards, topped up by "
        "a separate sample); the documents behind the group means per refresh, and how many of "
        "them were scored in-run. Means over refreshes.",
        "",
        "| method | actor | split-half r (raw) | Spearman-Brown | refreshes | mean se_j "
        "| reward source | docs / refresh | in-run docs / refresh |",
        "|---|---|---:|---:|---:|---:|---|---:|---:|",
    ]
    for m, d in rel.items():
        for a, v in d.items():
            sb, se = v.get("spearman_brown"), v.get("se_j")
            docs, inrun = v.get("docs_per_refresh"), v.get("inrun_docs_per_refresh")
            out.append(
                f"| {m} | {a} | {_fmt(v['mean'], 2)} | {_fmt(sb, 2)} | {v['n']} | {_fmt(se, 4)} "
                f"| {v.get('source', 'refresh')} | {_fmt(docs, 0)} | {_fmt(inrun, 0)} |"
            )
    return out + [""]


def plot_forest(cmp: dict, out: Path) -> Path | None:
    """One panel per primary metric: each method's difference to the baseline with its interval."""
    from macs.app.report.plotting import pyplot as _plt

    keys = [
        (k, metric_title(cmp, k, t).replace(" (", "\n(", 1))
        for k, t in PRIMARY
        if k in cmp["higher_is_better"]
    ]
    methods = [m for m in cmp["methods"] if m in cmp["diffs"]]
    if not keys or not methods:
        return None
    plt = _plt()
    fig, axes = plt.subplots(
        1, len(keys), figsize=(3.4 * len(keys), 1.8 + 0.45 * len(methods)), squeeze=False
    )
    aa = set(cmp.get("aa") or [])
    for ax, (k, title) in zip(axes[0], keys, strict=True):
        for y, m in enumerate(methods):
            d = cmp["diffs"][m].get(k)
            if d is None:
                continue
            err = None if d["lo"] is None else [[d["mean"] - d["lo"]], [d["hi"] - d["mean"]]]
            if m in aa and d["lo"] is not None:  # the noise floor, shaded across the panel
                ax.axvspan(d["lo"], d["hi"], color="grey", alpha=0.15, lw=0)
            ax.errorbar(
                d["mean"],
                y,
                xerr=err,
                fmt="o",
                color="C0"
                if d["verdict"] == "no measurable difference"
                else (
                    "C2"
                    if d["verdict"] == "better"
                    else ("C3" if d["verdict"] == "worse" else "grey")
                ),
                capsize=3,
            )
        ax.axvline(0, color="grey", lw=0.8)
        names = [f"{m} (A/A)" if m in aa else m for m in methods]
        ax.set_yticks(
            range(len(methods)), names if ax is axes[0][0] else [""] * len(methods), fontsize=7
        )
        ax.set_title(
            f"{title}\n({'higher' if cmp['higher_is_better'][k] else 'lower'} = better)", fontsize=7
        )
        ax.set_xlabel(f"minus {cmp['baseline']}", fontsize=7)
    fig.suptitle(
        "Difference to the baseline, 95% interval (green better, red worse, blue no measurable "
        "difference; grey band: the A/A arm's interval, the noise floor)",
        fontsize=8,
    )
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def plot_diversity(cmp: dict, out: Path) -> Path | None:
    """Domain entropy of each stage's selection per method (seeds as thin lines)."""
    from macs.app.report.plotting import pyplot as _plt

    div = cmp["diversity"]
    if not div:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for i, (m, d) in enumerate(div.items()):
        for j, per in enumerate(d["per_seed_stage"]):
            ax.plot(
                [x["domain_entropy"] for x in per],
                marker="o",
                color=f"C{i % 10}",
                alpha=0.8 if j == 0 else 0.4,
                label=m if j == 0 else None,
            )
    mx = next(iter(div.values()))["max_entropy"]
    if math.isfinite(mx):
        ax.axhline(mx, color="grey", ls=":", lw=0.8, label="uniform over domains")
    ax.set_xlabel("stage")
    ax.set_ylabel("domain entropy of the stage (nats)")
    ax.set_title("Diversity of each stage's selection")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def plot_mix_grid(by: dict[str, dict[int, Run]], out: Path) -> Path | None:
    """Heat map of the store-domain token share of every stage of every method (first seed), beside the pool."""
    from macs.app.report.load import stage_mix
    from macs.app.report.plotting import pyplot as _plt

    first = {m: seeds[min(seeds)] for m, seeds in by.items()}
    any_run = next(iter(first.values()), None)
    dom = ((any_run.pool if any_run else {}) or {}).get("store_domain")
    if not dom:
        return None
    names = dom["group_names"]
    rows, labels = [np.asarray(dom["token_share"])], ["pool"]
    for m, r in first.items():
        mix = stage_mix(r, "store_domain", len(names))
        for k in range(len(mix)):
            rows.append(mix[k])
            labels.append(f"{m} st{k}")
    plt = _plt()
    fig, ax = plt.subplots(figsize=(1.2 + 0.7 * len(names), 1.0 + 0.16 * len(rows)))
    im = ax.imshow(np.array(rows), aspect="auto", cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=5)
    ax.grid(False)
    fig.colorbar(im, ax=ax, label="token share of the stage")
    ax.set_title(f"Domain mix of every stage (seed {min(next(iter(by.values())))})", fontsize=8)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def write_comparison(
    runs: list[Run], out_dir: Path, baseline: str = "random"
) -> tuple[Path, dict, list[Path]]:
    """Write table.md, table.json and the plots; returns (table.md, the data, plot paths)."""
    out_dir = Path(out_dir)
    (out_dir / "plots").mkdir(parents=True, exist_ok=True)
    cmp = comparison(runs, baseline)
    plots = [
        p
        for p in (
            plot_forest(cmp, out_dir / "plots" / "forest.png"),
            plot_diversity(cmp, out_dir / "plots" / "diversity.png"),
            plot_mix_grid(_by_method(runs), out_dir / "plots" / "mix.png"),
            plot_efficiency(cmp["efficiency"], out_dir / "plots" / "efficiency.png"),
        )
        if p
    ]
    md = table_markdown(cmp)
    write_text(
        out_dir / "table.md",
        "# Comparison\n\n" + md + "\n" + "".join(f"\n![{p.stem}](plots/{p.name})\n" for p in plots),
    )
    write_json(out_dir / "table.json", {**cmp, "runs": [str(r.path) for r in runs]})
    write_text(out_dir / "runs.csv", runs_csv(runs))
    return out_dir / "table.md", cmp, plots


def runs_csv(runs: list[Run]) -> str:
    """One row per run: method, seed, tokens, seconds, the run folder and every metric (blank if absent)."""
    import csv
    import io

    rows = []
    for r in sorted(runs, key=lambda r: (r.mode, r.seed)):
        s = r.summary or {}
        row = {
            "method": r.mode,
            "seed": r.seed,
            "tokens": s.get("tokens", ""),
            "train_seconds": s.get("train_seconds", ""),
            "run": str(r.path),
        }
        rows.append(row | {k: v for k, (v, _) in eval_metrics(r.eval).items()})
    cols = list(dict.fromkeys(k for row in rows for k in row))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, restval="", lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()
