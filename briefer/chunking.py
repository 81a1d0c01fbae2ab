"""Chunking: ``Source`` -> ``Passage`` (whole sentences) -> ``Chunk`` (one map call).

Sentences come from ``briefer.sentences`` (syntok's rules, which keep abbreviations ("U.S.",
"Sen.", "Feb. 24"), initials and closing quotes with their sentence); text is also cut after
the sentence marks those rules do not know (Chinese and Japanese 。！？, Arabic ؟, Devanagari
।). Passages pack consecutive whole sentences of one kept block; chunks pack consecutive
whole passages of one source. Nothing is ever cut inside a sentence, and every span is an
offset range into ``source.text``, so a passage's text can always be found again in its source.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from briefer.models import Chunk, Passage, Source, Span, construct_trusted
from briefer.sentences import sentence_starts
from briefer.tokens import TokenCounter
from briefer.words import other_sentence_ends

# Must match how ``Chunk.text`` joins its passages, so a chunk's count is its text's count.
_CHUNK_SEPARATOR = "\n\n"
# The fields each trusted model below is built with. One set per model is shared by all its
# instances (models are frozen; a copy gets its own set), which saves a set per sentence.
_SPAN_FIELDS = {"start", "end"}
_PASSAGE_FIELDS = {"id", "source_id", "start", "end", "text", "n_tokens", "sentences"}
_CHUNK_FIELDS = {"id", "source_id", "passages", "n_tokens"}


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[Span]:
    """Return the spans of the sentences in ``text[start:end]``, trimmed of whitespace."""
    stop = len(text) if end is None else end
    # Built without re-validation: offsets from _trim are ordered and non-negative.
    return [
        construct_trusted(Span, _SPAN_FIELDS, start=start + a, end=start + b)
        for a, b in _sentence_offsets(text[start:stop])
    ]


def _sentence_offsets(piece: str) -> _Offsets:
    # Cut where each sentence's first token begins, so every character after the first
    # token lands in exactly one sentence.
    cuts = sentence_starts(piece)
    offsets: list[tuple[int, int]] = []
    if not cuts:
        return ()
    if not piece.isascii():  # marks syntok does not know: 。！？ (no space after them), ؟ ।
        cuts = sorted({*cuts, *(end for end in other_sentence_ends(piece) if end > cuts[0])})
    for left, right in zip(cuts, [*cuts[1:], len(piece)], strict=True):
        span = _trim(piece, left, right)
        if span is not None:
            offsets.append(span)
    return tuple(offsets)


def make_passages(
    source: Source, count_tokens: TokenCounter, max_tokens: int = 96
) -> list[Passage]:
    """Return the passages of ``source``: whole sentences of one block, up to ``max_tokens``."""
    _require_positive(max_tokens, "max_tokens")
    passages: list[Passage] = []
    text = source.text
    for block in source.blocks:
        at = block.start
        packed = _block_passages(text[at : block.end], count_tokens, max_tokens)
        for offsets, n_tokens in packed:
            # Built without re-validation: offsets from _trim are ordered and non-negative.
            sentences = [
                construct_trusted(Span, _SPAN_FIELDS, start=at + a, end=at + b) for a, b in offsets
            ]
            passages.append(_make_passage(source, len(passages) + 1, sentences, n_tokens))
    return passages


_Offsets = tuple[tuple[int, int], ...]


# 32,768 blocks: at 10,000 articles (75,000 blocks, 55,000 distinct) it finds 18,400 repeats
# against 11,700 with 8,192, for about 20 MiB.
@lru_cache(maxsize=1 << 15)
def _block_passages(
    block: str, count_tokens: TokenCounter, max_tokens: int
) -> tuple[tuple[_Offsets, int], ...]:
    """Return the passages of one block: each one's sentence offsets in ``block`` and tokens.

    Cached by block text: republished copies of a report repeat their paragraphs, and a
    block's passages depend on nothing else (every count and seam is read inside the block).
    """
    sentences = _sentence_offsets(block)
    return tuple(
        (sentences[i:j], n_tokens)
        for i, j, n_tokens in _pack_sentences(block, sentences, count_tokens, max_tokens)
    )


def make_chunks(
    passages: list[Passage], count_tokens: TokenCounter, max_tokens: int = 1500
) -> list[Chunk]:
    """Return chunks of consecutive whole passages of one source, up to ``max_tokens`` each."""
    _require_positive(max_tokens, "max_tokens")
    chunks: list[Chunk] = []
    numbers: dict[str, int] = {}
    for group, n_tokens in _pack_passages(passages, count_tokens, max_tokens):
        source_id = group[0].source_id
        numbers[source_id] = numbers.get(source_id, 0) + 1
        chunks.append(
            construct_trusted(
                Chunk,  # trusted: built from our own passages
                _CHUNK_FIELDS,
                id=f"{source_id}.C{numbers[source_id]}",
                source_id=source_id,
                passages=group,
                n_tokens=n_tokens,
            )
        )
    return chunks


def chunk_source(
    source: Source,
    count_tokens: TokenCounter,
    passage_tokens: int = 96,
    chunk_tokens: int = 1500,
) -> tuple[list[Passage], list[Chunk]]:
    """Return the passages of ``source`` and the chunks that group them."""
    passages = make_passages(source, count_tokens, passage_tokens)
    return passages, make_chunks(passages, count_tokens, chunk_tokens)


def _trim(text: str, start: int, end: int) -> tuple[int, int] | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if start < end else None


def _pack_sentences(
    text: str, sentences: _Offsets, count_tokens: TokenCounter, max_tokens: int
) -> list[tuple[int, int, int]]:
    """Return ``(start, stop, tokens)`` runs of sentences (``(start, end)`` offsets in
    ``text``) whose covering text fits ``max_tokens``, with exact counts."""
    sizes = [count_tokens(text[a:b]) for a, b in sentences]
    seams: dict[int, int | None] = {}  # k -> tokens the gap before sentence k + 1 adds

    def count_range(i: int, j: int) -> int:
        added = 0
        for k in range(i, j - 1):
            if k not in seams:
                seams[k] = _gap_tokens(text, sentences[k], sentences[k + 1], count_tokens)
            seam = seams[k]
            if seam is None:  # a seam the rule below cannot tell: count the covering text
                return count_tokens(text[sentences[i][0] : sentences[j - 1][1]])
            added += seam
        return sum(sizes[i:j]) + added

    return _pack(sizes, count_tokens(" "), count_range, max_tokens)


def _gap_tokens(
    text: str, left: tuple[int, int], right: tuple[int, int], count_tokens: TokenCounter
) -> int | None:
    r"""Return how many tokens the gap between two sentences adds to their counts, or None.

    cl100k cuts text into pieces before merging bytes within each piece, so text cut where a
    piece ends counts as its parts do. A sentence is trimmed and the gap is whitespace. The
    left sentence's last piece ends where it does (a letter or digit run stops at a space; a
    symbol run does too, unless a line break follows it: then None). The gap joins the right
    sentence's first piece (" The", " “"), so the gap and the right sentence's head, up to the
    end of its first run of letters (where a piece always ends), are counted together instead
    of the head alone. None when the gap is empty, the right sentence has no letter, or a
    character there is outside the checked ranges (``briefer.tokens.CHECKED_CHARACTERS``).
    """
    left_end, (right_start, right_end) = left[1], right
    if left_end >= right_start:
        return None
    last = _character_kind(text[left_end - 1])
    if last is None or last == "space":
        return None
    gap = text[left_end:right_start]
    if last == "symbol" and gap[0] in "\r\n":
        return None
    if any(_character_kind(c) != "space" for c in gap):
        return None
    head_end = right_start
    while head_end < right_end and _character_kind(text[head_end]) != "letter":
        if _character_kind(text[head_end]) in (None, "space"):
            return None
        head_end += 1
    if head_end == right_end:
        return None  # no letter: no piece end known in the right sentence
    while head_end < right_end and _character_kind(text[head_end]) == "letter":
        head_end += 1
    if head_end < right_end and _character_kind(text[head_end]) is None:
        return None
    head = text[right_start:head_end]
    return count_tokens(gap + head) - count_tokens(head)


def _pack_passages(
    passages: list[Passage], count_tokens: TokenCounter, max_tokens: int
) -> list[tuple[list[Passage], int]]:
    """Return runs of passages of one source whose joined text fits ``max_tokens``."""
    return [
        run
        for group in _group_by_source(passages)
        for run in _pack_source_passages(group, count_tokens, max_tokens)
    ]


def _pack_source_passages(
    passages: list[Passage], count_tokens: TokenCounter, max_tokens: int
) -> list[tuple[list[Passage], int]]:
    sizes = [p.n_tokens for p in passages]  # each passage's exact count, made when it was
    seams = [_separator_tokens(p.text, count_tokens) for p in passages[:-1]]

    def count_range(i: int, j: int) -> int:
        added = seams[i : j - 1]
        if None in added:  # a seam that cannot be told apart from its context: count the join
            return count_tokens(_CHUNK_SEPARATOR.join(p.text for p in passages[i:j]))
        return sum(sizes[i:j]) + sum(n for n in added if n is not None)

    runs = _pack(sizes, count_tokens(_CHUNK_SEPARATOR), count_range, max_tokens)
    return [(passages[i:j], n) for i, j, n in runs]


def _separator_tokens(text: str, count_tokens: TokenCounter) -> int | None:
    r"""Return how many tokens ``_CHUNK_SEPARATOR`` adds after ``text``, or None if unsure.

    cl100k cuts text into pieces before merging bytes within each piece, so a join's count is
    its parts' counts plus what changes at the seams. A passage is trimmed, so the text after
    "\n\n" starts with a non-space, which always starts a piece (no piece runs from a newline
    into a letter, number or symbol): the text after a seam counts as it does alone. Before the
    seam, only the last piece can change: a run of symbols (neither space, letter nor number,
    with one plain space before it if there is one) takes the newlines into its piece
    (`` ?[^\s\p{L}\p{N}]++[\r\n]*+``); after a letter or number the separator is a piece of
    its own. Characters are classed as the pattern classes them only in the checked ranges
    (``briefer.tokens.CHECKED_CHARACTERS``): any other character near the seam gives None.
    """
    start = len(text)
    while start > 0:
        kind = _character_kind(text[start - 1])
        if kind is None or kind == "space":
            return None  # unknown class, or an untrimmed text
        if kind != "symbol":
            break
        start -= 1
    if start == len(text):  # ends with a letter or a number
        return count_tokens(_CHUNK_SEPARATOR)
    if start > 0 and text[start - 1] == " ":
        start -= 1
    tail = text[start:]
    return count_tokens(tail + _CHUNK_SEPARATOR) - count_tokens(tail)


@lru_cache(maxsize=4096)
def _character_kind(character: str) -> str | None:
    """Return "space", "letter", "number" or "symbol" as cl100k's pattern sees ``character``.

    None outside the checked ranges, where Python's Unicode tables may disagree with tiktoken's.
    """
    import unicodedata

    from briefer.tokens import CHECKED_RANGES, WHITE_SPACE_CHARACTERS

    code = ord(character)
    if not any(first <= code <= last for first, last in CHECKED_RANGES):
        return None
    if character in WHITE_SPACE_CHARACTERS:
        return "space"
    category = unicodedata.category(character)
    if category.startswith("L"):
        return "letter"
    return "number" if category.startswith("N") else "symbol"


def _pack(
    sizes: list[int],
    joiner: int,
    count_range: Callable[[int, int], int],
    max_tokens: int,
) -> list[tuple[int, int, int]]:
    """Return greedy ``(start, stop, tokens)`` runs of items whose joined count fits.

    Runs grow on the sum of the items' counts (counting each piece once keeps this linear),
    then the joined text is counted exactly and the run shrinks while it is over the limit,
    because token counts of parts do not add up exactly. A single item may exceed the limit.
    """
    runs: list[tuple[int, int, int]] = []
    start = 0
    while start < len(sizes):
        stop, estimate = start + 1, sizes[start]
        while stop < len(sizes) and estimate + joiner + sizes[stop] <= max_tokens:
            estimate += joiner + sizes[stop]
            stop += 1
        # one item's count is its own: only a joined run needs counting again
        exact = sizes[start] if stop - start == 1 else count_range(start, stop)
        while exact > max_tokens and stop - start > 1:
            stop -= 1
            exact = sizes[start] if stop - start == 1 else count_range(start, stop)
        runs.append((start, stop, exact))
        start = stop
    return runs


def _group_by_source(passages: list[Passage]) -> list[list[Passage]]:
    groups: list[list[Passage]] = []
    for passage in passages:
        if groups and groups[-1][0].source_id == passage.source_id:
            groups[-1].append(passage)
        else:
            groups.append([passage])
    return groups


def _make_passage(source: Source, number: int, sentences: list[Span], n_tokens: int) -> Passage:
    start, end = sentences[0].start, sentences[-1].end
    # Built without re-validation: every field comes from the source and its sentence spans.
    return construct_trusted(
        Passage,
        _PASSAGE_FIELDS,
        id=f"{source.id}.P{number}",
        source_id=source.id,
        start=start,
        end=end,
        text=source.text[start:end],
        n_tokens=n_tokens,
        sentences=sentences,
    )


def _require_positive(value: int, name: str) -> None:
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
