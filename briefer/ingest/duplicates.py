"""Near-duplicates: later copies of an earlier report, by 5-word shingle containment.

A source is a copy of an earlier original when at least ``DUPLICATE_THRESHOLD`` of the
smaller of their two shingle sets is shared (and at least ``_MIN_SHARED_SHINGLES`` of it, or
the whole smaller set). Copies are never indexed: a copy of a copy still matches the original.

The work is done in numpy, a few array operations per source, not per shingle: each story's
shingles are 64-bit hashes (``shingle_codes``); the hashes of the whole pile are numbered
once (``np.unique``), and the index of originals is a set of arrays addressed by those
numbers (the first original holding each shingle, and up to ``_MAX_POSTINGS`` later ones).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from briefer.models import Source
from briefer.words import has_cjk, match_words

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

DUPLICATE_THRESHOLD = 0.5
_SHINGLE_WORDS = 5
_MIN_SHARED_SHINGLES = 5
_SHINGLE_STRETCH = 300_000  # characters of blocks read at a time (at least one block)
_MAX_POSTINGS = 32  # a shingle shared by more originals is boilerplate, not evidence
_WORD = re.compile(r"\w+")
# The odd multiplier of the polynomial that folds a shingle's five word hashes into one
# (the 64-bit golden ratio, made 3 mod 4 so that P - 1 holds a single factor 2).
_MULTIPLIER = 0x9E3779B97F4A7C17
_MASK = (1 << 64) - 1
_NO_OWNER = -1


def shingle_codes(source: Source) -> NDArray[np.uint64]:
    """Return the sorted distinct hashes of the story's 5-word shingles (its kept blocks read
    as one text); a story of fewer than five words has one: the hash of its words.

    Two shingles get the same hash when their five words are equal, and different hashes
    otherwise, but for 64-bit collisions: each word is hashed by Python's ``hash`` (SipHash,
    as a tuple's hash was before), and the five word hashes are folded by a polynomial
    modulo 2**64 with an odd multiplier. Two shingles that differ in a single word always
    get different hashes (the multiplier is invertible); any other pair collides with a
    chance near 2**-63, the same kind of risk ``hash(tuple_of_words)`` carries.
    """
    import numpy as np

    # The story is read a stretch of blocks at a time, so a 50 MB story never has all its
    # words (as Python strings) in memory at once. A stretch's blocks are joined by a line
    # break: no word runs across it, and lower() cases each block as it would alone (its one
    # rule that looks at neighbouring letters, for a final sigma, stops at a line break).
    texts: list[str] = []
    stretch: list[str] = []
    length = 0
    for end, block in enumerate(source.blocks, 1):
        stretch.append(source.text[block.start : block.end])
        length += block.end - block.start
        if length >= _SHINGLE_STRETCH or end == len(source.blocks):
            texts.append("\n".join(stretch))
            stretch, length = [], 0
    # CJK writes no spaces: its characters stand for words there.
    split = match_words if any(map(has_cjk, texts)) else _WORD.findall
    stretches: list[NDArray[np.uint64]] = []
    words: list[str] = []  # the last few words of the previous stretch, then this stretch
    overlap = _SHINGLE_WORDS - 1
    for text in texts:
        words += split(text.lower())
        if len(words) > overlap:
            stretches.append(_hashed_shingles(np, words))
            words = words[-overlap:]
    if not stretches:
        # Fewer than five words in all: the words themselves are the one shingle.
        return np.array([hash(tuple(words)) & _MASK], dtype=np.uint64)
    return _distinct(np, np.concatenate(stretches) if len(stretches) > 1 else stretches[0])


def _distinct(np: Any, values: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """Return the distinct ``values``, sorted (``np.unique`` without its per-call overhead)."""
    ordered = np.sort(values)
    return ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))]  # type: ignore[no-any-return]


def _hashed_shingles(np: Any, words: list[str]) -> NDArray[np.uint64]:
    """Return the hash of each run of five consecutive ``words`` (at least five)."""
    codes = np.fromiter(map(hash, words), dtype=np.int64, count=len(words)).view(np.uint64)
    count = len(words) - _SHINGLE_WORDS + 1
    folded = codes[:count].copy()
    multiplier = np.uint64(_MULTIPLIER)
    for k in range(1, _SHINGLE_WORDS):  # arithmetic on uint64 arrays wraps modulo 2**64
        folded *= multiplier
        folded += codes[k : k + count]
    return folded  # type: ignore[no-any-return]


def mark_duplicates(sources: list[Source]) -> list[Source]:
    """Return ``sources`` with ``duplicate_of`` set on later copies of an earlier report."""
    # numpy is imported here: only reading sources needs it, not `briefer --help`.
    import numpy as np

    if len(sources) < 2:
        return list(sources)  # nothing to compare with
    codes = [shingle_codes(source) for source in sources]
    lengths = [len(c) for c in codes]
    # Number the distinct shingles of the whole pile 0, 1, ...: the index is then arrays
    # addressed by those numbers, with no hash table of Python objects.
    distinct, numbered = np.unique(np.concatenate(codes), return_inverse=True)
    index = _OriginalsIndex(np, len(sources), len(distinct))
    del codes, distinct
    shingles_of = np.split(numbered.astype(np.int32), np.cumsum(lengths[:-1]))
    del numbered
    marked: list[Source] = []
    for pos, (source, shingles) in enumerate(zip(sources, shingles_of, strict=True)):
        best = index.closest(shingles)
        if best is not None:
            marked.append(source.model_copy(update={"duplicate_of": sources[best].id}))
        else:
            if pos < len(sources) - 1:  # the last source is compared, never indexed
                index.add(pos, shingles)
            marked.append(source)
    return marked


class _OriginalsIndex:
    """The shingles of the originals read so far: for each shingle, the first original that
    holds it and up to ``_MAX_POSTINGS`` later ones, in reading order."""

    def __init__(self, np: Any, n_sources: int, n_shingles: int) -> None:
        self.np = np
        self.first = np.full(n_shingles, _NO_OWNER, dtype=np.int32)
        self.n_later = np.zeros(n_shingles, dtype=np.int8)
        # Later originals are held in rows of _MAX_POSTINGS, given only to shingles that
        # have some: row_of[shingle] is its row in `later`, or -1. A row's free places hold
        # n_sources, a source number that is never an original's: counted, then ignored.
        self.row_of = np.full(n_shingles, -1, dtype=np.int32)
        self.free = n_sources
        self.later = np.full((1024, _MAX_POSTINGS), self.free, dtype=np.int32)
        self.n_rows = 0
        self.sizes = np.zeros(n_sources, dtype=np.int64)  # shingles per original

    def closest(self, shingles: NDArray[np.int32]) -> int | None:
        """Return the earlier original closest to a source with these (distinct) shingles,
        if it holds at least ``DUPLICATE_THRESHOLD`` of the smaller of their sets."""
        np = self.np
        owners = self.first[shingles]
        seen = shingles[owners != _NO_OWNER]
        if not len(seen):
            return None
        rows = self.row_of[seen]
        later = self.later[rows[rows >= 0]].ravel()
        # Per original: how many of the shingles it holds (the last count is of free places).
        shared = np.bincount(owners[owners != _NO_OWNER], minlength=self.free + 1)
        shared += np.bincount(later, minlength=self.free + 1)
        others = np.flatnonzero(shared[: self.free])
        counts = shared[others]
        smaller = np.minimum(self.sizes[others], len(shingles))
        scores = counts / smaller
        enough = counts >= np.minimum(smaller, _MIN_SHARED_SHINGLES)
        close = enough & (scores >= DUPLICATE_THRESHOLD)
        if not close.any():
            return None
        # Of equally close originals the earliest wins, whatever order the shingles came in.
        best_score = scores[close].max()
        return int(others[close & (scores == best_score)][0])

    def add(self, pos: int, shingles: NDArray[np.int32]) -> None:
        """Index the (distinct) shingles of the original at ``pos``."""
        np = self.np
        self.sizes[pos] = len(shingles)
        owners = self.first[shingles]
        self.first[shingles[owners == _NO_OWNER]] = pos
        seen = shingles[owners != _NO_OWNER]
        seen = seen[self.n_later[seen] < _MAX_POSTINGS]
        new = seen[self.row_of[seen] < 0]
        if len(new):
            if self.n_rows + len(new) > len(self.later):
                grown = max(2 * len(self.later), self.n_rows + len(new))
                more = np.full((grown - len(self.later), _MAX_POSTINGS), self.free, np.int32)
                self.later = np.concatenate((self.later, more))
            self.row_of[new] = np.arange(self.n_rows, self.n_rows + len(new), dtype=np.int32)
            self.n_rows += len(new)
        self.later[self.row_of[seen], self.n_later[seen]] = pos
        self.n_later[seen] += 1
