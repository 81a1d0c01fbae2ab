"""Support checks: a statement's text + the text of its cited passages -> ``Reason`` list.

Validator v1 (``briefer.grounding``) proves that quotes exist and numbers occur. These
checks ask whether the evidence says what the statement says, with lexical rules and no
model, sentence by sentence and clause by clause:

- ``number_not_in_evidence``: a number the evidence states nowhere (v1's check, read with
  a summary's tolerance: "more than 100" for "116", tokenized "26, 000" for "26,000");
- ``number_unit_mismatch``: a number the evidence states as something else ("34%" against
  "34 aircraft"; see ``briefer.grounding.quantities``);
- ``name_not_in_evidence``: a capitalised name the evidence never mentions (short forms,
  possessives and spelling variants of names it does mention are fine: "Zelensky",
  "Kyiv's", "Russian");
- ``content_not_in_evidence``: too few of a sentence's content words (stemmed) are in it;
- ``content_scattered``: a clause's words are in it, but no sentence (one per cited
  passage) holds most of them together: the statement stitches facts into a new one;
- ``polarity_mismatch``: the clause of the evidence that states the fact is negated and the
  statement's is not, or the other way round;
- ``attribution_dropped``: the evidence gives a position (a demand, a proposal, a claim) and
  the statement presents it as fact, with no one saying it;
- ``attribution_swapped``: the statement has one side say (or do) what the evidence has
  another say (or do): "B called X crazy" for "A called X crazy";
- ``quote_too_short``: the quotes carry too little of the statement to stand for it.

A statement that is, in whole sentences, verbatim in a cited passage is supported by
construction (the extractive engine's claims are) and skips the checks.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache

from briefer.grounding.matching import (
    NORMALIZED_SENTENCE_CLOSE,
    SENTENCE_CLOSE,
    find_numbers,
    normalize_for_match,
)
from briefer.grounding.quantities import check_number_kinds, check_numbers_stated
from briefer.grounding.support_text import (
    ALIGN_ITEMS,
    Clause,
    Evidence,
    Sentence,
    Token,
    analyse,
    has_variant,
    is_content_word,
    is_cue,
    is_uncommon,
    stem,
    tokenize,
)
from briefer.models import Reason

# Fixed a priori from what a faithful paraphrase keeps; measured on eval-dev by bench/.
COVERAGE_MIN = 0.7  # share of a sentence's content words the evidence must contain: one word
# in four may be the writer's own ("agreed" for "a commitment"), two in seven, three in ten
BINDING_MIN = 0.6  # share of a clause's found content one evidence sentence must hold
QUOTE_SHARE_MIN = 0.25  # share of a statement's content its quotes must carry
QUOTE_MIN_ITEMS = 4  # statements with fewer content items need no minimum
NEGATION_REACH = 3  # words before the first stated word a negator may stand: "did not agree"

SUPPORT_CODES = (
    "number_not_in_evidence",
    "number_unit_mismatch",
    "name_not_in_evidence",
    "content_not_in_evidence",
    "content_scattered",
    "polarity_mismatch",
    "attribution_dropped",
    "attribution_swapped",
    "quote_too_short",
)

# --- checks -------------------------------------------------------------------------------


def check_support(
    text: str,
    evidence: Sequence[str],
    quotes: Sequence[str] = (),
    *,
    numbers_checked: bool = False,
) -> list[Reason]:
    """Return why ``text`` is not supported by the ``evidence`` texts (an empty list: it is).

    ``quotes`` are the statement's verbatim quotes; when given, they must carry a fair share
    of it. A statement that is whole sentences of one evidence text passes at once.
    ``numbers_checked`` says validator v1 already found every number in the evidence, as
    written: the tolerant check of numbers stated nowhere could not fire, so it is skipped.
    """
    if not evidence or is_verbatim(text, evidence):
        return []
    return find_support_problems(text, evidence, quotes, numbers_checked=numbers_checked)


def is_verbatim(text: str, evidence: Sequence[str]) -> bool:
    """Tell whether ``text`` is whole sentences copied from one of the ``evidence`` texts."""
    claim = normalize_for_match(text)
    if not claim or claim[-1] not in NORMALIZED_SENTENCE_CLOSE:
        return False
    for passage in evidence:
        haystack = _normalized(passage)
        at = haystack.find(claim)
        while at >= 0:
            # A normalized text holds no whitespace but single spaces between words, so the
            # character before the match, past one space, is what ends the text before it.
            before = at - 2 if at > 0 and haystack[at - 1] == " " else at - 1
            if before < 0 or haystack[before] in NORMALIZED_SENTENCE_CLOSE:
                return True
            at = haystack.find(claim, at + 1)
    return False


def is_verbatim_as_written(text: str, passage: str) -> bool:
    """Tell whether ``text`` is found as written in ``passage``, where a sentence starts.

    Cheaper than ``is_verbatim``, which it implies: ``normalize_for_match`` maps each
    character on its own (whitespace to whitespace, any other character to characters that
    are not whitespace) and then collapses whitespace, so the slice is found normalized too,
    right after the normalized form of what precedes it. False says nothing either way (only
    the first match is looked at, as written): ``is_verbatim`` then decides.
    """
    if not text or text[0].isspace() or text[-1] not in SENTENCE_CLOSE:
        return False
    at = passage.find(text)
    if at < 0:
        return False
    before = at - 1
    while before >= 0 and passage[before].isspace():
        before -= 1
    return before < 0 or passage[before] in SENTENCE_CLOSE


@lru_cache(maxsize=8192)
def _normalized(passage: str) -> str:
    # Passages are checked against many statements; normalise each once.
    return normalize_for_match(passage)


def find_support_problems(
    text: str, evidence: Sequence[str], quotes: Sequence[str] = (), *, numbers_checked: bool = False
) -> list[Reason]:
    """Return every support check ``text`` fails against ``evidence`` (no verbatim shortcut)."""
    pool = Evidence(evidence)
    sentences = analyse(text, pool.names)
    names = _claim_names(sentences)
    # Words that spell out an initialism of the evidence are in it: "IMF" states them.
    spelled = {id(s.tokens[i]) for s in sentences for i in pool.spelled_out(s.tokens)}
    reasons = [] if numbers_checked else check_numbers_stated(text, pool.texts)
    reasons += check_number_kinds(text, pool.texts)
    reasons += _check_names(names, pool, spelled)
    reasons += _check_coverage(sentences, names, pool, spelled)
    reasons += _check_binding(sentences, pool)
    reasons += _check_polarity(sentences, pool)
    reasons += _check_attribution(sentences, pool)
    if quotes and text not in quotes:  # a statement that is its own quote carries all of it
        reasons += _check_quotes(text, quotes)
    return reasons


def _claim_names(sentences: Sequence[Sentence]) -> list[list[Token]]:
    """Return the statement's names: runs of capitalised words (none in Headline Case).

    In text written without capitals ("the fbi took roberts's laptop"), the words that are
    not common in lowercase stand in for names: they are rare words or names lowercased.
    """
    tokens = [t for s in sentences for t in s.tokens if len(t.word) > 3]
    if tokens and sum(t.capital for t in tokens) > 0.7 * len(tokens):
        return []
    if not any(t.capital or t.upper for s in sentences for t in s.tokens):
        return [
            [t]
            for s in sentences
            for t in s.tokens
            if is_content_word(t.word) and not t.number and is_uncommon(t.word)
        ]
    phrases: list[list[Token]] = []
    for sentence in sentences:
        previous: Token | None = None
        for token in sentence.tokens:
            if (token.capital or token.upper) and is_content_word(token.word):
                gap = sentence.text[previous.end : token.start] if previous else "."
                if previous is not None and not gap.strip():
                    phrases[-1].append(token)
                else:
                    phrases.append([token])
                previous = token
            else:
                previous = None
    return phrases


def _check_names(
    names: Sequence[Sequence[Token]], pool: Evidence, spelled: set[int]
) -> list[Reason]:
    missing = [
        " ".join(t.raw for t in phrase)
        for phrase in names
        if not all(
            id(t) in spelled or pool.has_word(t.word) or (not t.capital and pool.covers(t.word))
            for t in phrase
        )
    ]
    if not missing:
        return []
    shown = ", ".join(f'"{m}"' for m in dict.fromkeys(missing))
    noun = "Name" if len(missing) == 1 else "Names"
    return [Reason(code="name_not_in_evidence", message=f"{noun} {shown} not in the evidence.")]


def _check_coverage(
    sentences: Sequence[Sentence],
    names: Sequence[Sequence[Token]],
    pool: Evidence,
    spelled: set[int],
) -> list[Reason]:
    # Names are the name check's business; numbers are the number checks'.
    named = {id(t) for phrase in names for t in phrase}
    uncovered: list[str] = []
    # Each sentence, and each clause big enough to say something of its own: a clause
    # "a conservative MP has said" is no better covered for standing in a long sentence.
    units = [(s.tokens, 1) for s in sentences]
    units += [(c.tokens, ALIGN_ITEMS) for s in sentences if len(s.clauses) > 1 for c in s.clauses]
    for tokens, least in units:
        content = [
            t for t in tokens if is_content_word(t.word) and not t.number and id(t) not in named
        ]
        if len(content) < least:
            continue
        missing = [t.raw for t in content if id(t) not in spelled and not pool.covers(t.word)]
        if 1 - len(missing) / len(content) < COVERAGE_MIN:
            uncovered += missing
    if not uncovered:
        return []
    shown = ", ".join(f'"{w}"' for w in list(dict.fromkeys(uncovered))[:8])
    return [
        Reason(
            code="content_not_in_evidence",
            message=f"Too little of it is in the evidence; not there: {shown}.",
        )
    ]


def _check_polarity(sentences: Sequence[Sentence], pool: Evidence) -> list[Reason]:
    for clause in _substantial_clauses(sentences):
        aligned = pool.align(clause.stems)
        # Both sides by the same rule: a copied clause always agrees with itself.
        negated = _negates(clause, clause.stems)
        if aligned and all(_negates(e, clause.stems) != negated for e, _, _ in aligned):
            said = "negates" if _negates(aligned[0][0], clause.stems) else "does not negate"
            return [
                Reason(
                    code="polarity_mismatch",
                    message=f'The evidence {said} what "{_shorten(clause.text)}" states: '
                    f'"{_shorten(aligned[0][0].text)}".',
                )
            ]
    return []


def _negates(clause: Clause, stems: frozenset[str]) -> bool:
    """Tell whether ``clause`` negates the part of it that states ``stems``.

    A long evidence clause may negate something else ("... has created the need for an
    election, as Rodwell cannot keep his place"): only a negator among the words that state
    the fact, or just before them, counts. A negation carried from a fragment always does.
    """
    if not clause.negated or not clause.negators:
        return clause.negated
    at = [i for i, t in enumerate(clause.tokens) if stem(t.word) in stems]
    if not at:
        return True
    start = clause.tokens[max(0, at[0] - NEGATION_REACH)].start
    return any(start <= n <= clause.tokens[at[-1]].end for n in clause.negators)


def _check_binding(sentences: Sequence[Sentence], pool: Evidence) -> list[Reason]:
    """Return a reason when a clause's words are in the evidence, but not together.

    Each cited passage may contribute the one sentence that states its part of the clause;
    words gathered from all over the evidence do not make a statement it supports.
    """
    for clause in _substantial_clauses(sentences):
        found = clause.stems & pool.stems
        if len(found) < ALIGN_ITEMS:
            continue
        together: set[str] = set()
        for passage in pool.passages:
            together |= max((found & s.stems for s in passage.sentences), key=len, default=set())
        if len(together) / len(found) < BINDING_MIN:
            return [
                Reason(
                    code="content_scattered",
                    message=f'No sentence of the evidence states most of "{_shorten(clause.text)}"'
                    f": {len(found)} of its words are there, at most {len(together)} together.",
                )
            ]
    return []


def _check_attribution(sentences: Sequence[Sentence], pool: Evidence) -> list[Reason]:
    reasons: list[Reason] = []
    for sentence in sentences:
        if not sentence.reported:
            for clause in _substantial_clauses([sentence]):
                aligned = pool.align(clause.stems)
                if aligned and all(c.stance for c, _, _ in aligned):
                    reasons.append(
                        Reason(
                            code="attribution_dropped",
                            message=f'"{_shorten(clause.text)}" states as fact what the evidence '
                            f'reports as a position: "{_shorten(aligned[0][0].text)}".',
                        )
                    )
                    break
        reasons += _check_speakers(sentence, pool) or _check_agents(sentence, pool)
    return list(dict.fromkeys(reasons))


def _substantial_clauses(sentences: Sequence[Sentence]) -> Iterable[Clause]:
    """Yield the clauses with enough content to be aligned with the evidence."""
    for sentence in sentences:
        yield from (c for c in sentence.clauses if len(c.stems) >= ALIGN_ITEMS)


def _check_speakers(sentence: Sentence, pool: Evidence) -> list[Reason]:
    """Return a reason when a clause's speaker is not who the evidence has saying it."""
    for clause in sentence.clauses:
        cue = next((i for i, t in enumerate(clause.tokens) if is_cue(t)), None)
        if cue is None:
            continue
        # "X said ...", but "... according to X"
        before = clause.tokens[cue].word != "according"
        side = clause.tokens[:cue] if before else clause.tokens[cue:]
        speakers = {t.word for t in side if t.word in clause.names}
        if not speakers:
            continue
        # What is said is the clause, or for a bare "..., according to X" the clause before.
        dropped = {stem(t.word) for t in clause.tokens if t.word in speakers or is_cue(t)}
        said = clause.stems - dropped
        at = sentence.clauses.index(clause)
        if len(said) < ALIGN_ITEMS and at > 0:
            previous = sentence.clauses[at - 1]
            if not any(is_cue(t) for t in previous.tokens):
                said = previous.stems - dropped
        if len(said) < ALIGN_ITEMS:
            continue  # too little is said to tell who says it
        contexts = [context for _, _, context in pool.align(said)]
        if contexts and all(ctx and not _names_match(speakers, ctx) for ctx in contexts):
            return [
                Reason(
                    code="attribution_swapped",
                    message=f'"{_shorten(clause.text)}" has {", ".join(sorted(speakers))} say '
                    f"what the evidence attributes to {', '.join(sorted(contexts[0]))}.",
                )
            ]
    return []


def _check_agents(sentence: Sentence, pool: Evidence) -> list[Reason]:
    """Return a reason when a clause names someone else as doing what the evidence states.

    Judged where both name who acts right before the same word: "B called X crazy" against
    the evidence's "A called X crazy" (the anchor is the clause's first content word, not a
    name, that the evidence clause also has). They must share someone, or a variant: a
    paraphrase keeps who acts. Not judged: text without capitals (names cannot be told) and
    passives ("X was called crazy by A").
    """
    for clause in sentence.clauses:
        if (
            len(clause.stems) < ALIGN_ITEMS
            or not any(t.capital for t in clause.tokens)
            or any(t.word == "by" for t in clause.tokens)
        ):
            continue
        aligned = pool.align(clause.stems)
        found = [_agents_differ(clause, evidence) for evidence, _, _ in aligned]
        if found and all(f is not None for f in found):
            ours, theirs = found[0] or ((), ())
            return [
                Reason(
                    code="attribution_swapped",
                    message=f'"{_shorten(clause.text)}" has {" ".join(ours)} do what the '
                    f"evidence has {' '.join(theirs)} do.",
                )
            ]
    return []


def _agents_differ(clause: Clause, evidence: Clause) -> tuple[list[str], list[str]] | None:
    """Return who acts in ``clause`` and in ``evidence`` when they differ (None: they agree,
    or it cannot be told)."""
    ev_stems = [stem(t.word) for t in evidence.tokens]
    for at, token in enumerate(clause.tokens):
        if _is_name(token, clause) or not is_content_word(token.word) or token.number:
            continue
        if stem(token.word) not in ev_stems:
            continue
        ev_at = ev_stems.index(stem(token.word))
        ours = _names_ending_at(clause, at)
        theirs = _names_ending_at(evidence, ev_at)
        if not ours or not theirs:
            return None
        ev_before = sorted({t.word for t in evidence.tokens[:ev_at]})
        our_before = sorted({t.word for t in clause.tokens[:at]})
        if any(w in ev_before or has_variant(w, ev_before) for w in ours) or any(
            w in our_before or has_variant(w, our_before) for w in theirs
        ):
            return None
        return ours, theirs
    return None


def _names_ending_at(clause: Clause, at: int) -> list[str]:
    """Return the run of names right before token ``at`` ("Russian President Putin")."""
    start = at
    while start > 0 and _is_name(clause.tokens[start - 1], clause):
        start -= 1
    return [t.word for t in clause.tokens[start:at]]


def _is_name(token: Token, clause: Clause) -> bool:
    named = token.capital or token.upper or token.word in clause.names
    return named and is_content_word(token.word)


def _names_match(words: Iterable[str], names: frozenset[str]) -> bool:
    ordered = sorted(names)
    return any(w in names or has_variant(w, ordered) for w in words)


def _check_quotes(text: str, quotes: Sequence[str]) -> list[Reason]:
    claim = _content_items(text)
    if len(claim) < QUOTE_MIN_ITEMS:
        return []
    carried = claim & frozenset().union(*(_content_items(q) for q in quotes))
    if len(carried) / len(claim) >= QUOTE_SHARE_MIN:
        return []
    shown = "; ".join(f'"{_shorten(q, 30)}"' for q in quotes[:3])
    return [
        Reason(
            code="quote_too_short",
            message=f"The quotes ({shown}) carry {len(carried)} of the {len(claim)} content "
            "words of the statement; quote the words that state it.",
        )
    ]


def _content_items(text: str) -> frozenset[str]:
    """Return the stems of the content words of ``text`` and the values of its numbers."""
    tokens = tokenize(" ".join(text.split()))
    stems = {stem(t.word) for t in tokens if is_content_word(t.word) and not t.number}
    return frozenset(stems | {str(m.value) for m in find_numbers(text)})


def _shorten(text: str, limit: int = 60) -> str:
    text = " ".join(text.split()).strip(" ,;:")
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
