"""Counts of an import: records read, written and skipped per kind, and damaged files (faults).

A bad *record* (malformed JSON, missing text, ...) is one line or row: under
`on_error="skip"` it is skipped and counted, and `read = written + skipped + duplicate texts`
always holds (a record repeating an earlier record's text is dropped and counted). A
*fault* is a damaged *file* (a truncated or corrupt compressed stream, an unreadable Parquet
or Arrow file): the records before it are kept, the rest of that file cannot be read, and
the import is marked partial (`macs corpus import` exits with EXIT_PARTIAL).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from macs.core.errors import MacsError

BAD_KINDS = (
    "malformed_json",
    "missing_text",
    "non_string_text",
    "empty_text",
    "invalid_utf8",
    "bad_id",
    "duplicate_id",
    "record_too_large",
    "too_deep",
    "missing_domain",
)
# damaged files: reading stops at the fault, the records before it are kept
FAULT_KINDS = ("truncated_file", "corrupt_file", "unreadable_file")


@dataclass
class ImportStats:
    """Counts of an import: read = written + sum(skipped) always holds for records."""

    on_error: str = "raise"
    files: int = 0
    empty_files: int = 0
    records_read: int = 0
    records_written: int = 0
    docs_written: int = 0
    chunked_records: int = 0
    ids_generated: int = 0  # records stored under a generated id (no id, or a blank one)
    blank_ids: int = 0  # of those, records whose id was an empty or whitespace-only string
    duplicate_texts: int = 0  # records dropped: the same text as an earlier record (kept)
    skipped: Counter = field(default_factory=Counter)
    faults: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def bad(self, kind: str, where: str, problem: str, n: int = 1) -> None:
        """Report `n` bad records of `kind` at `where` (file:line): raise or count."""
        problem = _one_line(problem)
        if self.on_error == "raise":
            raise MacsError(
                f"{where}: {problem} ({kind}); fix the input or rerun with --on-error skip "
                "to skip and count such records"
            )
        self.skipped[kind] += n
        ex = self.examples.setdefault(kind, [])
        if len(ex) < 3:
            ex.append(f"{where}: {problem}")

    def fault(self, kind: str, where: str, problem: str, kept: str = "") -> None:
        """Report a damaged file (`kind` in FAULT_KINDS) at `where`: raise, or count it and go on
        with the next file (the records before the fault are kept)."""
        problem = _one_line(problem)
        if self.on_error == "raise":
            keep = f" to keep {kept}" if kept else ""
            raise MacsError(
                f"{where}: {problem} ({kind}); replace the file with an intact copy, or rerun "
                f"with --on-error skip{keep} (the import is then marked partial)"
            )
        self.faults[kind] += 1
        self.examples.setdefault(kind, []).append(f"{where}: {problem}")

    def duplicate_text(self, where: str) -> None:
        """A record whose text equals an earlier one's: dropped (the first is kept) and counted."""
        self.duplicate_texts += 1
        ex = self.examples.setdefault("duplicate_text", [])
        if len(ex) < 3:
            ex.append(f"{where}: the same text as an earlier record (that one is kept)")

    def empty_file(self, path: str, what: str = "0 bytes, no records") -> None:
        """A zero-byte (or record-less, e.g. only blank lines) input file: raise or count."""
        if self.on_error == "raise":
            raise MacsError(
                f"{path}: the file is empty ({what}); remove it from the inputs "
                "or rerun with --on-error skip"
            )
        self.empty_files += 1
        self.examples.setdefault("empty_file", []).append(path)

    @property
    def partial(self) -> bool:
        """True when a damaged file was cut short: the store lacks that file's later records."""
        return bool(sum(self.faults.values()))

    def merge(self, other: ImportStats) -> None:
        """Add the counts of a later part of the input (examples kept in input order)."""
        self.empty_files += other.empty_files
        self.records_read += other.records_read
        self.records_written += other.records_written
        self.docs_written += other.docs_written
        self.chunked_records += other.chunked_records
        self.ids_generated += other.ids_generated
        self.blank_ids += other.blank_ids
        self.duplicate_texts += other.duplicate_texts
        self.skipped.update(other.skipped)
        self.faults.update(other.faults)
        for kind, ex in other.examples.items():
            mine = self.examples.setdefault(kind, [])
            keep_all = kind == "empty_file" or kind in FAULT_KINDS
            mine.extend(ex if keep_all else ex[: max(0, 3 - len(mine))])

    def reconciles(self) -> bool:
        """True when records_read == records_written + skipped records + duplicate texts."""
        skipped = sum(self.skipped.values())
        return self.records_read == self.records_written + skipped + self.duplicate_texts

    def as_dict(self) -> dict:
        """Plain-dict form for manifests."""
        return {
            "files": self.files,
            "empty_files": self.empty_files,
            "records_read": self.records_read,
            "records_written": self.records_written,
            "records_skipped": sum(self.skipped.values()),
            "docs_written": self.docs_written,
            "chunked_records": self.chunked_records,
            "ids_generated": self.ids_generated,
            "blank_ids": self.blank_ids,
            "duplicate_texts": self.duplicate_texts,
            "skipped": dict(sorted(self.skipped.items())),
            "faults": dict(sorted(self.faults.items())),
            "partial": self.partial,
            "examples": self.examples,
        }


def _one_line(text: str) -> str:
    """A library's multi-line message (pyarrow's, say) as one line."""
    return " ".join(x.strip() for x in text.splitlines() if x.strip())
