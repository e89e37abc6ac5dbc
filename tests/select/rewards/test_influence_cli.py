import json

from influence_fixtures import DATA, one_thread, tiny_llama  # noqa: F401

from macs.app.cli import main


def test_macs_rewards_scores_a_jsonl(tmp_path, capsys):
    from macs.data.corpus.tokenizer import byte_tokenizer

    tok = byte_tokenizer()
    model = tiny_llama(seed=0)
    model.config.vocab_size = max(256, tok.get_vocab_size())
    model.resize_token_embeddings(model.config.vocab_size)
    model.save_pretrained(tmp_path / "m")
    tok.save(str(tmp_path / "m" / "tokenizer.json"))
    docs = tmp_path / "docs.jsonl"
    rows = [
        {"id": "dup", "text": "Question: What is the capital of Spain?\nAnswer: Madrid"},
        {"id": "code", "text": "def f(x):\n    return [i * i for i in range(x) if i % 3]\n"},
        {"id": "short", "text": "a"},
    ]
    docs.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "r.jsonl"
    main(
        [
            "rewards", str(docs), "--model", str(tmp_path / "m"), "--out", str(out),
            "--set", "influence.reference_tasks=[]",
            "--set", f"influence.reference_jsonl=[{DATA / 'geography.jsonl'}]",
            "--set", "run.device=cpu",
        ]
    )  # fmt: skip
    got = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert got["short"]["reward"] is None and got["dup"]["reward"] > got["code"]["reward"]
    ref = json.loads((tmp_path / "r.reference.json").read_text())
    assert ref["reference"]["geography"]["doc_ids"][0] == "geo-1"
    assert "scored 2/3 docs (1 too short)" in capsys.readouterr().out
