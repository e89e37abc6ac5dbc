"""Paragraph-boundary chunking."""

from hypothesis import given, settings
from hypothesis import strategies as st

from macs.corpus.chunk import chunk_text


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
