"""The embedded offline engine: Chunk -> Claim (map) and Claim -> Draft (reduce).

Map: every story sentence of a chunk that reads as a statement becomes a claim quoting
itself, so its evidence is verbatim by construction. Reduce: concrete outcomes (a decision
or commitment with a figure or a date) take their share of the budget first, even when one
source reports them; the rest are picked greedily for the concepts they newly cover per
word (concepts weighted by how many independent sources carry them and how early), scaled
by the audience's cues, by how central the sentence is to the cluster (LexRank-like cosine
to the centroid) and by how well it stands on its own; each pick is merged with the
matching sentences of other sources (never one whose figures differ) so the bullet cites
every source that reports the fact, disagreements between sources become "where sources
differ" bullets, the whole is cut to the word budget without breaking a sentence, and the
bullets are arranged as a briefing reads: what happened, what was agreed, positions, what
happens next, background; in each section in the order the sources tell them.
"""

from __future__ import annotations

import heapq
import itertools
import math
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache

import numpy as np

from briefer.engines.audience import (
    SECTIONS,
    Kind,
    audience_weight,
    outcome_strength,
    section_of,
    section_of_kind,
)
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
    construct_trusted,
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

# Most of the budget concrete outcomes may take before coverage picks the rest, by audience
# (a free-text audience counts as general).
OUTCOME_SHARE = {Audience.executive: 0.35, Audience.analyst: 0.25, Audience.general: 0.15}
CENTRALITY = 3.0  # weight of a sentence's cosine to the cluster centroid (LexRank-like)
POSITION_PRIOR = 0.2  # how much earlier sentences of a source are preferred

_URL = re.compile(r"https?://|www\.", re.IGNORECASE)
# Sentences that lean on the one before them read badly out of context.
_DANGLING_START = re.compile(
    r"^[\"'“‘]?(?:he|she|it|they|this|these|those|that|his|her|its|their|also|but|and|"
    r"however|instead|meanwhile|still|yet|the (?:first|second|third|latter|former|same))\b",
    re.IGNORECASE,
)


# The fields map_chunks builds each claim and citation with: one set shared by all of them
# (models are frozen; a copy gets its own set), instead of a set per claim.
_CLAIM_FIELDS = {"id", "text", "citations", "chunk_id"}
_CITATION_FIELDS = {"passage_id", "quote"}


@dataclass
class _Candidate:
    """A pick, in rank order: the sentence that words it and the sentences it merges."""

    index: int
    members: list[int] = field(default_factory=list)
    redundant_with: set[int] = field(default_factory=set)
    outcome_first: bool = False  # a concrete outcome given its place before coverage ranking


class ExtractiveEngine:
    """The built-in engine: no model, no network, same pipeline contract as the LLM engine."""

    name = ENGINE_NAME
    model: str | None = None

    def map_chunks(self, chunks: Sequence[Chunk], options: BriefOptions) -> list[Claim]:
        """Return one self-quoting claim per statement-like sentence of each chunk."""
        claims: list[Claim] = []
        # Most sentences of a pile repeat (near-duplicate articles, shared paragraphs): each
        # distinct text is judged once, and its claims share one copy of it (None: not a
        # statement). The table lives for this call only.
        statement_of: dict[str, str | None] = {}
        for chunk in chunks:
            for passage in chunk.passages:
                for number, span in enumerate(passage.sentences, start=1):
                    text = _source_slice(passage, span.start, span.end)
                    if text in statement_of:
                        shared = statement_of[text]
                    else:
                        shared = statement_of[text] = text if _is_statement(text) else None
                    if shared is None:
                        continue
                    claims.append(  # built without re-validation: our own ids and text
                        construct_trusted(
                            Claim,
                            _CLAIM_FIELDS,
                            id=f"{passage.id}.s{number}",
                            text=shared,
                            citations=[
                                construct_trusted(
                                    Citation, _CITATION_FIELDS, passage_id=passage.id, quote=shared
                                )
                            ],
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
        # Each distinct text is stemmed once, for TF-IDF and for concepts alike.
        stems_by_text: dict[str, list[str]] = {}

        def stems_of(text: str) -> list[str]:
            found = stems_by_text.get(text)
            if found is None:
                found = stems_by_text[text] = content_stems(text)
            return found

        matrix = vectorize([s.text for s in statements], stems_of)
        candidates, disagreements = _rank(statements, matrix, options, stems_of)
        differences = _differences(disagreements, statements, claims, options)
        spent = sum(count_words(v.text) for d in differences for v in d.versions)
        chosen = _select(candidates, statements, matrix, options.max_words - spent)
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


def _concepts(text: str, stems: Sequence[str]) -> set[str]:
    """Return the concepts a sentence covers: bigrams of its stemmed content words (``stems``)
    and numbers."""
    numbers = [str(n) for n in extract_numbers(text)]
    # Interned: tens of thousands of sentences share their bigrams, one string each.
    return {sys.intern(f"{a} {b}") for a, b in itertools.pairwise(stems)} | set(numbers)


def _concept_weights(
    concepts: Sequence[set[str]], statements: Sequence[Statement], position: np.ndarray
) -> dict[str, float]:
    """Weigh each concept by the independent sources that mention it, earliest mention first.

    A concept several independent reports carry is what the story is about; one that only a
    single source mentions still counts, at a discount.
    """
    # A root's copies repeat its texts: each (root, text) pair is walked once, with its
    # highest weight, in order of first appearance, so each concept meets its roots in the
    # same order and keeps the same maxima as walking every statement.
    highest: dict[tuple[str, str], float] = {}  # (root, text) -> its highest weight
    concepts_of: dict[tuple[str, str], set[str]] = {}
    for statement, found, weight in zip(statements, concepts, position.tolist(), strict=True):
        pair = (statement.root_id, statement.text)
        if pair not in highest:
            highest[pair] = weight
            concepts_of[pair] = found
        elif weight > highest[pair]:
            highest[pair] = weight
    best: dict[str, dict[str, float]] = {}
    for (root_id, text), weight in highest.items():
        for concept in concepts_of[root_id, text]:
            per_root = best.setdefault(concept, {})
            per_root[root_id] = max(per_root.get(root_id, 0.0), weight)
    return {
        concept: sum(per_root.values()) * (1.0 if len(per_root) > 1 else SINGLE_SOURCE)
        for concept, per_root in best.items()
    }


def _rank(
    statements: Sequence[Statement],
    matrix: TfidfRows,
    options: BriefOptions,
    stems_of: Callable[[str], Sequence[str]] = content_stems,
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
            by_text[s.text] = _concepts(s.text, stems_of(s.text))
    concepts = [by_text[s.text] for s in statements]
    weights = _concept_weights(concepts, statements, position)
    cleanliness = _cleanliness(statements)
    strength_of: dict[str, int] = {}
    for s in statements:
        if s.text not in strength_of:
            strength_of[s.text] = outcome_strength(s.text)
    strength = [strength_of[s.text] for s in statements]
    central = centroid_similarity(matrix, [s.root_id for s in statements])
    query = set() if options.audience_preset else set(content_stems(options.audience))
    power = _length_power(options.max_words)
    suits: dict[str, tuple[float, float]] = {}  # text -> (audience fit x standing, length cost)
    for s in statements:
        if s.text not in suits:
            suits[s.text] = (
                audience_weight(s.text, options, query)
                * (0.75 if _DANGLING_START.search(s.text) else 1.0),
                count_words(s.text) ** power,
            )
    factor = [
        suits[s.text][0]
        * float(cleanliness[i])
        * (1.0 - POSITION_PRIOR + POSITION_PRIOR * float(position[i]))
        * (1.0 + CENTRALITY * float(central[i]))
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
    reserved = _reserve_outcomes(
        statements, matrix, strength, concepts, weights, factor, cleanliness, options
    )
    if reserved:
        ranked = [_Candidate(index=i, members=[i], outcome_first=True) for i in reserved] + [
            c for c in ranked if c.index not in set(reserved)
        ][: CANDIDATE_POOL - len(reserved)]
    return _merge_sources(ranked, statements, matrix, cleanliness)


def _reserve_outcomes(
    statements: Sequence[Statement],
    matrix: TfidfRows,
    strength: Sequence[int],
    concepts: Sequence[set[str]],
    weights: dict[str, float],
    factor: Sequence[float],
    cleanliness: np.ndarray,
    options: BriefOptions,
) -> list[int]:
    """Return the concrete outcomes that go first, best first, within their share of words.

    A decision or commitment with a figure or a date is what every reader needs, even when
    only one independent source reports it, so it does not compete on corroboration: the
    best-scoring such statements (not repeating one another) take up to ``OUTCOME_SHARE`` of
    the budget before coverage picks the rest. A source trusted less for its wording (see
    ``_cleanliness``) never words one.
    """
    budget = int(options.max_words * OUTCOME_SHARE[options.audience_preset or Audience.general])
    pool = [
        i for i, value in enumerate(strength) if value == 2 and cleanliness[i] >= 1.0 - CLEANER_BY
    ]
    score = {i: math.fsum(weights[c] for c in concepts[i]) * factor[i] for i in pool}
    reserved: list[int] = []
    rows = np.zeros((0, len(statements)), dtype=np.float32)
    for i in sorted(pool, key=lambda i: (-score[i], i)):
        words = count_words(statements[i].text)
        if words > budget:
            continue
        if reserved and _repeats(i, reserved, rows, statements):
            continue
        reserved.append(i)
        rows = similarity_rows(matrix, reserved)
        budget -= words
    return reserved


def _repeats(
    index: int, kept: Sequence[int], kept_rows: np.ndarray, statements: Sequence[Statement]
) -> bool:
    """Return whether ``index`` repeats a kept statement: close wording, or the same telling
    figure on the same topic or in the same source ("under 25" said twice by one report).

    ``kept_rows`` holds the kept statements' cosine rows (``similarity_rows``).
    """
    source = statements[index].source_id
    for k, value in zip(kept, kept_rows[:, index].tolist(), strict=True):
        if value >= REDUNDANT:
            return True
        if (value >= SAME_TOPIC or statements[k].source_id == source) and (
            _telling_figures(statements[index].text) & _telling_figures(statements[k].text)
        ):
            return True
    return False


def _length_power(max_words: int) -> float:
    """Return the power of a sentence's length that divides its gain (the square root).

    A power falling with the budget (0.5 at 100 words, 0 from 250) helped on the development
    clusters and hurt on the confirmation clusters, so it was not kept (bench/README.md).
    """
    return 0.5


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
    # outcomes given their place first come on top of the pool of coverage picks
    pool = DIFFERENCES_POOL + sum(c.outcome_first for c in ranked)
    disagreements = find_disagreements(statements, matrix, rows[:pool], SAME_TOPIC)
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


@lru_cache(maxsize=65536)
def _telling_figures(text: str) -> frozenset[Decimal]:
    """Return the figures in ``text`` that can identify a fact: no small counts, no years."""
    return frozenset(
        n for n in extract_numbers(text) if n >= 10 and not (1900 <= n <= 2100 and n == n // 1)
    )


def _compatible(members: list[int], statements: Sequence[Statement]) -> list[int]:
    """Drop matches that report the lead sentence's fact differently: they are not support.

    Differently means a differing count of the same thing, or figures that cannot be one
    fact's (however alike the rest of the wording: "item 4812" is not "item 4813").
    """
    lead = statements[members[0]].text
    # Many sources repeat one sentence word for word: each distinct text is judged once.
    conflicts: dict[str, bool] = {}
    kept = [members[0]]
    for j in members[1:]:
        text = statements[j].text
        if text not in conflicts:
            conflicts[text] = bool(disagreement(lead, text) or figures_conflict(lead, text))
        if not conflicts[text]:
            kept.append(j)
    return kept


def _select(
    candidates: list[_Candidate],
    statements: Sequence[Statement],
    matrix: TfidfRows,
    budget: int,
) -> list[_Candidate]:
    """Return non-redundant candidates, in rank order, whose texts fit ``budget`` words.

    Besides close wording, a candidate that gives the figure of an outcome already chosen
    on the same topic (or from the same source) repeats it.
    """
    chosen: list[_Candidate] = []
    covered: set[int] = set()
    outcomes: list[int] = []
    outcome_rows = np.zeros((0, len(statements)), dtype=np.float32)
    for candidate in candidates:
        if budget < MIN_WORDS:
            break
        if covered & ({*candidate.members} | candidate.redundant_with):
            continue
        if outcomes and _repeats(candidate.index, outcomes, outcome_rows, statements):
            continue
        words = count_words(statements[candidate.index].text)
        if words > budget:
            continue
        chosen.append(candidate)
        covered.update(candidate.members)
        if candidate.outcome_first:
            outcomes.append(candidate.index)
            outcome_rows = similarity_rows(matrix, outcomes)
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
    grouped: list[list[tuple[float, int, DraftBullet]]] = [[] for _ in titles]
    place = _places(statements)
    # the headline, the best pick on coverage, says what happened (the executive's bottom
    # line); an outcome given its place first is not it (those go under what was agreed)
    headline = next((c for c in chosen if not c.outcome_first), None)
    for rank, candidate in enumerate(chosen):
        text = statements[candidate.index].text
        if candidate is headline:
            section = 0 if preset is Audience.executive else section_of_kind(Kind.happened, preset)
        else:
            section = section_of(text, preset)
        grouped[section].append(
            (
                place[candidate.index],
                rank,
                DraftBullet(text=text, claim_ids=[claims[m].id for m in candidate.members]),
            )
        )
    grouped_bullets = [[b for _, _, b in sorted(group, key=lambda t: t[:2])] for group in grouped]
    return [
        DraftSection(title=title, bullets=bullets)
        for title, bullets in zip(titles, grouped_bullets, strict=True)
        if bullets
    ]


def _places(statements: Sequence[Statement]) -> list[float]:
    """Return each statement's place in its source, 0 (first) to 1 (last)."""
    totals: dict[str, int] = {}
    for s in statements:
        totals[s.source_id] = totals.get(s.source_id, 0) + 1
    seen: dict[str, int] = {}
    places = []
    for s in statements:
        n = seen.get(s.source_id, 0)
        seen[s.source_id] = n + 1
        places.append(n / max(1, totals[s.source_id] - 1))
    return places


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
