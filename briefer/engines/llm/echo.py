"""Recognise a reply that copies the prompt's template instead of answering from the sources.

A small model given ``{"text": "...", "passage_id": "..."}`` as the reply's shape may fill
every field with ``"..."``; given a worked example, it may copy the example. Such a reply
parses, and the validator would reject every claim in it. ``TemplateEcho`` spots it, so
the client re-asks once with a plainer instruction (``reask_if`` of ``LLMClient.complete``).

A field echoes the template when it is blank or only dots (``...``, ``…``), a field name
(``passage_id``), a bracketed stand-in (``<sentence>``), a value the template quotes (its
example's passage id), or a phrase of 12 characters or more that the template's own text
holds; in the last two cases only if the request's variable parts (the passages, the
claims) do not hold it too. A reply is an echo when more than half of its items have such a field;
a few bad items alone are left to the validator, which records why each fails.

``TemplateEcho.clean`` strips what a small model copies *into* a text it otherwise writes
itself: an id in front of it (``S2.P7:``, ``[S2.P7]``, ``(K3)``, or a listed id and a space,
as the prompt shows its lines), a field label (``text:``, ``"claim":``) and the template's
own instruction phrases. It runs before validation and is deterministic; the validator still
judges what is left.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from string import Template
from typing import Any, TypeVar

from briefer.engines.llm.io import (
    BriefOutput,
    BulletOut,
    CitationOut,
    MapOutput,
    ReduceOutput,
    RepairOutput,
)
from briefer.engines.llm.prompts import PromptTemplate
from briefer.engines.llm.schemas import passage_sentences
from briefer.models import Passage

_FIELD_NAMES = frozenset(
    {"text", "quote", "passage_id", "citations", "claims", "id", "claim_ids", "title", "bullets"}
)
_ONLY_DOTS = re.compile(r"^[\s.…·_\-]*$")
_STAND_IN = re.compile(r"^<[^<>]{1,40}>$|^\{[^{}]{0,40}\}$|^\[[^\[\]]{0,40}\]$")
_MIN_COPIED = 12
# An id as prompts show them: dotted (S2.P7, S1.C1, L1.2.3) or a claim's K<n>.
_ID = r"(?:[A-Z]{1,2}\d+(?:\.[A-Z]{0,2}\d+)+|K\d+)"
_IDS = rf"{_ID}(?:\s*[,;/&]\s*{_ID})*"
_BRACKETED_IDS = re.compile(rf"\s*[\[(]\s*{_IDS}\s*[\])]")
_LEADING_ID = re.compile(rf"^{_IDS}\s*[:\-\u2013\u2014|.]\s+|^{_IDS}\s*:\s*")
_LABEL = re.compile(
    r"^[\"']?(?:text|claim|bullet|fact|quote|sentence|title|passage)[\"']?\s*[:=]\s*",
    re.IGNORECASE,
)
_PIECES = re.compile(r"(?<=[.;!?])\s+")
_STOP = re.compile(r"[.!?…]")
_EDGE_JUNK = " \t\"'`:;,-\u2013\u2014|"


def _normal(text: str) -> str:
    return " ".join(text.lower().split())


class TemplateEcho:
    """Judges replies to one rendered template: do they copy its fixed text?"""

    def __init__(self, template: PromptTemplate, variables: Mapping[str, object]) -> None:
        fixed = Template(template.body).safe_substitute(dict.fromkeys(variables, "\n"))
        self._fixed = _normal(fixed)
        self._quoted = {q.strip() for q in re.findall(r'"([^"]{1,80})"', self._fixed)}
        self._variable = _normal("\n".join(str(v) for v in variables.values()))

    def field_echoes(self, value: str) -> bool:
        """Return whether ``value`` is a placeholder or a copy of the template's own text."""
        text = value.strip().strip("\"'")
        if _ONLY_DOTS.match(text) or _STAND_IN.match(text) or text.lower() in _FIELD_NAMES:
            return True
        normal = _normal(text)
        if normal in self._quoted and normal not in self._variable:
            return True  # a value of the example, such as its passage id
        normal = normal.rstrip(".")
        return len(normal) >= _MIN_COPIED and normal in self._fixed and normal not in self._variable

    def clean(self, text: str, ids: Iterable[str] = ()) -> str:
        """Return ``text`` without copied ids, field labels and instruction phrases.

        ``ids`` are the ids the request listed (passages, claims): one of them in front of
        the text followed by a space is stripped too; any dotted id or ``K<n>`` is stripped
        when a colon or dash follows it or brackets enclose it. Pieces (sentences, clauses
        ending in ``;``) copied from the template's fixed text are dropped, and so is a
        copied opening of a piece. What remains is returned with its spacing tidied; it may
        be empty.
        """
        known = {i.strip() for i in ids if i.strip()}
        text = " ".join(text.split())
        previous = None
        while text != previous:
            previous = text
            text = _LABEL.sub("", text)
            text = _LEADING_ID.sub("", text)
            text = _BRACKETED_IDS.sub("", text).strip()
            first = text.split(" ", 1)
            if len(first) == 2 and first[0].rstrip(":") in known:
                text = first[1]
            text = text.strip(_EDGE_JUNK)
        kept = [self._without_copied_opening(p) for p in _PIECES.split(text)]
        return " ".join(p for p in kept if p).strip(_EDGE_JUNK)

    def _without_copied_opening(self, piece: str) -> str:
        """Return ``piece`` without its longest opening copied from the template ("" if all)."""
        words = piece.split()
        for cut in range(len(words), 0, -1):
            opening = _normal(" ".join(words[:cut])).rstrip(".;:,")
            if len(opening) < _MIN_COPIED:
                break
            if opening in self._fixed and opening not in self._variable:
                return _LABEL.sub("", " ".join(words[cut:])).strip(_EDGE_JUNK)
        return piece

    def reply_echoes(self, items: Sequence[Iterable[str]]) -> bool:
        """Return whether more than half of ``items`` (each its field values) echo the template."""
        echoing = sum(1 for fields in items if any(self.field_echoes(v) for v in fields))
        return bool(items) and echoing * 2 > len(items)

    def reask_for_claims(self, first_passage: str) -> _ClaimCheck:
        """Return the ``reask_if`` judge of a reply holding claims with citations."""
        return _ClaimCheck(self, first_passage)

    def reask_for_bullets(self, first_item: str) -> _BulletCheck:
        """Return the ``reask_if`` judge of a reduce reply."""
        return _BulletCheck(self, first_item)


def _citation_fields(citations: Sequence[CitationOut]) -> list[str]:
    return [v for c in citations for v in (c.passage_id, c.quote)] or [""]


class _ClaimCheck:
    def __init__(self, echo: TemplateEcho, first_passage: str) -> None:
        self._echo = echo
        self._example = first_passage

    def __call__(self, output: MapOutput | RepairOutput | BriefOutput) -> str | None:
        items = [[c.text, *_citation_fields(c.citations)] for c in output.claims]
        if not self._echo.reply_echoes(items):
            return None
        return (
            "Your reply copied the instructions' example or placeholders instead of the passages. "
            'Answer again from the passages only. For each fact, "text" is the sentence of a '
            'passage saying it, copied; "passage_id" is the id in square brackets in front of '
            f'that passage (for example {self._example}); "quote" is the same sentence. Reply '
            "with only the JSON object."
        )


class _BulletCheck:
    def __init__(self, echo: TemplateEcho, first_item: str) -> None:
        self._echo = echo
        self._example = first_item

    def __call__(self, output: ReduceOutput) -> str | None:
        bullets = [b for s in output.sections for b in s.bullets]
        items = [[b.text] for b in bullets]
        if not self._echo.reply_echoes(items) and not (
            not bullets and self._echo.field_echoes(output.title)
        ):
            return None
        return (
            "Your reply copied the instructions' example or placeholders instead of the claims. "
            'Answer again from the claims only. Each bullet\'s "text" is a sentence stating what '
            'the claims it cites say, and "claim_ids" lists those claims\' ids as given at the '
            f'start of their lines (for example {self._example}). The "title" names what '
            "happened. Reply with only the JSON object."
        )


CitingReply = TypeVar("CitingReply", MapOutput, RepairOutput, BriefOutput)
BulletReply = TypeVar("BulletReply", ReduceOutput, BriefOutput)


def clean_claims(output: CitingReply, echo: TemplateEcho, ids: Iterable[str]) -> CitingReply:
    """Return ``output`` with every claim's (and bullet's) text cleaned (``TemplateEcho.clean``).

    A claim whose text held nothing but copied ids, labels or instructions takes the sentence
    it quotes as its text: the quote is the model's own pick, and it states the fact verbatim.
    """
    known = list(ids)
    claims = []
    for claim in output.claims:
        text = echo.clean(claim.text, known)
        if not text and claim.text.strip() and claim.citations:
            text = " ".join(claim.citations[0].quote.split())
        claims.append(claim.model_copy(update={"text": text}))
    cleaned = output.model_copy(update={"claims": claims})
    if isinstance(cleaned, BriefOutput):
        return clean_bullets(cleaned, echo, known)
    return cleaned


def clean_bullets(output: BulletReply, echo: TemplateEcho, ids: Iterable[str]) -> BulletReply:
    """Return ``output`` with every bullet's text and the title cleaned (``TemplateEcho.clean``)."""
    known = list(ids)

    def bullets(items: Sequence[BulletOut]) -> list[BulletOut]:
        return [b.model_copy(update={"text": echo.clean(b.text, known)}) for b in items]

    sections = [
        s.model_copy(update={"bullets": bullets(s.bullets), "title": echo.clean(s.title, known)})
        for s in output.sections
    ]
    return output.model_copy(
        update={
            "title": echo.clean(output.title, known),
            "sections": sections,
            "differences": bullets(output.differences),
        }
    )


def cite_copied_sentences(output: CitingReply, passages: Sequence[Passage]) -> CitingReply:
    """Return ``output`` with each claim that only copies passage sentences cited where they are.

    A small model often writes as a claim's text the sentences that follow the ones it quoted
    (it goes on copying the story) rather than restating its quote. When a claim's whole text
    is sentences of the passages shown, word for word, perhaps followed by an unfinished one
    (cut off by the text's length limit, or stopped mid-sentence: words with no full stop),
    and its quotes do not hold all of them, or it repeats one (a looping model), or it ends
    unfinished, the claim becomes one claim per distinct copied sentence, each quoting that
    sentence from its own passage; the unfinished words are dropped. Any other claim is
    left as it is, for the validator to judge.
    """
    where: dict[str, tuple[str, str]] = {}
    for passage in passages:
        for sentence in passage_sentences(passage):
            where.setdefault(_normal(sentence), (passage.id, sentence))
    by_length = sorted(where, key=len, reverse=True)
    claims: list[Any] = []
    for claim in output.claims:
        copied, whole = _copied_sentences(_normal(claim.text), by_length)
        quoted = " ".join(_normal(c.quote) for c in claim.citations)
        distinct = list(dict.fromkeys(copied))
        if not copied or (whole and all(s in quoted for s in distinct) and distinct == copied):
            claims.append(claim)
            continue
        for sentence in distinct:
            passage_id, text = where[sentence]
            citation = CitationOut(passage_id=passage_id, quote=text)
            claims.append(claim.model_copy(update={"text": text, "citations": [citation]}))
    return output.model_copy(update={"claims": claims})


def _copied_sentences(text: str, sentences: Sequence[str]) -> tuple[list[str], bool]:
    """Return the sentences ``text`` is made of, in order, or [] if it holds anything else,
    and whether it ends with the last of them (rather than an unfinished sentence)."""
    found: list[str] = []
    rest = text
    while rest:
        sentence = next((s for s in sentences if rest.startswith(s)), None)
        if sentence is None:
            # What follows the copied sentences may only be an unfinished one: the opening of
            # a sentence shown, or words with no end stop (the model stopped mid-sentence).
            opening = rest.rstrip(" .;,")
            unfinished = any(s.startswith(opening) for s in sentences) or not _STOP.search(rest)
            return (found, False) if found and unfinished else ([], False)
        found.append(sentence)
        rest = rest[len(sentence) :].strip()
    return found, True
