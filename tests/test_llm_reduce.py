"""Tests of briefer.engines.llm.reduce.Reducer against the fake OpenAI server.

The model is the scripted stand-in of tests/fake_openai.py (``echo_model`` restates every
listed item as a bullet); claim texts are sentences of the seed articles.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import SettingsFactory
from fake_openai import FakeOpenAI, echo_model, listed_claims, merging_echo_model
from test_shortlist import BODIES, CRITICIZED, DAMAGE, EXCHANGE, OCCUPIES, PUTIN, TEXTS, claim
from test_shortlist import sources as make_sources

from briefer.engines.llm.cache import Tracer
from briefer.engines.llm.client import LLMClient
from briefer.engines.llm.io import ReduceItem, claim_sources, render_items
from briefer.engines.llm.prompts import load_prompt
from briefer.engines.llm.reduce import Reducer, run_parallel
from briefer.errors import LLMAuthError
from briefer.models import BriefOptions, Claim, Draft
from briefer.tokens import count_tokens

SINGLES = [OCCUPIES, DAMAGE, CRITICIZED, PUTIN, TEXTS, EXCHANGE]
# Six early articles report one fact each; the last three report the same fact.
CLAIMS = [claim(f"K{n}", t, f"S{n}.P1") for n, t in enumerate(SINGLES, start=1)] + [
    claim(f"K{n}", t, f"S{n}.P3") for n, t in enumerate(BODIES, start=len(SINGLES) + 1)
]
SOURCES = make_sources(len(CLAIMS))
LATE = {"K7", "K8", "K9"}
FINAL = "These are all the claims"


def tokens_of(claims: list[Claim]) -> int:
    """Return the tokens ``claims`` take as the reduce prompt lists them."""
    items = [
        ReduceItem(id=c.id, text=c.text, source_ids=claim_sources(c), claim_ids=[c.id])
        for c in claims
    ]
    return count_tokens(render_items(items))


def reduce(
    settings: SettingsFactory,
    budget: int,
    options: BriefOptions,
    tracer: Tracer | None = None,
) -> tuple[Draft, list[str]]:
    notes: list[str] = []
    with LLMClient(settings()) as client:
        reducer = Reducer(client, load_prompt("reduce"), budget, 1, notes, tracer)
        return reducer.reduce(CLAIMS, SOURCES, options), notes


def user_text(request: dict[str, Any]) -> str:
    return "\n".join(m["content"] for m in request["messages"] if m["role"] == "user")


def listed_ids(request: dict[str, Any]) -> list[str]:
    """Return the ids of the items a reduce request lists."""
    return [claim_id for claim_id, _ in listed_claims(user_text(request))]


def cited(draft: Draft) -> set[str]:
    return {cid for s in draft.sections for b in s.bullets for cid in b.claim_ids}


def test_claims_that_fit_go_to_one_call_uncut(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    fake_openai.responder = echo_model
    draft, notes = reduce(llm_settings, tokens_of(CLAIMS), BriefOptions(max_words=1))
    assert len(fake_openai.requests) == 1
    assert FINAL in user_text(fake_openai.requests[0])
    assert listed_ids(fake_openai.requests[0]) == [c.id for c in CLAIMS]
    assert cited(draft) == {c.id for c in CLAIMS}
    assert notes == []


def test_a_late_articles_important_fact_survives_the_shortlist(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    fake_openai.responder = echo_model
    budget = tokens_of(CLAIMS[6:]) + 20  # room for the late fact, not for the early ones
    draft, notes = reduce(llm_settings, budget, BriefOptions(max_words=1))
    assert len(fake_openai.requests) == 1  # the shortlist fits one call: no hierarchy
    listed = listed_ids(fake_openai.requests[0])
    assert set(listed) >= LATE
    assert cited(draft) >= LATE
    assert listed == sorted(listed, key=lambda i: int(i[1:]))  # in the original order
    assert notes == [
        f"reduce: shortlisted {len(listed)} of {len(CLAIMS)} claims (the rest ranked lower "
        "for general readers)"
    ]


def test_the_shortlist_is_traced_with_what_it_left_out(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory, tmp_path: Path
) -> None:
    fake_openai.responder = echo_model
    budget = tokens_of(CLAIMS[6:]) + 20
    reduce(llm_settings, budget, BriefOptions(max_words=1), Tracer(tmp_path))
    listed = set(listed_ids(fake_openai.requests[0]))
    (kept_file,) = tmp_path.glob("*-reduce-shortlist-kept.json")
    (left_file,) = tmp_path.glob("*-reduce-shortlist-left-out.json")
    assert {c["id"] for c in json.loads(kept_file.read_text())} == listed
    left_out = json.loads(left_file.read_text())
    assert {c["id"] for g in left_out for c in g["claims"]} == {c.id for c in CLAIMS} - listed
    assert all(g["rank"] > 1 and g["independent_sources"] == 1 for g in left_out)


def test_a_long_briefing_still_reduces_hierarchically(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    fake_openai.responder = merging_echo_model
    budget = tokens_of(CLAIMS) // 2 + 10
    # 250 words allow 2,000 words of claims: the shortlist keeps all, which need two calls.
    draft, notes = reduce(llm_settings, budget, BriefOptions(max_words=250))
    texts = [user_text(r) for r in fake_openai.requests]
    assert len(texts) >= 3
    assert all("one part of a larger set" in t for t in texts[:-1]) and FINAL in texts[-1]
    assert cited(draft) == {c.id for c in CLAIMS}
    assert notes == []


def test_what_still_does_not_fit_is_cut_by_rank_not_position(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    fake_openai.responder = echo_model  # restates every item: a level never shrinks
    budget = tokens_of(CLAIMS[6:]) + 20
    draft, notes = reduce(llm_settings, budget, BriefOptions(max_words=250))
    final = fake_openai.requests[-1]
    assert FINAL in user_text(final)
    assert len(fake_openai.requests) > 1  # the hierarchy was tried first
    assert cited(draft) >= LATE
    assert not any("shortlisted" in n for n in notes)  # the word allowance kept every claim
    assert "reduce level 1 did not shrink the claims" in notes
    left = len(CLAIMS) - len(listed_ids(final))
    assert f"reduce: {left} of {len(CLAIMS)} claims left out, the lowest-ranked" in notes[-1]
    assert left > 0


def test_run_parallel_sends_no_call_queued_after_a_failure() -> None:
    started: list[int] = []
    lock = threading.Lock()

    def call(number: int) -> int:
        with lock:
            started.append(number)
        if number == 2:
            raise LLMAuthError("authentication failed: check OPENAI_API_KEY")
        time.sleep(0.02)
        return number

    with pytest.raises(LLMAuthError):
        run_parallel(call, list(range(40)), concurrency=3)
    assert 2 in started
    assert len(started) <= 2 + 3  # those before it, and at most the calls in flight with it
