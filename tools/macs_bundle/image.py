"""What the lent GPU machine's Python image holds, and what the bundle carries as wheels for it."""

from __future__ import annotations

import re
from pathlib import Path

# versions of the image that matter to macs (KINDS.md's pip list, read 2026-11)
IMAGE_PYTHON = "3.12"
IMAGE_LIST = "gpu-image-packages.txt"  # beside this module: the image's distributions
IMAGE_VERSIONS = {
    "torch": "2.11.0",
    "transformers": "5.17.0",
    "tokenizers": "0.23.2",
    "safetensors": "0.8.0",
    "accelerate": "1.15.0",
    "huggingface-hub": "1.33.0",
}

# (distribution, import name, why macs needs it): missing from the image (or there at a version
# that may be too old), carried as wheels; on PYTHONPATH they come before the image's packages
CARRIED: tuple[tuple[str, str, str], ...] = (
    ("typing-extensions", "typing_extensions", "pydantic needs >= 4.16; the image's may be older"),
    ("pydantic", "pydantic", "the config models (every command)"),
    ("pydantic-core", "pydantic_core", "pydantic's compiled core"),
    ("annotated-types", "annotated_types", "a pydantic dependency"),
    ("typing-inspection", "typing_inspection", "a pydantic dependency"),
    ("msgspec", "msgspec", "JSONL import (macs.data.corpus)"),
    ("zstandard", "zstandard", "zstd-compressed inputs (macs.data.corpus)"),
    ("lightgbm", "lightgbm", "the regmix baseline's regression"),
    ("data-selection", "data_selection", "the dsir baseline"),
    ("nltk", "nltk", "data-selection's word tokenizer"),
    ("defusedxml", "defusedxml", "an nltk dependency"),
)


def normalize(name: str) -> str:
    """A distribution name in its canonical form (PEP 503: lower case, runs of -_. as '-')."""
    return re.sub(r"[-_.]+", "-", name).lower()


def image_packages() -> set[str]:
    """Normalised names of the Python distributions the GPU image holds (IMAGE_LIST)."""
    text = (Path(__file__).parent / IMAGE_LIST).read_text("utf-8")
    return {normalize(x) for x in text.splitlines() if x.strip() and not x.startswith("#")}


def carried_packages() -> list[str]:
    """Normalised names of the distributions the bundle carries."""
    return [normalize(d) for d, _, _ in CARRIED]


def missing_from_image(names) -> list[str]:
    """The given distribution names that neither the image nor the carried wheels provide."""
    have = image_packages() | set(carried_packages())
    return sorted({normalize(n) for n in names} - have)
