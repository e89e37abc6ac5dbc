"""Cut long documents into chunks at paragraph boundaries (then lines, then words)."""

from __future__ import annotations

import re

import numpy as np

_PARA = re.compile(r"\n[ \t\r\f\v]*\n\s*")
_LINE = re.compile(r"\n")
_SPACE = re.compile(r"(?<=\s)(?=\S)")
# the same separators as one capturing group, for re.split (one C call instead of a match loop)
_CAPTURE = {p: re.compile(f"({p.pattern})") for p in (_PARA, _LINE)}


def _nbytes(s: str) -> int:
    return len(s) if s.isascii() else len(s.encode("utf-8"))


def _pieces(text: str, nb: int, max_bytes: int, level: int) -> tuple[list[str], list[int]]:
    """Split `text` (nb bytes) into pieces and their byte sizes, each under max_bytes:
    paragraphs, lines, words, then characters."""
    if nb <= max_bytes:
        return [text], [nb]
    if level == 0:
        parts = _split_keep(text, _PARA)
    elif level == 1:
        parts = _split_keep(text, _LINE)
    elif level == 2:
        parts = _SPACE.split(text)
    else:
        # hard cut on characters (never inside a UTF-8 sequence since we cut str)
        out_t, out_s, cur, cur_b = [], [], [], 0
        for ch in text:
            b = _nbytes(ch)
            if cur_b + b > max_bytes and cur:
                out_t.append("".join(cur))
                out_s.append(cur_b)
                cur, cur_b = [], 0
            cur.append(ch)
            cur_b += b
        if cur:
            out_t.append("".join(cur))
            out_s.append(cur_b)
        return out_t, out_s
    if len(parts) <= 1:
        return _pieces(text, nb, max_bytes, level + 1)
    # ASCII text (chars = bytes) needs no per-piece encoding
    sizes = list(map(len, parts)) if nb == len(text) else list(map(_nbytes, parts))
    if max(sizes) <= max_bytes:
        return parts, sizes
    out_t, out_s = [], []
    for p, pb in zip(parts, sizes, strict=True):
        if pb > max_bytes:
            t, s = _pieces(p, pb, max_bytes, level + 1)
            out_t += t
            out_s += s
        else:
            out_t.append(p)
            out_s.append(pb)
    return out_t, out_s


def _split_keep(text: str, pattern: re.Pattern) -> list[str]:
    """Split after each separator match, keeping the separator on the left piece."""
    parts = _CAPTURE[pattern].split(text)  # piece, separator, piece, ..., last piece
    out = [a + b for a, b in zip(parts[0::2], parts[1::2], strict=False)]
    if parts[-1]:
        out.append(parts[-1])
    return [p for p in out if p]


def chunk_text(text: str, max_bytes: int) -> list[str]:
    """Chunks of `text`, each at most max_bytes of UTF-8 (bytes), cut at paragraph boundaries
    where possible; joining the chunks gives back the text up to whitespace at the cuts."""
    nb = _nbytes(text)
    if max_bytes <= 0 or nb <= max_bytes:
        return [text]
    texts, sizes = _pieces(text, nb, max_bytes, 0)
    # greedy packing: each chunk takes as many whole pieces as fit (at least one); found by
    # binary search on the cumulative sizes instead of a Python loop over every piece
    ends = np.cumsum(np.array(sizes, dtype=np.int64))
    chunks: list[str] = []
    i, n = 0, len(texts)
    while i < n:
        base = int(ends[i - 1]) if i else 0
        j = max(i + 1, int(np.searchsorted(ends, base + max_bytes, side="right")))
        chunks.append("".join(texts[i:j]))
        i = j
    out = [c.strip() for c in chunks]
    return [c for c in out if c]
