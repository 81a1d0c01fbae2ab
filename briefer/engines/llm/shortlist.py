"""The claim shortlist: validated ``Claim`` list -> the ``Claim`` list worth reducing.

When the claims of many articles do not fit one reduce call, most of them cannot reach a
one-page briefing anyway. The shortlist ranks them locally and deterministically, with no
model call, and keeps the best ones. Claims that state the same fact (TF-IDF cosine of their
stemmed words) form one group, kept or left out whole so the reduce can still merge the fact
across its sources. A group ranks by the independent sources that report it (a republished
copy counts once), how well it suits the audience and how early in its article it appears.
The kept claims come back in their original order.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from briefer.engines.audience import audience_weight
from briefer.engines.extractive.synthesis import (
    content_stems,
    count_words,
    similarity_rows,
    vectorize,
)
from briefer.engines.llm.io import ReduceItem, claim_sources, render_items
from briefer.models import BriefOptions, Claim, Source
from briefer.tokens import count_tokens

# A one-page briefing of W words is written from a small multiple of W words of claims: each
# bullet merges the same fact from a few sources (two to four in multi-source news) and the
# reduce needs about twice as many candidate facts as it keeps to choose well for the
# audience. 4 x 2 = 8; more only lengthens the reduce call without changing what it can write.
SHORTLIST_FACTOR = 8
# Cosine at which two claims state one fact: the offline engine's tuned SAME_FACT threshold
# (briefer.engines.extractive.engine), which these claims, short single-fact sentences too, share.
SAME_FACT = 0.38
_BLOCK = 512  # rows of the similarity matrix computed at a time, to bound memory
_PASSAGE_NUMBER = re.compile(r"\.P(\d+)\b")


@dataclass(frozen=True)
class ClaimGroup:
    """Claims stating one fact: their indices in the ranked claim list, and the group's rank."""

    members: tuple[int, ...]
    score: float
    n_sources: int  # independent sources reporting the fact


def rank_claims(
    claims: Sequence[Claim], sources: Sequence[Source], options: BriefOptions
) -> list[ClaimGroup]:
    """Return the groups of ``claims`` that state one fact, best first for ``options.audience``.

    A group scores its independent sources x its best audience weight x the earliness of its
    earliest passage; ties keep the original order.
    """
    if not claims:
        return []
    roots = {s.id: s.duplicate_of or s.id for s in sources}
    query = set() if options.audience_preset else set(content_stems(options.audience))
    groups = _group_same_fact([c.text for c in claims])
    ranked = []
    for members in groups:
        found = {roots.get(sid, sid) for i in members for sid in claim_sources(claims[i])}
        n_sources = max(1, len(found))
        weight = max(audience_weight(claims[i].text, options, query) for i in members)
        passage = min(_passage_number(claims[i]) for i in members)
        # Earliness halves a group's score at most: a lead paragraph matters more, but a fact
        # two sources report always outranks one that a single source reports equally well.
        earliness = 0.5 + 0.5 / math.sqrt(passage)
        ranked.append(
            ClaimGroup(
                members=tuple(members), score=n_sources * weight * earliness, n_sources=n_sources
            )
        )
    ranked.sort(key=lambda g: (-g.score, g.members[0]))
    return ranked


def shortlist_claims(
    claims: Sequence[Claim],
    sources: Sequence[Source],
    options: BriefOptions,
    budget_tokens: int,
    ranked: Sequence[ClaimGroup] | None = None,
) -> list[Claim]:
    """Return the best ``claims`` worth max(``budget_tokens``, SHORTLIST_FACTOR x max_words).

    Tokens are counted as the reduce prompt lists the claims (``render_items``), words in the
    claim texts. Groups are taken whole, best first, skipping any that would overflow both
    allowances; the best group is kept even alone over them. ``ranked`` is
    ``rank_claims(claims, sources, options)`` when the caller already has it.
    """
    groups = rank_claims(claims, sources, options) if ranked is None else ranked
    max_words = SHORTLIST_FACTOR * options.max_words
    kept: set[int] = set()
    tokens = words = 0
    for group in groups:
        more_tokens = sum(claim_tokens(claims[i]) for i in group.members)
        more_words = sum(count_words(claims[i].text) for i in group.members)
        within = tokens + more_tokens <= budget_tokens or words + more_words <= max_words
        if within or not kept:
            kept.update(group.members)
            tokens += more_tokens
            words += more_words
    return [c for i, c in enumerate(claims) if i in kept]


def claim_tokens(claim: Claim) -> int:
    """Return the tokens ``claim`` takes in a reduce prompt, its line break included."""
    item = ReduceItem(id=claim.id, text=claim.text, source_ids=claim_sources(claim), claim_ids=[])
    return count_tokens(render_items([item])) + 1


def _group_same_fact(texts: Sequence[str]) -> list[list[int]]:
    """Return groups of ``texts`` that state one fact, each group in original order.

    Leader clustering: each text joins the earlier group whose first text it is most similar
    to, at ``SAME_FACT`` or above, or starts a group. Comparing with the leader only keeps a
    chain of loosely related sentences from collapsing into one group.
    """
    matrix = vectorize(texts)
    group_of = np.full(len(texts), -1, dtype=np.int64)  # a leader's group, -1 for the others
    groups: list[list[int]] = []
    for start in range(0, len(texts), _BLOCK):
        rows = list(range(start, min(start + _BLOCK, len(texts))))
        similar = similarity_rows(matrix, rows)
        for row, i in enumerate(rows):
            scores = np.where(group_of[:i] >= 0, similar[row][:i], -1.0)
            top = int(np.argmax(scores)) if i else -1
            if top >= 0 and scores[top] >= SAME_FACT:
                groups[int(group_of[top])].append(i)
            else:
                group_of[i] = len(groups)
                groups.append([i])
    return groups


def _passage_number(claim: Claim) -> int:
    """Return the earliest passage number ``claim`` cites (``S3.P2`` -> 2), 1 if none."""
    numbers = [
        int(m.group(1))
        for c in claim.citations
        if (m := _PASSAGE_NUMBER.search(c.passage_id)) is not None
    ]
    return max(1, min(numbers)) if numbers else 1
