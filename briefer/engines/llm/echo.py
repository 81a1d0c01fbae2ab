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
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from string import Template

from briefer.engines.llm.io import (
    BriefOutput,
    CitationOut,
    MapOutput,
    ReduceOutput,
    RepairOutput,
)
from briefer.engines.llm.prompts import PromptTemplate

_FIELD_NAMES = frozenset(
    {"text", "quote", "passage_id", "citations", "claims", "id", "claim_ids", "title", "bullets"}
)
_ONLY_DOTS = re.compile(r"^[\s.…·_\-]*$")
_STAND_IN = re.compile(r"^<[^<>]{1,40}>$|^\{[^{}]{0,40}\}$|^\[[^\[\]]{0,40}\]$")
_MIN_COPIED = 12


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
