"""The lm-eval bridge end to end: lm-eval 0.4 runs our export offline and agrees with macs exactly."""

import pytest

from macs.eval import evaluate
from macs.eval.lmeval import export_lm_eval, run_lm_eval


@pytest.mark.slow
def test_lm_eval_agrees_with_macs_on_exported_tasks(tmp_path, tiny_model, tiny_tokenizer):
    pytest.importorskip("lm_eval", reason="lm-eval is the optional 'lmeval' extra")
    tasks = ["piqa", "winogrande", "lambada"]
    export_lm_eval(tmp_path, tasks, [0], limit=5, seed=0)
    theirs = run_lm_eval(tiny_model, tiny_tokenizer, tmp_path, batch_size=4)
    ours = evaluate(tiny_model, tiny_tokenizer, tasks, [0], limit=5, seed=0, progress=False)[
        "tasks"
    ]
    assert theirs["macs_piqa_0shot"]["acc"] == pytest.approx(ours["piqa"]["0shot"]["acc_raw"])
    assert theirs["macs_piqa_0shot"]["acc_norm"] == pytest.approx(
        ours["piqa"]["0shot"]["acc_per_char"]
    )
    assert theirs["macs_winogrande_0shot"]["acc"] == pytest.approx(
        ours["winogrande"]["0shot"]["acc_raw"]
    )
    assert theirs["macs_lambada_0shot"]["acc"] == pytest.approx(
        ours["lambada"]["0shot"]["acc_greedy"]
    )
