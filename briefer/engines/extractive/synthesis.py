"""Cross-source synthesis: which statements say the same thing, and where sources differ.

Input is plain statements (text plus the source and independent root that made them);
output is similarity structure (TF-IDF over stems, on numpy alone), how cleanly each
source is written, what each statement counts, and the disagreements between independent
sources.
"""

from __future__ import annotations

import calendar
import itertools
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property, lru_cache
from typing import Any, NamedTuple

import numpy as np
import snowballstemmer

from briefer.stop_words import ENGLISH_STOP_WORDS
from briefer.words import count_words as count_budget_words
from briefer.words import has_cjk

_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
# The same words in a lowercased ASCII text (there, a letter is a-z and an apostrophe is ').
_ASCII_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")


class Statement(NamedTuple):
    """A statement to synthesise: its text, its source and that source's independent root.

    A named tuple: made per claim (150,000 at 10,000 articles), 2x cheaper than a dataclass.
    """

    text: str
    source_id: str
    root_id: str


def count_words(text: str) -> int:
    """Return the words of ``text`` (the budget unit; a CJK character is one word)."""
    return count_budget_words(text)


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    return snowballstemmer.stemmer("english")


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return str(_stemmer().stemWord(word))


@lru_cache(maxsize=65536)
def _content_stem(word: str) -> str | None:
    """Return the stem of a lowercased word, or None for a stop word or a single letter."""
    if word in ENGLISH_STOP_WORDS or len(word) <= 1:
        return None
    return _stem(word)


def content_stems(text: str) -> list[str]:
    """Return the stemmed content words of ``text`` (stop words dropped)."""
    if text.isascii():  # lowercasing an ASCII text word by word or whole is the same
        words = _ASCII_WORD.findall(text.lower())
        return [s for s in map(_content_stem, words) if s is not None]
    found = (w.lower().replace("’", "'") for w in _WORD.findall(text))
    stems = [_stem(w) for w in found if w not in ENGLISH_STOP_WORDS and len(w) > 1]
    if has_cjk(text):  # no spaces between words: CJK character bigrams stand for them
        return [s for stem in stems for s in _cjk_bigrams(stem)]
    return stems


def _cjk_bigrams(run: str) -> list[str]:
    """Return ``run`` as its character bigrams if it is CJK (unsegmented words), else whole."""
    if not has_cjk(run) or len(run) < 3:
        return [run]
    return [run[k : k + 2] for k in range(len(run) - 1)]


class TfidfRows:
    """L2-normalised TF-IDF rows in compressed sparse row layout, on numpy arrays.

    Rows repeat when texts do, so each distinct text's row is stored once: matrix row ``r``
    is stored row ``row_text[r]``. ``data[indptr[t]:indptr[t + 1]]`` are stored row ``t``'s
    weights and ``indices`` the same entries' columns. The products below add up in the order
    scipy.sparse adds them over the full matrix (row entries in storage order, float32 sums),
    so results are the same bit for bit as they were with scikit-learn and scipy, without
    importing either (they cost a second at start-up): a product of two rows depends only on
    the two rows, so it is computed once per stored row and copied to the rows repeating it.
    """

    def __init__(
        self,
        data: np.ndarray,
        indices: np.ndarray,
        indptr: np.ndarray,
        n_columns: int,
        row_text: np.ndarray | None = None,
    ) -> None:
        self.data = data
        self.indices = indices
        self.indptr = indptr
        n_stored = len(indptr) - 1
        self.row_text = np.arange(n_stored) if row_text is None else row_text
        self.shape = (len(self.row_text), n_columns)

    @cached_property
    def _columns(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return the stored rows' column-major layout: (start of each column, rows, weights)."""
        order = np.argsort(self.indices, kind="stable")  # by column, then by row
        starts = np.zeros(self.shape[1] + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.indices, minlength=self.shape[1]), out=starts[1:])
        rows = np.repeat(np.arange(len(self.indptr) - 1), np.diff(self.indptr))
        return starts, rows[order], self.data[order]

    def similarities(self, row: int) -> np.ndarray:
        """Return the cosine of ``row`` with every row (the rows are unit length)."""
        starts, rows, weights = self._columns
        out = np.zeros(len(self.indptr) - 1, dtype=np.float32)
        stored = int(self.row_text[row])
        for entry in range(int(self.indptr[stored]), int(self.indptr[stored + 1])):
            column = int(self.indices[entry])
            span = slice(int(starts[column]), int(starts[column + 1]))
            out[rows[span]] += self.data[entry] * weights[span]
        return out[self.row_text]

    def column_sums(self, rows: np.ndarray) -> np.ndarray:
        """Return the float32 sum of ``rows`` (ascending row numbers), added row after row.

        ``np.add.at`` adds its values one by one in the order given (unbuffered), so each
        column's sum runs over the rows in order, as a loop adding one row at a time does.
        """
        total = np.zeros(self.shape[1], dtype=np.float32)
        entries = entries_of(self.indptr, self.row_text[rows])
        np.add.at(total, self.indices[entries], self.data[entries])
        return total

    def dot(self, vector: np.ndarray) -> np.ndarray:
        """Return each row's float32 dot product with the dense ``vector``."""
        products = self.data * vector.astype(np.float32)[self.indices]
        return row_sums(products, self.indptr, np.float32)[self.row_text]


def entries_of(indptr: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Return the positions of ``rows``' CSR entries, row after row, each row in storage order."""
    starts = indptr[rows].astype(np.int64)
    lengths = indptr[rows + 1] - starts
    # Entry k of the result is start-of-its-row + (k - where its row begins in the result).
    begins = np.cumsum(lengths) - lengths
    return np.repeat(starts - begins, lengths) + np.arange(int(lengths.sum()), dtype=np.int64)


def row_sums(values: np.ndarray, indptr: np.ndarray, dtype: type[np.floating[Any]]) -> np.ndarray:
    """Return per CSR row the sum of ``values``, accumulated in ``dtype`` in storage order.

    The k-th entries of all rows longer than k are added in one vectorised step, so each row's
    sum runs strictly left to right, as a C loop (or Python's ``sum``) over the row would.
    """
    lengths = np.diff(indptr)
    order = np.argsort(-lengths, kind="stable")  # longest rows first
    descending = -lengths[order]
    starts = indptr[:-1][order]
    sums = np.zeros(len(lengths), dtype=dtype)
    for k in range(int(lengths.max()) if len(lengths) else 0):
        active = int(np.searchsorted(descending, -k, side="left"))  # rows longer than k
        sums[order[:active]] += values[starts[:active] + k]
    return sums


def vectorize(
    texts: Sequence[str],
    stems_of: Callable[[str], Sequence[str]] = content_stems,
    row_text: np.ndarray | None = None,
) -> TfidfRows:
    """Return L2-normalised TF-IDF rows of stemmed content words, one row per text.

    The weights are scikit-learn's ``TfidfVectorizer(sublinear_tf=True, norm="l2",
    dtype=np.float32)`` over :func:`content_stems`, reproduced operation for operation (same
    float32 arithmetic, same column order, same order of entries within a row), so every
    similarity, and therefore every briefing, is what it was: tf = 1 + ln(count),
    idf = 1 + ln((1 + n) / (1 + df)), each row scaled to unit length. ``stems_of`` gives a
    text's stems (a caller that also needs them elsewhere passes its own cache). A caller
    that has already told repeated texts apart passes the distinct ``texts`` and, per row,
    the number of its text (``row_text``); the rows are then ``texts[row_text[r]]``.
    """
    if row_text is None:
        numbers: dict[str, int] = {}
        row_text = np.asarray(
            [numbers.setdefault(text, len(numbers)) for text in texts], dtype=np.int64
        )
        texts = list(numbers)
    stems = [stems_of(text) for text in texts]
    every_stem = list(itertools.chain.from_iterable(stems))
    # term -> its number, in order of first appearance
    first_seen = {stem: n for n, stem in enumerate(dict.fromkeys(every_stem))}
    n_terms = len(first_seen)
    # Each text's (term, count) entries, terms ascending: one sort of (text, term) keys.
    keys = np.repeat(np.arange(len(texts), dtype=np.int64), [len(found) for found in stems])
    keys *= n_terms
    keys += np.fromiter(map(first_seen.__getitem__, every_stem), np.int64, len(every_stem))
    del stems, every_stem
    keys.sort()
    new_entry = np.r_[True, keys[1:] != keys[:-1]] if len(keys) else np.zeros(0, dtype=bool)
    starts_at = np.flatnonzero(new_entry)
    counts = np.diff(np.r_[starts_at, len(keys)])
    owner, terms = np.divmod(keys[starts_at], max(n_terms, 1))
    lengths = np.bincount(owner, minlength=len(texts))
    indptr = np.zeros(len(texts) + 1, dtype=np.int32)
    np.cumsum(lengths, out=indptr[1:])
    if not first_seen:  # every text empty after stop-word removal
        return TfidfRows(np.zeros(0, np.float32), np.zeros(0, np.int32), indptr, 1, row_text)
    # Entries stay in order of each term's first appearance, while columns are numbered in
    # alphabetical order of the terms: the layout scikit-learn produces, which fixes the
    # order in which sums add up.
    alphabetical = np.empty(len(first_seen), dtype=np.int32)
    for rank, stem in enumerate(sorted(first_seen)):
        alphabetical[first_seen[stem]] = rank
    data = counts.astype(np.float32)
    indices = alphabetical.take(terms)

    # A term's document frequency counts every row holding it, repeated texts included.
    repeats = np.bincount(row_text, minlength=len(texts))
    document_frequency = np.bincount(
        indices, weights=np.repeat(repeats, lengths), minlength=len(first_seen)
    )  # whole numbers, exact in float64
    df = document_frequency.astype(np.float32) + np.float32(1.0)
    idf = np.full_like(df, fill_value=len(row_text) + 1, dtype=np.float32)
    idf /= df
    np.log(idf, out=idf)
    idf += np.float32(1.0)

    np.log(data, out=data)
    data += np.float32(1.0)
    data *= idf[indices]
    # Squares in float32, summed in float64, each weight divided in float64: as scikit-learn.
    norms = np.sqrt(row_sums((data * data).astype(np.float64), indptr, np.float64))
    norms[norms == 0.0] = 1.0
    data = (data.astype(np.float64) / np.repeat(norms, np.diff(indptr))).astype(np.float32)
    return TfidfRows(data, indices, indptr, len(first_seen), row_text)


def centroid_similarity(matrix: TfidfRows, groups: Sequence[str] | np.ndarray) -> np.ndarray:
    """Return each row's cosine to the centroid of group centroids (each group weighs once).

    Groups are taken in sorted order of their labels (strings, or numbers).
    """
    n_rows = matrix.shape[0]
    if n_rows == 0:
        return np.zeros(0, dtype=np.float32)
    labels, inverse = np.unique(np.asarray(groups), return_inverse=True)
    # Each group's rows, ascending: one stable sort instead of a scan of all rows per group.
    by_group = np.argsort(inverse, kind="stable")
    bounds = np.zeros(len(labels) + 1, dtype=np.int64)
    np.cumsum(np.bincount(inverse, minlength=len(labels)), out=bounds[1:])
    # The mean of the unit group sums, added group after group in float32 into one row: the
    # same additions, in the same order, as numpy's mean over a groups x columns matrix,
    # which at 10,000 articles took up to 211 MiB (7,878 sources x at most 7,013 terms).
    # Each group's column sums (``column_sums`` of its rows) for all groups at once: one
    # np.add.at, which adds each (group, column)'s values one by one in row order.
    n_columns = matrix.shape[1]
    rows = matrix.row_text[by_group]
    entries = entries_of(matrix.indptr, rows)
    ends = np.cumsum(np.diff(matrix.indptr)[rows])
    group_of_entry = np.repeat(np.arange(len(labels)), np.diff(np.r_[0, ends[bounds[1:] - 1]]))
    keys, of_entry = np.unique(
        group_of_entry * n_columns + matrix.indices[entries], return_inverse=True
    )
    sums = np.zeros(len(keys), dtype=np.float32)
    np.add.at(sums, of_entry, matrix.data[entries])
    del entries, group_of_entry, of_entry
    key_bounds = np.searchsorted(keys, np.arange(len(labels) + 1) * n_columns).tolist()
    columns = keys % n_columns
    total = np.zeros(n_columns, dtype=np.float32)  # one group's sums, dense, then cleared
    centroid = np.zeros(n_columns, dtype=np.float32)
    for g in range(len(labels)):
        span = slice(key_bounds[g], key_bounds[g + 1])
        total[columns[span]] = sums[span]
        norm = float(np.linalg.norm(total))
        if norm > 0:
            centroid += total / norm
        total[columns[span]] = 0.0
    np.true_divide(centroid, len(labels), out=centroid, casting="unsafe")
    norm = float(np.linalg.norm(centroid))
    if norm == 0:
        return np.zeros(n_rows, dtype=np.float32)
    return matrix.dot(centroid / norm)


def similarity_rows(matrix: TfidfRows, rows: Sequence[int]) -> np.ndarray:
    """Return the dense cosine similarities of ``rows`` against every row (len(rows) x n)."""
    out = np.zeros((len(rows), matrix.shape[0]), dtype=np.float32)
    for at, row in enumerate(rows):
        out[at] = matrix.similarities(row)
    return out


# A capitalised word: r"\b[A-Z][a-zà-ÿ]{3,}\b", written to start with the capital (the
# look-behind is the first \b) so that the regex engine skips ahead to capitals, 2x faster.
_NAME = re.compile(r"[A-Z](?<!\w[A-Z])[a-zà-ÿ]{3,}\b")


def names_in(text: str) -> set[str]:
    """Return the capitalised names ``text`` writes (what ``misspelling_rates`` compares).

    A name never spans a space, so the names of texts joined by spaces are the union of each
    text's names.
    """
    return set(_NAME.findall(text))


def misspelling_rates(names: dict[str, set[str]]) -> dict[str, float]:
    """Return, per independent source, the share of its names (``names_in`` of its text) that
    others spell differently.

    A machine-translated or garbled page writes "Zellinski" and "Luansk" where every other
    source writes "Zelensky" and "Luhansk"; a clean report rarely does. Inflections
    ("President"/"Presidents") do not count.
    """
    from rapidfuzz import fuzz, process

    # How many sources spell each name: a name another source also writes is shared, and
    # "the names of the other sources" are every name but this source's own unshared ones.
    # Counting once keeps this linear in the sources (a union per source was quadratic).
    spelled_by = Counter(itertools.chain.from_iterable(names.values()))
    everyone = sorted(spelled_by)
    rates: dict[str, float] = {}
    for key, own in names.items():
        only_here = {name for name in own if spelled_by[name] == 1}
        if not own or len(only_here) == len(everyone):  # no other source names anyone
            rates[key] = 0.0
            continue
        variants = 0
        for name in sorted(only_here):
            match = _closest(name, everyone, only_here, process, fuzz)
            if match and not (match.startswith(name) or name.startswith(match)):
                variants += 1
        rates[key] = variants / len(own)
    return rates


def _closest(
    name: str, choices: Sequence[str], excluded: set[str], process: Any, fuzz: Any
) -> str | None:
    """Return the choice most like ``name`` (ratio >= 75), leaving out ``excluded``."""
    best: tuple[float, str] | None = None
    for choice, score, _ in process.extract(
        name, choices, scorer=fuzz.ratio, score_cutoff=75, limit=None
    ):
        if choice not in excluded and (best is None or score > best[0]):
            best = (score, choice)
    return best[1] if best else None


_QUANTITY = re.compile(
    r"(?<![\w.,])([$£€]?\d[\d,]*(?:\.\d+)?(?:\s?(?:%|percent|million|billion|thousand))?)"
    r"[\s-]+((?:[A-Za-z][\w'-]*\s+){0,2}[A-Za-z][\w'-]*)"
)
_CALENDAR_WORDS = frozenset(
    name.lower()
    for name in (*calendar.month_name, *calendar.month_abbr, *calendar.day_name, *calendar.day_abbr)
    if name
)
_FORMER = re.compile(r"\b(?:former|ex-)\s+(?:[A-Z][\w.]*\s+){0,3}?([A-Z][a-z]+(?:\s+[A-Z][a-z]+)+)")


@dataclass(frozen=True)
class Disagreement:
    """Two statements from independent sources that report one thing differently."""

    label: str
    first: int
    second: int


def quantities(text: str) -> dict[str, frozenset[str]]:
    """Return what ``text`` counts, by counted word: "41 aircraft" -> {"aircraft": {"41"}}.

    Years are left out: they date events rather than count things.
    """
    return dict(_quantities(text))


@lru_cache(maxsize=65536)
def _quantities(text: str) -> dict[str, frozenset[str]]:
    """Return ``quantities(text)``, computed once per text (read only: shared by callers)."""
    from briefer.grounding.matching import extract_numbers

    found: dict[str, set[str]] = {}
    for number, words in _QUANTITY.findall(text):
        if words.split()[0].lower().rstrip(".") in _CALENDAR_WORDS:
            continue  # "8 December" dates an event; it counts nothing
        values = {str(v) for v in extract_numbers(number)}
        if not values or (len(number) == 4 and number.isdigit() and 1800 < int(number) < 2100):
            continue
        for stem in content_stems(words)[:2]:
            found.setdefault(stem, set()).update(values)
    return {k: frozenset(v) for k, v in found.items()}


def disagreement(first: str, second: str) -> str | None:
    """Return what two statements on one topic report differently, or None.

    They differ when they count the same thing with different figures ("41 aircraft" /
    "35 aircraft"), or when one calls a person "former" where the other gives a current title.
    """
    counted = _differing_count(_quantities(first), _quantities(second))
    if counted:
        return _as_written(counted, first)
    return _differing_title(first, second) or _differing_title(second, first)


def figures_conflict(first: str, second: str) -> bool:
    """Return whether two statements give figures that cannot describe one fact.

    Both state figures and share none: "item 4812" and "item 4813", "sold for $3 million"
    and "sold for $4 million". Statements that share a figure ("472 drones and 7 missiles" /
    "472 drones against 41 aircraft") or where one states none can be one fact; a count of
    the same thing that differs is ``disagreement``'s to find. Unlike ``disagreement`` this
    needs no counted word, so it holds for codes, item numbers and dates as well as counts.
    """
    a, b = numbers_in(first), numbers_in(second)
    return bool(a) and bool(b) and not (a & b)


@lru_cache(maxsize=65536)
def numbers_in(text: str) -> frozenset[Decimal]:
    """Return ``extract_numbers(text)``, found once per text (ranking, merging and checking
    figures all ask for the same texts' numbers)."""
    from briefer.grounding.matching import extract_numbers

    return frozenset(extract_numbers(text))


def find_disagreements(
    statements: Sequence[Statement], matrix: TfidfRows, rows: Sequence[int], topical: float
) -> list[Disagreement]:
    """Return disagreements between ``rows`` and on-topic statements of other sources.

    On topic means a cosine of at least ``topical``; sources are compared by independent
    root, so a republished copy never disagrees with its original.
    """
    similar = similarity_rows(matrix, list(rows))
    found: list[Disagreement] = []
    seen: set[tuple[int, int]] = set()
    labels: dict[tuple[str, str], str | None] = {}  # texts repeat: each pair is judged once
    for row, i in enumerate(rows):
        for j in np.nonzero(similar[row] >= topical)[0].tolist():
            if statements[j].root_id == statements[i].root_id or (j, i) in seen:
                continue
            seen.add((i, j))
            texts = (statements[i].text, statements[j].text)
            if texts not in labels:
                labels[texts] = disagreement(*texts)
            label = labels[texts]
            if label:
                found.append(Disagreement(label=label, first=i, second=j))
    return found


def _differing_count(a: dict[str, frozenset[str]], b: dict[str, frozenset[str]]) -> str | None:
    for word in sorted(a.keys() & b.keys()):
        if not (a[word] & b[word]):
            return word
    return None


def _as_written(stem: str, text: str) -> str:
    """Return the first word of ``text`` whose stem is ``stem``, as a reader would write it."""
    for word in map(str, _WORD.findall(text)):
        if content_stems(word) == [stem]:
            return word if word[1:] != word[1:].lower() else word.lower()
    return stem


def _differing_title(text: str, other: str) -> str | None:
    for titled in _FORMER.findall(text):
        name = " ".join(titled.split()[-2:])
        match = re.search(rf"\b([A-Z][\w.]*)\s+{re.escape(name)}", other)
        if match and "former" not in other[max(0, match.start() - 12) : match.start()].lower():
            return name
    return None
