"""Tests for briefer.chunking: sentences, passages and chunks keep exact offsets."""

from __future__ import annotations

import hashlib
import itertools
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from briefer.chunking import chunk_source, make_chunks, make_passages, split_sentences
from briefer.models import Passage, Source, Span
from briefer.tokens import TokenCounter, count_tokens


def count_words(text: str) -> int:
    return len(text.split())


def make_source(paragraphs: list[str], source_id: str = "S1", separator: str = "\n\n") -> Source:
    """Build a Source whose blocks are exactly the given paragraphs."""
    text = "Page header\n" + separator.join(paragraphs) + "\nFooter"
    blocks: list[Span] = []
    cursor = 0
    for paragraph in paragraphs:
        start = text.index(paragraph, cursor)
        blocks.append(Span(start=start, end=start + len(paragraph)))
        cursor = start + len(paragraph)
    return Source(
        id=source_id,
        title="Second round of Russia-Ukraine peace talks",
        origin="test",
        text=text,
        blocks=blocks,
        sha256=hashlib.sha256(text.encode()).hexdigest(),
    )


def sentence_texts(text: str) -> list[str]:
    return [text[s.start : s.end] for s in split_sentences(text)]


# Paragraphs taken from the seed articles (BBC-based and CNN reports).
SEED_PARAGRAPHS = [
    "Ukrainian negotiators reported that Russia once again declined to agree to an "
    "“unconditional ceasefire,” a primary demand from Kyiv, supported by its Western allies. "
    "However, both nations did agree to return the remains of approximately 12,000 soldiers.",
    "The Russian delegation proposed a brief truce lasting two to three days in selected areas "
    "along the front lines, but did not provide further information.",
    "Monday’s talks, held in Istanbul, Turkey, lasted just over an hour. The only concrete "
    "outcome was a commitment to exchange all seriously wounded or ill prisoners of war, along "
    "with those under the age of 25.",
    "Zelensky criticized Russia for not sharing its memorandum ahead of time. “Despite this,” "
    "he said before the talks began, “we will attempt to achieve at least some progress on the "
    "path toward peace.” It is not yet clear if Ukraine’s daring Sunday air raid will "
    "streamline that path or make it more thorny.",
    "Vasul Malyuk, the head of the SBU, said the attack caused an estimated $7 billion in damage "
    "and had struck 34% of Russia’s strategic cruise missile carriers – a total of 41 aircraft. "
    "These targets were “completely legitimate,” Malyuk said, stressing that Russia had used the "
    "planes throughout the conflict to pummel Ukraine’s “peaceful cities.”",
    "Medinsky also said Russia would return the bodies of 6,000 Ukrainian soldiers in the "
    "coming week. In return, Zelensky stated that Ukraine would also hand over 6,000 Russian "
    "bodies, though he gave no specific timeframe.",
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "The U.S. has led a recent diplomatic push to stop the full-scale invasion, which "
            "began on Feb. 24, 2022. 'We are proposing … a ceasefire before a leaders' summit,' "
            "with the U.S. acting as a mediator, Zelensky told a media briefing in Kyiv.",
            [
                "The U.S. has led a recent diplomatic push to stop the full-scale invasion, "
                "which began on Feb. 24, 2022.",
                "'We are proposing … a ceasefire before a leaders' summit,' with the U.S. acting "
                "as a mediator, Zelensky told a media briefing in Kyiv.",
            ],
        ),
        (
            "The bill that Sen. Graham, R-S.C., plans to introduce in the Senate aims to ratchet "
            "up economic pressure on Russia. China and India are the two biggest markets for "
            "Russian energy exports.",
            [
                "The bill that Sen. Graham, R-S.C., plans to introduce in the Senate aims to "
                "ratchet up economic pressure on Russia.",
                "China and India are the two biggest markets for Russian energy exports.",
            ],
        ),
        (
            "Zelensky criticized Russia for not sharing its memorandum ahead of time. “Despite "
            "this,” he said before the talks began, “we will attempt to achieve at least some "
            "progress on the path toward peace.” It is not yet clear if the raid will help.",
            [
                "Zelensky criticized Russia for not sharing its memorandum ahead of time.",
                "“Despite this,” he said before the talks began, “we will attempt to achieve at "
                "least some progress on the path toward peace.”",
                "It is not yet clear if the raid will help.",
            ],
        ),
        (
            "'Despite this,' he said, 'we will attempt to achieve at least some progress on the "
            "path toward peace.' Zelensky criticized Russia.",
            [
                "'Despite this,' he said, 'we will attempt to achieve at least some progress on "
                "the path toward peace.'",
                "Zelensky criticized Russia.",
            ],
        ),
        (
            "The statement was read by J. R. R. Tolkien Jr. at the embassy. Sen. John Kennedy, "
            "R-L.a., one of the 82 co-sponsors of the bill, told Fox News Digital.",
            [
                "The statement was read by J. R. R. Tolkien Jr. at the embassy.",
                "Sen. John Kennedy, R-L.a., one of the 82 co-sponsors of the bill, told Fox News "
                "Digital.",
            ],
        ),
    ],
    ids=[
        "us-and-date",
        "senator-abbreviations",
        "curly-closing-quote",
        "straight-quote",
        "initials",
    ],
)
def test_split_sentences_keeps_abbreviations_initials_and_quotes(
    text: str, expected: list[str]
) -> None:
    assert sentence_texts(text) == expected


def test_split_sentences_returns_absolute_trimmed_spans_inside_the_range() -> None:
    text = "Navigation | Home\n   The talks began late. They lasted barely over an hour.  \nFooter."
    start = text.index("   The")
    end = text.index("\nFooter")

    spans = split_sentences(text, start, end)

    assert [text[s.start : s.end] for s in spans] == [
        "The talks began late.",
        "They lasted barely over an hour.",
    ]
    assert all(start <= s.start < s.end <= end for s in spans)


def test_split_sentences_of_blank_text_is_empty() -> None:
    assert split_sentences("  \n\t ") == []
    assert split_sentences("Some text.", 4, 4) == []


def test_split_sentences_loses_no_characters() -> None:
    text = "\n".join(SEED_PARAGRAPHS)
    spans = split_sentences(text)

    assert len(spans) > len(SEED_PARAGRAPHS)
    assert text[: spans[0].start].strip() == ""
    assert text[spans[-1].end :].strip() == ""
    for before, after in itertools.pairwise(spans):
        assert before.end <= after.start
        assert text[before.end : after.start].strip() == ""


def check_passages(
    source: Source, passages: list[Passage], max_tokens: int, counter: TokenCounter = count_words
) -> None:
    """Assert the invariants every list of passages must satisfy."""
    assert [p.id for p in passages] == [f"{source.id}.P{i}" for i in range(1, len(passages) + 1)]
    for passage in passages:
        assert passage.source_id == source.id
        assert source.text[passage.start : passage.end] == passage.text
        assert passage.n_tokens == counter(passage.text)
        assert passage.sentences
        assert passage.sentences[0].start == passage.start
        assert passage.sentences[-1].end == passage.end
        assert all(passage.start <= s.start < s.end <= passage.end for s in passage.sentences)
        # A passage never straddles two blocks.
        assert any(b.start <= passage.start and passage.end <= b.end for b in source.blocks)
        if len(passage.sentences) > 1:
            assert passage.n_tokens <= max_tokens


def test_make_passages_round_trips_offsets_and_respects_the_limit() -> None:
    source = make_source(SEED_PARAGRAPHS)

    passages = make_passages(source, count_words, max_tokens=40)

    check_passages(source, passages, 40)
    assert any(len(p.sentences) > 1 for p in passages)
    # Every sentence of every block appears in exactly one passage, in order.
    expected = [s for b in source.blocks for s in split_sentences(source.text, b.start, b.end)]
    assert [s for p in passages for s in p.sentences] == expected


def test_make_passages_never_joins_sentences_of_different_blocks() -> None:
    source = make_source(["Talks began late.", "They ended soon.", "No deal was made."])

    passages = make_passages(source, count_words, max_tokens=96)

    assert [p.text for p in passages] == [
        "Talks began late.",
        "They ended soon.",
        "No deal was made.",
    ]


def test_make_passages_keeps_a_long_sentence_whole() -> None:
    long_sentence = SEED_PARAGRAPHS[1]
    source = make_source([f"Talks ended. {long_sentence} Nothing else."])

    passages = make_passages(source, count_words, max_tokens=5)

    assert [p.text for p in passages] == ["Talks ended.", long_sentence, "Nothing else."]
    assert passages[1].n_tokens > 5


def test_make_passages_is_stable_and_limit_is_configurable() -> None:
    source = make_source(SEED_PARAGRAPHS)

    first = make_passages(source, count_words, max_tokens=60)
    again = make_passages(source, count_words, max_tokens=60)
    small = make_passages(source, count_words, max_tokens=1)

    assert first == again
    assert len(small) > len(first)
    assert all(len(p.sentences) == 1 for p in small)


def test_make_passages_counts_tokens_with_the_offline_tokenizer() -> None:
    source = make_source(SEED_PARAGRAPHS)

    passages = make_passages(source, count_tokens, max_tokens=50)

    for passage in passages:
        assert passage.n_tokens == count_tokens(passage.text)
        assert passage.n_tokens <= 50 or len(passage.sentences) == 1


def test_make_passages_rejects_a_nonpositive_limit() -> None:
    with pytest.raises(ValueError, match="max_tokens"):
        make_passages(make_source(SEED_PARAGRAPHS), count_words, max_tokens=0)


def test_make_chunks_respects_the_budget_and_keeps_passage_order() -> None:
    source = make_source(SEED_PARAGRAPHS)
    passages = make_passages(source, count_words, max_tokens=30)

    chunks = make_chunks(passages, count_words, max_tokens=70)

    assert len(chunks) > 1
    assert [c.id for c in chunks] == [f"S1.C{i}" for i in range(1, len(chunks) + 1)]
    assert [p for c in chunks for p in c.passages] == passages
    for chunk in chunks:
        assert chunk.n_tokens == count_words(chunk.text)
        assert chunk.n_tokens <= 70 or len(chunk.passages) == 1


def test_make_chunks_gives_an_oversized_passage_its_own_chunk() -> None:
    source = make_source(SEED_PARAGRAPHS)
    passages = make_passages(source, count_words, max_tokens=200)
    big = max(passages, key=lambda p: p.n_tokens)

    chunks = make_chunks(passages, count_words, max_tokens=big.n_tokens - 1)

    assert any(c.passages == [big] for c in chunks)


def test_make_chunks_never_mixes_sources() -> None:
    first = make_passages(make_source(SEED_PARAGRAPHS[:2], "S1"), count_words)
    second = make_passages(make_source(SEED_PARAGRAPHS[2:4], "S2"), count_words)

    chunks = make_chunks(first + second, count_words, max_tokens=10_000)

    assert [(c.id, c.passages) for c in chunks] == [("S1.C1", first), ("S2.C1", second)]


def test_chunk_source_uses_both_limits() -> None:
    source = make_source(SEED_PARAGRAPHS)

    passages, chunks = chunk_source(source, count_words, passage_tokens=25, chunk_tokens=60)

    check_passages(source, passages, 25)
    assert passages == make_passages(source, count_words, 25)
    assert chunks == make_chunks(passages, count_words, 60)


SEED_SENTENCES = [
    s for paragraph in SEED_PARAGRAPHS for s in sentence_texts(paragraph) if s.endswith(".")
]


@settings(max_examples=60, deadline=None)
@given(
    blocks=st.lists(
        st.lists(st.sampled_from(SEED_SENTENCES), min_size=1, max_size=6),
        min_size=1,
        max_size=5,
    ),
    gap=st.sampled_from([" ", "  ", "\n", " \n "]),
    counter=st.sampled_from([count_words, len]),
    max_tokens=st.integers(min_value=1, max_value=600),
)
def test_passage_invariants_hold_for_any_layout(
    blocks: list[list[str]], gap: str, counter: TokenCounter, max_tokens: int
) -> None:
    paragraphs = [gap.join(sentences) for sentences in blocks]
    source = make_source(paragraphs, separator="\n")

    passages = make_passages(source, counter, max_tokens)

    check_passages(source, passages, max_tokens, counter)
    found = [source.text[s.start : s.end] for p in passages for s in p.sentences]
    assert found == [s for sentences in blocks for s in sentences]


def test_seed_style_blocks_split_on_single_newlines() -> None:
    # Blocks as cleaning produces them: one per non-empty line.
    text = "logo\nCNN —\n" + "\n".join(SEED_PARAGRAPHS[:3])
    blocks = [Span(start=m.start(), end=m.end()) for m in re.finditer(r"[^\n]+", text)][2:]
    source = Source(id="S7", title="t", origin="o", text=text, blocks=blocks, sha256="0" * 64)

    passages = make_passages(source, count_words, max_tokens=96)

    assert [p.id for p in passages] == ["S7.P1", "S7.P2", "S7.P3"]
    assert [p.text for p in passages] == SEED_PARAGRAPHS[:3]


def test_make_passages_counts_the_gaps_between_sentences() -> None:
    # With a character counter the two sentences and one space add up to 29, but the text
    # covering them, with its wide gap, is 34 characters long: it must not fit a limit of 30.
    source = make_source(["Talks began late.      They ended."])

    assert [p.text for p in make_passages(source, len, max_tokens=30)] == [
        "Talks began late.",
        "They ended.",
    ]
    assert [p.text for p in make_passages(source, len, max_tokens=34)] == [
        "Talks began late.      They ended."
    ]


def test_the_quickly_loaded_encoding_is_tiktoken_offlines_cl100k() -> None:
    import tiktoken

    from briefer.tokens import OFFLINE_ENCODING, _encoding, _load_offline_encoding, count_tokens

    ours = _load_offline_encoding()
    theirs = tiktoken.get_encoding(OFFLINE_ENCODING)
    assert ours.name == theirs.name  # type: ignore[attr-defined]
    assert ours._pat_str == theirs._pat_str  # type: ignore[attr-defined]
    assert ours._special_tokens == theirs._special_tokens  # type: ignore[attr-defined]
    assert ours._mergeable_ranks == theirs._mergeable_ranks  # type: ignore[attr-defined]
    assert isinstance(_encoding(), tiktoken.Encoding)
    text = "Zelensky's 30-day ceasefire: “no”, 1,200 POWs — <|endoftext|> 東京\n\n  end."
    assert count_tokens(text) == len(theirs.encode(text, disallowed_special=()))


def test_trusted_models_share_their_field_sets_but_copies_do_not() -> None:
    text = "The talks began late. They lasted barely over an hour."
    first, second = split_sentences(text)
    assert first.model_fields_set == {"start", "end"}
    assert first.__pydantic_fields_set__ is second.__pydantic_fields_set__  # one set, shared
    moved = first.model_copy(update={"end": 3})
    assert moved.end == 3
    assert second.model_fields_set == {"start", "end"}
    assert moved.__pydantic_fields_set__ is not first.__pydantic_fields_set__


def _tiktoken_count() -> TokenCounter:
    from briefer.tokens import _load_offline_encoding

    encoding = _load_offline_encoding()
    return lambda text: len(encoding.encode(text, disallowed_special=()))  # type: ignore[attr-defined]


def test_a_chunks_count_from_its_passages_is_the_count_of_its_text() -> None:
    # A chunk's count is its passages' counts plus what each "\n\n" seam adds; checked against
    # tiktoken on the joined text, for trimmed texts ending and starting in every class of
    # character the pattern tells apart, and on the example articles' passages.
    from pathlib import Path

    from briefer.chunking import _CHUNK_SEPARATOR, _separator_tokens

    exact = _tiktoken_count()
    ends = [
        "said",
        "1,200",
        "’",
        '."',
        " .",
        "  —",
        "...",
        "'",
        "'s",
        "x'",
        "(a)",
        "é",
        "ſ",
        "\x1c",
        "“no”",
        "5%",
        "ж.",
        "Ω)",
        "a\u2003—",
        "b\n)",
        "½",
        "²",
        "ǅ",
        "<|endoftext|>",
        ".\u0308",
        "#_",
        "\u00a0.",
        "。",
        "漢字",
        "x\u200b",
        "!?!",
    ]
    starts = [
        "The",
        "“The",
        '"It',
        "'s",
        "'S good",
        "1990",
        "— and",
        "(AP)",
        " x"[1:],
        "é",
        "。",
        "\x1cz",
        "’tis",
        "$5",
        "...",
        "ʰa",
    ]
    texts = [f"{head}{body}" for head in ("", "Word ", "1 ") for body in ends]
    articles = Path(__file__).parents[1] / "examples"
    for path in sorted(articles.rglob("articles/*.*"))[:6]:
        text = path.read_text(encoding="utf-8")
        texts += [p.strip() for p in text.split("\n\n") if p.strip()]
    fallbacks = 0
    for left in texts:
        added = _separator_tokens(left, exact)
        if added is None:
            fallbacks += 1
            continue
        for right in [*starts, *texts[::7]]:
            joined = exact(left + _CHUNK_SEPARATOR + right)
            assert exact(left) + added + exact(right) == joined, (left[-20:], right[:20])
    assert fallbacks < len(texts) // 4  # the fast path is the usual one


def test_a_seam_next_to_an_unchecked_or_space_character_is_counted_whole() -> None:
    from briefer.chunking import _separator_tokens

    assert _separator_tokens("漢字。", count_tokens) is None
    assert _separator_tokens("ends with a space ", count_tokens) is None
    assert _separator_tokens("plain end", count_tokens) == count_tokens("\n\n")


def test_a_passages_count_from_its_sentences_is_the_count_of_its_text() -> None:
    # A passage's count is its sentences' counts plus what each gap adds (the gap joins the
    # next sentence's first piece); checked against tiktoken on the covering text for every
    # passage of the example articles under several limits, and on sentence pairs whose ends
    # and starts are of every class cl100k's pattern tells apart.
    from pathlib import Path

    from briefer.chunking import _gap_tokens
    from briefer.ingest.sources import read_sources

    exact = _tiktoken_count()
    examples = Path(__file__).parents[1] / "examples"
    sources = read_sources([str(p) for p in sorted(examples.glob("*/articles"))])
    assert sources
    joined = 0
    for source in sources:
        for limit in (12, 40, 96):
            for passage in make_passages(source, exact, limit):
                assert passage.n_tokens == exact(passage.text), passage.id
                joined += len(passage.sentences) > 1
    assert joined > 20

    ends = [
        "said",
        "1,200",
        '."',
        " .",
        "...",
        "'",
        "'s",
        "(a)",
        "é",
        "\x1c",
        "“no”",
        "5%",
        "ж.",
        "a\u2003—",
        "½",
        "ǅ",
        ".\u0308",
        "。",
        "x\u200b",
        "!?!",
    ]
    starts = [
        "The",
        "“The",
        '"It',
        "'s",
        "'S good",
        "’tis",
        "(AP) The",
        "— and",
        "1990 was",
        "e\u0301t\u0301e",
        "ʰa",
        "Ωmega",
        "漢字",
        "$5 is",
        "O'Neil",
        "A",
        "I'm",
        "2,000",
    ]
    gaps = [" ", "  ", "\n", " \n", "\t", "\u00a0", "\u2003 ", "\r\n", "\n\n "]
    fast = 0
    for end in ends:
        for gap in gaps:
            for start in starts:
                left, right = f"Word {end}", start
                text = left + gap + right
                spans = ((0, len(left)), (len(text) - len(right), len(text)))
                added = _gap_tokens(text, *spans, exact)
                if added is not None:
                    fast += 1
                    assert exact(left) + added + exact(right) == exact(text), repr(text)
    assert fast > len(ends) * len(gaps) * len(starts) // 2
