"""Cut long documents into chunks at paragraph boundaries (then lines, then words)."""

from __future__ import annotations

import itertools
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


LAZY_MIN_BYTES = 1 << 20  # texts this long are cut by the streaming packer (_chunks_lazy)


def _lazy_pieces(text: str, a: int, b: int, nb: int, max_bytes: int, level: int, asc: bool):
    """The pieces of `_pieces(text[a:b], nb, max_bytes, level)` one at a time as (piece, bytes),
    holding no list of them: memory stays near the text's own size whatever its shape (a long
    line of short words made _pieces build one Python string per word). `asc`: text is ASCII."""
    if nb <= max_bytes:
        yield text[a:b], nb
        return
    if level == 3:
        yield from _hard_cut(text, a, b, max_bytes)
        return
    if level == 2:  # zero-width cuts strictly inside (a, b), as re.split of text[a:b] makes
        cuts = (c for c in (m.start() for m in _SPACE.finditer(text, a, b)) if c > a)
    else:  # after each separator
        cuts = (m.end() for m in (_PARA if level == 0 else _LINE).finditer(text, a, b))
    first = next(cuts, None)
    if first is None or first >= b:  # one piece only: the next level down
        yield from _lazy_pieces(text, a, b, nb, max_bytes, level + 1, asc)
        return
    prev = a
    for cut in itertools.chain((first,), cuts, (b,)):
        if cut > prev:
            pb = cut - prev if asc else _span_bytes(text, prev, cut)
            if pb > max_bytes:
                yield from _lazy_pieces(text, prev, cut, pb, max_bytes, level + 1, asc)
            else:
                yield text[prev:cut], pb
        prev = cut


def _span_bytes(text: str, a: int, b: int, step: int = 1 << 20) -> int:
    """UTF-8 bytes of text[a:b], encoded a window at a time (no copy of a long span)."""
    return sum(_nbytes(text[i : min(b, i + step)]) for i in range(a, b, step))


def _hard_cut(text: str, a: int, b: int, max_bytes: int):
    """text[a:b] as maximal runs of whole characters of at most max_bytes (a character longer
    than max_bytes alone), as the character level of _pieces cuts."""
    i = a
    while i < b:
        w = text[i : min(b, i + max_bytes)]  # max_bytes characters hold at least max_bytes bytes
        enc = w.encode("utf-8")
        if len(enc) <= max_bytes:
            k, kb = len(w), len(enc)
        else:
            head = enc[:max_bytes].decode("utf-8", errors="ignore")  # whole characters only
            k = max(1, len(head))
            kb = _nbytes(w[:k])
        yield text[i : i + k], kb
        i += k


def _chunks_lazy(text: str, nb: int, max_bytes: int) -> list[str]:
    """chunk_text for long texts: the same greedy packing over _lazy_pieces."""
    chunks: list[str] = []
    cur: list[str] = []
    cur_b = 0
    for p, b in _lazy_pieces(text, 0, len(text), nb, max_bytes, 0, nb == len(text)):
        if cur and cur_b + b > max_bytes:
            chunks.append("".join(cur))
            cur, cur_b = [], 0
        cur.append(p)
        cur_b += b
    if cur:
        chunks.append("".join(cur))
    cur = []
    for i, c in enumerate(chunks):  # in place: never the chunks and their stripped copies at once
        chunks[i] = c.strip()
    return [c for c in chunks if c]


def chunk_text(text: str, max_bytes: int) -> list[str]:
    """Chunks of `text`, each at most max_bytes of UTF-8 (bytes), cut at paragraph boundaries
    where possible; joining the chunks gives back the text up to whitespace at the cuts."""
    nb = _nbytes(text)
    if max_bytes <= 0 or nb <= max_bytes:
        return [text]
    if nb >= LAZY_MIN_BYTES:
        return _chunks_lazy(text, nb, max_bytes)
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
