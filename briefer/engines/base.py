"""The contract every engine (extractive, LLM) fulfils; the pipeline drives it.

An engine turns chunks into claims (map), may be asked once to repair claims the
validator rejected, and merges validated claims into a draft (reduce). Validation,
citation bookkeeping and rendering are the pipeline's, so every engine is held to the
same grounding rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol, runtime_checkable

from briefer.models import (
    BriefOptions,
    Chunk,
    Claim,
    Draft,
    Passage,
    PromptRef,
    RejectedClaim,
    Source,
    Usage,
)


class Engine(Protocol):
    """A briefing engine."""

    name: str
    model: str | None

    def map_chunks(self, chunks: Sequence[Chunk], options: BriefOptions) -> list[Claim]:
        """Return the claims found in ``chunks``, each citing passages with quotes."""
        ...

    def repair_claims(
        self, rejected: Sequence[RejectedClaim], chunks: dict[str, Chunk], options: BriefOptions
    ) -> list[Claim]:
        """Return corrected versions of rejected claims (may be empty)."""
        ...

    def reduce_claims(
        self,
        claims: Sequence[Claim],
        sources: Sequence[Source],
        passages: dict[str, Passage],
        options: BriefOptions,
    ) -> Draft:
        """Return the briefing draft: merged bullets, best first.

        The pipeline validates the bullets and then keeps, in this order, those that fit
        ``options.max_words``; an engine may propose more than fit.
        """
        ...

    def prompt_refs(self) -> list[PromptRef]:
        """Return the prompt templates this engine used."""
        ...

    def usage(self) -> Usage:
        """Return calls and tokens spent so far."""
        ...


@runtime_checkable
class StreamingEngine(Engine, Protocol):
    """An engine that can map chunks while they are still being made."""

    def map_stream(self, chunks: Iterable[Chunk], options: BriefOptions) -> Iterator[list[Claim]]:
        """Yield the claims of ``chunks`` part by part, in order, as the parts are done."""
        ...
