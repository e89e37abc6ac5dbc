"""The lm-evaluation-harness bridge: write macs tasks as local JSONL + task YAML that lm-eval 0.4 runs offline.

Every exported document carries its fully rendered context(s) (few-shot examples included),
so lm-eval runs them with `num_fewshot: 0` and sends exactly the (context, continuation)
pairs macs scores. Multiple-choice tasks report lm-eval `acc` (raw log-likelihood) and
`acc_norm` (log-likelihood / characters of the choice; the choices keep their leading
space, so this is macs `acc_per_char`). Reference tasks are `loglikelihood` tasks whose
`acc` is the greedy match of the gold continuation (macs `acc_greedy`).
"""

from __future__ import annotations

import os
from pathlib import Path

from macs.core.errors import MacsError
from macs.core.io import write_json, write_text
from macs.data.tasks import GROUPS, expand_tasks, load_requests, task_spec


def lm_eval_task_name(task: str, shots: int) -> str:
    """The lm-eval task name of a macs task at `shots` (e.g. macs_piqa_0shot)."""
    return f"macs_{task}_{shots}shot"


def export_docs(
    task: str, shots: int, limit: int | None, seed: int, split_seed: int = 0, root=None
) -> list[dict]:
    """One JSON-ready record per document: doc_id, context(s), choices or continuation, gold index."""
    spec = task_spec(task)
    if spec.kind == "bpb":
        reqs = load_requests(
            task,
            shots,
            "bpb",
            limit=limit,
            seed=seed,
            role="eval",
            split_seed=split_seed,
            root=root,
        )
        return [
            {"doc_id": r.doc_id, "context": r.context, "continuation": r.continuation} for r in reqs
        ]
    reqs = load_requests(task, shots, "rc", limit=limit, seed=seed, root=root)
    docs: dict[int, list] = {}
    for r in reqs:
        docs.setdefault(r.doc_id, []).append(r)
    out = []
    for doc_id, rs in docs.items():
        contexts = [r.context for r in rs]
        conts = [r.continuation for r in rs]
        rec = {"doc_id": doc_id, "gold": rs[0].gold}
        if len(set(contexts)) == 1:
            rec |= {"context": contexts[0], "choices": conts}
        elif (
            len(set(conts)) == 1
        ):  # partial scoring (WinoGrande): one context per choice, shared continuation
            rec |= {"contexts": contexts, "continuation": conts[0]}
        else:
            raise MacsError(
                f"{task} document {doc_id}: both contexts and continuations differ; cannot export"
            )
        out.append(rec)
    return out


def task_yaml(name: str, data_file: Path, docs: list[dict], kind: str) -> str:
    """The lm-eval 0.4 task YAML for one exported JSONL file (absolute data path, no hub access)."""
    head = (
        f"task: {name}\n"
        "dataset_path: json\n"
        "dataset_kwargs:\n"
        "  data_files:\n"
        f"    test: {data_file.resolve()}\n"
        "test_split: test\n"
        "num_fewshot: 0\n"
        'target_delimiter: ""\n'
    )
    if kind == "bpb":
        body = (
            "output_type: loglikelihood\n"
            "doc_to_text: context\n"
            "doc_to_target: continuation\n"
            "metric_list:\n"
            "  - {metric: acc, aggregation: mean, higher_is_better: true}\n"
            "  - {metric: perplexity, aggregation: perplexity, higher_is_better: false}\n"
        )
    elif "contexts" in docs[0]:
        body = (
            "output_type: multiple_choice\n"
            "doc_to_text: gold\n"
            "doc_to_choice: contexts\n"
            "doc_to_target: continuation\n"
            "metric_list:\n"
            "  - {metric: acc, aggregation: mean, higher_is_better: true}\n"
        )
    else:
        body = (
            "output_type: multiple_choice\n"
            "doc_to_text: context\n"
            "doc_to_choice: choices\n"
            "doc_to_target: gold\n"
            "metric_list:\n"
            "  - {metric: acc, aggregation: mean, higher_is_better: true}\n"
            "  - {metric: acc_norm, aggregation: mean, higher_is_better: true}\n"
        )
    return head + body + "metadata:\n  version: 1.0\n"


def export_lm_eval(
    out_dir: str | os.PathLike,
    tasks="downstream",
    shots=(0,),
    limit: int | None = None,
    seed: int = 0,
    split_seed: int = 0,
    root=None,
) -> dict:
    """Write <out>/<name>.jsonl + <name>.yaml per task and shots, and manifest.json; returns the manifest."""
    import json

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    shot_list = sorted({int(s) for s in ([shots] if isinstance(shots, int) else shots)})
    names, n_docs, entries = [], 0, []
    for task in expand_tasks(tasks):
        spec = task_spec(task)
        is_ref = task in GROUPS["reference"]
        for s in [max(spec.variants)] if is_ref else [s for s in shot_list if s in spec.shots]:
            docs = export_docs(task, s, limit, seed, split_seed, root)
            name = lm_eval_task_name(task, s)
            data = out / f"{name}.jsonl"
            write_text(data, "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs))
            write_text(out / f"{name}.yaml", task_yaml(name, data, docs, spec.kind))
            names.append(name)
            n_docs += len(docs)
            entries.append(
                {
                    "task": task,
                    "shots": s,
                    "lm_eval_task": name,
                    "n_docs": len(docs),
                    "kind": spec.kind,
                }
            )
    manifest = {
        "n_tasks": len(names),
        "n_docs": n_docs,
        "task_names": names,
        "tasks": entries,
        "limit": limit,
        "seed": seed,
        "split_seed": split_seed,
        "metrics": {
            "acc": "argmax of summed log-likelihood (macs acc_raw; for reference tasks: greedy match, macs acc_greedy)",
            "acc_norm": "argmax of log-likelihood / characters of the choice incl. leading space (macs acc_per_char)",
        },
        "run": (
            f"HF_DATASETS_OFFLINE=1 HF_HUB_OFFLINE=1 lm_eval --model hf --model_args pretrained=MODEL_DIR "
            f"--include_path {out.resolve()} --tasks {','.join(names)} --batch_size 16"
        ),
    }
    write_json(out / "manifest.json", manifest)
    return manifest


def run_lm_eval(model, tokenizer, export_dir: str | os.PathLike, batch_size: int = 16) -> dict:
    """Run lm-eval 0.4 (HFLM on the in-memory model) on an export; {lm_eval_task: {metric: value}} (acc higher = better)."""
    from macs.core.errors import require
    from macs.core.io import read_json

    require("lm_eval", "lm-eval[hf]", extra="lmeval", why="running lm-evaluation-harness")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    export_dir = Path(export_dir)
    manifest = read_json(export_dir / "manifest.json")
    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size)
    res = simple_evaluate(
        model=lm,
        tasks=manifest["task_names"],
        task_manager=TaskManager(include_path=str(export_dir)),
        log_samples=False,
        bootstrap_iters=0,
    )
    out = {}
    for name, metrics in (res or {}).get("results", {}).items():
        out[name] = {
            k.split(",")[0]: v
            for k, v in metrics.items()
            if isinstance(v, int | float) and "stderr" not in k
        }
    return out
