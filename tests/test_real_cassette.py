"""Replay of a run recorded from a real llama-server (SmolLM2-135M-Instruct): real replies in CI.

``tests/data/llama-server-smollm2.jsonl`` holds every request and reply of one run of
tests/test_real_server.py (how it was recorded: tests/data/README.md). Its replies are real
model output, not test data. Replaying it needs no server: ``briefer brief --replay`` sends
the same requests the recording sent (same prompts, schemas, limits), so a change to the
requests shows here as a missing reply, and a change to how replies are parsed, cleaned,
validated or merged shows in the briefing.
"""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from briefer.chunking import chunk_source
from briefer.cli import app
from briefer.grounding.matching import normalize_for_match
from briefer.grounding.validator import check_bullet, validate_claims
from briefer.ingest.sources import read_sources
from briefer.models import Briefing, Citation, Claim
from briefer.tokens import count_tokens

ARTICLES = Path(__file__).parents[1] / "examples" / "istanbul-talks" / "articles"
CASSETTE = Path(__file__).parent / "data" / "llama-server-smollm2.jsonl"
runner = CliRunner()


def _recorded() -> list[dict[str, object]]:
    return [json.loads(line) for line in CASSETTE.read_text(encoding="utf-8").splitlines()]


def test_the_cassette_is_a_real_servers_and_holds_no_secret_or_home_path() -> None:
    entries = _recorded()
    assert all(e.get("recorded_from", "").startswith("llama-server") for e in entries)
    text = CASSETTE.read_text(encoding="utf-8")
    for leak in ("/root", "/home/", "Bearer", "sk-", "api_key", str(Path.home())):
        assert leak not in text, leak
    assert CASSETTE.stat().st_size < 400_000


def test_a_real_llama_server_run_replays_end_to_end() -> None:
    command = ["brief", str(ARTICLES), "--replay", str(CASSETTE), "--format", "json"]
    result = runner.invoke(app, command, env={"OPENAI_API_KEY": "", "OPENAI_BASE_URL": ""})
    assert result.exit_code == 0, result.stderr
    briefing = Briefing.model_validate_json(result.stdout)
    provenance = briefing.provenance
    assert provenance.engine == "llm"
    assert provenance.model == "smollm2"
    # The recording's parameters came with the cassette: the window and the slots learnt
    # from the real server, the reply limits, temperature and structured-output mode.
    run = provenance.llm
    assert run is not None
    assert (run.context_window, run.context_window_origin) == (3686, "cassette")  # 90% of 4096
    assert run.structured_used == "json_schema"
    assert run.temperature == 0.0
    assert run.reply_tokens == {"map": 921, "repair": 921, "reduce": 921}
    assert {p.name for p in provenance.prompts} >= {"map", "repair", "reduce"}
    # What SmolLM2's reduce wrote ("The facts" as every bullet) is not supported, so the
    # validator rejects it; the extractive reduce merged the validated claims instead, and
    # the provenance says so.
    assert run.reduce == "extractive fallback"
    assert any("none of the model's bullets passed validation" in n for n in run.notes)
    # Every bullet shown was validated, and passes the validator again against the sources
    # read afresh; every quote it cites is in its source word for word.
    assert briefing.bullets
    sources = read_sources([str(ARTICLES)])
    passages = {p.id: p for s in sources for p in chunk_source(s, count_tokens)[0]}
    texts = {s.id: normalize_for_match(s.text) for s in sources}
    for bullet in briefing.bullets:
        assert check_bullet(bullet, passages) == [], bullet.text
        for citation in bullet.citations:
            source_id = citation.passage_id.split(".")[0]
            assert normalize_for_match(citation.quote) in texts[source_id], citation.quote
    assert briefing.grounding is not None and briefing.grounding.bullets_shown == len(
        briefing.bullets
    )


def test_a_claim_misattributing_a_statement_is_rejected() -> None:
    """SmolLM2's repair wrote "The Kremlin called Putin 'absolutely crazy'" for a passage in
    which Trump said it; the validator accepted it (found in an earlier recording)."""
    passages = {
        p.id: p for s in read_sources([str(ARTICLES)]) for p in chunk_source(s, count_tokens)[0]
    }
    said = "The Kremlin responded by accusing Trump of having an \u201cemotional outburst.\u201d"
    claim = Claim(
        id="K20",
        text="The Kremlin called Putin \u201cabsolutely crazy\u201d after a wave of drone and "
        f"missile strikes against Ukraine. {said}",
        citations=[Citation(passage_id="S4.P23", quote=said)],
    )
    assert claim.text in CASSETTE.read_text(encoding="utf-8").replace('\\"', '"')
    accepted, _ = validate_claims([claim], passages, "repair")
    assert accepted == []
