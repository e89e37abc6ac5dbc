"""Input byte streams for JSONL: plain files, and gzip / zstd files decoded so that a truncated
or corrupt stream is a fault (StreamFault, with the compressed byte offset), never a silent
end of file, and every byte decodable before the fault is returned first."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from pathlib import Path

FEED_BYTES = 1 << 16  # compressed bytes decoded per step (a zstd/deflate step's output is bounded)
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
        """Decode the next piece into buf; False when nothing more will come."""
        if self.fault is not None or self.ended:
            return False
        try:
            data = self.raw.read(FEED_BYTES)
        except OSError as e:
            self.fault = StreamFault(
                "unreadable_file", self.pos, f"read error at byte {self.pos}: {e}"
            )
            return False
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
                    piece = f.read(min(left, 1 << 20))
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

    def readline(self) -> bytes:
        """The rest of the current line (with its newline); at a fault the incomplete line is
        kept in the StreamFault's `partial` and the fault is raised."""
        scan = 0
        while True:
            k = self.buf.find(b"\n", scan)
            if k >= 0:
                out = bytes(self.buf[: k + 1])
                del self.buf[: k + 1]
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


def line_blocks(stream, block_bytes: int) -> Iterator[bytes]:
    """Blocks of whole lines (the last may lack a final newline): a read of block_bytes plus
    the rest of its last line (one copy, no carried-over tail). At a StreamFault the whole
    lines before it are yielded first, and the fault's `partial` gets the cut last line."""
    while True:
        data = stream.read(block_bytes)
        if not data:
            return
        if not data.endswith(b"\n"):
            try:
                rest = stream.readline()
            except StreamFault as f:
                cut = data.rfind(b"\n") + 1
                f.partial = data[cut:] + f.partial
                if cut:
                    yield data[:cut]
                raise
            if rest:
                data += rest
        yield data
