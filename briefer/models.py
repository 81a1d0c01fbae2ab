"""Pydantic models shared by every pipeline stage.

Flow: ``Source`` (ingest) -> ``Passage`` / ``Chunk`` (chunking) -> ``Claim`` (map)
-> ``ClaimCheck`` (validate) -> ``Bullet`` / ``Briefing`` (reduce) -> rendered text.

Every model is frozen: a stage never edits what it was given, it returns new models.
"""

from __future__ import annotations

from datetime import date
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from briefer.choices import LENGTH_WORDS as LENGTH_WORDS
from briefer.choices import Audience as Audience
from briefer.choices import Length as Length
from briefer.words import count_words


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


_Model = TypeVar("_Model", bound=BaseModel)
_SET = object.__setattr__
_NEW = object.__new__  # what BaseModel.__new__ is
_IMMUTABLE_DEFAULTS = (type(None), bool, int, float, str, tuple, frozenset)


class _Layout:
    """A model's field names in order and the defaults that can be shared between instances."""

    __slots__ = ("default_tails", "defaults", "names")

    def __init__(self, model: type[BaseModel]) -> None:
        fields = model.model_fields
        self.names = tuple(fields)
        self.defaults = {
            name: field.default
            for name, field in fields.items()
            if field.default_factory is None and isinstance(field.default, _IMMUTABLE_DEFAULTS)
        }
        # first missing field -> the trailing fields and their shared defaults, where all have one
        self.default_tails = {
            k: tuple((name, self.defaults[name]) for name in self.names[k:])
            for k in range(len(self.names))
            if all(name in self.defaults for name in self.names[k:])
        }


# Per model class: its layout, or None when construct_trusted must defer to pydantic
# (aliases, a post-init hook or extra fields, which model_construct handles).
_TRUSTED_LAYOUT: dict[type[BaseModel], _Layout | None] = {}


def construct_trusted(model: type[_Model], fields_set: set[str], /, **values: Any) -> _Model:
    """Return what ``model.model_construct(fields_set, **values)`` returns, a few times faster.

    For models built by the hundred thousand from values that hold by construction (spans,
    passages, claims): no validation, fields in the model's order, a missing field gets its
    default. pydantic's ``model_construct`` looks up each field's aliases on every call.
    """
    if model in _TRUSTED_LAYOUT:
        layout = _TRUSTED_LAYOUT[model]
    else:
        layout = _TRUSTED_LAYOUT[model] = _trusted_layout(model)
    if layout is None:
        return model.model_construct(fields_set, **values)
    given = tuple(values)
    if given != layout.names:
        tail = layout.default_tails.get(len(given))
        if tail is not None and given == layout.names[: len(given)]:
            values.update(tail)  # only trailing fields left to their defaults: order holds
        else:
            values = {name: _field_value(model, layout, name, values) for name in layout.names}
    instance = _NEW(model)
    _SET(instance, "__dict__", values)
    _SET(instance, "__pydantic_fields_set__", fields_set)
    _SET(instance, "__pydantic_extra__", None)
    _SET(instance, "__pydantic_private__", None)
    return instance


def _field_value(model: type[BaseModel], layout: _Layout, name: str, values: dict[str, Any]) -> Any:
    if name in values:
        return values[name]
    if name in layout.defaults:
        return layout.defaults[name]
    return model.model_fields[name].get_default(call_default_factory=True, validated_data=values)


def _trusted_layout(model: type[BaseModel]) -> _Layout | None:
    fields = model.model_fields
    plain = (
        not model.__pydantic_post_init__
        and not model.__pydantic_root_model__
        and model.model_config.get("extra") != "allow"
        and all(f.alias is None and f.validation_alias is None for f in fields.values())
    )
    return _Layout(model) if plain else None


class Span(_Frozen):
    """A half-open character range ``[start, end)`` in a source's ``text``."""

    start: int = Field(ge=0)
    end: int = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Span:
        if self.end < self.start:
            raise ValueError(f"span end {self.end} is before start {self.start}")
        return self


class DroppedBlock(_Frozen):
    """A block of the source text that cleaning removed, and why."""

    start: int
    end: int
    reason: str


class Source(_Frozen):
    """One input article.

    ``text`` is the decoded document as read (for HTML: the extracted main text);
    ``blocks`` are the spans of ``text`` that cleaning kept as the story, in order.
    """

    id: str = Field(pattern=r"^S\d+$")
    title: str
    origin: str
    text: str
    blocks: list[Span]
    dropped: list[DroppedBlock] = []
    encoding: str = "utf-8"
    sha256: str = Field(description="SHA-256 (hex) of the bytes read, before decoding.")
    duplicate_of: str | None = None
    published: date | None = None


class Passage(_Frozen):
    """Whole sentences of one source; invariant ``source.text[start:end] == text``."""

    id: str = Field(pattern=r"^S\d+\.P\d+$")
    source_id: str
    start: int
    end: int
    text: str
    n_tokens: int
    sentences: list[Span] = []


class Chunk(_Frozen):
    """Consecutive whole passages of one source, sized for one map call."""

    id: str = Field(pattern=r"^S\d+\.C\d+$")
    source_id: str
    passages: list[Passage]
    n_tokens: int

    @property
    def text(self) -> str:
        return "\n\n".join(p.text for p in self.passages)


class Citation(_Frozen):
    """Evidence for a claim: a passage id and a verbatim quote from that passage."""

    passage_id: str
    quote: str


class Claim(_Frozen):
    """One statement produced by the map step, with its evidence."""

    id: str
    text: str
    citations: list[Citation]
    chunk_id: str | None = None
    salience: float = 0.0


class Reason(_Frozen):
    """Why a claim or bullet failed validation: a stable code and a message."""

    code: str
    message: str


class RejectedClaim(_Frozen):
    """A claim that is not shown, kept with the reasons it failed."""

    claim: Claim
    stage: str
    reasons: list[Reason]


class Version(_Frozen):
    """One source's account of a fact the sources disagree on."""

    text: str
    citations: list[Citation]
    source_ids: list[str]


class Bullet(_Frozen):
    """One line of the briefing and all of its evidence.

    A bullet with ``versions`` reports a disagreement: ``text`` names what is disputed and
    each version carries its own wording and evidence.
    """

    id: str
    text: str
    citations: list[Citation]
    claim_ids: list[str]
    source_ids: list[str]
    n_sources: int = Field(description="Independent sources supporting the bullet.")
    versions: list[Version] = []

    @property
    def words(self) -> int:
        """Return the words this bullet adds to the page (its versions', when it has them)."""
        if self.versions:
            return sum(count_words(v.text) for v in self.versions)
        return count_words(self.text)


class Section(_Frozen):
    title: str
    bullets: list[Bullet]


class SourceRef(_Frozen):
    """A source as listed at the end of a briefing (``number`` is the citation marker)."""

    number: int
    id: str
    title: str
    origin: str
    sha256: str = Field(
        description="SHA-256 (hex) of the source's bytes as read; `briefer verify` with the "
        "sources fails on a source whose bytes no longer have it."
    )
    duplicate_of: str | None = None
    published: date | None = None


class PromptRef(_Frozen):
    name: str
    version: int
    sha256: str


class Usage(_Frozen):
    calls: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None


class ServerLimits(_Frozen):
    """What a model server said about itself: its context window and how many calls it serves."""

    source: str = Field(description='Which question answered, e.g. "llama.cpp /props".')
    context_window: int | None = None
    total_slots: int | None = None


class ModelRun(_Frozen):
    """How the model was called: every parameter a replay needs, and what was learnt."""

    temperature: float | None = Field(description="None: the model's fixed default.")
    structured: str = Field(description="The structured-output mode asked for (--structured).")
    structured_used: str = Field(description="The mode the last request was sent with.")
    context_window: int = Field(description="The window the run was planned for at its start.")
    context_window_origin: str
    max_output_tokens: int | None = Field(description="The BRIEFER_MAX_OUTPUT_TOKENS setting.")
    reply_tokens: dict[str, int] = Field(
        default={}, description="The max_tokens sent with the calls of each step."
    )
    concurrency: int
    single_call: bool
    repair_rounds: int
    server: ServerLimits | None = Field(default=None, description="What the server stated.")
    replanned_windows: list[int] = Field(
        default=[], description="Windows re-planned to after the server refused a request."
    )
    reduce: str = Field(default="model", description='"model" or "extractive fallback".')
    notes: list[str] = Field(default=[], description="What the run told the user on stderr.")


class Provenance(_Frozen):
    briefer_version: str
    engine: str
    model: str | None = None
    prompts: list[PromptRef] = []
    parameters: BriefOptions
    usage: Usage = Usage()
    timings: dict[str, float] = {}
    llm: ModelRun | None = None


class Briefing(_Frozen):
    """The product: a titled one-pager, its evidence, what was rejected and how it was made."""

    title: str
    sections: list[Section]
    sources: list[SourceRef]
    passages: list[Passage] = Field(description="Every passage that a bullet cites.")
    rejected: list[RejectedClaim]
    provenance: Provenance
    grounding: GroundingReport | None = None

    @property
    def bullets(self) -> list[Bullet]:
        return [b for s in self.sections for b in s.bullets]


class BriefOptions(_Frozen):
    """What the user asked for, passed to every stage that needs it."""

    length: Length | None = Length.standard
    max_words: int = Field(default=LENGTH_WORDS[Length.standard], gt=0)
    audience: str = Audience.general.value
    passage_tokens: int = Field(default=96, gt=0)
    chunk_tokens: int = Field(default=1500, gt=0)

    @property
    def audience_preset(self) -> Audience | None:
        """The preset named by ``audience``, or None for a free-text audience."""
        try:
            return Audience(self.audience)
        except ValueError:
            return None


class DraftBullet(_Frozen):
    """A bullet as an engine's reduce step proposes it: text plus the claims it merges.

    The pipeline turns it into a ``Bullet`` whose citations are exactly those of the
    claims, so a bullet can only inherit evidence that was validated.
    """

    text: str
    claim_ids: list[str]
    versions: list[DraftVersion] = []


class DraftVersion(_Frozen):
    """One side of a disagreement, as an engine proposes it."""

    text: str
    claim_ids: list[str]


class DraftSection(_Frozen):
    title: str
    bullets: list[DraftBullet]


class Draft(_Frozen):
    """The output of an engine's reduce step."""

    title: str
    sections: list[DraftSection]


DIFFERENCES_TITLE = "Where sources differ"


class Verdict(_Frozen):
    """A second opinion on one bullet: does the evidence it cites entail it?"""

    bullet_id: str
    supported: bool
    reason: str = ""
    judge: str = Field(description='Who judged, e.g. "llm:gpt-4o-mini".')


class GroundingReport(_Frozen):
    """How a briefing's statements were checked, and what failed, by reason code."""

    bullets_shown: int
    bullets_checked: int
    claims_checked: int
    reasks: int = Field(default=0, description="Claims sent back to the engine for repair.")
    rejected: int = 0
    rejected_by_code: dict[str, int] = {}
    verdicts: list[Verdict] = []
