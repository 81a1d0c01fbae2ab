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
from collections.abc import Sequence
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
    entries_of,
    figures_conflict,
    find_disagreements,
    misspelling_rates,
    names_in,
    numbers_in,
    row_sums,
    similarity_rows,
    vectorize,
)
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


@dataclass(frozen=True)
class _DistinctTexts:
    """The statements' texts, each once: republished reports repeat their sentences, so each
    distinct text's features are computed once and shared by every statement with that text.
    """

    texts: list[str]  # in order of first appearance
    of: np.ndarray  # per statement, the number of its text in ``texts``
    stems: list[list[str]]  # per text, its stemmed content words (for TF-IDF and concepts)


def _distinct_texts(statements: Sequence[Statement]) -> _DistinctTexts:
    numbers: dict[str, int] = {}
    of = np.asarray([numbers.setdefault(s.text, len(numbers)) for s in statements], np.int64)
    return _DistinctTexts(list(numbers), of, [content_stems(text) for text in numbers])


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
            Statement(c.text, sid, roots.get(sid, sid))  # text, source, independent root
            for c, sid in zip(claims, source_of, strict=True)
        ]
        distinct = _distinct_texts(statements)
        stems = dict(zip(distinct.texts, distinct.stems, strict=True))
        matrix = vectorize(distinct.texts, stems.__getitem__, distinct.of)
        candidates, disagreements = _rank(statements, distinct, matrix, options)
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


def _order_in_source(statements: Sequence[Statement]) -> tuple[np.ndarray, np.ndarray]:
    """Return per statement its number within its source (0 first) and its source's count."""
    number: dict[str, int] = {}
    source = np.asarray([number.setdefault(s.source_id, len(number)) for s in statements], int)
    counts = np.bincount(source)
    rank = np.empty(len(source), dtype=np.int64)
    # sources in order of their number, each one's statements in statement order
    rank[np.argsort(source, kind="stable")] = np.arange(len(source)) - np.repeat(
        np.cumsum(counts) - counts, counts
    )
    return rank, counts[source]


def _positions(statements: Sequence[Statement]) -> np.ndarray:
    ranks = _order_in_source(statements)[0].astype(np.float32)
    return np.asarray(1.0 / np.sqrt(1.0 + ranks), dtype=np.float32)


def _sorted_distinct(values: np.ndarray) -> np.ndarray:
    """Return the distinct ``values``, ascending (``np.unique`` hashes: 20x slower here)."""
    ordered = np.sort(values)
    if not len(ordered):  # texts with no concept at all (only stop words, no number)
        return ordered
    distinct: np.ndarray = ordered[np.r_[True, ordered[1:] != ordered[:-1]]]
    return distinct


def _numbered_roots(statements: Sequence[Statement]) -> tuple[list[str], np.ndarray]:
    """Return the independent roots, sorted, and per statement the number of its root."""
    names = sorted({s.root_id for s in statements})
    number = {name: n for n, name in enumerate(names)}
    return names, np.asarray([number[s.root_id] for s in statements], dtype=np.int64)


def _cleanliness(
    distinct: _DistinctTexts, root_names: Sequence[str], root_of: np.ndarray
) -> np.ndarray:
    """Return, per statement, how cleanly its source is written (1 clean, 0.4 garbled).

    Garbled sources still corroborate facts; their wording is ranked lower and a cleaner
    source's sentence is preferred as the text of a bullet they share. A root's names are
    those of all its texts (names never span the spaces that once joined them).
    """
    names_of_text = [names_in(text) for text in distinct.texts]
    # Each (root, text) pair once, by root: one sort of their keys.
    n_texts = len(distinct.texts)
    pairs = _sorted_distinct(root_of * n_texts + distinct.of)
    roots, texts = np.divmod(pairs, n_texts)
    bounds = np.r_[np.flatnonzero(np.r_[True, roots[1:] != roots[:-1]]), len(roots)].tolist()
    texts_in_order = texts.tolist()
    names = {
        root_names[roots[start]]: set().union(
            *map(names_of_text.__getitem__, texts_in_order[start:end])
        )
        for start, end in itertools.pairwise(bounds)
    }
    rates = misspelling_rates(names)
    clean = np.asarray(
        [1.0 - min(0.6, max(0.0, rates[root] - MISSPELLING_ALLOWANCE) * 8) for root in root_names],
        dtype=np.float32,
    )
    found: np.ndarray = clean[root_of]
    return found


@dataclass(frozen=True)
class _ConceptTable:
    """Each distinct text's concepts, numbered, in CSR layout: text ``t``'s concepts are
    ``numbers[starts[t]:starts[t + 1]]``, each once, ascending; ``count`` concepts in all."""

    starts: np.ndarray
    numbers: np.ndarray
    count: int

    @classmethod
    def of_sets(cls, concepts: Sequence[frozenset[int]]) -> _ConceptTable:
        """Return the table of per-text sets of concept numbers."""
        starts = np.zeros(len(concepts) + 1, dtype=np.int64)
        np.cumsum([len(found) for found in concepts], out=starts[1:])
        numbers = np.fromiter(
            (c for found in concepts for c in sorted(found)), np.int64, count=int(starts[-1])
        )
        return cls(starts, numbers, 1 + int(numbers.max(initial=-1)))

    def of(self, text: int) -> frozenset[int]:
        """Return the concept numbers of distinct text ``text``."""
        return frozenset(self.numbers[self.starts[text] : self.starts[text + 1]].tolist())


def _numbered_concepts(distinct: _DistinctTexts) -> _ConceptTable:
    """Return each distinct text's concepts, numbered: the bigrams of its stemmed content
    words ("exchang prison") and its numbers ("1200").

    Built in numpy rather than as strings: a bigram is a pair of stem numbers (a stem holds no
    space, so the string "a b" names exactly one pair) and a number is its string (never a
    bigram: it holds no space), so two texts share a concept number exactly when they share
    the concept's string.
    """
    n_texts = len(distinct.texts)
    every_stem = list(itertools.chain.from_iterable(distinct.stems))
    stem_number = {stem: n for n, stem in enumerate(dict.fromkeys(every_stem))}
    stem_ids = np.fromiter(map(stem_number.__getitem__, every_stem), np.int64, len(every_stem))
    del every_stem
    owner = np.repeat(np.arange(n_texts), [len(stems) for stems in distinct.stems])
    same_text = owner[:-1] == owner[1:]  # neighbouring stems of one text
    n_stems = len(stem_number)
    bigram_keys = (stem_ids[:-1] * n_stems + stem_ids[1:])[same_text]
    number_of: dict[str, int] = {}
    numbers = [
        [number_of.setdefault(str(n), len(number_of)) for n in numbers_in(text)]
        for text in distinct.texts
    ]
    number_keys = n_stems * n_stems + np.fromiter(itertools.chain(*numbers), np.int64)
    keys = np.concatenate([bigram_keys, number_keys])
    owners = np.concatenate(
        [owner[:-1][same_text], np.repeat(np.arange(n_texts), [len(n) for n in numbers])]
    )
    concept_keys, concept = np.unique(keys, return_inverse=True)
    # each text's concepts once, ascending
    pairs = _sorted_distinct(owners * len(concept_keys) + concept)
    text, number = np.divmod(pairs, len(concept_keys))
    starts = np.zeros(n_texts + 1, dtype=np.int64)
    np.cumsum(np.bincount(text, minlength=n_texts), out=starts[1:])
    return _ConceptTable(starts, number, len(concept_keys))


def _concept_weights(
    concepts: _ConceptTable,
    text_of: np.ndarray,
    root_of: np.ndarray,
    position: np.ndarray,
) -> list[float]:
    """Weigh each concept by the independent sources that mention it, earliest mention first.

    A concept several independent reports carry is what the story is about; one that only a
    single source mentions still counts, at a discount. ``concepts`` holds each distinct
    text's concept numbers, ``text_of`` and ``root_of`` each statement's text and root, and
    ``position`` its weight. A concept's weight is the sum, over the roots that mention it in
    the order it first meets them (statement order), of each root's highest weight for it:
    computed in numpy, with the sums added in that order in float64 as Python's ``sum`` does,
    so the weights are the same floats as a walk over every statement gives.
    """
    n_texts = len(concepts.starts) - 1
    n_concepts = concepts.count
    if not n_concepts:  # only stop words and no numbers in every text
        return []
    # Each (root, text) pair once, in order of first appearance, with its highest weight.
    keys, first, inverse = np.unique(
        root_of * n_texts + text_of, return_index=True, return_inverse=True
    )
    highest = np.full(len(keys), -np.inf, dtype=np.float32)
    np.maximum.at(highest, inverse, position)
    in_order = np.argsort(first, kind="stable")
    pair_root, pair_text = np.divmod(keys[in_order], n_texts)
    pair_weight = highest[in_order]
    # Every (pair, concept of its text) entry, pairs in order (a text's concepts in any order).
    concept = concepts.numbers[entries_of(concepts.starts, pair_text)]
    repeat = np.diff(concepts.starts)[pair_text]
    n_roots = int(root_of.max()) + 1
    key = concept * n_roots + np.repeat(pair_root, repeat)
    weight = np.repeat(pair_weight, repeat)
    del concept, repeat
    # Per (concept, root): its highest weight, and its first entry (when the concept met it).
    by_key = np.argsort(key, kind="stable")
    sorted_key = key[by_key]
    group = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
    best = np.maximum.reduceat(weight[by_key], group)
    met_at = by_key[group]
    group_concept = sorted_key[group] // n_roots
    del key, weight, by_key, sorted_key
    # Per concept, its roots' highest weights in the order it met them, summed in that order.
    in_meeting_order = np.lexsort((met_at, group_concept))
    roots_per_concept = np.bincount(group_concept, minlength=n_concepts)
    bounds = np.zeros(n_concepts + 1, dtype=np.int64)
    np.cumsum(roots_per_concept, out=bounds[1:])
    sums = row_sums(best[in_meeting_order].astype(np.float64), bounds, np.float64)
    weights: list[float] = np.where(roots_per_concept > 1, sums, sums * SINGLE_SOURCE).tolist()
    return weights


def _rank(
    statements: Sequence[Statement],
    distinct: _DistinctTexts,
    matrix: TfidfRows,
    options: BriefOptions,
) -> tuple[list[_Candidate], list[Disagreement]]:
    """Return statements chosen greedily for concept coverage per word, best first.

    This is the budgeted maximum-coverage view of summarisation (Gillick & Favre, 2009):
    each pick adds the weight of the concepts it newly covers, scaled by how well the
    sentence suits the audience and reads on its own, divided by its length. Lazy greedy
    evaluation keeps it fast: a sentence's gain can only shrink as coverage grows.
    """
    position = _positions(statements)
    root_names, root_of = _numbered_roots(statements)
    text_of = distinct.of
    # Features of a text are computed once per distinct text, then spread to its statements.
    concepts = _numbered_concepts(distinct)
    weights = _concept_weights(concepts, text_of, root_of, position)
    cleanliness = _cleanliness(distinct, root_names, root_of)
    strength = np.asarray([outcome_strength(t) for t in distinct.texts], dtype=np.int8)[text_of]
    # Root numbers follow the sorted root ids, so the groups are summed in the same order.
    central = centroid_similarity(matrix, root_of)
    query = set() if options.audience_preset else set(content_stems(options.audience))
    power = _length_power(options.max_words)
    words = [count_words(text) for text in distinct.texts]
    fit = np.asarray(  # audience fit x standing
        [
            audience_weight(text, options, query, n, stems)
            * (0.75 if _DANGLING_START.search(text) else 1.0)
            for text, n, stems in zip(distinct.texts, words, distinct.stems, strict=True)
        ],
        dtype=np.float64,
    )
    cost = np.asarray([n**power for n in words], np.float64)
    # Per statement, in float64 and in the order Python multiplied these one statement at a
    # time (numpy rounds each elementwise operation as Python rounds the same one).
    factor_array = (
        fit[text_of]
        * cleanliness.astype(np.float64)
        * (1.0 - POSITION_PRIOR + POSITION_PRIOR * position.astype(np.float64))
        * (1.0 + CENTRALITY * central.astype(np.float64))
        / cost[text_of]
    )
    factor: list[float] = factor_array.tolist()
    # fsum is exact, so a score never depends on the order a set yields its concepts in.
    weight_of_entry: list[float] = np.asarray(weights)[concepts.numbers].tolist()
    text_score = np.asarray(
        [math.fsum(weight_of_entry[a:b]) for a, b in itertools.pairwise(concepts.starts.tolist())]
    )
    score: list[float] = (text_score[text_of] * factor_array).tolist()
    concepts_of: dict[int, frozenset[int]] = {}  # the popped statements' texts' concepts

    def concepts_of_statement(i: int) -> frozenset[int]:
        text = int(text_of[i])
        if text not in concepts_of:
            concepts_of[text] = concepts.of(text)
        return concepts_of[text]

    covered: set[int] = set()
    picked_texts: set[int] = set()
    heap = [(-value, i) for i, value in enumerate(score)]
    heapq.heapify(heap)
    ranked: list[_Candidate] = []
    while heap and len(ranked) < CANDIDATE_POOL:
        stale, i = heapq.heappop(heap)
        if int(text_of[i]) in picked_texts:  # a chosen text's repeat covers nothing new
            continue
        gain = math.fsum(weights[c] for c in concepts_of_statement(i) - covered) * factor[i]
        if gain <= 0:
            continue
        if heap and gain < -heap[0][0] - 1e-9 and gain < -stale - 1e-9:
            heapq.heappush(heap, (-gain, i))
            continue
        ranked.append(_Candidate(index=i, members=[i]))
        covered |= concepts_of_statement(i)
        picked_texts.add(int(text_of[i]))
    reserved = _reserve_outcomes(statements, matrix, strength, score, cleanliness, options)
    if reserved:
        ranked = [_Candidate(index=i, members=[i], outcome_first=True) for i in reserved] + [
            c for c in ranked if c.index not in set(reserved)
        ][: CANDIDATE_POOL - len(reserved)]
    return _merge_sources(ranked, statements, matrix, cleanliness)


def _reserve_outcomes(
    statements: Sequence[Statement],
    matrix: TfidfRows,
    strength: np.ndarray,
    score: Sequence[float],
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
    pool = np.flatnonzero((strength == 2) & (cleanliness >= 1.0 - CLEANER_BY)).tolist()
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
        # (no figures of its own: no figure to share, whatever the other sentence gives)
        if value < SAME_FACT and not (figures and figures & _telling_figures(statements[j].text)):
            continue
        if source not in best or value > best[source][0]:
            best[source] = (value, j)
    return [j for _, j in sorted(best.values(), reverse=True)]


@lru_cache(maxsize=65536)
def _telling_figures(text: str) -> frozenset[Decimal]:
    """Return the figures in ``text`` that can identify a fact: no small counts, no years."""
    return frozenset(
        n for n in numbers_in(text) if n >= 10 and not (1900 <= n <= 2100 and n == n // 1)
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
    rank, total = _order_in_source(statements)
    # float64 division of whole numbers, as Python divides two ints
    places: list[float] = (rank / np.maximum(1, total - 1)).tolist()
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
