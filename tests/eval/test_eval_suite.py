"""evaluate(), held-out bpb, the lm-eval export and the `macs eval` command on a tiny random Llama."""

import json
import math

import numpy as np
import pytest
import torch

from macs.core.errors import MacsError
from macs.data.tasks import Request, load_requests, reference_role
from macs.eval import evaluate, heldout_bpb
from macs.eval.heldout import rolling_windows
from macs.eval.lmeval import export_lm_eval
from macs.eval.suite import bpb_metrics, rc_metrics


def _req(doc, choice, gold, cont):
    return Request("t", doc, choice, gold, "ctx", cont)


def test_rc_metrics_raw_and_per_char():
    reqs = [
        _req(0, 0, 1, " a"),  # doc 0: raw picks 0, per-char picks 1 (gold)
        _req(0, 1, 1, " bbbbbbbbb"),
        _req(1, 0, 0, " yes"),  # doc 1: both pick 0 (gold)
        _req(1, 1, 0, " no"),
    ]
    lps = [-2.0, -5.0, -1.0, -3.0]
    m = rc_metrics(reqs, lps)
    assert (
        m["n_docs"] == 2 and m["acc_raw"] == 0.5 and m["acc_per_char"] == 1.0 and m["chance"] == 0.5
    )
    gold_bpb = [5.0 / (10 * math.log(2)), 1.0 / (4 * math.log(2))]
    assert m["bpb"] == pytest.approx(sum(gold_bpb) / 2)
    assert m["bpb_pooled"] == pytest.approx(6.0 / math.log(2) / 14)
    b = bpb_metrics([_req(0, 0, 0, " ab"), _req(1, 0, 0, " c")], [-3.0, -1.0], [True, False])
    assert b["acc_greedy"] == 0.5 and b["bpb"] == pytest.approx((3 / 3 + 1 / 2) / 2 / math.log(2))


def test_evaluate_tiny_model(tiny_model, tiny_tokenizer):
    res = evaluate(
        tiny_model,
        tiny_tokenizer,
        ["piqa", "lambada"],
        shots=[0, 5],
        limit=4,
        seed=1,
        progress=False,
    )
    piqa, lam = res["tasks"]["piqa"], res["tasks"]["lambada"]
    assert set(piqa) >= {"0shot", "5shot"} and set(lam) >= {"0shot"} and "5shot" not in lam
    for m in (piqa["0shot"], piqa["5shot"]):
        assert m["n_docs"] == 4 and m["n_requests"] == 8 and 0 <= m["acc_per_char"] <= 1
        assert m["bpb"] > 0 and m["chance"] == 0.5
    assert piqa["5shot"]["n_truncated"] > 0  # 5-shot PIQA does not fit a 128-token window
    assert lam["0shot"]["n_docs"] == 4 and lam["0shot"]["bpb"] > 0
    assert res["groups"]["downstream"]["0shot"]["n_tasks"] == 1
    assert res["settings"]["seed"] == 1 and res["n_requests"] == 8 + 8 + 4
    # the same call gives the same numbers
    again = evaluate(tiny_model, tiny_tokenizer, ["lambada"], limit=4, seed=1, progress=False)
    assert again["tasks"]["lambada"]["0shot"]["bpb"] == pytest.approx(lam["0shot"]["bpb"], abs=1e-6)


def test_reference_tasks_are_scored_on_the_eval_part_only():
    reqs = load_requests("lambada", 0, "bpb", limit=30, seed=0, role="eval")
    assert len(reqs) == 30 and all(reference_role("lambada", r.doc_id) == "eval" for r in reqs)


def test_rolling_windows_cover_every_token_once():
    toks = list(range(10, 33))
    ws = rolling_windows(toks, 5, prefix=1)
    assert [t for w in ws for t in w.continuation] == toks
    assert ws[0].context == [1] and ws[1].context == [toks[4]] and len(ws) == 5


def test_heldout_bpb_matches_a_plain_loop(tiny_model, tiny_tokenizer, mini_store):
    res = heldout_bpb(
        tiny_model, tiny_tokenizer, mini_store, max_docs_per_domain=1, seed=0, progress=False
    )
    mask = mini_store.heldout_mask()
    codes, names = mini_store.domains()
    held_domains = {names[c] for c in set(codes[mask].tolist())}
    assert set(res["domains"]) == held_domains and res["overall"]["n_docs"] == len(held_domains)
    # recompute the first domain by hand (its sample is the rng's first draw): full-window
    # forward passes, one token of carried context between windows
    name = next(n for n in names if n in held_domains)
    d = res["domains"][name]
    idx = np.flatnonzero(mask & (codes == names.index(name)))
    pick = np.random.default_rng(0).choice(idx, size=1, replace=False) if idx.size > 1 else idx
    text = mini_store.texts(pick)[0]
    ids = tiny_tokenizer(text, add_special_tokens=False)["input_ids"]
    seq = [tiny_tokenizer.bos_token_id, *ids]
    nll = 0.0
    with torch.no_grad():
        for s in range(0, len(ids), 128):
            window = seq[s : s + 129]
            lp = torch.log_softmax(
                tiny_model(input_ids=torch.tensor([window[:-1]])).logits[0].double(), -1
            )
            nll -= float(lp.gather(-1, torch.tensor(window[1:])[:, None]).sum())
    assert d["n_bytes"] == len(text.encode()) and d["n_tokens"] == len(ids)
    assert d["bpb"] == pytest.approx(nll / math.log(2) / d["n_bytes"], rel=1e-4)


def test_export_lm_eval_writes_jsonl_and_yaml(tmp_path):
    m = export_lm_eval(tmp_path, ["piqa", "winogrande", "lambada"], [0, 5], limit=3, seed=0)
    assert m["task_names"] == [
        "macs_piqa_0shot",
        "macs_piqa_5shot",
        "macs_winogrande_0shot",
        "macs_winogrande_5shot",
        "macs_lambada_0shot",
    ]
    docs = [json.loads(x) for x in (tmp_path / "macs_piqa_5shot.jsonl").read_text().splitlines()]
    reqs = load_requests("piqa", 5, limit=3, seed=0)
    assert [d["doc_id"] for d in docs] == sorted({r.doc_id for r in reqs})
    assert docs[0]["context"] == reqs[0].context and docs[0]["choices"] == [
        reqs[0].continuation,
        reqs[1].continuation,
    ]
    y = (tmp_path / "macs_piqa_5shot.yaml").read_text()
    assert (
        "dataset_path: json" in y and "doc_to_choice: choices" in y and str(tmp_path.resolve()) in y
    )
    assert "num_fewshot: 0" in y and 'target_delimiter: ""' in y
    wino = json.loads((tmp_path / "macs_winogrande_0shot.jsonl").read_text().splitlines()[0])
    assert len(wino["contexts"]) == 2 and wino["continuation"].startswith(" ")
    assert "doc_to_text: gold" in (tmp_path / "macs_winogrande_0shot.yaml").read_text()
    assert "output_type: loglikelihood" in (tmp_path / "macs_lambada_0shot.yaml").read_text()


def test_macs_eval_command(tmp_path, tiny_model, tiny_tokenizer, mini_store, capsys):
    from macs.app.cli import main

    model_dir = tmp_path / "run" / "model"
    tiny_model.save_pretrained(model_dir)
    tiny_tokenizer.save_pretrained(model_dir)
    args = [
        "--tasks",
        "piqa,jeopardy",
        "--limit",
        "3",
        "--device",
        "cpu",
        "--corpus",
        str(mini_store.path),
    ]
    args += ["--set", "eval.heldout_docs_per_domain=1"]
    main(["eval", str(tmp_path / "run"), *args])
    res = json.loads((tmp_path / "run" / "eval.json").read_text())  # a run dir gets its eval.json
    assert (
        set(res["tasks"]) == {"piqa", "jeopardy"}
        and res["tasks"]["jeopardy"]["5shot"]["n_docs"] == 3
    )
    assert "PIQA" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        main(["eval", str(tmp_path / "nothing")])
    assert e.value.code == 2 and "does not exist" in capsys.readouterr().err
    with pytest.raises(MacsError, match="shots"):
        evaluate(tiny_model, tiny_tokenizer, ["piqa"], shots=[3])


def test_evaluate_config_adds_heldout(tiny_model, tiny_tokenizer, mini_store):
    from pydantic import ValidationError

    from macs.eval import evaluate_config
    from macs.eval.config import EvalConfig

    cfg = EvalConfig(tasks=["lambada"], limit=2, heldout_docs_per_domain=1, max_length=64)
    res = evaluate_config(tiny_model, tiny_tokenizer, cfg, seed=0, store=mini_store, progress=False)
    assert res["tasks"]["lambada"]["0shot"]["n_docs"] == 2
    assert res["heldout"]["overall"]["bpb"] > 0 and res["heldout"]["settings"]["window"] == 64
    assert "heldout" not in evaluate_config(
        tiny_model, tiny_tokenizer, cfg, store=None, progress=False
    )
    with pytest.raises(ValidationError):
        EvalConfig(shots=[3])
