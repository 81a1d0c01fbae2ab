"""What the LLM engine shows a model and what it accepts back.

Output models (``MapOutput``, ``BriefOutput``, ``RepairOutput``, ``ReduceOutput``) are the
JSON the prompts ask for; ``engines.llm.client`` derives the strict schema from them and validates
replies against them. The render helpers turn chunks, sources and claims into prompt text,
and ``pack_chunks`` groups chunks into calls within a token budget.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from briefer.engines.llm.cache import StoredReply
from briefer.models import Audience, BriefOptions, Chunk, Claim, Passage, Source
from briefer.tokens import count_tokens

Message = dict[str, str]
Output = TypeVar("Output", bound=BaseModel)

_FENCE = re.compile(r"^\s*```(?:json)?\s*\n?(.*?)\n?\s*```\s*$", re.DOTALL)


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class CitationOut(_Out):
    passage_id: str
    quote: str


class ClaimOut(_Out):
    text: str
    citations: list[CitationOut]


class IdClaimOut(_Out):
    id: str
    text: str
    citations: list[CitationOut]


class BulletOut(_Out):
    text: str
    claim_ids: list[str]


class SectionOut(_Out):
    title: str
    bullets: list[BulletOut]


class MapOutput(_Out):
    claims: list[ClaimOut]


class RepairOutput(_Out):
    claims: list[IdClaimOut]


class ReduceOutput(_Out):
    title: str
    sections: list[SectionOut]
    differences: list[BulletOut] = Field(default_factory=list)


class BriefOutput(_Out):
    claims: list[IdClaimOut]
    title: str
    sections: list[SectionOut]
    differences: list[BulletOut] = Field(default_factory=list)


class ReduceItem(BaseModel):
    """A claim, or a bullet of a partial reduce, as the reduce prompt lists it."""

    model_config = ConfigDict(frozen=True)

    id: str
    text: str
    source_ids: list[str]
    claim_ids: list[str]  # the validated claims it stands for


DIFFERENCES_TITLE = "Where sources differ"

_GUIDANCE: dict[Audience, str] = {
    Audience.executive: (
        "Executives: lead with the outcome and what it means; decisions, consequences and next "
        "steps first; only the figures that matter; no background detail."
    ),
    Audience.analyst: (
        "Analysts: each side's positions, demands and figures with who stated them; where "
        "sources disagree; the context that explains the positions."
    ),
    Audience.general: (
        "A general reader: plain words; what happened, why it matters, and brief background."
    ),
}


def audience_guidance(options: BriefOptions) -> str:
    """Return how the prompts should choose and order facts for ``options.audience``."""
    preset = options.audience_preset
    if preset is not None:
        return _GUIDANCE[preset]
    return "Choose, order and word the facts by what this audience needs to know."


def source_of(passage_id: str) -> str:
    """Return the source id of a passage id (``S2.P7`` -> ``S2``)."""
    return passage_id.split(".", 1)[0]


def claim_sources(claim: Claim) -> list[str]:
    """Return the distinct source ids a claim cites, in order of first citation."""
    return list(dict.fromkeys(source_of(c.passage_id) for c in claim.citations))


def render_passages(chunks: Sequence[Chunk]) -> str:
    """Return the passages of ``chunks`` as ``[S1.P1] text`` lines."""
    # One line per passage: newlines inside a passage would blur where the next id begins.
    return "\n".join(
        f"[{p.id}] {' '.join(p.text.split())}" for chunk in chunks for p in chunk.passages
    )


def render_sources(sources: Sequence[Source]) -> str:
    """Return one line per source: id, title and, for a republication, what it repeats."""
    lines = []
    for source in sources:
        line = f"{source.id}: {' '.join(source.title.split())}"
        if source.duplicate_of:
            line += f" (republishes {source.duplicate_of})"
        lines.append(line)
    return "\n".join(lines)


def render_items(items: Sequence[ReduceItem]) -> str:
    """Return reduce input lines ``id [S1,S3] text`` (reduce v1; budgets are counted in these)."""
    return "\n".join(f"{i.id} [{','.join(i.source_ids)}] {' '.join(i.text.split())}" for i in items)


def render_items_by_source(items: Sequence[ReduceItem], sources: Sequence[Source]) -> str:
    """Return ``items`` as ``id text`` lines under one header per set of sources (reduce v2).

    A header names its sources once (``[S2] title``, with what a republication repeats; a
    claim drawn from several sources sits under ``[S1, S3]``), and only sources some item
    cites are listed, so no line repeats what another already says. Groups keep the order in
    which their first item comes.
    """
    by_id = {s.id: s for s in sources}
    groups: dict[tuple[str, ...], list[ReduceItem]] = {}
    for item in items:
        groups.setdefault(tuple(item.source_ids), []).append(item)
    blocks = []
    for source_ids, members in groups.items():
        header = f"[{', '.join(source_ids) or 'no source'}]"
        if len(source_ids) == 1 and source_ids[0] in by_id:
            header += " " + _source_label(by_id[source_ids[0]])
        else:  # several sources: say which repeat another
            copies = [by_id[i] for i in source_ids if i in by_id and by_id[i].duplicate_of]
            if copies:
                header += " " + "; ".join(f"{c.id} republishes {c.duplicate_of}" for c in copies)
        lines = [f"{i.id} {' '.join(i.text.split())}" for i in members]
        blocks.append("\n".join([header, *lines]))
    return "\n".join(blocks)


def _source_label(source: Source) -> str:
    label = " ".join(source.title.split())
    if source.duplicate_of:
        label += f" (republishes {source.duplicate_of})"
    return label


def count_words(text: str) -> int:
    """Return the number of whitespace-separated words in ``text`` (the length budget's unit)."""
    return len(text.split())


def pack_chunks(chunks: Sequence[Chunk], budget: int) -> list[list[Chunk]]:
    """Return consecutive groups of ``chunks`` within ``budget`` tokens.

    A chunk larger than ``budget`` is first cut into runs of whole passages (keeping its
    id); only a single passage larger than the budget is sent alone over it.
    """
    return list(pack_chunk_stream(chunks, budget))


def pack_chunk_stream(chunks: Iterable[Chunk], budget: int) -> Iterator[list[Chunk]]:
    """Yield the groups ``pack_chunks`` returns, each as soon as the next chunk closes it.

    A chunk that does not fit the room left in a group gives the group the passages that do
    (in order, keeping its id) and starts the next group with the rest, so every call but
    the last is filled close to ``budget``: fewer calls, each repeating the prompt once.
    """
    group: list[Chunk] = []
    used = 0
    for chunk in (part for whole in chunks for part in _fit_chunk(whole, budget)):
        if group and used + chunk.n_tokens > budget:
            head, chunk = _split_to_fit(chunk, budget - used)
            if head is not None:
                group.append(head)
            yield group
            group, used = [], 0
        group.append(chunk)
        used += chunk.n_tokens
    if group:
        yield group


def pack_items(items: Sequence[ReduceItem], budget: int) -> list[list[ReduceItem]]:
    """Return consecutive groups of ``items`` whose rendered tokens fit ``budget``."""
    groups: list[list[ReduceItem]] = []
    used = 0
    for item in items:
        tokens = count_tokens(render_items([item])) + 1
        if groups and used + tokens <= budget:
            groups[-1].append(item)
            used += tokens
        else:
            groups.append([item])
            used = tokens
    return groups


def split_group(group: Sequence[Chunk]) -> list[list[Chunk]]:
    """Return ``group`` cut in two halves (by chunks, else by passages), or [] if it cannot be."""
    if len(group) > 1:
        middle = len(group) // 2
        return [list(group[:middle]), list(group[middle:])]
    chunk = group[0]
    if len(chunk.passages) < 2:
        return []
    middle = len(chunk.passages) // 2
    return [
        [_with_passages(chunk, part)] for part in (chunk.passages[:middle], chunk.passages[middle:])
    ]


def passages_within(chunks: Sequence[Chunk], wanted: set[str], budget: int) -> list[Chunk]:
    """Return ``chunks`` cut down to ``budget`` tokens, keeping the ``wanted`` passages first.

    Passages near a wanted one are kept next, so a repair sees the context of its quotes.
    """
    passages = [p for c in chunks for p in c.passages]
    if sum(p.n_tokens for p in passages) <= budget:
        return list(chunks)
    anchors = [i for i, p in enumerate(passages) if p.id in wanted] or [0]
    order = sorted(range(len(passages)), key=lambda i: min(abs(i - a) for a in anchors))
    keep: set[int] = set()
    used = 0
    for index in order:
        if used + passages[index].n_tokens <= budget or not keep:
            keep.add(index)
            used += passages[index].n_tokens
    kept_ids = {passages[i].id for i in keep}
    kept: list[Chunk] = []
    for chunk in chunks:
        part = [p for p in chunk.passages if p.id in kept_ids]
        if part:
            kept.append(_with_passages(chunk, part))
    return kept


def _fit_chunk(chunk: Chunk, budget: int) -> list[Chunk]:
    if chunk.n_tokens <= budget or len(chunk.passages) < 2:
        return [chunk]
    parts: list[list[Passage]] = [[]]
    used = 0
    for passage in chunk.passages:
        if parts[-1] and used + passage.n_tokens > budget:
            parts.append([])
            used = 0
        parts[-1].append(passage)
        used += passage.n_tokens
    return [_with_passages(chunk, part) for part in parts]


def _split_to_fit(chunk: Chunk, room: int) -> tuple[Chunk | None, Chunk]:
    """Return the leading passages of ``chunk`` within ``room`` tokens (or None) and the rest."""
    used = taken = 0
    for passage in chunk.passages[:-1]:  # the rest keeps at least one passage
        if used + passage.n_tokens > room:
            break
        used += passage.n_tokens
        taken += 1
    if taken == 0:
        return None, chunk
    return (
        _with_passages(chunk, chunk.passages[:taken]),
        _with_passages(chunk, chunk.passages[taken:]),
    )


def _with_passages(chunk: Chunk, passages: list[Passage]) -> Chunk:
    # A part keeps its chunk's id: a claim found in it still belongs to that chunk.
    return chunk.model_copy(
        update={"passages": passages, "n_tokens": sum(p.n_tokens for p in passages)}
    )


def parse_reply(reply: StoredReply, output: type[Output]) -> Output:
    """Return ``reply`` parsed as ``output``.

    Raises:
        ValueError: a refusal, an empty reply, or JSON that does not fit ``output``; the
            message is what the re-ask tells the model.
    """
    if reply.refusal:
        raise ValueError(f"the model refused: {reply.refusal}")
    if reply.finish_reason == "content_filter":
        raise ValueError("the reply was withheld by the server's content filter")
    text = (reply.content or "").strip()
    if not text:
        raise ValueError("the reply was empty")
    # Local models often wrap JSON in a Markdown fence even when asked not to.
    fenced = _FENCE.match(text)
    try:
        return output.model_validate_json(fenced.group(1) if fenced else text)
    except ValidationError as exc:
        parts = [
            f"{'.'.join(str(p) for p in error['loc']) or 'reply'}: {error['msg']}"
            for error in exc.errors()[:5]
        ]
        raise ValueError("; ".join(parts)) from None


def estimate_prompt_tokens(messages: Sequence[Message]) -> int:
    """Return an estimate of the prompt tokens of ``messages`` (content plus framing)."""
    return sum(count_tokens(m["content"]) + 4 for m in messages) + 3


def shorten(text: str, limit: int = 300) -> str:
    """Return ``text`` on one line, cut to ``limit`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
