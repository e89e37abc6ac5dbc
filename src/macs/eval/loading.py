"""Load a model and its tokenizer from a model directory, a GGUF file or a macs run directory."""

from __future__ import annotations

import os
from pathlib import Path

from macs.core.device import torch_device
from macs.core.errors import MacsError
from macs.data.rundir import RunDir


def resolve_model_dir(path: str | os.PathLike) -> tuple[Path, str | None, Path | None]:
    """(model folder, gguf file name or None, run dir or None) for a model dir, a .gguf file or a run dir."""
    p = Path(path)
    if not p.exists():
        raise MacsError(
            f"{p} does not exist; give a model folder (config.json + weights + tokenizer) or a run dir"
        )
    if p.is_file():
        if p.suffix != ".gguf":
            raise MacsError(f"{p}: a model file must be .gguf; otherwise give the model's folder")
        return p.parent, p.name, None
    if (RunDir(p).model / "config.json").is_file():
        return RunDir(p).model, None, p
    if (p / "config.json").is_file():
        return p, None, None
    ggufs = sorted(p.glob("*.gguf"))
    if len(ggufs) == 1:
        return p, ggufs[0].name, None
    if len(ggufs) > 1:
        raise MacsError(
            f"{p} holds several .gguf files; give one of them: {', '.join(g.name for g in ggufs)}"
        )
    hint = " (a run dir gets model/ when training finishes)" if RunDir(p).is_run() else ""
    raise MacsError(f"{p} has no config.json, model/ folder or .gguf file{hint}")


def load_model(path: str | os.PathLike, device: str = "auto"):
    """(model, tokenizer, run_dir): an HF causal LM in eval mode (float32 weights) and its fast tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerFast

    folder, gguf, run_dir = resolve_model_dir(path)
    kwargs = {"gguf_file": gguf} if gguf else {}
    model = _load_weights(AutoModelForCausalLM, folder, torch.float32, kwargs)
    try:
        tok = AutoTokenizer.from_pretrained(folder, **kwargs)
    except (OSError, ValueError) as e:
        if not (folder / "tokenizer.json").is_file():
            raise MacsError(
                f"{folder}: no tokenizer could be loaded ({e}); save the tokenizer beside the model"
            ) from e
        tok = PreTrainedTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"))
    if not getattr(tok, "is_fast", False):
        raise MacsError(
            f"{folder}: the tokenizer is not a fast (Rust) tokenizer; save a tokenizer.json"
        )
    if tok.pad_token_id is None and tok.eos_token_id is not None:
        tok.pad_token = tok.eos_token
    model.to(torch_device(device, option="--device")).eval()
    return model, tok, run_dir


def _load_weights(auto, folder: Path, dtype, kwargs: dict):
    """from_pretrained, refusing (MacsError) weights that are missing, of the wrong shape or
    not plain tensors (a damaged, tampered or foreign checkpoint) instead of initialising
    them at random or failing with a traceback."""
    import pickle

    try:
        model, info = auto.from_pretrained(folder, dtype=dtype, output_loading_info=True, **kwargs)
    except pickle.UnpicklingError as e:
        raise MacsError(
            f"{folder}: refused to load the weights: the file holds Python objects other than "
            "tensors (or is damaged); use the original model files"
        ) from e
    except (OSError, ValueError, RuntimeError, EOFError) as e:
        if "mismatch" in str(e):
            raise MacsError(
                f"{folder}: the weights do not match the model's config (a tensor has the wrong "
                "shape); the checkpoint is damaged, tampered with or belongs to another model"
            ) from e
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise MacsError(f"{folder}: transformers cannot load a causal LM here ({first})") from e
    problems = []
    missing = sorted(info.get("missing_keys") or [])
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        problems.append(f"missing {', '.join(missing[:3])}{more}")
    for item in list(info.get("mismatched_keys") or [])[:3]:
        problems.append(f"wrong shape {item[0] if isinstance(item, tuple | list) else item}")
    if problems:
        raise MacsError(
            f"{folder}: the weights do not match the model's config ({'; '.join(problems)}); "
            "the checkpoint is damaged, tampered with or belongs to another model"
        )
    return model
