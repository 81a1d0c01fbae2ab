"""Wire the stages: sources -> passages/chunks -> claims -> validate -> draft -> Briefing.

The pipeline owns no business logic of its own beyond bookkeeping: it asks the engine for
claims and a draft, has the validator check both, and turns draft bullets into ``Bullet``
models whose citations are exactly those of the validated claims they merge.
"""

from __future__ import annotations

import gc
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext

from briefer import __version__
from briefer.chunking import chunk_source
from briefer.engines.base import Engine, StreamingEngine
from briefer.grounding.support_text import is_content_word, stem, tokenize
from briefer.grounding.validator import check_bullet, validate_claims
from briefer.models import (
    Briefing,
    BriefOptions,
    Bullet,
    Chunk,
    Citation,
    Claim,
    Draft,
    DraftBullet,
    Passage,
    Provenance,
    Reason,
    RejectedClaim,
    Section,
    Source,
    SourceRef,
    Version,
)
from briefer.tokens import TokenCounter, count_tokens
from briefer.verify import grounding_report

# What stage timings are read from: wall seconds. bench/bench_pipeline.py sets it to
# time.process_time to report the CPU seconds of each stage.
stage_clock: Callable[[], float] = time.perf_counter


def build_briefing(
    sources: Sequence[Source],
    engine: Engine,
    options: BriefOptions,
    counter: TokenCounter = count_tokens,
) -> Briefing:
    """Return the briefing of ``sources`` made by ``engine`` under ``options``."""
    timings: dict[str, float] = {"chunk": 0.0}
    clock = stage_clock()

    passages: dict[str, Passage] = {}
    chunks: list[Chunk] = []

    def make_chunks() -> Iterator[Chunk]:
        for source in sources:
            started = stage_clock()
            source_passages, source_chunks = chunk_source(
                source, counter, options.passage_tokens, options.chunk_tokens
            )
            passages.update((p.id, p) for p in source_passages)
            chunks.extend(source_chunks)
            timings["chunk"] += stage_clock() - started
            yield from source_chunks

    # An engine that does not stream works in-process (the extractive engine): its stages
    # are CPU-bound and allocate acyclic objects by the million, so the collector is paused
    # for them (see _collector_paused). A streaming engine waits on a server meanwhile.
    offline = not isinstance(engine, StreamingEngine)
    if isinstance(engine, StreamingEngine):
        claims, accepted, rejected = _map_and_validate(engine, make_chunks(), passages, options)
        timings["chunk"] = round(timings["chunk"], 4)
        clock = _lap(timings, "map+validate", clock)
        after_map = "repair"  # streamed claims were validated as they came
    else:
        with _collector_paused():
            for _ in make_chunks():  # fills passages and chunks
                pass
            clock = _lap(timings, "chunk", clock)
            claims = engine.map_chunks(chunks, options)
            clock = _lap(timings, "map", clock)
            accepted, rejected = validate_claims(claims, passages, stage="map")
        after_map = "validate"
    checked = len(claims)
    accepted, rejected, reasks, rechecked = _repair(
        engine, accepted, rejected, chunks, passages, options
    )
    clock = _lap(timings, after_map, clock)

    with _collector_paused() if offline else nullcontext():
        draft = engine.reduce_claims(accepted, sources, passages, options)
    clock = _lap(timings, "reduce", clock)

    sections, bullet_rejections = _ground_draft(draft, accepted, sources, passages)
    fallback = getattr(engine, "reduce_fallback", None)  # optional on the Engine protocol
    if accepted and fallback is not None and not sections:
        # Every bullet the model wrote failed validation, yet validated claims remain: merge
        # them offline rather than end with an empty briefing (the LLM engine notes it).
        draft = fallback(accepted, sources, passages, options)
        sections, more = _ground_draft(draft, accepted, sources, passages, len(bullet_rejections))
        bullet_rejections += more
    sections = fit_sections(sections, options.max_words)
    rejected += bullet_rejections
    _lap(timings, "validate_bullets", clock)

    cited_ids = {c.passage_id for s in sections for b in s.bullets for c in b.citations}
    model_run = getattr(engine, "model_run", None)  # optional on the Engine protocol
    briefing = Briefing(
        title=checked_title(draft.title, sources),
        sections=sections,
        sources=[
            SourceRef(
                number=i,
                id=s.id,
                title=s.title,
                origin=s.origin,
                sha256=s.sha256,
                duplicate_of=s.duplicate_of,
                published=s.published,
            )
            for i, s in enumerate(sources, start=1)
        ],
        passages=[p for p in passages.values() if p.id in cited_ids],
        rejected=rejected,
        provenance=Provenance(
            briefer_version=__version__,
            engine=engine.name,
            model=engine.model,
            prompts=engine.prompt_refs(),
            parameters=options,
            usage=engine.usage(),
            timings=timings,
            llm=model_run() if callable(model_run) else None,
        ),
    )
    report = grounding_report(briefing, claims_checked=checked + rechecked, reasks=reasks)
    return briefing.model_copy(update={"grounding": report})


# Titles a model copies from a template or writes when it has none.
_PLACEHOLDER_TITLE_WORDS = frozenset(
    {
        "title",
        "briefing",
        "brief",
        "untitled",
        "string",
        "summary",
        "example",
        "placeholder",
        "headline",
        "tbd",
        "todo",
        "none",
        "text",
        "your",
        "here",
        "insert",
    }
)
TITLE_SUPPORT = 0.5  # share of a title's content words the sources must contain


def checked_title(title: str, sources: Sequence[Source]) -> str:
    """Return ``title``, or one built from the sources when it is a placeholder or unsupported.

    A placeholder has no content word but template words ("...", "Title", ""); an
    unsupported title has fewer than half of its content words (by stem) in the sources.
    """
    words = [t.word for t in tokenize(title) if is_content_word(t.word)]
    content = [w for w in words if w not in _PLACEHOLDER_TITLE_WORDS]
    if content:
        # Searched source by source: the whole pile lowercased at once was a second copy of
        # every article (a stem never spans two sources, so the count is the same).
        missing = {w: re.compile(rf"\b{re.escape(stem(w))}") for w in dict.fromkeys(content)}
        for source in sources:
            text = f"{source.title}\n{source.text}".lower()
            missing = {w: p for w, p in missing.items() if not p.search(text)}
            if not missing:
                break
        found = sum(w not in missing for w in content)
        if found >= TITLE_SUPPORT * len(content):
            return " ".join(title.split())
    from briefer.engines.extractive.engine import pick_title

    return " ".join(pick_title(sources).split()) or "Briefing"


def fit_sections(sections: Sequence[Section], max_words: int) -> list[Section]:
    """Return ``sections`` keeping, best first, the whole bullets that fit ``max_words``.

    A bullet that does not fit is skipped and a shorter later one may still be kept, so the
    budget is used well and never exceeded, and no bullet is cut mid-sentence.
    """
    kept_sections: list[Section] = []
    used = 0
    for section in sections:
        kept = []
        for bullet in section.bullets:
            if used + bullet.words <= max_words:
                kept.append(bullet)
                used += bullet.words
        if kept:
            kept_sections.append(Section(title=section.title, bullets=kept))
    return _numbered(kept_sections)


def _numbered(sections: list[Section]) -> list[Section]:
    """Return ``sections`` with their bullets numbered B1, B2, ... in reading order."""
    number = 0
    renumbered = []
    for section in sections:
        bullets = []
        for bullet in section.bullets:
            number += 1
            bullets.append(bullet.model_copy(update={"id": f"B{number}"}))
        renumbered.append(section.model_copy(update={"bullets": bullets}))
    return renumbered


def count_independent(source_ids: Sequence[str], sources: Sequence[Source]) -> int:
    """Return how many of ``source_ids`` are independent reports (duplicates count once)."""
    by_id = {s.id: s for s in sources}
    roots = set()
    for sid in source_ids:
        source = by_id.get(sid)
        roots.add(source.duplicate_of or sid if source else sid)
    return len(roots)


def _map_and_validate(
    engine: StreamingEngine,
    chunks: Iterator[Chunk],
    passages: dict[str, Passage],
    options: BriefOptions,
) -> tuple[list[Claim], list[Claim], list[RejectedClaim]]:
    """Return the claims mapped, those accepted and those rejected, in claim order.

    Each part's claims are validated as it arrives, while the engine's later calls are still
    in flight. A claim citing a passage not made yet waits until every passage exists, so
    the outcome never depends on timing.
    """
    claims: list[Claim] = []
    waiting: list[Claim] = []
    verdicts: dict[str, RejectedClaim | None] = {}

    def validate(batch: Sequence[Claim]) -> None:
        accepted, rejected = validate_claims(batch, passages, stage="map")
        verdicts.update((c.id, None) for c in accepted)
        verdicts.update((r.claim.id, r) for r in rejected)

    for batch in engine.map_stream(chunks, options):
        claims.extend(batch)
        ready: list[Claim] = []
        for claim in batch:
            made = all(c.passage_id in passages for c in claim.citations)
            (ready if made else waiting).append(claim)
        validate(ready)
    validate(waiting)
    accepted = [c for c in claims if verdicts[c.id] is None]
    rejected = [r for c in claims if (r := verdicts[c.id]) is not None]
    return claims, accepted, rejected


def _repair(
    engine: Engine,
    accepted: list[Claim],
    rejected: list[RejectedClaim],
    chunks: Sequence[Chunk],
    passages: dict[str, Passage],
    options: BriefOptions,
) -> tuple[list[Claim], list[RejectedClaim], int, int]:
    """Return the claims accepted and rejected after up to the engine's repair rounds.

    Also return how many rejected claims were sent back and how many repaired claims were
    checked. A claim the engine re-sends keeps only its latest rejection, so the briefing
    records why it finally failed, once.
    """
    reasks = rechecked = 0
    # Optional on the Engine protocol: an engine that does not say repairs once.
    rounds = int(getattr(engine, "repair_rounds", 1))
    chunks_by_id = {c.id: c for c in chunks}
    for _ in range(rounds):
        if not rejected:
            break
        wanted = {r.claim.id for r in rejected}
        # Only claims that were rejected can come back; anything else would duplicate an id.
        repaired = [
            c for c in engine.repair_claims(rejected, chunks_by_id, options) if c.id in wanted
        ]
        if not repaired:
            break
        reasks += len(rejected)
        rechecked += len(repaired)
        fixed, still_rejected = validate_claims(repaired, passages, stage="repair")
        latest = {r.claim.id: r for r in still_rejected}
        fixed_ids = {c.id for c in fixed}
        rejected = [latest.get(r.claim.id, r) for r in rejected if r.claim.id not in fixed_ids]
        accepted = accepted + fixed
    return accepted, rejected, reasks, rechecked


def _ground_draft(
    draft: Draft,
    claims: Sequence[Claim],
    sources: Sequence[Source],
    passages: dict[str, Passage],
    rejected_before: int = 0,
) -> tuple[list[Section], list[RejectedClaim]]:
    """Turn draft bullets into cited bullets; reject those that fail validation."""
    claims_by_id = {c.id: c for c in claims}
    sections: list[Section] = []
    rejected: list[RejectedClaim] = []
    shown = 0
    for draft_section in draft.sections:
        bullets: list[Bullet] = []
        for draft_bullet in draft_section.bullets:
            bullet, reasons = _make_bullet(draft_bullet, f"B{shown + 1}", claims_by_id, sources)
            if not reasons:
                reasons = check_bullet(bullet, passages)
                # Each side of a disagreement must stand on its own evidence alone.
                for version in bullet.versions:
                    reasons += check_bullet(
                        bullet.model_copy(
                            update={
                                "text": version.text,
                                "citations": version.citations,
                                "versions": [],
                            }
                        ),
                        passages,
                    )
            if reasons:
                # Its own series: a "B" id would name the next bullet that is shown.
                bullet_id = f"R{rejected_before + len(rejected) + 1}"
                rejected.append(
                    RejectedClaim(
                        claim=_as_claim(bullet.model_copy(update={"id": bullet_id})),
                        stage="reduce",
                        reasons=reasons,
                    )
                )
                continue
            shown += 1
            bullets.append(bullet)
        if bullets:
            sections.append(Section(title=draft_section.title, bullets=bullets))
    return sections, rejected


def _make_bullet(
    draft: DraftBullet,
    bullet_id: str,
    claims_by_id: dict[str, Claim],
    sources: Sequence[Source],
) -> tuple[Bullet, list[Reason]]:
    reasons = [
        Reason(code="unknown_claim", message=f"cites claim {cid}, which is unknown or was rejected")
        for cid in draft.claim_ids
        if cid not in claims_by_id
    ]
    if not draft.claim_ids:
        reasons.append(Reason(code="no_citation", message="cites no claim"))
    citations: list[Citation] = []
    for cid in draft.claim_ids:
        for citation in claims_by_id[cid].citations if cid in claims_by_id else []:
            if citation not in citations:
                citations.append(citation)
    source_ids = _source_ids(citations)
    versions = []
    for version in draft.versions:
        version_citations = [
            c
            for cid in version.claim_ids
            if cid in claims_by_id
            for c in claims_by_id[cid].citations
        ]
        versions.append(
            Version(
                text=version.text,
                citations=version_citations,
                source_ids=_source_ids(version_citations),
            )
        )
    bullet = Bullet(
        id=bullet_id,
        text=draft.text,
        citations=citations,
        claim_ids=list(draft.claim_ids),
        source_ids=source_ids,
        n_sources=count_independent(source_ids, sources),
        versions=versions,
    )
    return bullet, reasons


def _source_ids(citations: Sequence[Citation]) -> list[str]:
    return sorted({c.passage_id.split(".")[0] for c in citations}, key=lambda sid: int(sid[1:]))


def _as_claim(bullet: Bullet) -> Claim:
    return Claim(id=bullet.id, text=bullet.text, citations=bullet.citations)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector (if it runs) for the block, then resume it.

    Chunking, mapping, validating and the extractive reduce allocate a few objects per
    sentence (spans, passages, claims, citations, their lists and features), none in a
    reference cycle, so a collection finds nothing to free; but each full one walks every
    object of the pile. At 10,000 articles collections cost about as much CPU as mapping
    did, and pausing them over these stages saved 3-4 s of the run's ~42 s
    (bench/bench_pipeline.py, alternate runs with and without). Once the block ends, the
    collector runs as before and takes the new objects in as its youngest generation.
    """
    was_running = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_running:
            gc.enable()


def _lap(timings: dict[str, float], stage: str, since: float) -> float:
    now = stage_clock()
    timings[stage] = round(now - since, 4)
    return now
