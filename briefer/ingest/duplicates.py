"""Near-duplicates: later copies of an earlier report, by 5-word shingle containment."""

from __future__ import annotations

import re
from array import array
from typing import Any

from briefer.models import Source
from briefer.words import has_cjk, match_words

DUPLICATE_THRESHOLD = 0.5
_SHINGLE_WORDS = 5
_MIN_SHARED_SHINGLES = 5
_SHINGLE_STRETCH = 50_000  # words hashed at a time
_MAX_POSTINGS = 32  # a shingle shared by more originals is boilerplate, not evidence
_WORD = re.compile(r"\w+")


def _shingles(source: Source) -> set[int]:
    """Return the hashes of the story's 5-word shingles (its kept blocks read as one text)."""
    # Hashes, not tuples: the index holds a million of them for a thousand articles. Words
    # are taken a stretch of blocks at a time, so a 50 MB story never has all its words
    # (and five shifted copies of them) in memory at once.
    pieces = [source.text[b.start : b.end] for b in source.blocks]
    # CJK writes no spaces: its characters stand for words there.
    split = match_words if any(map(has_cjk, pieces)) else _WORD.findall
    shingles: set[int] = set()
    words: list[str] = []  # the last few words of the previous stretch, then this stretch
    overlap = _SHINGLE_WORDS - 1
    for piece in pieces:
        words += split(piece.lower())
        if len(words) >= _SHINGLE_STRETCH:
            shingles.update(_hashed_shingles(words))
            words = words[-overlap:]
    if len(words) > overlap or not shingles:
        shingles.update(_hashed_shingles(words) if len(words) > overlap else {hash(tuple(words))})
    return shingles


def _hashed_shingles(words: list[str]) -> map[int]:
    return map(hash, zip(*(words[k:] for k in range(_SHINGLE_WORDS)), strict=False))


def mark_duplicates(sources: list[Source]) -> list[Source]:
    """Return ``sources`` with ``duplicate_of`` set on later copies of an earlier report."""
    # Only originals are indexed: a copy of a copy still matches the original, and many
    # copies of one report do not make the postings grow. Postings are arrays of int32 and
    # are counted with numpy (imported here: only reading many sources needs it), so the
    # per-shingle work stays in C: 10,000 articles sharing many sentences take seconds.
    import numpy as np

    first: dict[int, int] = {}  # shingle -> first original holding it
    more: dict[int, array[int]] = {}  # shingle -> later originals holding it
    sizes = np.zeros(len(sources), dtype=np.int64)
    marked: list[Source] = []
    last = len(sources) - 1
    for pos, source in enumerate(sources):
        shingles = _shingles(source)
        if pos == last:  # compared, never indexed: no copy of its (maybe huge) shingle set
            unseen, seen = set(), set(filter(first.__contains__, shingles))
        else:
            unseen = shingles.difference(first)
            seen = shingles - unseen
        best = _closest_original(np, seen, len(shingles), first, more, sizes[:pos])
        if best is not None:
            marked.append(source.model_copy(update={"duplicate_of": sources[best].id}))
            continue
        if pos == last:
            marked.append(source)
            break
        sizes[pos] = len(shingles)
        first.update(dict.fromkeys(unseen, pos))
        for shingle in seen:
            postings = more.get(shingle)
            if postings is None:
                more[shingle] = array("i", (pos,))
            elif len(postings) < _MAX_POSTINGS:
                postings.append(pos)
        marked.append(source)
    return marked


def _closest_original(
    np: Any,
    seen: set[int],
    size: int,
    first: dict[int, int],
    more: dict[int, array[int]],
    sizes: Any,
) -> int | None:
    """Return the earlier original closest to a source with ``size`` shingles, ``seen`` of
    them already indexed, if it holds at least ``DUPLICATE_THRESHOLD`` of the smaller set."""
    if not seen:
        return None
    owners = np.fromiter(map(first.__getitem__, seen), dtype=np.int32, count=len(seen))
    later = np.frombuffer(b"".join(filter(None, map(more.get, seen))), dtype=np.int32)
    shared = np.bincount(owners, minlength=len(sizes))
    if len(later):
        shared += np.bincount(later, minlength=len(sizes))
    others = np.flatnonzero(shared)
    counts = shared[others]
    smaller = np.minimum(sizes[others], size)
    scores = counts / smaller
    close = (counts >= np.minimum(smaller, _MIN_SHARED_SHINGLES)) & (scores >= DUPLICATE_THRESHOLD)
    if not close.any():
        return None
    # Of equally close originals the earliest wins, whatever order the shingles came in.
    best_score = scores[close].max()
    return int(others[close & (scores == best_score)][0])
