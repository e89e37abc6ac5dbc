"""Run by torchrun in test_train_ddp.py: the staged loop on the test pool, one process per rank."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from test_train_loop import make_cfg, run  # noqa: E402

from conftest import make_pool  # noqa: E402

if __name__ == "__main__":
    tmp, name, batch = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    pool = make_pool(tmp)
    extra = dict(a.split("=", 1) for a in sys.argv[4:])  # more config overrides, key=value
    res = run(make_cfg(tmp, name, **{"train.batch_size": batch, **extra}), pool)
    print(f"rank done: steps {res.steps} tokens {res.tokens} loss {res.final_loss:.6f}")
