"""Planning an LLM run: which templates, what budgets, and what a run would cost.

``load_templates`` picks the prompt versions the settings select; ``prompt_overhead_of``
measures the fixed text of a call so budgets leave room for it; ``fits_one_call`` decides
whether one grounded call can brief all the sources; ``plan_run`` renders the prompts a run
would send and counts their tokens without calling anything (``--dry-run``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from briefer.config import Budgets, Settings, budgets_for, estimate_cost
from briefer.engines.llm.client import schema_of
from briefer.engines.llm.io import (
    BriefOutput,
    MapOutput,
    ReduceOutput,
    RepairOutput,
    audience_guidance,
    estimate_prompt_tokens,
    pack_chunks,
    render_passages,
)
from briefer.engines.llm.prompts import DEFAULT_VERSIONS, PromptTemplate, load_prompt, render_prompt
from briefer.engines.llm.prompts import select_version as _select_version
from briefer.engines.llm.shortlist import SHORTLIST_FACTOR
from briefer.errors import PromptError
from briefer.models import BriefOptions, Chunk
from briefer.tokens import count_tokens

TEMPLATES = ("map", "brief", "repair", "reduce")
# A map reply restates its input's facts with verbatim quotes: most of its length.
_REPLY_RATIO = 0.8
# Released "brief" templates whose reply restates every fact of the input (brief.v1), so it
# runs as long as the input: one call with them holds no more source text than a map call.
# Later versions extract only what the briefing cites: their reply is bounded by its length.
_REPLY_GROWS_WITH_INPUT = frozenset({("brief", 1)})
_OUTPUTS: dict[str, type[BaseModel]] = {
    "map": MapOutput,
    "brief": BriefOutput,
    "repair": RepairOutput,
    "reduce": ReduceOutput,
}


class RunPlan(BaseModel):
    """What a run would cost, computed without calling anything (``--dry-run``)."""

    model_config = ConfigDict(frozen=True)

    mode: str  # "single call" or "map-reduce"
    calls: int
    map_calls: int
    reduce_calls: int
    prompt_tokens: int
    completion_tokens: int  # an estimate: replies are as long as the model makes them
    cost_usd: float | None
    budgets: Budgets

    def summary(self) -> str:
        """Return the plan as one line for the terminal."""
        cost = "unknown cost" if self.cost_usd is None else f"about ${self.cost_usd:.4f}"
        return (
            f"{self.mode}: {self.calls} calls ({self.map_calls} map, {self.reduce_calls} reduce), "
            f"~{self.prompt_tokens} tokens in, ~{self.completion_tokens} out, {cost} "
            "(plus one repair call per chunk with rejected claims)"
        )


def load_templates(settings: Settings) -> dict[str, PromptTemplate]:
    """Return the templates the engine uses, at the versions ``settings`` selects."""
    unknown = sorted(set(settings.prompt_versions) - set(DEFAULT_VERSIONS) - {"*"})
    if unknown:
        raise PromptError(
            f"no prompt template named {', '.join(unknown)}; "
            f"choose from {', '.join(DEFAULT_VERSIONS)}"
        )
    return {
        name: load_prompt(
            name, _select_version(name, settings.prompt_versions), settings.prompts_dir
        )
        for name in TEMPLATES
    }


def prompt_overhead_of(templates: dict[str, PromptTemplate]) -> int:
    """Return the tokens of the largest template plus its schema: the fixed text of a call."""
    return max(
        count_tokens(t.body) + count_tokens(json.dumps(schema_of(_OUTPUTS[n]))) + 64
        for n, t in templates.items()
    )


def fits_one_call(chunks: Sequence[Chunk], brief: PromptTemplate, budgets: Budgets) -> bool:
    """Return whether one grounded call with template ``brief`` can hold all of ``chunks``.

    The call must fit the context window: the passages as shown, the prompt, and a reply
    budget for a one-page briefing (``budgets.brief_tokens``).
    """
    if not chunks:
        return False
    if (brief.name, brief.version) in _REPLY_GROWS_WITH_INPUT:
        return len(pack_chunks(chunks, budgets.map_tokens)) == 1
    return count_tokens(render_passages(chunks)) <= budgets.single_call_tokens


def one_call_limit(brief: PromptTemplate, budgets: Budgets) -> int:
    """Return a count of chunk tokens past which chunks can no longer fit one grounded call.

    ``fits_one_call`` counts passages as rendered (with their ids), which is never much
    below the chunks' own token counts: the tenth added here is a safety margin.
    """
    if (brief.name, brief.version) in _REPLY_GROWS_WITH_INPUT:
        return budgets.map_tokens
    return budgets.single_call_tokens + budgets.single_call_tokens // 10


# A listed claim's tokens per word of its text: English words plus its id and source tags.
_TOKENS_PER_LISTED_WORD = 1.5


def plan_run(chunks: Sequence[Chunk], settings: Settings, options: BriefOptions) -> RunPlan:
    """Return the calls, tokens and cost a run over ``chunks`` would take; calls nothing."""
    templates = load_templates(settings)
    budgets = budgets_for(settings, prompt_overhead_of(templates), options.max_words)
    guidance = audience_guidance(options)
    reply_words = options.max_words * 2 + 64  # tokens of a draft: words, ids and JSON
    if settings.single_call and fits_one_call(chunks, templates["brief"], budgets):
        brief = templates["brief"]
        messages = render_prompt(
            brief,
            {
                "audience": options.audience,
                "audience_guidance": guidance,
                "max_words": options.max_words,
                "passages": render_passages(chunks),
            },
        )
        prompt = _planned_prompt(messages, BriefOutput)
        if (brief.name, brief.version) in _REPLY_GROWS_WITH_INPUT:
            restated = int(sum(c.n_tokens for c in chunks) * _REPLY_RATIO)
            completion = min(budgets.output_tokens, restated + reply_words)
        else:  # the draft plus the claims it cites, quotes included: about twice its length
            completion = min(budgets.brief_tokens, reply_words * 3)
        return _plan("single call", 1, 0, prompt, completion, settings, budgets)
    groups = pack_chunks(chunks, budgets.map_tokens)
    prompt = completion = 0
    for group in groups:
        messages = render_prompt(
            templates["map"], {"audience": options.audience, "passages": render_passages(group)}
        )
        prompt += _planned_prompt(messages, MapOutput)
        completion += min(budgets.output_tokens, int(sum(c.n_tokens for c in group) * _REPLY_RATIO))
    # Listed for reduce, a claim is its text without quotes or JSON: about 40% of its reply.
    claim_tokens = int(completion * 0.4)
    if claim_tokens > budgets.reduce_tokens:  # the shortlist keeps the best, in groups
        allowance = int(SHORTLIST_FACTOR * options.max_words * _TOKENS_PER_LISTED_WORD)
        claim_tokens = min(claim_tokens, max(budgets.reduce_tokens, allowance))
    parts = (
        math.ceil(claim_tokens / budgets.reduce_tokens)
        if claim_tokens > budgets.reduce_tokens
        else 0
    )
    reduce_calls = (parts + 1) if groups else 0
    fixed = count_tokens(templates["reduce"].body) + count_tokens(
        json.dumps(schema_of(ReduceOutput))
    )
    prompt += reduce_calls * fixed + claim_tokens + parts * reply_words
    completion += reduce_calls * reply_words
    return _plan(
        "map-reduce", len(groups) + reduce_calls, len(groups), prompt, completion, settings, budgets
    )


def _plan(
    mode: str,
    calls: int,
    map_calls: int,
    prompt: int,
    completion: int,
    settings: Settings,
    budgets: Budgets,
) -> RunPlan:
    return RunPlan(
        mode=mode,
        calls=calls,
        map_calls=map_calls,
        reduce_calls=calls - map_calls if mode == "map-reduce" else 0,
        prompt_tokens=prompt,
        completion_tokens=completion,
        cost_usd=estimate_cost(settings, prompt, completion),
        budgets=budgets,
    )


def _planned_prompt(messages: list[dict[str, str]], output: type[BaseModel]) -> int:
    return estimate_prompt_tokens(messages) + count_tokens(json.dumps(schema_of(output)))
