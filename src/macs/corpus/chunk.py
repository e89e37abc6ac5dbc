"""Cut long documents into chunks at paragraph boundaries (then lines, then words)."""

from __future__ import annotations

import re

_PARA = re.compile(r"\n[ \t\r\f\v]*\n\s*")
_LINE = re.compile(r"\n")
_SPACE = re.compile(r"(?<=\s)(?=\S)")


def _nbytes(s: str) -> int:
    return len(s) if s.isascii() else len(s.encode("utf-8"))


def _pieces(text: str, nb: int, max_bytes: int, level: int) -> list[tuple[str, int]]:
    """Split `text` (nb bytes) into (piece, bytes) each under max_bytes: paragraphs, lines,
    words, then characters."""
    if nb <= max_bytes:
        return [(text, nb)]
    if level == 0:
        parts = _split_keep(text, _PARA)
    elif level == 1:
        parts = _split_keep(text, _LINE)
    elif level == 2:
        parts = _SPACE.split(text)
    else:
        # hard cut on characters (never inside a UTF-8 sequence since we cut str)
        out, cur, cur_b = [], [], 0
        for ch in text:
            b = _nbytes(ch)
            if cur_b + b > max_bytes and cur:
                out.append(("".join(cur), cur_b))
                cur, cur_b = [], 0
            cur.append(ch)
            cur_b += b
        if cur:
            out.append(("".join(cur), cur_b))
        return out
    if len(parts) <= 1:
        return _pieces(text, nb, max_bytes, level + 1)
    out: list[tuple[str, int]] = []
    for p in parts:
        pb = _nbytes(p)
        if pb > max_bytes:
            out.extend(_pieces(p, pb, max_bytes, level + 1))
        else:
            out.append((p, pb))
    return out


def _split_keep(text: str, pattern: re.Pattern) -> list[str]:
    """Split after each separator match, keeping the separator on the left piece."""
    out, start = [], 0
    for m in pattern.finditer(text):
        out.append(text[start : m.end()])
        start = m.end()
    if start < len(text):
        out.append(text[start:])
    return [p for p in out if p]


def chunk_text(text: str, max_bytes: int) -> list[str]:
    """Chunks of `text`, each at most max_bytes of UTF-8 (bytes), cut at paragraph boundaries
    where possible; joining the chunks gives back the text up to whitespace at the cuts."""
    nb = _nbytes(text)
    if max_bytes <= 0 or nb <= max_bytes:
        return [text]
    chunks: list[str] = []
    cur: list[str] = []
    cur_b = 0
    for p, b in _pieces(text, nb, max_bytes, 0):
        if cur and cur_b + b > max_bytes:
            chunks.append("".join(cur))
            cur, cur_b = [], 0
        cur.append(p)
        cur_b += b
    if cur:
        chunks.append("".join(cur))
    out = [c.strip() for c in chunks]
    return [c for c in out if c]
