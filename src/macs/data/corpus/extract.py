"""Turn raw source files (e-mail, HTML, dictd, licence files, POD) into plain document text."""

from __future__ import annotations

import gzip
import html
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

_WS_LINES = re.compile(r"\n{3,}")


def tidy(text: str) -> str:
    """Normalise newlines, strip trailing spaces and runs of blank lines."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return _WS_LINES.sub("\n\n", text).strip()


class _TextParser(HTMLParser):
    _SKIP = {"script", "style", "head", "title", "nav"}
    _BLOCK = {
        "p",
        "div",
        "br",
        "li",
        "tr",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "pre",
        "table",
        "dt",
        "dd",
        "section",
        "blockquote",
        "ul",
        "ol",
        "hr",
    }

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in self._SKIP:
            self._skip += 1
        elif tag in self._BLOCK:
            self.out.append("\n\n" if tag not in ("br", "li", "tr", "dt", "dd") else "\n")

    def handle_endtag(self, tag):
        if tag in self._SKIP and self._skip:
            self._skip -= 1
        elif tag in self._BLOCK:
            self.out.append("\n")

    def handle_data(self, data):
        if not self._skip:
            self.out.append(data)


def html_to_text(markup: str) -> str:
    """Visible text of an HTML page (stdlib HTMLParser), paragraphs separated by blank lines."""
    p = _TextParser()
    try:
        p.feed(markup)
        p.close()
    except Exception:  # malformed markup: keep what was parsed
        pass
    text = "".join(p.out)
    text = re.sub(r"[ \t\f\v]+", " ", text)
    return tidy(html.unescape(text))


def email_to_text(raw: bytes) -> str:
    """Subject line plus the plain-text body of an RFC-822 message (HTML parts to text)."""
    import email
    from email import policy

    try:
        msg = email.message_from_bytes(raw, policy=policy.default)
    except Exception:
        return tidy(raw.decode("utf-8", "replace"))
    subject = str(msg.get("subject", "") or "").strip()
    bodies: list[str] = []
    html_bodies: list[str] = []
    for part in msg.walk() if msg.is_multipart() else [msg]:
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        if ctype not in ("text/plain", "text/html"):
            continue
        try:
            payload = part.get_payload(decode=True) or b""
            charset = part.get_content_charset() or "latin-1"
            try:
                body = payload.decode(charset, "replace")
            except LookupError:
                body = payload.decode("latin-1", "replace")
        except Exception:
            continue
        (bodies if ctype == "text/plain" else html_bodies).append(body)
    body = "\n\n".join(bodies) if bodies else "\n\n".join(html_to_text(b) for b in html_bodies)
    body = tidy(body)
    return f"Subject: {subject}\n\n{body}" if subject else body


def strip_front_matter(text: str) -> str:
    """Drop a leading YAML front matter block (--- ... ---)."""
    if text.startswith("---"):
        end = text.find("\n---", 3)
        if end >= 0:
            nl = text.find("\n", end + 4)
            return text[nl + 1 :] if nl >= 0 else ""
    return text


_B64 = {
    c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
}


def _b64num(s: str) -> int:
    n = 0
    for c in s:
        n = n * 64 + _B64[c]
    return n


def dictd_entries(index_path: Path, dict_path: Path) -> Iterator[tuple[str, str]]:
    """(headword, entry text) of a dictd dictionary (.index + .dict or .dict.dz), one per
    distinct entry location, skipping the 00-database-* metadata entries."""
    data = dict_path.read_bytes()
    if dict_path.name.endswith(".dz"):
        data = gzip.decompress(data)
    seen: set[tuple[int, int]] = set()
    with open(index_path, encoding="utf-8", errors="replace") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3:
                continue
            word, off, ln = parts[0], _b64num(parts[1]), _b64num(parts[2])
            if word.startswith("00-database") or word.startswith("00database"):
                continue
            if (off, ln) in seen:
                continue
            seen.add((off, ln))
            text = data[off : off + ln].decode("utf-8", "replace")
            text = tidy(text)
            if text:
                yield word, text


def pod_to_text(pod: str) -> str:
    """Plain text of a Perl POD document (commands become headings, formatting codes dropped)."""
    out: list[str] = []
    in_pod = True
    for line in pod.split("\n"):
        if line.startswith("=cut"):
            in_pod = False
            continue
        if line.startswith("="):
            in_pod = True
            cmd, _, rest = line.partition(" ")
            if cmd in ("=head1", "=head2", "=head3", "=head4", "=item"):
                out.append("\n" + rest.strip() + "\n")
            continue
        if in_pod:
            out.append(line)
    text = "\n".join(out)
    for _ in range(3):  # nested formatting codes: B<I<x>> etc.
        text = re.sub(r"[BCEFILSXZ]<<+\s(.*?)\s>>+", r"\1", text)
        text = re.sub(r"[BCEFILSXZ]<([^<>]*)>", r"\1", text)
    return tidy(text)


def split_records(text: str, sep: str = "\n%\n") -> list[str]:
    """Split a fortune-style file into records (dropping empties)."""
    return [r.strip() for r in text.split(sep) if r.strip()]
