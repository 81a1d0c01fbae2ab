"""The LLM engine: ``Chunk`` -> ``Claim`` (map), rejected ``Claim`` -> ``Claim`` (repair),
``Claim`` -> ``Draft`` (reduce, in ``engines.llm.reduce``), through any OpenAI-compatible
model.

When every chunk fits one call's context window beside a one-page reply (and
``single_call`` is on), the map step is skipped: one grounded call returns the claims the
briefing cites and the draft built from them, and ``reduce_claims`` hands that draft back.
Otherwise (or when that call's reply is cut off) chunks are packed into map calls up to the
map budget, which follows the model's context window, and run concurrently (bounded by
``concurrency``). A map reply cut off at the output limit is retried once as two smaller
calls; a reply still unusable after the client's one re-ask skips that part with a recorded
note. The engine never judges evidence itself: the pipeline validates every claim and bullet.

Limits are learnt, not guessed: a local server is asked its context window and slots before
the first call (``engines.llm.limits``), and a request it still refuses for its size re-plans
the run with the window its error states. Every call's reply is bounded (``max_tokens``)
by the budget its step was planned with. A reduce that cannot complete falls back to the
offline extractive reduce over the validated claims, so a run with validated claims always
ends with a briefing.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from itertools import chain
from typing import TypeVar

from briefer.config import Budgets, Settings, budgets_for, estimate_cost, window_origin
from briefer.engines.llm.cache import Tracer
from briefer.engines.llm.client import LLMClient
from briefer.engines.llm.echo import TemplateEcho, cite_copied_sentences, clean_claims
from briefer.engines.llm.io import (
    BriefOutput,
    CitationOut,
    IdClaimOut,
    MapOutput,
    ReduceOutput,
    RepairOutput,
    audience_guidance,
    pack_chunk_stream,
    pack_chunks,
    passages_within,
    render_passages,
    split_group,
)
from briefer.engines.llm.limits import learn_limits
from briefer.engines.llm.planning import (
    TEMPLATES,
    RunPlan,
    fits_one_call,
    load_templates,
    one_call_limit,
    plan_run,
    prompt_overhead_of,
)
from briefer.engines.llm.prompts import render_prompt
from briefer.engines.llm.reduce import FailFast, Reducer, call_pool, run_parallel, to_draft
from briefer.engines.llm.schemas import citing_schema, recorded_narrowing
from briefer.errors import (
    ConfigError,
    LLMContextError,
    LLMError,
    LLMResponseError,
    LLMTimeoutError,
    LLMTruncatedError,
    LLMUnavailableError,
)
from briefer.models import (
    BriefOptions,
    Chunk,
    Citation,
    Claim,
    Draft,
    ModelRun,
    Passage,
    PromptRef,
    RejectedClaim,
    ServerLimits,
    Source,
    Usage,
)
from briefer.progress import NoProgress, ProgressSink

ENGINE_NAME = "llm"
__all__ = ["ENGINE_NAME", "LLMEngine", "RunPlan", "plan_run"]
_MAX_SPLITS = 2  # a cut-off map reply is retried as halves, and those halves once more
CitingOutput = TypeVar("CitingOutput", MapOutput, RepairOutput, BriefOutput)
_MAX_REPLANS = 4  # windows re-planned after refusals, before a refusal is final
_SHRINK_WITHOUT_NUMBERS = 0.75  # window kept after a refusal that states no usable size
# Parameters a replay must share with its recording, stored at the head of a cassette.
REPLAY_FIELDS = (
    "model",
    "temperature",
    "context_window",
    "max_output_tokens",
    "structured",
    "single_call",
    "repair_rounds",
    "prompt_versions",
    "concurrency",
)


@dataclass(frozen=True)
class _Found:
    """Claims one map call returned, before ids are given, or that it failed."""

    claims: list[tuple[IdClaimOut, str]]  # claim, id of the chunk holding its first citation
    failed: bool = False


class LLMEngine:
    """A briefing engine backed by an OpenAI-compatible chat model."""

    name = ENGINE_NAME

    def __init__(self, settings: Settings, *, client: LLMClient | None = None) -> None:
        self.tracer = Tracer(settings.trace_dir) if settings.trace_dir else None
        self.client = client or LLMClient(settings, tracer=self.tracer)
        self.notes: list[str] = []  # skipped parts and fallbacks, for the user
        self.progress: ProgressSink = NoProgress()
        self.server_limits: ServerLimits | None = None
        settings = self._replayed(settings)
        if settings.replay_path is not None and settings.citation_schema == "auto":
            recorded = recorded_narrowing(settings.replay_path)
            if recorded is not None:  # replay the schemas the recording's server was sent
                settings = settings.model_copy(update={"citation_schema": recorded})
        settings, self.server_limits, learnt = learn_limits(settings)
        if learnt:
            self.notes.append(learnt)
        self.settings = settings
        self.client.use_settings(settings)
        self.model: str | None = settings.model
        self.repair_rounds = settings.repair_rounds  # how often the pipeline may ask for repairs
        self.templates = load_templates(settings)
        self.prompt_overhead = prompt_overhead_of(self.templates)
        self.budgets = budgets_for(settings, self.prompt_overhead)
        self.planned_window = self.budgets.context_window
        self.reduced_by = "model"
        self.replanned: list[int] = []
        self._reply_tokens: dict[str, int] = {}
        self._plan_lock = threading.Lock()
        self._server_gone: LLMUnavailableError | None = None
        self._used: set[str] = set()
        self._draft: Draft | None = None
        self._repairs: dict[str, int] = {}
        self._whole: dict[str, tuple[str, str]] = {}  # chunk id -> its first and last passage
        self.client.record_parameters(
            {name: _jsonable(getattr(settings, name)) for name in REPLAY_FIELDS}
        )

    @property
    def on_notice(self) -> Callable[[str], None] | None:
        """Return who is told at once (a re-plan, a timeout), not only at the end of the run."""
        return self.client.on_notice

    @on_notice.setter
    def on_notice(self, tell: Callable[[str], None] | None) -> None:
        self.client.on_notice = tell

    def _replayed(self, settings: Settings) -> Settings:
        """Return ``settings`` with the parameters the cassette being replayed was made with."""
        recorded = self.client.replay_parameters
        if not recorded:
            return settings
        values = {k: v for k, v in recorded.items() if k in REPLAY_FIELDS}
        origins = {**settings.origins, **dict.fromkeys(values, "cassette")}
        try:
            return Settings.model_validate({**settings.model_dump(), **values, "origins": origins})
        except ValueError as exc:
            raise ConfigError(
                f"the cassette {settings.replay_path} holds parameters briefer cannot use "
                f"({exc.__class__.__name__}): record it again"
            ) from None

    def __enter__(self) -> LLMEngine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the client's connections."""
        self.client.close()

    def watch(self, progress: ProgressSink) -> None:
        """Report the calls each stage plans, and every call made, to ``progress``."""
        self.progress = progress
        self.client.progress = progress

    def map_chunks(self, chunks: Sequence[Chunk], options: BriefOptions) -> list[Claim]:
        """Return the claims of ``chunks``, in one grounded call when every chunk fits one."""
        self._draft = None
        self._whole.update((c.id, (c.passages[0].id, c.passages[-1].id)) for c in chunks)
        budgets = budgets_for(self.settings, self.prompt_overhead, options.max_words)
        one_call = self.settings.single_call and fits_one_call(
            chunks, self.templates["brief"], budgets
        )
        if one_call:
            claims = self._brief_in_one_call(list(chunks), options)
            if claims is not None:
                return claims
        groups = pack_chunks(chunks, self.budgets.map_tokens)
        if one_call and len(groups) == 1:  # the one call was cut off: map in smaller parts
            groups = split_group(groups[0]) or groups
        self.progress.expect("map", len(groups))
        found = run_parallel(
            lambda group: self._map_group(group, options, 0), groups, self.settings.concurrency
        )
        if found and all(f.failed for f in found):
            raise self._nothing_usable()
        claims = _number_claims([pair for f in found for pair in f.claims], {})[0]
        self._trace("claims map", claims)
        return claims

    def map_stream(self, chunks: Iterable[Chunk], options: BriefOptions) -> Iterator[list[Claim]]:
        """Yield the claims of ``chunks`` part by part, in order, while later parts run.

        Chunks are pulled as they are made, so making them overlaps the calls already in
        flight; a part's claims are yielded once it and every part before it are done, so the
        caller can validate them while later calls still wait on the model. Claim ids and
        requests are the same as ``map_chunks`` makes for the same chunks.
        """
        stream = (self._note_whole(chunk) for chunk in chunks)
        pulled: list[Chunk] = []
        if self.settings.single_call:
            # Pull until the chunks cannot fit one grounded call; if they run out first,
            # they all may, and map_chunks decides exactly.
            limit = one_call_limit(
                self.templates["brief"],
                budgets_for(self.settings, self.prompt_overhead, options.max_words),
            )
            size = 0
            for chunk in stream:
                pulled.append(chunk)
                size += chunk.n_tokens
                if size > limit:
                    break
            else:
                yield self.map_chunks(pulled, options)
                return
        self._draft = None
        numbers: dict[str, str] = {}
        mapped: list[Claim] = []
        failed: list[bool] = []  # whether each part came back with nothing usable

        def map_one(group: list[Chunk]) -> _Found:
            return self._map_group(group, options, 0)

        map_part = FailFast().wrap(map_one)
        pending: deque[Future[_Found]] = deque()

        def next_part() -> list[Claim]:
            found = pending.popleft().result()
            failed.append(found.failed)
            batch = _number_claims(found.claims, numbers, start=len(mapped) + 1)[0]
            mapped.extend(batch)
            return batch

        with call_pool(self.settings.concurrency) as pool:
            for group in pack_chunk_stream(chain(pulled, stream), self.budgets.map_tokens):
                self.progress.expect("map", 1)
                pending.append(pool.submit(map_part, group))
                while pending and pending[0].done():
                    yield next_part()
            while pending:
                yield next_part()
        if failed and all(failed):
            raise self._nothing_usable()
        self._trace("claims map", mapped)

    def _note_whole(self, chunk: Chunk) -> Chunk:
        self._whole[chunk.id] = (chunk.passages[0].id, chunk.passages[-1].id)
        return chunk

    def repair_claims(
        self, rejected: Sequence[RejectedClaim], chunks: dict[str, Chunk], options: BriefOptions
    ) -> list[Claim]:
        """Return corrected versions (same ids) of rejected claims the model could fix."""
        self._trace("rejected claims", rejected)
        todo = [
            r for r in rejected if self._repairs.get(r.claim.id, 0) < self.settings.repair_rounds
        ]
        jobs: dict[tuple[str, ...], list[RejectedClaim]] = {}
        for item in todo:
            self._repairs[item.claim.id] = self._repairs.get(item.claim.id, 0) + 1
            key = _chunks_for(item.claim, chunks, self.budgets.map_tokens)
            if key:
                jobs.setdefault(key, []).append(item)
            else:
                self.notes.append(
                    f"repair: claim {item.claim.id} cites no known passage; not re-asked"
                )

        def repair(job: tuple[tuple[str, ...], list[RejectedClaim]]) -> list[Claim]:
            chunk_ids, items = job
            cited = {c.passage_id for r in items for c in r.claim.citations}
            shown = passages_within([chunks[c] for c in chunk_ids], cited, self.budgets.map_tokens)
            return self._repair_job(shown, items)

        if jobs:
            self.progress.expect("repair", len(jobs))
        repaired = [
            c
            for part in run_parallel(repair, list(jobs.items()), self.settings.concurrency)
            for c in part
        ]
        self._trace("claims repair", repaired)
        return repaired

    def reduce_claims(
        self,
        claims: Sequence[Claim],
        sources: Sequence[Source],
        passages: dict[str, Passage],
        options: BriefOptions,
    ) -> Draft:
        """Return the draft: merged, ranked bullets (the pipeline fits the word budget).

        A reduce the model cannot complete (refused even after re-planning, cut off, timed
        out, unusable) falls back to the offline extractive reduce over the same validated
        claims, with a note; the briefing's provenance says so.
        """
        self._trace("claims accepted", claims)
        if self._draft is not None:  # the one grounded call already wrote it
            return self._draft
        if not claims:
            title = sources[0].title if sources else "Briefing"
            return Draft(title=" ".join(title.split()) or "Briefing", sections=[])
        self._used.add("reduce")
        failure: LLMError | None = self._server_gone
        while failure is None:
            budgets = self.budgets
            self._reply_tokens["reduce"] = budgets.output_tokens
            reducer = Reducer(
                self.client,
                self.templates["reduce"],
                budgets.reduce_tokens,
                self.settings.concurrency,
                self.notes,
                self.tracer,
                max_tokens=budgets.output_tokens,
            )
            try:
                return reducer.reduce(claims, sources, options)
            except LLMContextError as exc:
                if not self._replan(exc, "reduce", budgets):
                    failure = exc
            except LLMError as exc:
                failure = exc
        why = f"reduce: the model could not complete it ({failure})"
        return self._extractive_reduce(claims, sources, passages, options, why)

    def reduce_fallback(
        self,
        claims: Sequence[Claim],
        sources: Sequence[Source],
        passages: dict[str, Passage],
        options: BriefOptions,
    ) -> Draft:
        """Merge ``claims`` offline: none of the model's bullets passed validation."""
        why = "reduce: none of the model's bullets passed validation"
        return self._extractive_reduce(claims, sources, passages, options, why)

    def _extractive_reduce(
        self,
        claims: Sequence[Claim],
        sources: Sequence[Source],
        passages: dict[str, Passage],
        options: BriefOptions,
        why: str,
    ) -> Draft:
        from briefer.engines.extractive.engine import ExtractiveEngine

        self.reduced_by = "extractive fallback"
        self.notes.append(
            f"{why}; the briefing was merged by the offline extractive reduce over the "
            f"{len(claims)} validated claims"
        )
        draft = ExtractiveEngine().reduce_claims(claims, sources, passages, options)
        self._trace("draft extractive fallback", draft)
        return draft

    def prompt_refs(self) -> list[PromptRef]:
        """Return the templates this engine rendered so far."""
        return [self.templates[n].ref for n in TEMPLATES if n in self._used]

    def usage(self) -> Usage:
        """Return calls, cache hits and tokens spent so far (and the cost, where Usage has it)."""
        usage = self.client.usage()
        if "cost_usd" in Usage.model_fields:
            usage = usage.model_copy(update={"cost_usd": self.cost()})
        return usage

    def cost(self) -> float | None:
        """Return the estimated cost in US dollars so far, or None when the price is unknown."""
        usage = self.client.usage()
        return estimate_cost(self.settings, usage.prompt_tokens, usage.completion_tokens)

    def all_notes(self) -> list[str]:
        """Return everything the run should tell the user, each once: skips and fallbacks."""
        return list(dict.fromkeys([*self.client.notes, *self.notes]))

    def model_run(self) -> ModelRun:
        """Return how the model was called: the parameters a replay needs, what was learnt."""
        settings = self.settings
        fixed = settings.model_info.fixed_temperature
        return ModelRun(
            temperature=None if fixed else settings.temperature,
            structured=settings.structured,
            structured_used=self.client.structured_mode,
            context_window=self.planned_window,
            context_window_origin=self._window_origin,
            max_output_tokens=settings.max_output_tokens,
            reply_tokens=dict(sorted(self._reply_tokens.items())),
            concurrency=settings.concurrency,
            single_call=settings.single_call,
            repair_rounds=settings.repair_rounds,
            server=self.server_limits,
            replanned_windows=list(self.replanned),
            reduce=self.reduced_by,
            notes=self.all_notes(),
        )

    def _replan(self, error: LLMContextError, label: str, planned: Budgets) -> bool:
        """Shrink the window to what the server's refusal says; return whether to try again.

        ``planned`` are the budgets the refused request was made with: if the run was
        re-planned since (another call was refused first), it is simply tried again.
        """
        with self._plan_lock:
            current = self.budgets
            if current.context_window < planned.context_window:
                return True
            window = error.window or int(current.context_window * _SHRINK_WITHOUT_NUMBERS)
            counts = (error.server_tokens or 0, error.our_tokens)
            if error.window and counts[1] and counts[0] > counts[1]:
                # The server's tokens are smaller than briefer's: plan in briefer's.
                window = int(error.window * counts[1] / counts[0])
            if window >= current.context_window:
                window = int(current.context_window * _SHRINK_WITHOUT_NUMBERS)
            if len(self.replanned) >= _MAX_REPLANS:
                return False
            settings = self.settings.model_copy(update={"context_window": window})
            try:
                budgets = budgets_for(settings, self.prompt_overhead)
            except ConfigError:
                return False
            self.settings, self.budgets = settings, budgets
            self.client.use_settings(settings)
            self.replanned.append(window)
            stated = f"{error.window} tokens" if error.window else "a size it did not state"
            counted = (
                f"; it counted {error.server_tokens} tokens where briefer counts {error.our_tokens}"
                if error.server_tokens and error.our_tokens
                else ""
            )
            notice = (
                f"{label}: the server refused it as larger than its context window ({stated}"
                f"{counted}); re-planned for a window of {window} tokens (map calls of "
                f"{budgets.map_tokens} tokens, replies of {budgets.output_tokens})"
            )
            self.notes.append(notice)
            if self.on_notice is not None:
                self.on_notice(notice)
            return True

    @property
    def _window_origin(self) -> str:
        return window_origin(self.settings) if not self.replanned else "re-planned from errors"

    def _brief_in_one_call(self, chunks: list[Chunk], options: BriefOptions) -> list[Claim] | None:
        self._used.add("brief")
        budgets = self.budgets
        self.progress.expect("brief", 1)
        variables: dict[str, object] = {
            "audience": options.audience,
            "audience_guidance": audience_guidance(options),
            "max_words": options.max_words,
            "passages": render_passages(chunks),
        }
        self._reply_tokens["brief"] = budgets.brief_tokens
        try:
            output = self._complete(
                "brief", variables, chunks, BriefOutput, "brief", budgets.brief_tokens
            )
        except LLMContextError as exc:
            if not self._replan(exc, "brief", budgets):
                raise
            return None  # mapped in parts, at the new window
        except (LLMTruncatedError, LLMResponseError) as exc:
            self.notes.append(f"one-call briefing failed ({exc}); mapping the sources in parts")
            return None
        home = _passage_homes(chunks)
        pairs = [(c, _home_of(c.citations, home, chunks[0].id)) for c in output.claims]
        claims, ids = _number_claims(pairs, {})
        self._draft = to_draft(
            ReduceOutput(
                title=output.title, sections=output.sections, differences=output.differences
            ),
            {model_id: [our_id] for model_id, our_id in ids.items()},
        )
        self._trace("claims brief", claims)
        self._trace("draft brief", self._draft)
        return claims

    def _nothing_usable(self) -> LLMError:
        if self._server_gone is not None:
            return self._server_gone
        return LLMResponseError(
            "the model returned no usable claims for any part of the sources "
            f"({self.notes[-1] if self.notes else 'no reason recorded'})"
        )

    def _map_group(self, group: list[Chunk], options: BriefOptions, depth: int) -> _Found:
        self._used.add("map")
        budgets = self.budgets
        label = _map_label(group, self._whole)
        if self._server_gone is not None:
            self.notes.append(f"{label}: skipped, the model server stopped answering")
            return _Found(claims=[], failed=True)
        if sum(c.n_tokens for c in group) > budgets.map_tokens:  # re-planned since it was packed
            parts = pack_chunks(group, budgets.map_tokens)
            if len(parts) > 1:
                return _merge([self._map_group(part, options, depth) for part in parts])
        variables: dict[str, object] = {
            "audience": options.audience,
            "passages": render_passages(group),
        }
        self._reply_tokens["map"] = budgets.output_tokens
        try:
            output = self._complete(
                "map", variables, group, MapOutput, label, budgets.output_tokens
            )
        except LLMContextError as exc:
            if self._replan(exc, label, budgets):
                return self._map_group(group, options, depth)
            self.notes.append(f"{label}: skipped ({exc})")
            return _Found(claims=[], failed=True)
        except (LLMTruncatedError, LLMTimeoutError) as exc:
            # Cut off with nothing usable, or too slow or looping even when asked for less:
            # map the group in halves, down to _MAX_SPLITS.
            halves = split_group(group) if depth < _MAX_SPLITS else []
            if not halves:
                self.notes.append(f"{label}: skipped ({exc}), even in smaller parts")
                return _Found(claims=[], failed=True)
            return _merge([self._map_group(h, options, depth + 1) for h in halves])
        except (LLMResponseError, LLMUnavailableError) as exc:
            if isinstance(exc, LLMUnavailableError):
                # What was mapped before stays; later parts are not sent to a dead server.
                self._server_gone = self._server_gone or exc
            self.notes.append(f"{label}: skipped ({exc})")
            return _Found(claims=[], failed=True)
        home = _passage_homes(group)
        seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
        found: list[tuple[IdClaimOut, str]] = []
        for c in output.claims:
            signature = (c.text, tuple((x.passage_id, x.quote) for x in c.citations))
            if signature in seen:  # a looping model repeats whole claims
                continue
            seen.add(signature)
            found.append(
                (
                    IdClaimOut(id="", text=c.text, citations=c.citations),
                    _home_of(c.citations, home, group[0].id),
                )
            )
        return _Found(claims=found)

    def _repair_job(self, chunks: list[Chunk], items: list[RejectedClaim]) -> list[Claim]:
        self._used.add("repair")
        label = "repair " + ",".join(c.id for c in chunks)
        budgets = self.budgets
        variables: dict[str, object] = {
            "claims": _render_rejected(items),
            "passages": render_passages(chunks),
        }
        self._reply_tokens["repair"] = budgets.output_tokens
        try:
            output = self._complete(
                "repair", variables, chunks, RepairOutput, label, budgets.output_tokens
            )
        except LLMContextError as exc:
            self._replan(exc, label, budgets)
            self.notes.append(f"{label}: claims stay rejected ({exc})")
            return []
        except (LLMTruncatedError, LLMResponseError, LLMUnavailableError) as exc:
            if isinstance(exc, LLMUnavailableError) and not isinstance(exc, LLMTimeoutError):
                self._server_gone = self._server_gone or exc
            self.notes.append(f"{label}: claims stay rejected ({exc})")
            return []
        wanted = {r.claim.id: r.claim for r in items}
        repaired: list[Claim] = []
        for out in output.claims:
            original = wanted.pop(out.id.strip(), None)
            if original is not None and out.text.strip():
                repaired.append(
                    Claim(
                        id=original.id,
                        text=" ".join(out.text.split()),
                        citations=_citations(out),
                        chunk_id=original.chunk_id,
                    )
                )
        return repaired

    def _complete(
        self,
        template: str,
        variables: dict[str, object],
        chunks: Sequence[Chunk],
        output: type[CitingOutput],
        label: str,
        max_tokens: int,
    ) -> CitingOutput:
        """Return the reply to ``template`` over ``chunks``, citing only their passages.

        The request's schema lists the passages the reply may cite (and, on grammar servers,
        their sentences as the only quotes); a reply copying the template is re-asked once.
        """
        messages = render_prompt(self.templates[template], variables)
        narrowing = self.settings.schema_narrowing
        grammar = narrowing == "grammar"
        schema = (
            None
            if narrowing == "off"
            else citing_schema(output, chunks, grammar=grammar, max_claims=_claim_cap(chunks))
        )
        first = next((p.id for c in chunks for p in c.passages), "S1.P1")
        echo = TemplateEcho(self.templates[template], variables)
        reply = self.client.complete(
            messages,
            output,
            label=label,
            schema=schema,
            reask_if=echo.reask_for_claims(first),
            max_tokens=max_tokens,
        )
        # Copied ids, labels and instruction phrases go before the validator sees the texts;
        # a text copied from the passages is cited where it was copied from.
        passages = [p for c in chunks for p in c.passages]
        cleaned = clean_claims(reply, echo, (p.id for p in passages))
        return cite_copied_sentences(cleaned, passages)

    def _trace(self, label: str, data: object) -> None:
        if self.tracer is not None:
            self.tracer.write(label, data)


def _claim_cap(chunks: Sequence[Chunk]) -> int:
    """Return the most claims a reply over ``chunks`` may hold: a few per sentence shown."""
    sentences = sum(max(1, len(p.sentences)) for c in chunks for p in c.passages)
    return 2 * sentences


def _map_label(group: Sequence[Chunk], whole: dict[str, tuple[str, str]]) -> str:
    """Return a map call's label: its chunks, or its passages when it holds part of a chunk.

    A part of a chunk (cut to fit, or split after a cut-off reply) keeps the chunk's id, so
    it is named by its first and last passage: each part's note stands under its own label.
    """
    chunks = group[0].id + (f"..{group[-1].id}" if group[-1].id != group[0].id else "")
    if all(whole.get(c.id) == (c.passages[0].id, c.passages[-1].id) for c in group):
        return f"map {chunks}"
    first, last = group[0].passages[0].id, group[-1].passages[-1].id
    passages = first if first == last else f"{first}..{last}"
    return f"map {passages} (part of {chunks})"


def _merge(parts: Sequence[_Found]) -> _Found:
    return _Found(
        claims=[pair for p in parts for pair in p.claims], failed=all(p.failed for p in parts)
    )


def _jsonable(value: object) -> object:
    return dict(value) if isinstance(value, dict) else value


def _passage_homes(chunks: Sequence[Chunk]) -> dict[str, str]:
    return {p.id: c.id for c in chunks for p in c.passages}


def _home_of(citations: Sequence[CitationOut], homes: dict[str, str], default: str) -> str:
    for citation in citations:
        home = homes.get(citation.passage_id.strip())
        if home is not None:
            return home
    return default


def _citations(claim: IdClaimOut) -> list[Citation]:
    return [Citation(passage_id=c.passage_id.strip(), quote=c.quote) for c in claim.citations]


def _number_claims(
    pairs: Sequence[tuple[IdClaimOut, str]], ids: dict[str, str], start: int = 1
) -> tuple[list[Claim], dict[str, str]]:
    """Return claims with ids K<start>, K<start + 1>, ... and the map from the model's ids."""
    claims: list[Claim] = []
    for out, chunk_id in pairs:
        if not out.text.strip():
            continue
        claim_id = f"K{start + len(claims)}"
        if out.id.strip():
            ids.setdefault(out.id.strip(), claim_id)
        claims.append(
            Claim(
                id=claim_id,
                text=" ".join(out.text.split()),
                citations=_citations(out),
                chunk_id=chunk_id,
            )
        )
    return claims, ids


def _chunks_for(claim: Claim, chunks: dict[str, Chunk], budget: int) -> tuple[str, ...]:
    """Return the ids of the chunks to show when repairing ``claim`` (empty: none known)."""
    if claim.chunk_id in chunks:
        return (claim.chunk_id,)
    homes = {p.id: c.id for c in chunks.values() for p in c.passages}
    cited = {homes[c.passage_id] for c in claim.citations if c.passage_id in homes}
    if cited:
        return tuple(sorted(cited))
    if sum(c.n_tokens for c in chunks.values()) <= budget:
        return tuple(chunks)
    return ()


def _render_rejected(items: Sequence[RejectedClaim]) -> str:
    blocks = []
    for item in items:
        lines = [f"{item.claim.id}: {item.claim.text}"]
        lines += [f'  cites {c.passage_id}: "{c.quote}"' for c in item.claim.citations]
        lines += [f"  rejected: {r.code}: {r.message}" for r in item.reasons]
        blocks.append("\n".join(lines))
    return "\n".join(blocks)
