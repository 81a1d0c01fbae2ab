"""The LLM engine's reduce step: validated ``Claim`` list -> ``Draft``.

Claims are listed for the model with their ids and sources; it returns titled sections of
bullets that cite claim ids, plus where the sources differ. When the listed claims exceed
one call's reduce budget, a local shortlist (``engines.llm.shortlist``) first keeps the best of
them, ranked for the audience, worth what a one-page briefing can use. If those still do not
fit, groups of them are reduced first and the resulting bullets (each standing for the
claims it cites) are reduced again, level by level, until they fit; what still does not fit
is cut by rank. The pipeline then fits the word budget by dropping the lowest-ranked
bullets whole.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

from briefer.engines.llm.cache import Tracer
from briefer.engines.llm.client import LLMClient
from briefer.engines.llm.echo import TemplateEcho, clean_bullets
from briefer.engines.llm.io import (
    DIFFERENCES_TITLE,
    BulletOut,
    ReduceItem,
    ReduceOutput,
    audience_guidance,
    claim_sources,
    pack_items,
    render_items,
    render_items_by_source,
    render_sources,
)
from briefer.engines.llm.prompts import PromptTemplate, render_prompt
from briefer.engines.llm.schemas import reduce_schema
from briefer.engines.llm.shortlist import ClaimGroup, rank_claims, shortlist_claims
from briefer.errors import LLMResponseError, LLMTruncatedError
from briefer.models import BriefOptions, Claim, Draft, DraftBullet, DraftSection, Source
from briefer.tokens import count_tokens

T = TypeVar("T")
R = TypeVar("R")

MAX_LEVELS = 4

_FINAL_SCOPE = "These are all the claims: write the whole briefing."
_PARTIAL_SCOPE = (
    "These claims are one part of a larger set; another step merges the parts. Merge what "
    "repeats, and keep every distinct fact that could matter to the audience."
)


class Reducer:
    """Reduces claims to a draft through one client, hierarchically when they do not fit."""

    def __init__(
        self,
        client: LLMClient,
        template: PromptTemplate,
        budget: int,
        concurrency: int,
        notes: list[str],
        tracer: Tracer | None = None,
        max_tokens: int | None = None,
    ) -> None:
        self.client = client
        self.max_tokens = max_tokens  # the bound of every reduce reply
        self.template = template
        self.budget = budget
        self.concurrency = concurrency
        self.notes = notes
        self.tracer = tracer

    def reduce(
        self, claims: Sequence[Claim], sources: Sequence[Source], options: BriefOptions
    ) -> Draft:
        """Return the draft of ``claims``: merged, ranked bullets within ``options.max_words``."""
        # reduce v2 lists a claim repeated word for word (a republication) once.
        merge_repeats = "claims_by_source" in self.template.variables
        items = _as_claim_items(claims, merge_repeats)
        rank: dict[str, int] = {}
        if _tokens(items) > self.budget:
            groups = rank_claims(claims, sources, options)
            rank = {claims[i].id: r for r, g in enumerate(groups) for i in g.members}
            kept = shortlist_claims(claims, sources, options, self.budget, groups)
            if len(kept) < len(claims):
                self._note_shortlist(claims, kept, groups, options)
                items = _as_claim_items(kept, merge_repeats)
        for level in range(1, MAX_LEVELS + 1):
            if _tokens(items) <= self.budget:
                break
            condensed = self._condense(items, sources, options, level)
            if _tokens(condensed) >= _tokens(items):
                self.notes.append(f"reduce level {level} did not shrink the claims")
                break
            items = condensed
        if _tokens(items) > self.budget:
            kept_items = _best_within(items, rank, self.budget)
            self.notes.append(
                f"reduce: {len(items) - len(kept_items)} of {len(items)} claims left out, the "
                "lowest-ranked; they did not fit the model's context after merging (raise "
                "--context-window if it is larger)"
            )
            kept_ids = {i.id for i in kept_items}
            self._trace("reduce left out", [i for i in items if i.id not in kept_ids])
            items = kept_items
        by_id = {i.id: i.claim_ids for i in items}
        self.client.progress.expect("reduce", 1)
        output = self._call(items, sources, options, _FINAL_SCOPE, "reduce")
        draft = to_draft(output, by_id, restated_claims(items))
        # The pipeline fits the word budget after validation, so a rejected bullet never
        # takes the place of one that would have been shown.
        self._trace("draft", draft)
        return draft

    def _note_shortlist(
        self,
        claims: Sequence[Claim],
        kept: Sequence[Claim],
        groups: Sequence[ClaimGroup],
        options: BriefOptions,
    ) -> None:
        """Record how many claims the shortlist kept, and trace the ones it left out."""
        self.notes.append(
            f"reduce: shortlisted {len(kept)} of {len(claims)} claims (the rest ranked lower "
            f"for {_audience_name(options)})"
        )
        kept_ids = {c.id for c in kept}
        left_out = [
            {
                "rank": rank,
                "score": round(group.score, 4),
                "independent_sources": group.n_sources,
                "claims": [claims[i] for i in group.members],
            }
            for rank, group in enumerate(groups, start=1)
            if claims[group.members[0]].id not in kept_ids
        ]
        self._trace("reduce shortlist kept", list(kept))
        self._trace("reduce shortlist left out", left_out)

    def _condense(
        self,
        items: list[ReduceItem],
        sources: Sequence[Source],
        options: BriefOptions,
        level: int,
    ) -> list[ReduceItem]:
        groups = pack_items(items, self.budget)
        self._trace(f"reduce level {level} input", items)
        self.client.progress.expect("reduce", len(groups))

        def condense(indexed: tuple[int, list[ReduceItem]]) -> list[ReduceItem]:
            number, group = indexed
            label = f"reduce level {level} part {number}"
            try:
                output = self._call(group, sources, options, _PARTIAL_SCOPE, label)
            except (LLMResponseError, LLMTruncatedError) as exc:
                self.notes.append(f"{label}: kept its claims unmerged ({exc})")
                return group
            return _as_items(output, group, f"L{level}.{number}.")

        parts = run_parallel(condense, list(enumerate(groups, start=1)), self.concurrency)
        return [item for part in parts for item in part]

    def _call(
        self,
        items: Sequence[ReduceItem],
        sources: Sequence[Source],
        options: BriefOptions,
        scope: str,
        label: str,
    ) -> ReduceOutput:
        variables: dict[str, object] = {
            "audience": options.audience,
            "audience_guidance": audience_guidance(options),
            **claim_listing(self.template, items, sources),
            "scope": scope,
            "max_words": options.max_words,
        }
        messages = render_prompt(self.template, variables)
        narrowing = self.client.settings.schema_narrowing
        schema = (
            None
            if narrowing == "off"
            else reduce_schema(ReduceOutput, [i.id for i in items], grammar=narrowing == "grammar")
        )
        echo = TemplateEcho(self.template, variables)
        reply = self.client.complete(
            messages,
            ReduceOutput,
            label=label,
            schema=schema,
            reask_if=echo.reask_for_bullets(items[0].id if items else "K1"),
            max_tokens=self.max_tokens,
        )
        return clean_bullets(reply, echo, [i.id for i in items])

    def _trace(self, label: str, data: object) -> None:
        if self.tracer is not None:
            self.tracer.write(label, data)


def claim_listing(
    template: PromptTemplate, items: Sequence[ReduceItem], sources: Sequence[Source]
) -> dict[str, str]:
    """Return the claim-list variables ``template`` uses.

    reduce v1 lists every source, then each claim with its source ids; v2 lists each claim
    under its sources' one header (``render_items_by_source``), and only the sources cited.
    """
    wanted = set(template.variables)
    values = {}
    if "claims_by_source" in wanted:
        values["claims_by_source"] = render_items_by_source(items, sources)
    if "claims" in wanted:
        values["claims"] = render_items(items)
    if "sources" in wanted:
        values["sources"] = render_sources(sources)
    return values


def to_draft(
    output: ReduceOutput,
    claim_ids: dict[str, list[str]],
    restated: dict[str, ReduceItem] | None = None,
) -> Draft:
    """Return the draft of a reduce reply, each cited id expanded to the claims it stands for.

    An id the model made up is kept (marked by ``unknown_id``), so the pipeline rejects that
    bullet as citing an unknown claim instead of the bullet silently losing part of its support.
    A bullet whose text is word for word a listed claim's (``restated``: see
    ``restated_claims``) cites that claim, whatever ids the model gave it (the claim was
    validated with exactly that text); another listed claim the model cited stays only if it
    cited the restated claim too (a merge) and that claim shares the fact (``_shares_the_fact``).
    """
    same = restated or {}
    sections = [
        DraftSection(
            title=s.title.strip() or "Key points", bullets=_bullets(s.bullets, claim_ids, same)
        )
        for s in output.sections
    ]
    if output.differences:
        sections.append(
            DraftSection(
                title=DIFFERENCES_TITLE, bullets=_bullets(output.differences, claim_ids, same)
            )
        )
    return Draft(
        title=" ".join(output.title.split()) or "Briefing",
        sections=[s for s in sections if s.bullets],
    )


def run_parallel(work: Callable[[T], R], items: Sequence[T], concurrency: int) -> list[R]:
    """Return ``work`` applied to ``items`` in order, at most ``concurrency`` at a time.

    The first exception is raised; calls that have not started by then are never sent.
    """
    if len(items) <= 1 or concurrency <= 1:
        return [work(item) for item in items]
    guarded = FailFast().wrap(work)
    with call_pool(min(concurrency, len(items))) as pool:
        futures = [pool.submit(guarded, item) for item in items]
        return [f.result() for f in futures]


@contextmanager
def call_pool(workers: int) -> Iterator[ThreadPoolExecutor]:
    """Return a thread pool for model calls that ends the way each exit needs.

    On leaving, calls still queued are cancelled (an error, or a caller that stopped early)
    and those running are waited for, except on Ctrl-C: the client aborts the calls in
    flight, and the interrupt is not held up by them.
    """
    pool = ThreadPoolExecutor(max_workers=max(1, workers))
    interrupted = False
    try:
        yield pool
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        pool.shutdown(wait=not interrupted, cancel_futures=True)


class FailFast:
    """Wraps calls run in a pool: once one has raised, those not yet started raise unsent.

    Without it, a pool drains its whole queue after a failure that comes back at once (a
    revoked key answers every call with 401 in milliseconds). Calls start in the order they
    were queued, so a call given up always comes after the one that failed: collecting
    results in order meets the real error first.
    """

    def __init__(self) -> None:
        self._failed = threading.Event()

    def wrap(self, work: Callable[[T], R]) -> Callable[[T], R]:
        """Return ``work``, given up before it starts once any wrapped call has failed."""

        def guarded(item: T) -> R:
            if self._failed.is_set():
                raise _GivenUp
            try:
                return work(item)
            except BaseException:
                self._failed.set()
                raise

        return guarded


class _GivenUp(Exception):
    """A call not sent because an earlier one failed; the earlier error is the one raised."""


def unknown_id(cited: str) -> str:
    """Return the id a bullet keeps for a claim id the model made up.

    The prefix keeps a made-up id from ever naming a real claim, so the pipeline rejects the
    bullet as citing an unknown claim instead of lending it another claim's evidence.
    """
    return f"unknown:{cited.strip()}"


def restated_claims(items: Sequence[ReduceItem]) -> dict[str, ReduceItem]:
    """Return the listed items by their text, keyed as ``_restatement_key`` keys it."""
    restated: dict[str, ReduceItem] = {}
    for item in items:
        restated.setdefault(_restatement_key(item.text), item)
    return restated


def _restatement_key(text: str) -> str:
    """Return ``text`` as compared for a restatement: case, spacing, quotes, end stop aside."""
    return _same_text_key(text).lower().rstrip(" .")


_WORD = re.compile(r"\w{4,}")


def _shares_the_fact(text: str, other: str) -> bool:
    """Whether ``other`` holds most of the longer words of ``text`` or ``text`` of ``other``'s.

    A bullet restating one claim keeps another claim the model merged into it only if this
    holds: a small model cites claims it did not use.
    """
    words, others = set(_WORD.findall(text.lower())), set(_WORD.findall(other.lower()))
    return bool(words and others) and 2 * len(words & others) >= min(len(words), len(others))


def _bullets(
    bullets: Sequence[BulletOut],
    claim_ids: dict[str, list[str]],
    restated: dict[str, ReduceItem] | None = None,
) -> list[DraftBullet]:
    listed = {i.id: i.text for i in (restated or {}).values()}
    drafted = []
    for bullet in bullets:
        text = " ".join(bullet.text.split())
        if not text:
            continue
        same = (restated or {}).get(_restatement_key(text))
        cited_ids = [c.strip() for c in bullet.claim_ids]
        if same is not None:
            # The claim restated is cited; of the model's other ids, only the claims it cited
            # together with that one (a merge) that state the same fact.
            merged = (
                [c for c in cited_ids if c in listed and _shares_the_fact(text, listed[c])]
                if same.id in cited_ids
                else []
            )
            expanded = list(same.claim_ids)
            for cited in merged:
                expanded += [c for c in claim_ids.get(cited, []) if c not in expanded]
            drafted.append(DraftBullet(text=text, claim_ids=expanded))
            continue
        expanded = []
        for cited in bullet.claim_ids:
            for claim_id in claim_ids.get(cited.strip(), [unknown_id(cited)]):
                if claim_id not in expanded:
                    expanded.append(claim_id)
        drafted.append(DraftBullet(text=text, claim_ids=expanded))
    return drafted


def _as_items(output: ReduceOutput, group: Sequence[ReduceItem], prefix: str) -> list[ReduceItem]:
    by_id = {i.id: i for i in group}
    items = []
    bullets = [b for s in output.sections for b in s.bullets] + list(output.differences)
    for number, bullet in enumerate(bullets, start=1):
        claim_ids: list[str] = []
        source_ids: list[str] = []
        for cited in bullet.claim_ids:
            item = by_id.get(cited.strip())
            # An unknown id travels on, marked, so the final bullet is rejected for it.
            for claim_id in item.claim_ids if item else [unknown_id(cited)]:
                if claim_id not in claim_ids:
                    claim_ids.append(claim_id)
            for source_id in item.source_ids if item else []:
                if source_id not in source_ids:
                    source_ids.append(source_id)
        if bullet.text.strip():
            items.append(
                ReduceItem(
                    id=f"{prefix}{number}",
                    text=bullet.text,
                    source_ids=source_ids,
                    claim_ids=claim_ids,
                )
            )
    return items


def _tokens(items: Sequence[ReduceItem]) -> int:
    return count_tokens(render_items(items))


def _audience_name(options: BriefOptions) -> str:
    preset = options.audience_preset
    return f"{preset.value} readers" if preset is not None else f"'{options.audience}'"


def _as_claim_items(claims: Sequence[Claim], merge_repeats: bool = False) -> list[ReduceItem]:
    """Return one item per claim, or with ``merge_repeats`` one per distinct claim text
    (``_same_text_key``).

    A merged item takes its first claim's id and stands for every claim of that text, so a
    bullet citing it cites all their sources.
    """
    if not merge_repeats:
        return [
            ReduceItem(id=c.id, text=c.text, source_ids=claim_sources(c), claim_ids=[c.id])
            for c in claims
        ]
    by_text: dict[str, list[Claim]] = {}
    for claim in claims:
        by_text.setdefault(_same_text_key(claim.text), []).append(claim)
    return [
        ReduceItem(
            id=same[0].id,
            text=same[0].text,
            source_ids=list(dict.fromkeys(s for c in same for s in claim_sources(c))),
            claim_ids=[c.id for c in same],
        )
        for same in by_text.values()
    ]


_STRAIGHT_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})


def _same_text_key(text: str) -> str:
    """Return ``text`` as compared for repeats: spacing and typographic quotes do not count."""
    return " ".join(text.translate(_STRAIGHT_QUOTES).split())


def _best_within(
    items: Sequence[ReduceItem], rank: dict[str, int], budget: int
) -> list[ReduceItem]:
    """Return the best-ranked ``items`` that fit ``budget`` tokens, in their original order.

    An item ranks as the best claim it stands for (``rank``: claim id -> group rank, lower is
    better); one standing for no ranked claim ranks last. The best item is kept even alone
    over the budget, so the final call always has something to write from.
    """
    last = len(rank)
    order = sorted(
        range(len(items)),
        key=lambda n: (min((rank.get(c, last) for c in items[n].claim_ids), default=last), n),
    )
    keep: set[int] = set()
    used = 0
    for n in order:
        tokens = count_tokens(render_items([items[n]])) + 1
        if used + tokens <= budget or not keep:
            keep.add(n)
            used += tokens
    return [item for n, item in enumerate(items) if n in keep]
