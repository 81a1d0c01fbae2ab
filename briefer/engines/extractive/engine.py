"""The embedded offline engine: Chunk -> Claim (map) and Claim -> Draft (reduce).

Map: every story sentence of a chunk that reads as a statement becomes a claim quoting
itself, so its evidence is verbatim by construction. Reduce: sentences are picked greedily
for the concepts they newly cover per word (concepts weighted by how many independent
sources carry them and how early), scaled by the audience's cues and by how well the
sentence stands on its own; each pick is merged with the matching sentences of other
sources so the bullet cites every source that reports the fact, disagreements between
sources become "where sources differ" bullets, and the whole is cut to the word budget
without breaking a sentence.
"""

from __future__ import annotations

import heapq
import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np

from briefer.engines.audience import SECTIONS, audience_weight, section_of
from briefer.engines.extractive.synthesis import (
    Disagreement,
    Statement,
    TfidfRows,
    centroid_similarity,
    content_stems,
    count_words,
    disagreement,
    figures_conflict,
    find_disagreements,
    misspelling_rates,
    similarity_rows,
    vectorize,
)
from briefer.grounding.matching import extract_numbers
from briefer.models import (
    DIFFERENCES_TITLE,
    Audience,
    BriefOptions,
    Chunk,
    Citation,
    Claim,
    Draft,
    DraftBullet,
    DraftSection,
    DraftVersion,
    Passage,
    PromptRef,
    RejectedClaim,
    Source,
    Usage,
)
from briefer.words import STATEMENT_END, is_uncased_letter

ENGINE_NAME = "extractive"

# Tuned on the bundled example and the eval-dev clusters as a whole, never per example.
MIN_WORDS = 6
MAX_WORDS = 70
CANDIDATE_POOL = 120  # picks ranked before the budget cut
SINGLE_SOURCE = 0.5  # weight of a concept only one independent source mentions
CLEANER_BY = 0.15  # cleanliness margin at which another source's wording is preferred
DIFFERENCES_FROM_WORDS = 200  # shorter pages keep every word for the main facts
DIFFERENCES_SHARE = 0.3  # most of the budget a "where sources differ" part may take
DIFFERENCES_POOL = 40  # top-ranked picks whose disagreements are worth showing
SAME_TOPIC = 0.25  # cosine at which two sentences are about one thing
MISSPELLING_ALLOWANCE = 0.05  # share of oddly spelled names any clean source may have
SAME_FACT = 0.38  # cosine at which two sentences from different sources state one fact
REDUNDANT = 0.45  # cosine above which a candidate repeats an already chosen bullet

_URL = re.compile(r"https?://|www\.", re.IGNORECASE)
# Sentences that lean on the one before them read badly out of context.
_DANGLING_START = re.compile(
    r"^[\"'“‘]?(?:he|she|it|they|this|these|those|that|his|her|its|their|also|but|and|"
    r"however|instead|meanwhile|still|yet|the (?:first|second|third|latter|former|same))\b",
    re.IGNORECASE,
)


@dataclass
class _Candidate:
    """A pick, in rank order: the sentence that words it and the sentences it merges."""

    index: int
    members: list[int] = field(default_factory=list)
    redundant_with: set[int] = field(default_factory=set)


class ExtractiveEngine:
    """The built-in engine: no model, no network, same pipeline contract as the LLM engine."""

    name = ENGINE_NAME
    model: str | None = None

    def map_chunks(self, chunks: Sequence[Chunk], options: BriefOptions) -> list[Claim]:
        """Return one self-quoting claim per statement-like sentence of each chunk."""
        claims: list[Claim] = []
        for chunk in chunks:
            for passage in chunk.passages:
                for number, span in enumerate(passage.sentences, start=1):
                    text = _source_slice(passage, span.start, span.end)
                    if not _is_statement(text):
                        continue
                    claims.append(  # built without re-validation: our own ids and text
                        Claim.model_construct(
                            id=f"{passage.id}.s{number}",
                            text=text,
                            citations=[Citation.model_construct(passage_id=passage.id, quote=text)],
                            chunk_id=chunk.id,
                        )
                    )
        return claims

    def repair_claims(
        self, rejected: Sequence[RejectedClaim], chunks: dict[str, Chunk], options: BriefOptions
    ) -> list[Claim]:
        """Return nothing: an extractive claim is its own quote, there is nothing to re-ask."""
        return []

    def reduce_claims(
        self,
        claims: Sequence[Claim],
        sources: Sequence[Source],
        passages: dict[str, Passage],
        options: BriefOptions,
    ) -> Draft:
        """Return merged, ranked, budgeted bullets for ``options.audience``."""
        title = pick_title(sources)
        if not claims:
            return Draft(title=title, sections=[])
        roots = {s.id: s.duplicate_of or s.id for s in sources}
        # An extractive claim quotes exactly one passage of its own source.
        source_of = [c.citations[0].passage_id.split(".")[0] for c in claims]
        statements = [
            Statement(text=c.text, source_id=sid, root_id=roots.get(sid, sid))
            for c, sid in zip(claims, source_of, strict=True)
        ]
        matrix = vectorize([s.text for s in statements])
        candidates, disagreements = _rank(statements, matrix, options)
        differences = _differences(disagreements, statements, claims, options)
        spent = sum(count_words(v.text) for d in differences for v in d.versions)
        chosen = _select(candidates, statements, options.max_words - spent)
        sections = _arrange(chosen, claims, statements, options)
        if differences:
            sections.append(DraftSection(title=DIFFERENCES_TITLE, bullets=differences))
        return Draft(title=title, sections=sections)

    def prompt_refs(self) -> list[PromptRef]:
        """Return no prompts: the extractive engine uses none."""
        return []

    def usage(self) -> Usage:
        """Return zero usage: no model calls are made."""
        return Usage()


def _source_slice(passage: Passage, start: int, end: int) -> str:
    offset = start - passage.start
    return passage.text[offset : offset + (end - start)]


def _is_statement(text: str) -> bool:
    words = count_words(text)
    if words < MIN_WORDS or words > MAX_WORDS or _URL.search(text):
        return False
    stripped = text.rstrip("\"'”’)]」』） ")
    if not stripped or stripped[-1] not in STATEMENT_END:
        return False
    first = text.lstrip("\"'“‘(「『（")[:1]
    return first.isupper() or first.isdigit() or is_uncased_letter(first)


def _positions(statements: Sequence[Statement]) -> np.ndarray:
    seen: dict[str, int] = {}
    ranks = np.zeros(len(statements), dtype=np.float32)
    for i, s in enumerate(statements):
        ranks[i] = seen.get(s.source_id, 0)
        seen[s.source_id] = int(ranks[i]) + 1
    return np.asarray(1.0 / np.sqrt(1.0 + ranks), dtype=np.float32)


def _cleanliness(statements: Sequence[Statement]) -> np.ndarray:
    """Return, per statement, how cleanly its source is written (1 clean, 0.4 garbled).

    Garbled sources still corroborate facts; their wording is ranked lower and a cleaner
    source's sentence is preferred as the text of a bullet they share.
    """
    texts: dict[str, list[str]] = {}
    for statement in statements:
        texts.setdefault(statement.root_id, []).append(statement.text)
    rates = misspelling_rates({root: " ".join(parts) for root, parts in texts.items()})
    clean = {
        root: 1.0 - min(0.6, max(0.0, rate - MISSPELLING_ALLOWANCE) * 8)
        for root, rate in rates.items()
    }
    return np.asarray([clean[s.root_id] for s in statements], dtype=np.float32)


def _concepts(text: str) -> set[str]:
    """Return the concepts a sentence covers: bigrams of its stemmed content words and numbers."""
    stems = content_stems(text)
    numbers = [str(n) for n in extract_numbers(text)]
    return {f"{a} {b}" for a, b in itertools.pairwise(stems)} | set(numbers)


def _concept_weights(
    concepts: Sequence[set[str]], statements: Sequence[Statement], position: np.ndarray
) -> dict[str, float]:
    """Weigh each concept by the independent sources that mention it, earliest mention first.

    A concept several independent reports carry is what the story is about; one that only a
    single source mentions still counts, at a discount.
    """
    best: dict[str, dict[str, float]] = {}
    for statement, found, weight in zip(statements, concepts, position.tolist(), strict=True):
        for concept in found:
            per_root = best.setdefault(concept, {})
            per_root[statement.root_id] = max(per_root.get(statement.root_id, 0.0), weight)
    return {
        concept: sum(per_root.values()) * (1.0 if len(per_root) > 1 else SINGLE_SOURCE)
        for concept, per_root in best.items()
    }


def _rank(
    statements: Sequence[Statement], matrix: TfidfRows, options: BriefOptions
) -> tuple[list[_Candidate], list[Disagreement]]:
    """Return statements chosen greedily for concept coverage per word, best first.

    This is the budgeted maximum-coverage view of summarisation (Gillick & Favre, 2009):
    each pick adds the weight of the concepts it newly covers, scaled by how well the
    sentence suits the audience and reads on its own, divided by its length. Lazy greedy
    evaluation keeps it fast: a sentence's gain can only shrink as coverage grows.
    """
    position = _positions(statements)
    # Republished reports repeat their sentences: each distinct text's features are computed
    # once and shared (read only) by every statement with that text.
    by_text: dict[str, set[str]] = {}
    for s in statements:
        if s.text not in by_text:
            by_text[s.text] = _concepts(s.text)
    concepts = [by_text[s.text] for s in statements]
    weights = _concept_weights(concepts, statements, position)
    cleanliness = _cleanliness(statements)
    query = set() if options.audience_preset else set(content_stems(options.audience))
    suits: dict[str, tuple[float, float]] = {}  # text -> (audience fit x standing, sqrt(words))
    for s in statements:
        if s.text not in suits:
            suits[s.text] = (
                audience_weight(s.text, options, query)
                * (0.75 if _DANGLING_START.search(s.text) else 1.0),
                np.sqrt(count_words(s.text)),
            )
    factor = [
        suits[s.text][0]
        * float(cleanliness[i])
        * (0.8 + 0.2 * float(position[i]))
        / suits[s.text][1]
        for i, s in enumerate(statements)
    ]
    covered: set[str] = set()
    # fsum is exact, so a score never depends on the order a set yields its concepts in.
    heap = [
        (-math.fsum(weights[c] for c in concepts[i]) * factor[i], i) for i in range(len(statements))
    ]
    heapq.heapify(heap)
    ranked: list[_Candidate] = []
    while heap and len(ranked) < CANDIDATE_POOL:
        stale, i = heapq.heappop(heap)
        gain = math.fsum(weights[c] for c in concepts[i] - covered) * factor[i]
        if gain <= 0:
            continue
        if heap and gain < -heap[0][0] - 1e-9 and gain < -stale - 1e-9:
            heapq.heappush(heap, (-gain, i))
            continue
        ranked.append(_Candidate(index=i, members=[i]))
        covered |= concepts[i]
    return _merge_sources(ranked, statements, matrix, cleanliness)


def _merge_sources(
    ranked: list[_Candidate],
    statements: Sequence[Statement],
    matrix: TfidfRows,
    cleanliness: np.ndarray,
) -> tuple[list[_Candidate], list[Disagreement]]:
    """Attach to each pick the matching sentence of every other source that states it.

    Also return where the top picks disagree with other sources, found before any pick is
    reworded, so a disputed sentence is both kept out of merged bullets and shown.
    """
    rows = [c.index for c in ranked]
    similar = similarity_rows(matrix, rows)
    disagreements = find_disagreements(statements, matrix, rows[:DIFFERENCES_POOL], SAME_TOPIC)
    disputed = {side for found in disagreements for side in (found.first, found.second)}
    for row, candidate in enumerate(ranked):
        members = _compatible(
            [candidate.index, *_best_match_per_source(similar[row], statements, candidate.index)],
            statements,
        )
        lead = _wording(candidate.index, members, disputed, cleanliness)
        candidate.index = lead
        candidate.members = [lead, *(m for m in members if m != lead)]
        candidate.redundant_with = set(np.nonzero(similar[row] >= REDUNDANT)[0].tolist())
    return ranked, disagreements


def _wording(pick: int, members: list[int], disputed: set[int], cleanliness: np.ndarray) -> int:
    """Return the member whose sentence should word the bullet.

    A shared fact is worded as an undisputed source states it (a detail one source gets
    wrong must not be presented as what every cited source says), and by a cleaner source
    when the pick's own source is markedly less clean.
    """
    pool = [m for m in members if m not in disputed] or members
    best = max(pool, key=lambda m: float(cleanliness[m]))
    if pick in pool and cleanliness[best] - cleanliness[pick] < CLEANER_BY:
        return pick
    return best


def _best_match_per_source(
    row: np.ndarray, statements: Sequence[Statement], index: int
) -> list[int]:
    """Return, per other source, its sentence most similar to ``index`` if it states the fact.

    A sentence states the same fact when it is close in wording (``SAME_FACT``), or when it
    is on the topic and gives the same telling figure ("472 drones" in differently worded
    reports, or in a clumsy translation that shares few words with the original).
    """
    own = statements[index].source_id
    figures = _telling_figures(statements[index].text)
    best: dict[str, tuple[float, int]] = {}
    for j in np.nonzero(row >= SAME_TOPIC)[0].tolist():
        source = statements[j].source_id
        if source == own:
            continue
        value = float(row[j])
        if value < SAME_FACT and not (figures & _telling_figures(statements[j].text)):
            continue
        if source not in best or value > best[source][0]:
            best[source] = (value, j)
    return [j for _, j in sorted(best.values(), reverse=True)]


def _telling_figures(text: str) -> set[Decimal]:
    """Return the figures in ``text`` that can identify a fact: no small counts, no years."""
    return {n for n in extract_numbers(text) if n >= 10 and not (1900 <= n <= 2100 and n == n // 1)}


def _compatible(members: list[int], statements: Sequence[Statement]) -> list[int]:
    """Drop matches that report the lead sentence's fact differently: they are not support.

    Differently means a differing count of the same thing, or figures that cannot be one
    fact's (however alike the rest of the wording: "item 4812" is not "item 4813").
    """
    lead = statements[members[0]].text
    return [members[0]] + [
        j
        for j in members[1:]
        if not disagreement(lead, statements[j].text)
        and not figures_conflict(lead, statements[j].text)
    ]


def _select(
    candidates: list[_Candidate], statements: Sequence[Statement], budget: int
) -> list[_Candidate]:
    """Return non-redundant candidates, in rank order, whose texts fit ``budget`` words."""
    chosen: list[_Candidate] = []
    covered: set[int] = set()
    for candidate in candidates:
        if budget < MIN_WORDS:
            break
        if covered & ({*candidate.members} | candidate.redundant_with):
            continue
        words = count_words(statements[candidate.index].text)
        if words > budget:
            continue
        chosen.append(candidate)
        covered.update(candidate.members)
        budget -= words
    return chosen


def _differences(
    disagreements: list[Disagreement],
    statements: Sequence[Statement],
    claims: Sequence[Claim],
    options: BriefOptions,
) -> list[DraftBullet]:
    """Return "where sources differ" bullets about the facts that rank, within their share."""
    if options.max_words < DIFFERENCES_FROM_WORDS:
        return []
    budget = int(options.max_words * DIFFERENCES_SHARE)
    bullets: list[DraftBullet] = []
    labels: set[str] = set()
    for found in disagreements:
        sides = (found.first, found.second)
        words = sum(count_words(statements[i].text) for i in sides)
        if found.label in labels or words > budget:
            continue
        labels.add(found.label)
        budget -= words
        bullets.append(
            DraftBullet(
                text=found.label,
                claim_ids=[claims[i].id for i in sides],
                versions=[
                    DraftVersion(text=statements[i].text, claim_ids=[claims[i].id]) for i in sides
                ],
            )
        )
    return bullets


def _arrange(
    chosen: list[_Candidate],
    claims: Sequence[Claim],
    statements: Sequence[Statement],
    options: BriefOptions,
) -> list[DraftSection]:
    preset = options.audience_preset or Audience.general
    titles = SECTIONS[preset]
    grouped: list[list[DraftBullet]] = [[] for _ in titles]
    for rank, candidate in enumerate(chosen):
        text = statements[candidate.index].text
        section = 0 if preset is Audience.executive and rank == 0 else section_of(text, preset)
        grouped[section].append(
            DraftBullet(text=text, claim_ids=[claims[m].id for m in candidate.members])
        )
    return [
        DraftSection(title=title, bullets=bullets)
        for title, bullets in zip(titles, grouped, strict=True)
        if bullets
    ]


def pick_title(sources: Sequence[Source]) -> str:
    """Return the title of the source most like the others (independent reports first)."""
    titles = [s.title for s in sources if s.duplicate_of is None] or [s.title for s in sources]
    if not titles:
        return "Briefing"
    if len(titles) == 1:
        return titles[0]
    matrix = vectorize(titles)
    score = centroid_similarity(matrix, [str(i) for i in range(len(titles))])
    return titles[int(np.argmax(score))]
