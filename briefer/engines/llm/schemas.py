"""Per-request JSON schemas: an output model's strict schema, narrowed to what one reply may cite.

The generic schema of ``MapOutput`` lets a model put any string in ``passage_id`` and
``quote``; a small model then copies the prompt's placeholders and every claim is rejected.
Where the server enforces the schema, each request therefore says exactly what it may cite:

- ``ids`` (OpenAI's strict mode, which puts the schema in the prompt: its tokens are read on
  every call): ``passage_id`` is a ``pattern`` that matches exactly the ids of the passages
  shown (``^S[12]\\.P[1-9]$``), a fifth of the tokens of the ``enum`` listing them, and a
  reduce bullet's ``claim_ids`` likewise; up to ``MAX_ENUM_IDS`` ids;
- ``grammar`` (servers that turn the schema into a grammar: llama.cpp, Ollama, vLLM, LM
  Studio; its size costs no prompt tokens there) a citation is an ``anyOf`` with one branch
  per passage, pairing its id (a one-value ``enum``) with an ``enum`` of its sentences, so a
  quote is verbatim by construction; ids elsewhere are an ``enum``, which every
  schema-to-grammar converter knows; claim and bullet texts get a length range and lists a
  maximum length, which stops a looping model inside the grammar instead of at the server's
  context limit.

Either way the schema carries no pydantic ``title`` annotations (``client.schema_of``) and
a definition used once is written in place of its ``$ref`` (``inline_single_use``).

In every narrowed schema a claim's ``citations`` come before its ``text``, a bullet's
``claim_ids`` before its ``text``, and a reduce reply's ``title`` after its bullets: servers
generate the fields in the schema's order, so a model first picks what it cites (constrained)
and then writes the text right after it, where a small model restates what it just quoted
instead of drifting or copying the prompt.

Only keywords llama.cpp's ``json-schema-to-grammar`` implements are used (``enum``,
``pattern`` anchored with ``^...$``, ``anyOf``, ``minLength``, ``maxLength``, ``maxItems``,
``$ref`` into ``$defs``, ``additionalProperties: false``), and in ``ids`` mode only what
OpenAI's strict mode accepts (``pattern`` is a supported string keyword there, except for
fine-tuned models, whose 400 makes the client send the generic schema); ``tests/test_schemas.py``
keeps it so.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from pydantic import BaseModel

from briefer.config import CitationSchema
from briefer.engines.llm.client import schema_of
from briefer.models import Chunk, Passage

Schema = dict[str, Any]

MAX_ENUM_IDS = 500  # ids per schema; OpenAI's strict mode allows 1,000 enum values in all
MAX_QUOTE_CHARS = 60_000  # beyond this the grammar grows slow to build; ids stay constrained
TEXT_LENGTH = (8, 400)  # characters of a claim's or bullet's text
TITLE_LENGTH = (3, 120)
# Per claim, on grammar servers: one fact, one quoted sentence (reduce merges across sources).
# Given room for three, SmolLM2-135M quoted three neighbouring sentences for every claim, so a
# reply held three claims at most before its token limit.
MAX_CITATIONS = 1
MAX_CLAIM_IDS = 8  # per bullet


def passage_sentences(passage: Passage) -> list[str]:
    """Return the sentences of ``passage`` on one line each, as the prompt shows them."""
    pieces = [
        passage.text[s.start - passage.start : s.end - passage.start] for s in passage.sentences
    ]
    sentences = [text for text in (" ".join(p.split()) for p in pieces) if text]
    return sentences or [" ".join(passage.text.split())]  # an enum must not be empty


def citing_schema(
    output: type[BaseModel], chunks: Sequence[Chunk], *, grammar: bool, max_claims: int = 0
) -> Schema:
    """Return ``output``'s schema with its citations narrowed to the passages of ``chunks``.

    ``output`` is one of the models with ``CitationOut`` (map, repair, brief). Returns the
    generic schema when there are too many passages to list. ``max_claims`` (with
    ``quotes``) bounds the number of claims; 0 leaves it open.
    """
    schema = copy.deepcopy(schema_of(output))
    passages = [p for chunk in chunks for p in chunk.passages]
    if not passages or len(passages) > MAX_ENUM_IDS:
        return schema
    defs = schema["$defs"]
    citation = defs["CitationOut"]
    sentences = {p.id: passage_sentences(p) for p in passages}
    if grammar and sum(len(s) for ss in sentences.values() for s in ss) <= MAX_QUOTE_CHARS:
        defs["CitationOut"] = {
            "anyOf": [
                {
                    "type": "object",
                    "properties": {
                        "passage_id": {"type": "string", "enum": [passage_id]},
                        "quote": {"type": "string", "enum": list(dict.fromkeys(quoted))},
                    },
                    "required": ["passage_id", "quote"],
                    "additionalProperties": False,
                }
                for passage_id, quoted in sentences.items()
            ]
        }
    else:
        citation["properties"]["passage_id"] = _one_of([p.id for p in passages], grammar=grammar)
    if grammar:
        _bound_texts(schema, max_claims)
    for name in ("ClaimOut", "IdClaimOut"):
        if name in defs:
            _put_first(defs[name], "id", "citations")
    return inline_single_use(schema)


def _one_of(ids: Sequence[str], *, grammar: bool) -> Schema:
    """Return a string schema that accepts exactly ``ids``.

    A schema the model reads (OpenAI's strict mode) gets them as one ``pattern``, a fifth of
    an ``enum``'s tokens; a grammar server compiles the schema instead of reading it, so it
    keeps the ``enum`` every schema-to-grammar converter knows.
    """
    unique = list(dict.fromkeys(ids))
    if grammar or not all(_ID_CHARACTERS.fullmatch(i) for i in unique):
        return {"type": "string", "enum": unique}
    return {"type": "string", "pattern": exact_pattern(unique)}


_ID_CHARACTERS = re.compile(r"[A-Za-z0-9.]+")


def exact_pattern(ids: Sequence[str]) -> str:
    """Return an anchored regular expression that matches exactly the strings ``ids``.

    Ids of one length share a trie whose sibling characters with the same continuations
    merge into a class: ``S1.P1`` to ``S1.P9`` and ``S2.P1`` to ``S2.P9`` give
    ``^S[12]\\.P[1-9]$``. Only the syntax llama.cpp's regex-to-grammar and OpenAI's strict
    mode both accept: groups, ``|``, classes with ranges, ``\\.``, ``^...$``. ``ids`` are
    made of letters, digits and dots.
    """
    by_length: dict[int, set[str]] = {}
    for text in ids:
        by_length.setdefault(len(text), set()).add(text)
    branches = [_alternation(frozenset(by_length[n])) for n in sorted(by_length)]
    return "^" + (branches[0] if len(branches) == 1 else "(" + "|".join(branches) + ")") + "$"


def _alternation(words: frozenset[str]) -> str:
    """Return a regular expression for ``words``, non-empty strings of one length."""
    if len(words) == 1:
        return _literal(next(iter(words)))
    continuations: dict[str, set[str]] = {}
    for word in words:
        continuations.setdefault(word[0], set()).add(word[1:])
    heads: dict[frozenset[str], list[str]] = {}
    for head in sorted(continuations):
        heads.setdefault(frozenset(continuations[head]), []).append(head)
    branches = [
        _character_class(chars) + ("" if rest == {""} else _alternation(rest))
        for rest, chars in heads.items()
    ]
    return branches[0] if len(branches) == 1 else "(" + "|".join(branches) + ")"


def _literal(text: str) -> str:
    return text.replace(".", "\\.")


def _character_class(chars: list[str]) -> str:
    """Return a class for ``chars`` (sorted, distinct), runs of three or more as ranges."""
    if len(chars) == 1:
        return _literal(chars[0])
    runs: list[list[str]] = []
    for char in chars:
        if runs and ord(char) == ord(runs[-1][-1]) + 1 and char.isalnum():
            runs[-1].append(char)
        else:
            runs.append([char])
    parts = [f"{r[0]}-{r[-1]}" if len(r) > 2 else "".join(r) for r in runs]
    return "[" + "".join(parts) + "]"  # a dot inside a class is literal


def _put_first(definition: Schema, *names: str) -> None:
    """Reorder ``definition``'s properties (and ``required``) so ``names`` come first."""
    properties = definition["properties"]
    order = [n for n in names if n in properties] + [n for n in properties if n not in names]
    definition["properties"] = {n: properties[n] for n in order}
    if "required" in definition:
        required = set(definition["required"])
        definition["required"] = [n for n in order if n in required]


def reduce_schema(output: type[BaseModel], item_ids: Sequence[str], *, grammar: bool) -> Schema:
    """Return ``output``'s schema (``ReduceOutput``) with bullets citing only ``item_ids``."""
    schema = copy.deepcopy(schema_of(output))
    if not item_ids or len(item_ids) > MAX_ENUM_IDS:
        return schema
    bullet = schema["$defs"]["BulletOut"]
    bullet["properties"]["claim_ids"]["items"] = _one_of(item_ids, grammar=grammar)
    if grammar:
        _bound_texts(schema, 0)
    _put_first(bullet, "claim_ids")
    # The title last: SmolLM2, given the title first, wrote it again as every bullet's text.
    _put_first(schema, "sections", "differences")
    return inline_single_use(schema)


def inline_single_use(schema: Schema) -> Schema:
    """Return ``schema`` with each definition used once written in place of its ``$ref``.

    The same language in fewer tokens (no ``$defs`` entry, name and reference): a quarter less
    for a map reply's schema, which OpenAI's strict mode puts before every map call. A
    definition used twice (a bullet, in sections and in differences) stays shared.
    """
    defs: Schema = schema.get("$defs", {})
    uses: dict[str, int] = {}
    for ref in re.findall(r'"\$ref": "#/\$defs/([^"]+)"', json.dumps(schema)):
        uses[ref] = uses.get(ref, 0) + 1
    once = {name for name, count in uses.items() if count == 1 and name in defs}

    def resolve(node: object) -> object:
        if isinstance(node, list):
            return [resolve(v) for v in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if len(node) == 1 and isinstance(ref, str) and ref.removeprefix("#/$defs/") in once:
            return resolve(defs[ref.removeprefix("#/$defs/")])
        return {k: resolve(v) for k, v in node.items() if k != "$defs"}

    inlined = cast(Schema, resolve(schema))
    kept = {name: resolve(d) for name, d in defs.items() if name not in once}
    return {"$defs": kept, **inlined} if kept else inlined


def _bound_texts(schema: Schema, max_claims: int) -> None:
    """Give texts and titles a length range and lists a maximum size (grammar servers only)."""
    low, high = TEXT_LENGTH
    for name, definition in schema["$defs"].items():
        properties = definition.get("properties", {})
        if "text" in properties:
            properties["text"] = {"type": "string", "minLength": low, "maxLength": high}
        if "title" in properties:
            properties["title"] = {
                "type": "string",
                "minLength": TITLE_LENGTH[0],
                "maxLength": TITLE_LENGTH[1],
            }
        if "citations" in properties:
            properties["citations"]["minItems"] = 1
            properties["citations"]["maxItems"] = MAX_CITATIONS
        if name == "BulletOut":
            properties["claim_ids"]["minItems"] = 1
            properties["claim_ids"]["maxItems"] = MAX_CLAIM_IDS
    top = schema["properties"]
    if "title" in top:
        top["title"] = {
            "type": "string",
            "minLength": TITLE_LENGTH[0],
            "maxLength": TITLE_LENGTH[1],
        }
    if max_claims > 0 and "claims" in top:
        top["claims"]["maxItems"] = max_claims


def recorded_narrowing(cassette: Path) -> CitationSchema | None:
    """Return how the requests recorded in ``cassette`` narrowed their schemas, if they tell.

    A replay must send the requests the recording sent; with ``citation_schema`` "auto" the
    recording's choice followed its server, which a replay does not have.
    """
    try:
        lines = cassette.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None  # the cassette itself reports the problem
    for line in lines:
        try:
            request = json.loads(line)["request"]
            schema = request["response_format"]["json_schema"]["schema"]
        except (ValueError, KeyError, TypeError):
            continue
        found = _narrowing_of(schema)
        if found is not None:
            return found
    return None


def _narrowing_of(schema: Schema) -> CitationSchema | None:
    text = json.dumps(schema)
    if '"minLength"' in text:
        return "grammar"
    if '"enum"' in text or '"pattern"' in text:
        return "ids"
    defs = schema.get("$defs", {})
    return "off" if "CitationOut" in defs or "BulletOut" in defs else None
