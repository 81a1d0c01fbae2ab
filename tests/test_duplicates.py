"""mark_duplicates (numpy index of 64-bit shingle hashes) decides as the set-based original did.

``_reference_mark`` is the implementation it replaced, kept here as the specification: sets
of ``hash(tuple_of_five_words)`` and dicts of postings. Both must name the same original
(or none) for every source, on piles built to hit the edge cases: CJK stories, stories of
fewer than five words, a story longer than one hashing stretch, boilerplate held by more than
``_MAX_POSTINGS`` originals, ties between equally close originals.
"""

from __future__ import annotations

import random
from array import array
from typing import Any

import numpy as np
import pytest

import briefer.ingest.duplicates as duplicates_module
from briefer.ingest.duplicates import mark_duplicates, shingle_codes
from briefer.models import Source, Span
from briefer.words import has_cjk, match_words


def _reference_shingles(source: Source) -> set[int]:
    pieces = [source.text[b.start : b.end] for b in source.blocks]
    split = match_words if any(map(has_cjk, pieces)) else duplicates_module._WORD.findall
    words = [w for piece in pieces for w in split(piece.lower())]
    if len(words) < 5:
        return {hash(tuple(words))}
    return {hash(tuple(words[i : i + 5])) for i in range(len(words) - 4)}


def _reference_mark(sources: list[Source]) -> list[str | None]:
    """The duplicate_of of each source, as the set-and-dict implementation decided it."""
    first: dict[int, int] = {}
    more: dict[int, array[int]] = {}
    sizes = np.zeros(len(sources), dtype=np.int64)
    marks: list[str | None] = []
    for pos, source in enumerate(sources):
        shingles = _reference_shingles(source)
        seen = {s for s in shingles if s in first}
        best = _reference_closest(seen, len(shingles), first, more, sizes[:pos])
        marks.append(sources[best].id if best is not None else None)
        if best is not None:
            continue
        sizes[pos] = len(shingles)
        for shingle in shingles - seen:
            first[shingle] = pos
        for shingle in seen:
            postings = more.setdefault(shingle, array("i"))
            if len(postings) < duplicates_module._MAX_POSTINGS:
                postings.append(pos)
    return marks


def _reference_closest(
    seen: set[int], size: int, first: dict[int, int], more: dict[int, array[int]], sizes: Any
) -> int | None:
    if not seen:
        return None
    shared = np.bincount([first[s] for s in seen], minlength=len(sizes))
    for s in seen:
        for owner in more.get(s, ()):
            shared[owner] += 1
    others = np.flatnonzero(shared)
    counts = shared[others]
    smaller = np.minimum(sizes[others], size)
    scores = counts / smaller
    close = (counts >= np.minimum(smaller, 5)) & (scores >= duplicates_module.DUPLICATE_THRESHOLD)
    if not close.any():
        return None
    return int(others[close & (scores == scores[close].max())][0])


def _source(number: int, paragraphs: list[str]) -> Source:
    text, blocks, start = "", [], 0
    for paragraph in paragraphs:
        blocks.append(Span(start=start, end=start + len(paragraph)))
        text += paragraph + "\n\n"
        start = len(text)
    return Source(id=f"S{number}", title="t", origin="o", text=text, blocks=blocks, sha256="0")


def _pile(rng: random.Random, n: int) -> list[Source]:
    """Sources mixing a small pool of paragraphs (so that many overlap), a few CJK, a few very
    short, some with a boilerplate line shared by most of the pile."""
    vocabulary = [f"w{k}" for k in range(40)] + ["Alpha", "beta", "Gamma", "x_y", "42", "é"]
    cjk = "会谈在伊斯坦布尔结束没有达成停火协议双方同意交换战俘"
    pool = [" ".join(rng.choices(vocabulary, k=rng.randint(3, 30))) + "." for _ in range(30)]
    pool += ["".join(rng.choices(cjk, k=rng.randint(2, 25))) + "。" for _ in range(8)]
    boilerplate = "Share this story on every network you use today."
    sources: list[Source] = []
    for number in range(1, n + 1):
        kind = rng.random()
        if kind < 0.1:  # fewer than five words, or none
            paragraphs = [" ".join(rng.choices(vocabulary, k=rng.randint(0, 4)))]
        elif kind < 0.3 and sources:  # a near copy of an earlier source
            earlier = rng.choice(sources)
            paragraphs = [earlier.text[b.start : b.end] for b in earlier.blocks]
            if len(paragraphs) > 1 and rng.random() < 0.5:
                del paragraphs[rng.randrange(len(paragraphs))]
            paragraphs.append(rng.choice(pool))
        else:
            paragraphs = rng.sample(pool, rng.randint(1, 6))
        if rng.random() < 0.6:
            paragraphs.append(boilerplate)
        sources.append(_source(number, paragraphs))
    return sources


@pytest.mark.parametrize("seed", range(12))
def test_marks_match_the_set_based_implementation(seed: int) -> None:
    sources = _pile(random.Random(seed), 120)
    expected = _reference_mark(sources)
    assert [s.duplicate_of for s in mark_duplicates(sources)] == expected
    assert any(expected) and not all(expected)  # the pile holds both copies and originals


def test_boilerplate_postings_are_capped_as_before() -> None:
    # 34 originals share a 24-word block besides a long story of their own. The block's
    # postings hold its first 33 originals (the first and _MAX_POSTINGS later ones), so a
    # copy of the 34th original's block and opening counts the 34th only for its opening:
    # the earliest original holding the block is closer.
    rng = random.Random(7)
    block = " ".join(f"b{k}" for k in range(24))
    originals = [
        _source(k + 1, [" ".join(f"t{k}x{rng.randrange(10**6)}" for _ in range(80)), block])
        for k in range(34)
    ]
    assert 1 + duplicates_module._MAX_POSTINGS == 33
    opening = originals[-1].text[: originals[-1].blocks[0].end].split()[-10:]
    copy = _source(35, [" ".join(opening), block])
    sources = [*originals, copy]
    marks = [s.duplicate_of for s in mark_duplicates(sources)]
    assert marks == _reference_mark(sources)
    assert marks == [None] * 34 + ["S1"]
    # Had the 34th original been indexed for the block too, the copy would be its duplicate.
    assert [s.duplicate_of for s in mark_duplicates([originals[-1], copy])] == [None, "S34"]


def test_short_and_empty_stories_match_only_the_same_words() -> None:
    sources = [
        _source(1, ["Ceasefire talks"]),
        _source(2, ["ceasefire, talks!"]),  # the same words, other case and punctuation
        _source(3, ["talks ceasefire"]),
        _source(4, ["..."]),
        _source(5, ["—"]),  # no words either: the same (empty) shingle as S4
    ]
    marks = [s.duplicate_of for s in mark_duplicates(sources)]
    assert marks == _reference_mark(sources) == [None, "S1", None, None, "S4"]


def test_a_story_longer_than_a_stretch_gives_the_shingles_of_its_whole_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = random.Random(3)
    paragraphs = [
        " ".join(f"v{rng.randrange(50)}" for _ in range(rng.randint(1, 9))) for _ in range(60)
    ]
    source = _source(1, paragraphs)
    whole = shingle_codes(source).tolist()
    for stretch in (1, 4, 5, 6, 13):
        monkeypatch.setattr(duplicates_module, "_SHINGLE_STRETCH", stretch)
        assert shingle_codes(source).tolist() == whole
    words = " ".join(paragraphs).split()
    assert len(whole) == len({tuple(words[i : i + 5]) for i in range(len(words) - 4)})


def test_cjk_characters_are_words_of_the_shingles() -> None:
    story = "会谈在伊斯坦布尔结束，没有达成停火协议。双方同意交换战俘。"
    sources = [
        _source(1, [story]),
        _source(2, ["记者报道：" + story]),
        _source(3, [story[::-1]]),
    ]
    marks = [s.duplicate_of for s in mark_duplicates(sources)]
    assert marks == _reference_mark(sources) == [None, "S1", None]
    words = match_words(story)
    assert len(shingle_codes(sources[0])) == len(
        {tuple(words[i : i + 5]) for i in range(len(words) - 4)}
    )


def test_shingles_differing_in_one_word_never_share_a_hash() -> None:
    # The fold is invertible in each word: change any one word, the hash changes.
    words = [f"w{k}" for k in range(5)]
    base = duplicates_module._hashed_shingles(np, words)[0]
    for k in range(5):
        for other in ("z", "w0", "w4", "", "w1w2"):
            changed = [*words[:k], other, *words[k + 1 :]]
            if changed != words:
                assert duplicates_module._hashed_shingles(np, changed)[0] != base


def test_blocks_joined_for_lower_casing_give_the_words_of_each_block_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # lower() looks at neighbouring letters for one rule (a final sigma): joining blocks by a
    # line break must not change how a block's edges are cased, nor join words across blocks.
    paragraphs = ["ΟΔΟΣ", "ΣΑΣ ΕΙΝΑΙ ΣΩΣΤΟΣ", "ΑΣ'", "'Σ ΝΈΟΣ.", "İstanbul ΣΣ", "word_", "_word"]
    source = _source(1, paragraphs)
    words = [w for p in paragraphs for w in duplicates_module._WORD.findall(p.lower())]
    assert "σας" in words and "οδος" in words  # the final sigma is cased as in each block alone
    expected = sorted(set(duplicates_module._hashed_shingles(np, words).tolist()))
    for stretch in (1, 10, 10**6):
        monkeypatch.setattr(duplicates_module, "_SHINGLE_STRETCH", stretch)
        assert shingle_codes(source).tolist() == expected
