"""Input byte streams for JSONL: plain files, and gzip / zstd files decoded so that a truncated
or corrupt stream is a fault (StreamFault, with the compressed byte offset), never a silent
end of file, and every byte decodable before the fault is returned first."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from pathlib import Path

FEED_BYTES = 1 << 16  # compressed bytes read from the file at a time
# compressed bytes decoded per step: a step's output is at most this times the codec's worst
# expansion (deflate about 1,032x; zstd about 32,000x: 64 MB of newlines fit in 2 KB), so one
# step of a decompression bomb adds at most about 16 MB to the buffer
STEP_BYTES = {"gzip": 1 << 14, "zstd": 1 << 9}
_GZIP_MAGIC = b"\x1f\x8b"


class StreamFault(Exception):
    """A damaged input stream: `kind` (truncated_file | corrupt_file | unreadable_file), the
    byte `offset` in the file where it broke, and what went wrong. `partial` holds the bytes of
    an incomplete last line cut off by the fault (set by line readers)."""

    def __init__(self, kind: str, offset: int, problem: str):
        super().__init__(problem)
        self.kind = kind
        self.offset = offset
        self.problem = problem
        self.partial = b""


def codec_of(path: Path) -> str | None:
    """'gzip', 'zstd' or None (plain) from the file name."""
    name = path.name.lower()
    if name.endswith(".gz"):
        return "gzip"
    if name.endswith((".zst", ".zstd")):
        return "zstd"
    return None


class DecodedStream:
    """read(n) / readline() over a gzip (members may be concatenated, zero padding allowed) or
    zstd (frames may be concatenated) file. A stream that ends inside a member/frame or holds
    bad data raises StreamFault once every byte decodable before the fault has been read."""

    def __init__(self, raw, codec: str):
        self.raw = raw
        self.codec = codec
        self.buf = bytearray()
        self.pos = 0  # compressed bytes consumed
        self.dec = None  # the decompressor of the current member/frame
        self.member_start = 0  # file offset where the current member/frame begins
        self.fault: StreamFault | None = None
        self.ended = False
        self.step = STEP_BYTES[codec]
        self.pending = b""  # compressed bytes read but not decoded yet
        self.pending_at = 0

    # --- decoding --------------------------------------------------------------------------

    def _new(self):
        if self.codec == "gzip":
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        import zstandard

        return zstandard.ZstdDecompressor().decompressobj()

    def _errors(self) -> tuple:
        if self.codec == "gzip":
            return (zlib.error,)
        import zstandard

        return (zstandard.ZstdError,)

    def _fill(self) -> bool:
        """Decode the next step (at most self.step compressed bytes, so a bounded output) into
        buf; False when nothing more will come."""
        if self.fault is not None or self.ended:
            return False
        if self.pending_at >= len(self.pending):
            try:
                self.pending, self.pending_at = self.raw.read(FEED_BYTES), 0
            except OSError as e:
                self.fault = StreamFault(
                    "unreadable_file", self.pos, f"read error at byte {self.pos}: {e}"
                )
                return False
        data = self.pending[self.pending_at : self.pending_at + self.step]
        self.pending_at += len(data)
        if not data:
            self.ended = True
            if self.dec is not None:
                what = "gzip member" if self.codec == "gzip" else "zstd frame"
                self.fault = StreamFault(
                    "truncated_file",
                    self.pos,
                    f"the {self.codec} stream ends at byte {self.pos} inside a {what} that "
                    f"began at byte {self.member_start}: the file is truncated",
                )
            return False
        start = self.pos
        self.pos += len(data)
        try:
            self._feed(data, start)
        except self._errors() as e:
            out, off = self._salvage(data, start)
            self.buf += out
            self.fault = StreamFault("corrupt_file", off, self._corrupt_message(off, e))
        return True

    def _feed(self, data: bytes, start: int) -> None:
        """Decode one piece, starting new members/frames where the previous one ends."""
        off = start
        while data:
            if self.dec is None:
                if self.codec == "gzip":  # zero padding after a member is allowed (as gzip does)
                    stripped = data.lstrip(b"\x00")
                    off += len(data) - len(stripped)
                    data = stripped
                    if not data:
                        return
                self.dec = self._new()
                self.member_start = off
            out = self.dec.decompress(data)
            self.buf += out
            if not self.dec.eof:
                return
            rest = self.dec.unused_data
            off += len(data) - len(rest)
            data = rest
            self.dec = None

    def _salvage(self, data: bytes, start: int) -> tuple[bytes, int]:
        """Redo the failing member from its start, the failing piece one byte at a time: the
        output decodable before the bad byte, and that byte's offset in the file."""
        dec = self._new()
        errors = self._errors()
        begin = self.member_start
        if begin < start:  # the member began in an earlier piece: replay that part silently
            with open(self.raw.name, "rb") as f:
                f.seek(begin)
                left = start - begin
                while left > 0:
                    piece = f.read(min(left, self.step))  # bounded output per step
                    if not piece:
                        break
                    dec.decompress(piece)
                    left -= len(piece)
        out = bytearray()
        for i in range(max(begin, start) - start, len(data)):
            byte = data[i : i + 1]
            if dec is None:  # a member ended: the next one starts here (gzip: after zeros)
                if self.codec == "gzip" and byte == b"\x00":
                    continue
                dec = self._new()
            try:
                out += dec.decompress(byte)
            except errors:
                return bytes(out), start + i
            if dec.eof:
                dec = None
        return bytes(out), start + len(data)

    def _corrupt_message(self, off: int, e: Exception) -> str:
        if off == 0 or (self.codec == "gzip" and off < 2):
            sig = "1f 8b" if self.codec == "gzip" else "28 b5 2f fd"
            return (
                f"not a {self.codec} file (it does not start with the {self.codec} signature {sig})"
            )
        what = f"corrupt {self.codec} data at byte {off}"
        if self.codec == "gzip" and "check" in str(e):
            what += " (the checksum does not match: the data before it may be damaged too)"
        return f"{what}: {e}"

    # --- file-like reading -----------------------------------------------------------------

    def read(self, n: int) -> bytes:
        """Up to n decoded bytes; b'' at a clean end; StreamFault once the good bytes are read."""
        while len(self.buf) < n and self._fill():
            pass
        if not self.buf and self.fault is not None:
            raise self.fault
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def readline(self, limit: int = -1) -> bytes:
        """The rest of the current line (with its newline), or its first `limit` bytes when
        limit >= 0 and the line is longer (as io's readline(size)); at a fault the incomplete
        line is kept in the StreamFault's `partial` and the fault is raised."""
        scan = 0
        while True:
            k = self.buf.find(b"\n", scan)
            if k >= 0 and (limit < 0 or k < limit):
                out = bytes(self.buf[: k + 1])
                del self.buf[: k + 1]
                return out
            if 0 <= limit <= len(self.buf):
                out = bytes(self.buf[:limit])
                del self.buf[:limit]
                return out
            scan = len(self.buf)
            if not self._fill():
                break
        out = bytes(self.buf)
        self.buf.clear()
        if self.fault is not None:
            self.fault.partial = out
            raise self.fault
        return out

    def close(self) -> None:
        self.buf.clear()


def open_binary(path: Path):
    """(decoded binary stream, raw file) for plain, gzip or zstd files."""
    raw = open(path, "rb")  # noqa: SIM115 - closed by the caller
    codec = codec_of(path)
    if codec is None:
        return raw, raw
    return DecodedStream(raw, codec), raw


class LongLine:
    """A line longer than the line limit, read past (never held whole): `n_bytes` long."""

    def __init__(self, n_bytes: int):
        self.n_bytes = n_bytes


def _skip_line(stream, piece: int = 1 << 20) -> tuple[int, int]:
    """Read past the rest of the current line in bounded pieces: (bytes skipped, 1 if they
    end with the line's newline else 0)."""
    n = 0
    while True:
        data = stream.readline(piece)
        n += len(data)
        if not data:
            return n, 0
        if data.endswith(b"\n"):
            return n, 1


def _split_long(data: bytes, max_line: int) -> Iterator[bytes | LongLine]:
    """`data` (whole lines), with each line longer than max_line bytes (newline excluded)
    replaced by a LongLine. Such a line contains a whole aligned window of max_line // 2
    bytes without a newline, so only those windows are looked at (no per-line work)."""
    n = len(data)
    if not max_line or n <= max_line:
        yield data
        return
    h = max(1, max_line // 2)
    longs: list[tuple[int, int]] = []
    k = 0
    while k * h < n:
        a, b = k * h, min(n, (k + 1) * h)
        if data.find(b"\n", a, b) != -1:
            k += 1
            continue
        start = data.rfind(b"\n", 0, a) + 1
        end = data.find(b"\n", b)
        end = n if end == -1 else end
        if end - start > max_line:
            longs.append((start, end))
        k = max(k + 1, end // h)
    prev = 0
    for start, end in longs:
        if start > prev:
            yield data[prev:start]
        yield LongLine(end - start)
        prev = min(end + 1, n)
    if prev < n:
        yield data[prev:]


def line_blocks(stream, block_bytes: int, max_line: int = 0) -> Iterator[bytes | LongLine]:
    """Blocks of whole lines (the last may lack a final newline): a read of block_bytes plus
    the rest of its last line (one copy, no carried-over tail). At a StreamFault the whole
    lines before it are yielded first, and the fault's `partial` gets the cut last line.
    With max_line > 0 a line longer than max_line bytes is yielded as a LongLine instead and
    read past in bounded pieces: memory stays within block_bytes + max_line."""
    while True:
        data = stream.read(block_bytes)
        if not data:
            return
        if not data.endswith(b"\n"):
            cut = data.rfind(b"\n") + 1
            tail = len(data) - cut
            try:
                if max_line and tail > max_line:
                    rest, long_line = b"", True
                else:
                    limit = max_line - tail + 1 if max_line else -1
                    rest = stream.readline(limit)
                    long_line = bool(max_line) and len(rest) == limit and rest[-1:] != b"\n"
                if long_line:
                    skipped, newline = _skip_line(stream)
                    n = tail + len(rest) + skipped - newline
            except StreamFault as f:
                f.partial = data[cut:] + f.partial
                if cut:
                    yield from _split_long(data[:cut], max_line)
                raise
            if long_line:
                if cut:
                    yield from _split_long(data[:cut], max_line)
                yield LongLine(n)
                continue
            if rest:
                data += rest
        yield from _split_long(data, max_line)
