"""results.md and results.json of a device run, rewritten after every stage (a killed run keeps them)."""

from __future__ import annotations

from pathlib import Path

PAPER_OVERHEAD = "about 0.5% of training FLOPs (the paper's online-selection cost)"


def _fmt(v, nd: int = 3) -> str:
    if v is None or v == "":
        return ""
    if isinstance(v, float):
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.{nd}g}"
    return str(v)


def _table(head: list[str], rows: list[list]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(_fmt(c) for c in r) + " |" for r in rows]
    return out


def _stage_rows(stages: dict) -> list[list]:
    rows = []
    for name, s in stages.items():
        if s.get("timed_out"):
            status = "timed out"
        elif s.get("rc") is None and "seconds" in s and s.get("note"):
            status = "skipped"
        elif s.get("rc") in (0, None):
            status = "ok" if "rc" in s or "seconds" in s else "-"
        else:
            status = f"failed (rc {s['rc']})"
        rows.append([name, status, s.get("seconds"), s.get("note", "")])
    return rows


def _influence(bi: dict | None) -> list[str]:
    if not bi or not bi.get("rows"):
        return ["No results (see the stage table and log.txt)."]
    a = bi.get("args", {})
    out = [
        f"Model {a.get('size')} (the training layer's Llama), seq {a.get('seq')}, {a.get('dtype')}, "
        f"{a.get('device')} ({bi.get('hardware')}); higher reward = more helpful.",
        "",
    ]
    head = [
        "estimator",
        "docs",
        "samples/s",
        "tokens/s",
        "x naive loop",
        "share of training tokens/s",
    ]
    head += ["refresh s", "peak MiB", "max abs err vs fp64", "Spearman vs fp64"]
    rows = [
        [
            r["estimator"], r["docs"], r["samples_per_s"], r["tokens_per_s"], r.get("x_naive"),
            r.get("frac_of_training"), r.get("refresh_s"), r.get("peak_mem_mb"),
            r.get("max_abs_err_vs_fp64"), r.get("spearman_vs_fp64"),
        ]
        for r in bi["rows"]
    ]  # fmt: skip
    out += _table(head, rows)
    if bi.get("train_tokens_per_s"):
        out += [
            "",
            f"Training the same model (AdamW, batch {a.get('chunk')}, eager): "
            f"{bi['train_tokens_per_s']:,.0f} tokens/s. The share column is the reward engine's "
            "tokens/s over this.",
        ]
    return out


def _train(bt: dict | None) -> list[str]:
    if not bt or not bt.get("rows"):
        return ["No results (see the stage table and log.txt)."]
    out = [bt.get("header", ""), "", "MFU = 6 x parameters x tokens/s / peak bf16 FLOP/s.", ""]
    head = ["size", "params (M)", "tokens/s eager", "MFU eager", "tokens/s compiled"]
    head += ["MFU compiled", "compile s", "note"]

    def pct(x):
        return f"{100 * x:.1f}%" if isinstance(x, float) else "n/a"

    rows = [
        [
            r["size"], r.get("params_m"), r.get("eager_tokens_per_s"), pct(r.get("eager_mfu")),
            r.get("compiled_tokens_per_s"), pct(r.get("compiled_mfu")), r.get("compile_s"),
            r.get("note", ""),
        ]
        for r in bt["rows"]
    ]  # fmt: skip
    return out + _table(head, rows)


def _overhead(table: dict | None) -> list[str]:
    costs = (table or {}).get("costs") or {}
    if not costs:
        return []
    out = [
        f"Online overhead per run (selection time over training time), beside {PAPER_OVERHEAD}:",
        "",
    ]
    rows = [
        [m, c["train_seconds"], c["selection_seconds"], f"{100 * c['online_overhead']:.1f}%"]
        for m, c in costs.items()
    ]
    head = [
        "method",
        "training s",
        "selection s (all stages)",
        "online overhead (refresh / training)",
    ]
    return out + _table(head, rows) + [""]


def _compare(data: dict, table_md: str | None) -> list[str]:
    c = data.get("compare") or {}
    info = (data.get("stages", {}).get("data") or {}).get("info") or {}
    out = []
    if info:
        out += [
            f"Pool: {info['n_docs']:,} documents, {info['eligible_tokens']:,} eligible tokens; "
            f"{info['train_tokens']:,} training tokens per run "
            f"({100 * info['train_fraction_of_pool']:.0f}% of the pool); labels reused from the "
            f"bundle: {', '.join(info['labels_reused']) or 'none'}"
            + (f"; relabelled: {', '.join(info['relabelled'])}" if info["relabelled"] else ""),
            "",
        ]
    if c.get("sizes"):
        out += [c["sizes"], ""]
    if c.get("phases"):
        rows = [
            [
                p["phase"], ", ".join(p.get("ran_methods") or p["methods"]),
                ",".join(map(str, p["seeds"])), p.get("runs_finished", ""), p.get("seconds", ""),
                p.get("note", "") + (" (timed out)" if p.get("timed_out") else ""),
            ]
            for p in c["phases"]
        ]  # fmt: skip
        out += _table(["phase", "methods", "seeds", "runs finished", "seconds", "note"], rows)
        out += ["", "Commands (from the repository root):", ""]
        out += [f"- `{p['command']}`" for p in c["phases"] if p.get("command")]
        out += [""]
    out += _overhead(c.get("table"))
    out += [table_md.strip()] if table_md else ["No comparison table (no finished runs)."]
    return out


def render(data: dict, table_md: str | None = None) -> str:
    """results.md from the run's data (and the comparison's table.md)."""
    env, b = data.get("env") or {}, data.get("bundle") or {}
    gpu = env.get("gpu") or env.get("nvidia_smi") or "no GPU (CPU)"
    md = [
        f"# macs on the GPU: reward engine, training throughput, comparison ({data['profile']})",
        "",
        f"- machine: {gpu}; {env.get('cpus')} CPUs; Python {env.get('python')}, torch "
        f"{env.get('torch')}" + (f", CUDA {env['cuda']}" if env.get("cuda") else ""),
        f"- command: `{data['command']}` (started {data['started']}); wall time "
        f"{data.get('wall_s', 0):.0f}s of a {data['budget_s']:.0f}s budget",
        f"- commit: {b.get('commit')} (bundle built {b.get('created')}, "
        f"{b.get('total_mib', 0):.1f} MiB, config {b.get('config')})",
        "",
        "## Stages",
        "",
        *_table(["stage", "status", "seconds", "note"], _stage_rows(data.get("stages", {}))),
        "",
        "## 1. Reward engine: estimators against the naive per-example loop",
        "",
        *_influence(data.get("bench_influence")),
        "",
        "## 2. Training throughput and MFU of the named sizes",
        "",
        *_train(data.get("bench_train")),
        "",
        "## 3. macs compare",
        "",
        *_compare(data, table_md),
        "",
        "Files: results.md, results.json, table.json (the comparison's data), forest.png, "
        "diversity.png, bench_influence.txt, bench_train.txt, log.txt (the stages' log tails).",
        "",
    ]
    return "\n".join(md)


def save(out: Path, data: dict, table_md: str | None = None) -> None:
    """Write results.json and results.md into `out` (atomically)."""
    from macs.core.io import write_json, write_text

    write_json(out / "results.json", data)
    write_text(out / "results.md", render(data, table_md))
