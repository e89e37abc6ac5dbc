"""Saved quality models: a linear classifier on hashed word n-grams, in a folder of two files.

`model.json` (readable) holds the format and model versions, the featuriser settings, the
training data description (sources, counts, sha256 of the data) and the held-out AUCs;
`weights.npz` holds one weight per hash bucket (int8 with a scale, float16 or float32) and
the intercept. The score is `5 * sigmoid(w . x / ||x|| + b)` on 0-5, higher = more like the
training positives. Both files are written deterministically (sorted JSON, zip entries with
a fixed date), so the same training data, config and seed give identical bytes.

The packaged default (`macs/data/quality-default/`) was trained by
`macs label train-quality --from demo` on the full built-in demo corpus; it scores any text
with no corpus build and no network.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from macs.core.errors import MacsError
from macs.data.labels.textclf import FEATURISER_VERSION, linear_decision

FORMAT = 1  # model folder format this macs writes and reads (readers accept <= FORMAT)
KIND = "macs.quality_model"
MODEL_FILE = "model.json"
WEIGHTS_FILE = "weights.npz"
WEIGHT_DTYPES = ("int8", "float16", "float32")
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


@dataclass
class QualityModel:
    """A linear quality model on hashed word n-grams; `score` gives 0-5, higher = better quality."""

    coef: np.ndarray  # float32, one weight per hash bucket
    intercept: float
    meta: dict[str, Any]
    path: Path | None = None
    sha256: str = ""  # of model.json, which names the weights' sha256: identifies the model
    source: str = field(default="memory")  # default | file | cache | trained | memory

    @property
    def name(self) -> str:
        return str(self.meta.get("name", "quality-model"))

    @property
    def version(self) -> str:
        return str(self.meta.get("version", "1"))

    @property
    def featuriser(self) -> dict[str, Any]:
        return self.meta["featuriser"]

    @property
    def max_chars(self) -> int:
        return int(self.featuriser["max_chars"])

    def label(self) -> str:
        """'name vVERSION' for one-line messages."""
        return f"{self.name} v{self.version}"

    def identity(self) -> dict[str, Any]:
        """Name, version, sha256, source and path (recorded in label manifests and cache keys)."""
        return {
            "name": self.name,
            "version": self.version,
            "sha256": self.sha256,
            "source": self.source,
            "path": str(self.path) if self.path else None,
        }

    def logit(self, texts: list[str]) -> np.ndarray:
        """w . x / ||x|| + b per text (float64; higher = more like the positives)."""
        f = self.featuriser
        cut = [t[: self.max_chars] for t in texts]
        return linear_decision(cut, self.coef, self.intercept, int(f["ngrams"]), f["norm"])

    def score(self, texts: list[str]) -> np.ndarray:
        """Quality on 0-5 = 5 * P(positive | text) (float32; higher = better quality)."""
        z = np.clip(self.logit(texts), -500.0, 500.0)
        return 5.0 * (1.0 / (1.0 + np.exp(-z))).astype(np.float32)

    def heldout_mask(self, ids: list[str]) -> np.ndarray | None:
        """True for ids the model never trained on, when it was split by id; else None."""
        from macs.data.labels.base import id_unit

        h = self.meta.get("training", {}).get("heldout") or {}
        if h.get("by") != "id":
            return None
        return id_unit(ids, int(h["seed"]), str(h["salt"])) < float(h["fraction"])

    def summary(self) -> str:
        """One line: name, version, what it was trained on and its held-out AUCs."""
        what = self.meta.get("training", {}).get("summary", "unknown data")
        ev = self.meta.get("eval", {})
        aucs = ", ".join(
            f"{k[4:].replace('_', ' ')} {v:.3f}"
            for k, v in sorted(ev.items())
            if k.startswith("auc_") and isinstance(v, float)
        )
        return f"{self.label()} (trained on {what}; held-out AUC {aucs or 'n/a'})"


def featuriser_meta(c, max_chars: int) -> dict[str, Any]:
    """The featuriser settings a saved model records (and is scored with)."""
    return {
        "name": "hashed_ngrams",
        "version": FEATURISER_VERSION,
        "ngrams": c.ngrams,
        "buckets": c.buckets,
        "norm": c.norm,
        "max_chars": int(max_chars),
        "tokens": "runs of 2+ bytes of [A-Za-z0-9_] or non-ASCII UTF-8, ASCII lower-cased",
    }


def default_model_path() -> Path:
    """The folder of the packaged default quality model (inside the installed macs package)."""
    from importlib.resources import files

    return Path(str(files("macs") / "data" / "quality-default"))


def quantise(coef: np.ndarray, dtype: str) -> dict[str, np.ndarray]:
    """Arrays to store for `coef` as int8 (with a float32 scale), float16 or float32."""
    coef = np.asarray(coef, dtype=np.float32)
    if dtype == "float32":
        return {"coef": coef}
    if dtype == "float16":
        return {"coef": coef.astype(np.float16)}
    if dtype != "int8":
        raise MacsError(f"weights dtype {dtype!r}: use one of {', '.join(WEIGHT_DTYPES)}")
    top = float(np.abs(coef).max()) if coef.size else 0.0
    scale = np.float32(top / 127.0 if top > 0 else 1.0)
    return {"coef": np.round(coef / scale).astype(np.int8), "scale": np.array(scale, np.float32)}


def dequantise(arrays: dict[str, np.ndarray]) -> np.ndarray:
    """The float32 weights stored by `quantise`."""
    coef = arrays["coef"].astype(np.float32)
    if "scale" in arrays:
        coef *= np.float32(arrays["scale"])
    return coef


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """A .npz (deflated zip of .npy files) with fixed entry dates: same arrays -> same bytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name in sorted(arrays):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, buf.getvalue(), compresslevel=9)
    return out.getvalue()


def json_bytes(meta: dict[str, Any]) -> bytes:
    """model.json content: sorted keys, 1-space indent, trailing newline (deterministic)."""
    return (json.dumps(meta, sort_keys=True, indent=1, ensure_ascii=False) + "\n").encode()


def save_quality_model(
    coef: np.ndarray, intercept: float, meta: dict[str, Any], out: str | os.PathLike, dtype: str
) -> QualityModel:
    """Write model.json + weights.npz into the folder `out` (replaced atomically); returns it loaded."""
    from macs.data.corpus.store import replace_dir

    out = Path(out)
    arrays = quantise(coef, dtype)
    arrays["intercept"] = np.array([intercept], dtype=np.float32)
    weights = npz_bytes(arrays)
    meta = dict(meta)
    meta["weights"] = {
        "file": WEIGHTS_FILE,
        "dtype": dtype,
        "buckets": int(len(coef)),
        "nonzero": int(np.count_nonzero(arrays["coef"])),
        "sha256": hashlib.sha256(weights).hexdigest(),
    }
    meta.update(format=FORMAT, kind=KIND)
    tmp = out.with_name(f".{out.name}.partial-{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / WEIGHTS_FILE).write_bytes(weights)
    (tmp / MODEL_FILE).write_bytes(json_bytes(meta))
    replace_dir(tmp, out)
    return load_quality_model(out, source="file")


def load_quality_model(spec: str | os.PathLike, source: str | None = None) -> QualityModel:
    """Load a model folder (or its model.json), or 'default' for the packaged one; MacsError if bad."""
    if str(spec) == "default":
        path, source = default_model_path(), source or "default"
    else:
        path, source = Path(spec), source or "file"
    if path.is_file() and path.name == MODEL_FILE:
        path = path.parent
    mfile = path / MODEL_FILE
    if not mfile.exists():
        what = "does not exist" if not path.exists() else f"has no {MODEL_FILE}"
        raise MacsError(
            f"quality model {path} {what}; give a folder written by `macs label train-quality` "
            "(labels.quality.model), or 'default' for the packaged model"
        )
    raw = mfile.read_bytes()
    try:
        meta = json.loads(raw)
    except ValueError as e:
        raise MacsError(
            f"{mfile}: not valid JSON ({e}); retrain with `macs label train-quality`"
        ) from e
    _check_meta(meta, mfile)
    arrays = _read_weights(path / meta["weights"]["file"], meta["weights"], mfile)
    return QualityModel(
        coef=dequantise(arrays),
        intercept=float(arrays["intercept"][0]),
        meta=meta,
        path=path,
        sha256=hashlib.sha256(raw).hexdigest(),
        source=source,
    )


def _check_meta(meta: Any, mfile: Path) -> None:
    if not isinstance(meta, dict) or meta.get("kind") != KIND:
        raise MacsError(f"{mfile}: not a macs quality model (kind is not {KIND!r})")
    fmt = meta.get("format")
    if not isinstance(fmt, int) or fmt > FORMAT:
        raise MacsError(
            f"{mfile}: quality model format {fmt} is newer than this macs reads (up to {FORMAT}); "
            "upgrade macs, or retrain the model with `macs label train-quality`"
        )
    f = meta.get("featuriser") or {}
    if f.get("name") != "hashed_ngrams" or f.get("version") != FEATURISER_VERSION:
        raise MacsError(
            f"{mfile}: featuriser {f.get('name')} v{f.get('version')} differs from this macs's "
            f"hashed_ngrams v{FEATURISER_VERSION}; retrain with `macs label train-quality`"
        )
    if not isinstance(meta.get("weights"), dict) or "sha256" not in meta["weights"]:
        raise MacsError(f"{mfile}: no 'weights' entry; retrain with `macs label train-quality`")


def _read_weights(wfile: Path, spec: dict[str, Any], mfile: Path) -> dict[str, np.ndarray]:
    if not wfile.exists():
        raise MacsError(f"{mfile}: its weights file {wfile} is missing; copy the whole folder")
    data = wfile.read_bytes()
    if hashlib.sha256(data).hexdigest() != spec["sha256"]:
        raise MacsError(
            f"{wfile}: sha256 differs from the one in {mfile.name} (file changed or truncated); "
            "copy the folder again or retrain"
        )
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    if "coef" not in arrays or len(arrays["coef"]) != int(spec["buckets"]):
        raise MacsError(
            f"{wfile}: weights do not match the {spec['buckets']} buckets in {mfile.name}"
        )
    return arrays
