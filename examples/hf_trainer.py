"""Train a LlamaForCausalLM from scratch with a Hugging Face `Trainer` and multi-actor selection.

The corpus, its token shards and labels come from a macs config (the built-in demo by default:
`macs run` or `macs corpus build demo` + `macs label` prepare them). Every `--refresh-every`
steps the selection is refreshed on the Trainer's own model.

    python examples/hf_trainer.py --out runs/hf-demo --max-steps 300 --refresh-every 100
    python examples/hf_trainer.py --out runs/hf-demo --max-steps 300 --refresh-every 100 --resume

Any macs config works (`--config my.yaml --set k=v`); the method is selection.method
(multi_actor by default; random, quality_topk, ... for a baseline).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--config", help="macs YAML config (default: the built-in demo; 'none': defaults)"
    )
    ap.add_argument("--set", action="append", default=[], help="config override k=v (repeatable)")
    ap.add_argument("--out", required=True, help="the Trainer's output_dir")
    ap.add_argument("--max-steps", type=int, default=300)
    ap.add_argument("--refresh-every", type=int, default=100, help="optimizer steps per stage")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--save-steps", type=int, default=50)
    ap.add_argument("--resume", action="store_true", help="resume from the latest checkpoint")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, Trainer, TrainingArguments

    from macs import OnlineSelection, SelectionCallback, StageDataset, load_config, open_pool
    from macs.app.pipeline import demo_config

    a = parse(argv)
    if a.config == "none":  # the defaults plus --set only
        cfg = load_config(None, a.set)
    else:
        cfg = load_config(a.config, a.set) if a.config else demo_config(a.set)
    torch.manual_seed(cfg.run.seed)
    pool = open_pool(cfg)
    selection = OnlineSelection.from_config(cfg, pool=pool)
    dataset = StageDataset(pool.tokens, seq_len=a.seq_len, seed=cfg.run.seed)
    model = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=int(pool.tokens.vocab_size),
            hidden_size=96,
            intermediate_size=256,
            num_hidden_layers=4,
            num_attention_heads=4,
            max_position_embeddings=a.seq_len,
            eos_token_id=int(pool.tokens.eos_id),
            tie_word_embeddings=True,
        )
    )
    args = TrainingArguments(
        output_dir=a.out,
        max_steps=a.max_steps,
        per_device_train_batch_size=a.batch_size,
        learning_rate=a.lr,
        warmup_steps=max(1, a.max_steps // 20),
        lr_scheduler_type="cosine",
        weight_decay=0.1,
        logging_steps=10,
        save_steps=a.save_steps,
        save_total_limit=3,
        ignore_data_skip=True,  # macs restores the data position itself
        report_to=[],
        use_cpu=not torch.cuda.is_available(),
        seed=cfg.run.seed,
        data_seed=cfg.run.seed,
        dataloader_num_workers=0,
    )
    callback = SelectionCallback(selection, dataset, refresh_every=a.refresh_every)
    trainer = Trainer(model=model, args=args, train_dataset=dataset, callbacks=[callback])
    trainer.train(resume_from_checkpoint=True if a.resume else None)
    print(
        f"trained {trainer.state.global_step} steps with {selection.n_stages} stages of "
        f"{cfg.selection.method} selection; stage manifests in {Path(a.out) / 'macs' / 'stages'}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    from macs.core.errors import EXIT_USER_ERROR, MacsError

    try:
        raise SystemExit(main())
    except MacsError as e:  # bad input or settings: one line, as the macs CLI prints it
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(EXIT_USER_ERROR) from None
