"""Paragraph-boundary chunking."""

from hypothesis import given, settings
from hypothesis import strategies as st

from macs.data.corpus.chunk import chunk_text


def test_cuts_at_paragraphs():
    paras = [f"Paragraph {i} " + "word " * 30 for i in range(10)]
    text = "\n\n".join(p.strip() for p in paras)
    chunks = chunk_text(text, 400)
    assert len(chunks) > 1
    assert all(len(c.encode()) <= 400 for c in chunks)
    assert all(c.startswith("Paragraph") for c in chunks)  # every cut is at a paragraph start
    assert "\n\n".join(chunks) == text


def test_short_text_untouched_and_zero_means_never():
    assert chunk_text("short\n\ntext", 100) == ["short\n\ntext"]
    assert chunk_text("x" * 1000, 0) == ["x" * 1000]


def test_long_paragraph_falls_back_to_lines_words_chars():
    one_line = "é" * 300  # 600 bytes, no spaces
    chunks = chunk_text(one_line, 100)
    assert all(len(c.encode()) <= 100 for c in chunks) and "".join(chunks) == one_line


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab é\n\t漢"), max_size=600), st.integers(8, 200))
def test_chunks_bounded_and_lossless_up_to_whitespace(text, limit):
    chunks = chunk_text(text, limit)
    if len(text.encode()) > limit:
        assert all(0 < len(c.encode()) <= limit for c in chunks)
    assert "".join("".join(chunks).split()) == "".join(text.split())


def _greedy_reference(text: str, max_bytes: int) -> list[str]:
    """The plain greedy loop over the same pieces (what the binary-search packing must equal)."""
    from macs.data.corpus.chunk import _nbytes, _pieces

    nb = _nbytes(text)
    if max_bytes <= 0 or nb <= max_bytes:
        return [text]
    chunks, cur, cur_b = [], [], 0
    for p, b in zip(*_pieces(text, nb, max_bytes, 0), strict=True):
        if cur and cur_b + b > max_bytes:
            chunks.append("".join(cur))
            cur, cur_b = [], 0
        cur.append(p)
        cur_b += b
    if cur:
        chunks.append("".join(cur))
    return [c for c in (c.strip() for c in chunks) if c]


@settings(max_examples=80, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab é\n\t漢\u00a0"), max_size=500), st.integers(1, 120))
def test_packing_equals_the_greedy_loop(text, limit):
    assert chunk_text(text, limit) == _greedy_reference(text, limit)


def test_packing_on_real_text(mini_corpus_path):
    import json

    texts = [json.loads(x)["text"] for x in mini_corpus_path.read_text("utf-8").splitlines()]
    for t in texts[::5]:
        for limit in (3, 200, 2000):
            assert chunk_text(t, limit) == _greedy_reference(t, limit)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab é\n\t漢\u00a0"), max_size=500), st.integers(1, 120))
def test_streaming_packer_equals_the_list_packer(text, limit):
    """Long texts go through _chunks_lazy (no list of pieces): it must cut exactly as the
    list-based packer does, at every level (paragraphs, lines, words, characters)."""
    from macs.data.corpus.chunk import _chunks_lazy, _nbytes

    nb = _nbytes(text)
    if nb > limit:
        assert _chunks_lazy(text, nb, limit) == _greedy_reference(text, limit)


def test_streaming_packer_on_real_text(mini_corpus_path):
    import json

    from macs.data.corpus.chunk import _chunks_lazy, _nbytes

    texts = [json.loads(x)["text"] for x in mini_corpus_path.read_text("utf-8").splitlines()]
    for t in texts[::7]:
        for limit in (3, 200, 2000):
            if _nbytes(t) > limit:
                assert _chunks_lazy(t, _nbytes(t), limit) == _greedy_reference(t, limit)


def test_one_long_line_of_words_is_cut_in_bounded_memory():
    """A 6 MB line of short words (no paragraph or line break): the old packer built one
    Python string per word (193 MB of peak growth here); the streaming one stays within
    a few copies of the text (12 MB measured)."""
    import subprocess
    import sys

    code = (  # VmHWM: ru_maxrss would carry the pytest process's peak over exec
        "from macs.data.corpus.chunk import chunk_text\n"
        "def hwm():\n"
        "    return int([x for x in open('/proc/self/status') if x.startswith('VmHWM')][0].split()[1])\n"
        "text = 'ab cd ' * (1 << 20)\n"
        "r0 = hwm()\n"
        "chunks = chunk_text(text, 8192)\n"
        "r1 = hwm()\n"
        "assert all(len(c) <= 8192 for c in chunks) and ''.join(chunks).count('ab') == 1 << 20\n"
        "print((r1 - r0) * 1024 / len(text))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert float(out.stdout) < 3.0, out.stdout  # peak growth in copies of the text
