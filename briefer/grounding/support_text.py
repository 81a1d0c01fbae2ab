"""Text analysis for the support checks: sentences, clauses, names, cues and evidence.

``analyse`` turns a text into sentences of clauses, each with its content stems (and the
values of its numbers), its names, and whether it is negated or reports what someone said.
``Evidence`` pools the analysed passages a statement cites (each analysed once, cached)
and finds the clauses that best state a set of stems (``align``).

The word lists here are English function words and cues (negations, reporting verbs,
demonym endings), never facts about any story.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

import snowballstemmer
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from briefer.grounding.matching import find_numbers, normalize_for_match
from briefer.sentences import sentence_starts
from briefer.stop_words import ENGLISH_STOP_WORDS
from briefer.tokens import count_tokens

# Fixed a priori; measured with the checks on eval-dev by bench/bench_faithfulness.py.
ALIGN_MIN = 0.6  # share of a clause's content an evidence clause must have to "state" it
ALIGN_ITEMS = 3  # clauses with fewer content items are too small to align
ALIGN_TIE = 0.05  # evidence clauses this close to the best align equally well
FUZZY_MIN = 0.85  # Levenshtein similarity of spelling variants: defence/defense
FUZZY_LENGTH = 5  # shorter words must match exactly (Iran is not Iraq)

_TOKEN = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
_POSSESSIVE = re.compile(r"'s$")
_OPENERS = "\"'“‘([:-–—"
_NEGATION = re.compile(
    r"\b(?:not(?! only)|no(?![.\s]*\d)|never|none|nobody|nothing|neither|nor|cannot|without|"
    r"(?:fail|declin|refus|reject)\w*|unable|den(?:y|ies|ied|ying))\b|n't\b"
)
# Verbs and nouns that give a position: what one side wants, offers or asserts.
_STANCE = (
    r"demand(?:s|ed|ing)?|propos(?:e|es|ed|ing|als?)|claim(?:s|ed|ing)?|alleg(?:e|es|ed|ing)|"
    r"insist(?:s|ed|ing)?|call(?:s|ed|ing)? for|urg(?:e|es|ed|ing)|accus(?:e|es|ing)|"
    r"argu(?:e|es|ed|ing)|want(?:s|ed)?|seek(?:s|ing)?|sought|offer(?:s|ed|ing)?|"
    r"promis(?:e|es|ed|ing)|vow(?:s|ed)?|pledg(?:e|es|ed)|hop(?:e|es|ed)|believ(?:e|es|ed)|"
    r"suggest(?:s|ed|ing)?|warn(?:s|ed|ing)?|threaten(?:s|ed|ing)?|den(?:y|ies|ied)"
)
_STANCE_CUE = re.compile(rf"\b(?:{_STANCE})\b")
# Any sign that a statement is someone's account: reporting verbs and hedges.
_REPORT_CUE = re.compile(
    rf"\b(?:{_STANCE}|said|say|says|saying|told|tell|tells|stat(?:e|es|ed)|according to|"
    r"report(?:s|ed|edly)?|announc(?:e|es|ed)|add(?:s|ed)|confirm(?:s|ed)?|reiterat(?:e|es|ed)|"
    r"criticiz(?:e|es|ed)|criticis(?:e|es|ed)|accused|alleged(?:ly)?|suspect(?:s|ed)?|"
    r"apparently|purportedly)\b"
)
_CLAUSE_BREAK = re.compile(
    r"[,;:][\"'”’]*\s+|\s[-–—]+\s|\s(?=(?:but|while|whereas|although|though|yet)\b)"
)
# Model-written summaries sometimes come tokenized: "the plane landed . the fbi took it".
_SPACED_STOP = re.compile(r"(?<=\s[.!?])\s+")
# Endings that make a place into its adjective: Russia-n, Ukrain-ian, Israel-i, Chin-ese.
_DERIVED_ENDINGS = ("n", "an", "ian", "ean", "i", "ese", "ish", "ic")
_CONTRACTION = re.compile(r"(?:n't|'ll|'re|'ve|'d|'m)$")  # negations are the polarity check's
_STOP_WORDS = ENGLISH_STOP_WORDS
_LINKS = frozenset({"of", "and", "the", "for"})  # words inside a spelled-out initialism


@dataclass(frozen=True)
class Token:
    """A word of a sentence, lowercased without possessive, and how it is written."""

    raw: str
    word: str
    start: int
    end: int
    capital: bool  # capitalised, and not the first word of a sentence or quotation
    upper: bool  # an acronym: "SBU", "NHS"
    number: bool  # part of a stated number: "two", "thousand", "percent"


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    return snowballstemmer.stemmer("english")


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """Return the Snowball stem of a lowercase ``word``."""
    return str(_stemmer().stemWord(word))


def is_content_word(word: str) -> bool:
    """Tell whether a lowercase ``word`` carries content (not a stop word, not one letter)."""
    return len(word) > 1 and word not in _STOP_WORDS and not _CONTRACTION.search(word)


def tokenize(sentence: str) -> list[Token]:
    """Return the words of one ``sentence``, marking names, acronyms and number words."""
    numbers = [(m.start, m.end) for m in find_numbers(sentence)]
    tokens = []
    for match in _TOKEN.finditer(sentence):
        raw = match[0]
        lead = sentence[: match.start()].rstrip()
        tokens.append(
            Token(
                raw=raw,
                word=_POSSESSIVE.sub("", raw.replace("’", "'").lower()),
                start=match.start(),
                end=match.end(),
                capital=raw[0].isupper() and bool(lead) and lead[-1] not in _OPENERS,
                upper=len(raw) > 1 and raw.isupper(),
                number=any(a <= match.start() < b for a, b in numbers),
            )
        )
    return tokens


@lru_cache(maxsize=65536)
def is_uncommon(word: str) -> bool:
    """Tell whether a lowercase ``word`` is rare or usually capitalised (a name).

    The offline tokenizer's vocabulary is the word list: common lowercase words are one
    token after a space. Without the tokenizer every word counts as common.
    """
    return word.isalpha() and count_tokens(" " + word) > 1


def split_sentences(text: str) -> list[str]:
    """Return the sentences of ``text`` (``briefer.sentences``, plus breaks in tokenized text)."""
    cuts = sentence_starts(text)
    starts = [0, *cuts[1:]]  # text before the first token belongs to the first sentence
    pieces = [text[a:b] for a, b in itertools.pairwise([*starts, len(text)])]
    return [p.strip() for piece in pieces for p in _SPACED_STOP.split(piece) if p.strip()]


def split_clauses(sentence: str) -> list[tuple[int, int]]:
    """Return the ``(start, end)`` of each clause of ``sentence``."""
    cuts = [0, *(m.end() for m in _CLAUSE_BREAK.finditer(sentence)), len(sentence)]
    return [(a, b) for a, b in itertools.pairwise(cuts) if sentence[a:b].strip()]


# --- analysis -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Clause:
    """A clause of a sentence: its content, names, and how it is said."""

    text: str
    tokens: tuple[Token, ...]
    stems: frozenset[str]
    names: frozenset[str]
    negated: bool
    reported: bool
    stance: bool
    # Where its own negators start in the sentence; none when its negation is carried.
    negators: tuple[int, ...] = ()


@dataclass(frozen=True)
class Sentence:
    """A sentence: its tokens, its clauses, and what they hold together."""

    text: str
    tokens: tuple[Token, ...]
    clauses: tuple[Clause, ...]
    names: frozenset[str]
    stems: frozenset[str]
    reported: bool
    stance: bool


@dataclass(frozen=True)
class PassageText:
    """An analysed passage: its sentences, clauses with their speakers, and its words."""

    sentences: tuple[Sentence, ...]
    clauses: tuple[tuple[Clause, Sentence, frozenset[str]], ...]
    words: frozenset[str]
    stems: frozenset[str]
    word_stems: frozenset[str]  # the stems of all its words, reporting verbs too
    names: frozenset[str]
    acronyms: frozenset[str]
    initialisms: frozenset[str]  # words written in capitals ("IMF", "US"), lowercased


def analyse(text: str, names: frozenset[str] = frozenset()) -> list[Sentence]:
    """Return the sentences of ``text``; ``names`` are words written as names elsewhere."""
    sentences = []
    for sentence in split_sentences(text):
        tokens = tuple(tokenize(sentence))
        numbers = find_numbers(sentence)
        clauses = []
        for start, end in split_clauses(sentence):
            inside = tuple(t for t in tokens if start <= t.start < end)
            plain = normalize_for_match(sentence[start:end])
            # Offsets in the sentence, as the tokens' are ("’" -> "'" keeps them).
            own = sentence[start:end].lower().replace("’", "'")
            negators = tuple(start + m.start() for m in _NEGATION.finditer(own))
            # Numbers align clauses too: "two or three days" is not "a 30-day ceasefire".
            values = {f"#{m.value}" for m in numbers if start <= m.start < end}
            clauses.append(
                Clause(
                    text=sentence[start:end],
                    tokens=inside,
                    stems=_stems(inside) | values,
                    names=frozenset(t.word for t in inside if _is_name(t, names)),
                    negated=bool(_NEGATION.search(plain)),
                    reported=bool(_REPORT_CUE.search(plain)),
                    stance=bool(_STANCE_CUE.search(plain)),
                    negators=negators,
                )
            )
        clauses = _carry_negation(clauses)
        plain = normalize_for_match(sentence)
        sentences.append(
            Sentence(
                text=sentence,
                tokens=tokens,
                clauses=tuple(clauses),
                names=frozenset().union(*(c.names for c in clauses)),
                stems=frozenset().union(*(c.stems for c in clauses)),
                reported=bool(_REPORT_CUE.search(plain)),
                stance=bool(_STANCE_CUE.search(plain)),
            )
        )
    return sentences


def _carry_negation(clauses: list[Clause]) -> list[Clause]:
    """Return ``clauses`` where a negated fragment negates the clause it leads into.

    Commas cut "Russia declined, once again, to agree to a ceasefire" into pieces; the
    negation of "Russia declined" belongs to "to agree to a ceasefire".
    """
    carried: list[Clause] = []
    pending = False
    for clause in clauses:
        if pending and not clause.negated:
            clause = replace(clause, negated=True)
        carried.append(clause)
        pending = (pending or clause.negated) and len(clause.stems) < ALIGN_ITEMS
    return carried


def _stems(tokens: Iterable[Token]) -> frozenset[str]:
    """Return the stems that align clauses: content words, not numbers or reporting verbs."""
    return frozenset(
        stem(t.word) for t in tokens if is_content_word(t.word) and not t.number and not is_cue(t)
    )


def _is_name(token: Token, names: frozenset[str]) -> bool:
    return is_content_word(token.word) and (token.capital or token.upper or token.word in names)


@lru_cache(maxsize=8192)
def analyse_passage(text: str) -> PassageText:
    # Two passes: a sentence-initial "Medinsky" is a name when it is one mid-sentence too.
    first = analyse(text)
    names = frozenset(t.word for s in first for t in s.tokens if t.capital or t.upper)
    sentences = analyse(text, names) if names else first
    return PassageText(
        sentences=tuple(sentences),
        clauses=tuple(_with_speakers(sentences)),
        words=frozenset(t.word for s in sentences for t in s.tokens),
        stems=frozenset().union(*(s.stems for s in sentences)),
        word_stems=frozenset(stem(t.word) for s in sentences for t in s.tokens),
        names=names,
        acronyms=frozenset(_acronyms(text)),
        initialisms=frozenset(t.word for s in sentences for t in s.tokens if t.upper),
    )


def _with_speakers(
    sentences: Sequence[Sentence],
) -> Iterable[tuple[Clause, Sentence, frozenset[str]]]:
    """Yield each clause, its sentence and the names that may be saying what it says.

    Those are the clause's own names (and a short tail's) when one comes before its
    reporting verb ("Umerov reiterated that ..."); else the names of its whole sentence
    ("..., said the attack caused", "..., according to Zelensky"); and when the sentence has
    none, those of the sentence before ("He said ...").
    """
    before: frozenset[str] = frozenset()
    for sentence in sentences:
        everyone = _capitalised(sentence.tokens) | sentence.names
        clauses = sentence.clauses
        for i, clause in enumerate(clauses):
            named = _capitalised(clause.tokens) | clause.names
            # A short tail such as ", a primary demand from Kyiv" belongs to this clause.
            tail = clauses[i + 1] if i + 1 < len(clauses) else None
            if tail is not None and len(tail.stems) < ALIGN_ITEMS:
                named |= _capitalised(tail.tokens) | tail.names
            cue = next((i for i, t in enumerate(clause.tokens) if is_cue(t)), None)
            if cue is not None and any(t.word in named for t in clause.tokens[:cue]):
                yield clause, sentence, named
            else:
                yield clause, sentence, everyone or before
        before = everyone


def _capitalised(tokens: Iterable[Token]) -> frozenset[str]:
    """Return the capitalised content words: names, wherever in a sentence they stand."""
    return frozenset(t.word for t in tokens if t.raw[0].isupper() and is_content_word(t.word))


def is_cue(token: Token) -> bool:
    """Tell whether ``token`` reports what someone said (said, demanded, according...)."""
    return token.word == "according" or bool(_REPORT_CUE.fullmatch(token.word))


def _acronyms(text: str) -> Iterable[str]:
    """Yield the initials of runs of capitalised words ("Ukrainian Armed Forces" -> "uaf")."""
    for run in re.finditer(r"(?:\b[A-Z][\w'’-]*(?:\s+(?:of|and|the|for)\b)?\s*){2,}", text):
        initials = "".join(w[0] for w in run[0].split() if w[0].isupper())
        if len(initials) >= 2:
            yield initials.lower()


class Evidence:
    """The cited passages of one statement, each analysed once (cached) and pooled."""

    def __init__(self, texts: Sequence[str]) -> None:
        self.texts = list(dict.fromkeys(texts))
        self.passages = [analyse_passage(t) for t in self.texts]
        self.words = frozenset().union(*(p.words for p in self.passages))
        self.stems = frozenset().union(*(p.stems for p in self.passages))
        self.word_stems = frozenset().union(*(p.word_stems for p in self.passages))
        self.names = frozenset().union(*(p.names for p in self.passages))
        self.acronyms = frozenset().union(*(p.acronyms for p in self.passages))
        self.initialisms = frozenset().union(*(p.initialisms for p in self.passages))
        self._long_words = sorted(w for w in self.words if len(w) >= FUZZY_LENGTH)

    def has_word(self, word: str) -> bool:
        """Tell whether the evidence has ``word``, as an acronym or a spelling variant too."""
        if word in self.words or word in self.acronyms:
            return True
        return has_variant(word, self._long_words)

    def spelled_out(self, tokens: Sequence[Token]) -> set[int]:
        """Return the indexes of ``tokens`` that spell out an initialism of the evidence.

        "the International Monetary Fund" is the evidence's "IMF", "the United States" its
        "US": runs of two to five content words (with "of", "and", "the", "for" between)
        whose initials the evidence writes in capitals. In text with capitals, the words
        must be capitalised too: "Ukraine signed" is not "US".
        """
        found: set[int] = set()
        if not self.initialisms:
            return found
        cased = any(t.capital for t in tokens)
        for first in range(len(tokens)):
            initials = ""
            for at in range(first, min(len(tokens), first + 9)):
                word = tokens[at].word
                if word in _LINKS and initials:
                    continue
                if not is_content_word(word) or (cased and not tokens[at].raw[0].isupper()):
                    break
                initials += word[0]
                if len(initials) >= 2 and initials in self.initialisms:
                    found.update(range(first, at + 1))
                if len(initials) >= 5:
                    break
        return found

    def covers(self, word: str) -> bool:
        """Tell whether the evidence has ``word`` or another word of its stem."""
        # All its words: "suspects" covers "suspected" though neither aligns clauses.
        return stem(word) in self.word_stems or self.has_word(word)

    def clauses(self) -> Iterable[tuple[Clause, Sentence, frozenset[str]]]:
        """Yield each clause with its sentence and the names of who may be saying it."""
        for passage in self.passages:
            yield from passage.clauses

    def align(self, stems: frozenset[str]) -> list[tuple[Clause, Sentence, frozenset[str]]]:
        """Return the evidence clauses that best state ``stems`` (none when none comes close)."""
        if not stems:
            return []
        scored = [(len(stems & item[0].stems) / len(stems), item) for item in self.clauses()]
        best = max((score for score, _ in scored), default=0.0)
        if best < ALIGN_MIN:
            return []
        return [item for score, item in scored if score >= best - ALIGN_TIE]


def has_variant(word: str, words: Sequence[str]) -> bool:
    """Tell whether ``words`` has a spelling variant or a derived form of ``word``."""
    if len(word) < FUZZY_LENGTH or not words:
        return False
    if any(_is_derived(word, other) or _is_derived(other, word) for other in words):
        return True
    found = process.extractOne(
        word, words, scorer=Levenshtein.normalized_similarity, score_cutoff=FUZZY_MIN
    )
    return found is not None


def _is_derived(base: str, word: str) -> bool:
    """Tell whether ``word`` is ``base`` with an adjective or demonym ending (Ukrainian)."""
    if not word.startswith(base[:4]) or len(word) <= len(base):
        return False
    return any(word in (base + end, base[:-1] + end) for end in _DERIVED_ENDINGS)
