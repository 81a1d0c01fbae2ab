"""Tests for briefer.verify: re-checking briefing JSON, the grounding report, the second opinion."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest
from conftest import SettingsFactory
from fake_openai import FakeOpenAI, Reply

from briefer.engines.extractive.engine import ExtractiveEngine
from briefer.engines.llm.client import LLMClient
from briefer.engines.llm.prompts import load_prompt, render_prompt
from briefer.errors import SourceError
from briefer.ingest.sources import read_sources
from briefer.models import (
    Briefing,
    BriefOptions,
    Bullet,
    Citation,
    Claim,
    GroundingReport,
    Length,
    Reason,
    RejectedClaim,
    Verdict,
)
from briefer.pipeline import build_briefing
from briefer.render import render_json
from briefer.verify import (
    FAILED_EXIT_CODE,
    apply_verdicts,
    format_verify,
    grounding_report,
    load_briefing,
    rejected_markdown,
    summarize_grounding,
    verify_briefing,
    verify_with_llm,
)

ARTICLES = Path(__file__).resolve().parents[1] / "examples" / "istanbul-talks" / "articles"


@pytest.fixture(scope="module")
def briefing() -> Briefing:
    """Return the long analyst briefing of the example articles (as its golden is made)."""
    options = BriefOptions(length=Length.long, max_words=500, audience="analyst")
    return build_briefing(read_sources([str(ARTICLES)]), ExtractiveEngine(), options)


def write(tmp_path: Path, briefing: Briefing, name: str = "brief.json") -> Path:
    path = tmp_path / name
    path.write_text(render_json(briefing), encoding="utf-8")
    return path


_FIGURE = re.compile(r"(?<![\w.,])\d[\d,]*(?![\w,]*\d)")


def figure_bullet(briefing: Briefing) -> tuple[Bullet, str]:
    """Return a bullet stating a figure (single-source ones first) and that figure."""
    bullets = sorted(briefing.bullets, key=lambda b: len(b.source_ids))
    for bullet in bullets:
        match = _FIGURE.search(bullet.text)
        if match:
            return bullet, match[0]
    raise AssertionError("no bullet states a figure")


def edit_json(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


# --- briefer verify ----------------------------------------------------------------------


def test_a_fresh_briefing_verifies_against_its_embedded_passages(
    briefing: Briefing, tmp_path: Path
) -> None:
    result = verify_briefing(write(tmp_path, briefing))

    assert result.ok and result.exit_code == 0
    assert result.bullets == len(briefing.bullets) > 5
    assert format_verify(result)[0] == (
        f"All {result.bullets} bullets verified against the "
        f"{len(briefing.passages)} passages embedded in brief.json."
    )


def test_without_sources_verify_says_only_internal_consistency_was_checked(
    briefing: Briefing, tmp_path: Path
) -> None:
    # A consistent edit of a bullet, its quote and its passage cannot be caught without the
    # sources: the output must say so rather than imply the bullets were checked.
    _bullet, figure = figure_bullet(briefing)
    path = write(tmp_path, briefing)
    text = path.read_text(encoding="utf-8").replace(figure, "987654")
    path.write_text(text, encoding="utf-8")

    alone = verify_briefing(path)
    with_sources = verify_briefing(path, [ARTICLES])

    assert alone.ok
    assert "internal consistency" in format_verify(alone)[-1]
    assert "taken on trust" in format_verify(alone)[-1]
    assert not with_sources.ok
    assert not any("internal consistency" in line for line in format_verify(with_sources))


def test_every_source_records_the_sha256_of_its_bytes(briefing: Briefing) -> None:
    for ref, path in zip(briefing.sources, sorted(ARTICLES.glob("*.txt")), strict=True):
        assert ref.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_changed_source_fails_by_name_even_where_no_bullet_cites_the_change(
    briefing: Briefing, tmp_path: Path
) -> None:
    articles = tmp_path / "articles"
    shutil.copytree(ARTICLES, articles)
    changed = articles / Path(briefing.sources[-1].origin).name
    changed.write_bytes(changed.read_bytes() + b"\nOne more line nobody cites.\n")

    result = verify_briefing(write(tmp_path, briefing), [articles])

    assert not result.ok and result.exit_code == FAILED_EXIT_CODE
    [change] = result.changed_sources
    assert change.source_id == briefing.sources[-1].id and change.origin == str(changed)
    lines = format_verify(result)
    assert lines[0].startswith(f"{change.source_id} ({changed}) changed since the briefing")
    assert lines[-1] == "Verification failed: 1 source changed since the briefing was made."
    citing = [b for b in briefing.bullets if change.source_id in b.source_ids]
    failed = {f.bullet_id: {r.code for r in f.reasons} for f in result.failures}
    assert all("source_changed" in failed[b.id] for b in citing)


def test_a_fresh_briefing_verifies_against_its_sources(briefing: Briefing, tmp_path: Path) -> None:
    result = verify_briefing(write(tmp_path, briefing), [ARTICLES])

    assert result.ok, format_verify(result)
    assert not result.changed_passages and not result.missing_sources
    assert format_verify(result)[-1].endswith(f"against {len(briefing.sources)} re-read sources.")


def test_an_edited_number_fails_with_its_reason(briefing: Briefing, tmp_path: Path) -> None:
    bullet, figure = figure_bullet(briefing)
    path = write(tmp_path, briefing)
    edit_json(path, bullet.text, bullet.text.replace(figure, "987654", 1))

    result = verify_briefing(path)

    assert not result.ok and result.exit_code == FAILED_EXIT_CODE == 3
    [failure] = result.failures
    assert failure.bullet_id == bullet.id and "987654" in failure.text
    assert [r.code for r in failure.reasons] == ["number_not_in_evidence"]
    lines = format_verify(result)
    assert lines[0].startswith(f'{failure.bullet_id} failed: "')
    assert lines[1].startswith("  - number_not_in_evidence: Number 987654 not found")
    assert lines[-2] == (
        f"1 of {result.bullets} bullets failed verification against the "
        f"{len(briefing.passages)} passages embedded in brief.json (1 number_not_in_evidence)."
    )


def test_a_swapped_quote_and_a_negated_bullet_fail(briefing: Briefing, tmp_path: Path) -> None:
    data = json.loads(render_json(briefing))
    bullets = [b for s in data["sections"] for b in s["bullets"]]
    first, second = bullets[0], bullets[1]
    # Swap the quotes of two bullets: each now quotes words its passage does not have.
    first["citations"][0]["quote"], second["citations"][0]["quote"] = (
        second["citations"][0]["quote"],
        first["citations"][0]["quote"],
    )
    declined = next(b for b in bullets if "declined to agree" in b["text"])
    declined["text"] = declined["text"].replace("declined to agree", "agreed")
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(data), encoding="utf-8")

    result = verify_briefing(path)

    failed = {f.bullet_id: [r.code for r in f.reasons] for f in result.failures}
    assert "quote_not_found" in failed[first["id"]]
    assert "quote_not_found" in failed[second["id"]]
    assert failed[declined["id"]] == ["polarity_mismatch"]
    assert len(result.failures) == 3


def test_a_changed_source_is_caught_passage_by_passage(briefing: Briefing, tmp_path: Path) -> None:
    articles = tmp_path / "articles"
    shutil.copytree(ARTICLES, articles)
    bullet, figure = figure_bullet(briefing)
    changed_source = next(ref for ref in briefing.sources if ref.id == bullet.source_ids[0])
    source_file = articles / Path(changed_source.origin).name
    text = source_file.read_text(encoding="utf-8")
    source_file.write_text(re.sub(rf"\b{re.escape(figure)}\b", "987654", text), encoding="utf-8")

    result = verify_briefing(write(tmp_path, briefing), [articles])

    assert result.changed_passages
    assert all(pid.startswith(f"{changed_source.id}.") for pid in result.changed_passages)
    failure = next(f for f in result.failures if f.bullet_id == bullet.id)
    assert "passage_changed" in {r.code for r in failure.reasons}
    if len(bullet.source_ids) == 1:
        assert "number_not_in_evidence" in {r.code for r in failure.reasons}


def test_a_source_left_out_is_reported(briefing: Briefing, tmp_path: Path) -> None:
    first = sorted(ARTICLES.iterdir())[0]
    result = verify_briefing(write(tmp_path, briefing), [first])

    assert "S1" not in result.missing_sources
    assert len(result.missing_sources) == len(briefing.sources) - 1
    codes = {r.code for f in result.failures for r in f.reasons}
    assert "source_missing" in codes
    # Bullets citing only the source that was given still pass.
    only_s1 = [b for b in briefing.bullets if b.source_ids == ["S1"]]
    failed = {f.bullet_id for f in result.failures}
    assert all(b.id not in failed for b in only_s1)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json at all", "is not a briefer JSON briefing"),
        ('{"title": "x"}', "is not a briefer JSON briefing (sections: Field required)"),
    ],
)
def test_a_file_that_is_not_a_briefing_is_a_clear_error(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "notes.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(SourceError, match=re.escape(message)):
        load_briefing(path)
    with pytest.raises(SourceError, match="cannot read file"):
        load_briefing(tmp_path / "missing.json")


# --- grounding report and rejected claims ------------------------------------------------------


def rejected(claim_id: str, stage: str, *codes: str) -> RejectedClaim:
    return RejectedClaim(
        claim=Claim(
            id=claim_id,
            text=f"Claim {claim_id}.",
            citations=[Citation(passage_id="S1.P1", quote="x")],
        ),
        stage=stage,
        reasons=[Reason(code=code, message=f"{code} happened.") for code in codes],
    )


def test_grounding_report_counts_by_reason_code(briefing: Briefing) -> None:
    with_rejections = briefing.model_copy(
        update={
            "rejected": [
                rejected("c1", "map", "quote_not_found"),
                rejected("c2", "repair", "quote_not_found", "number_not_in_evidence"),
                rejected("R1", "reduce", "polarity_mismatch"),
            ]
        }
    )

    report = grounding_report(with_rejections, claims_checked=140, reasks=2)

    shown = len(briefing.bullets)
    assert report == GroundingReport(
        bullets_shown=shown,
        bullets_checked=shown + 1,
        claims_checked=140,
        reasks=2,
        rejected=3,
        rejected_by_code={
            "quote_not_found": 2,
            "number_not_in_evidence": 1,
            "polarity_mismatch": 1,
        },
    )
    assert summarize_grounding(report) == (
        f"grounding: {shown} of {shown + 1} bullets shown; 140 claims checked, 3 rejected "
        "(2 quote_not_found, 1 number_not_in_evidence, 1 polarity_mismatch); 2 re-asks"
    )


def test_grounding_report_travels_in_the_json(briefing: Briefing) -> None:
    report = grounding_report(briefing, claims_checked=139)
    carried = briefing.model_copy(update={"grounding": report})

    again = Briefing.model_validate_json(render_json(carried))

    assert again.grounding == report
    assert summarize_grounding(report).endswith("0 rejected; 0 re-asks")


def test_rejected_markdown_lists_each_claim_with_its_reasons(briefing: Briefing) -> None:
    assert rejected_markdown(briefing) == []
    lines = rejected_markdown(
        briefing.model_copy(
            update={"rejected": [rejected("c2", "repair", "quote_not_found", "polarity_mismatch")]}
        )
    )
    assert lines == [
        "## Rejected claims",
        "",
        "- Claim c2. *(repair)*",
        "  - `quote_not_found`: quote_not_found happened.",
        "  - `polarity_mismatch`: polarity_mismatch happened.",
    ]


# --- a model's second opinion ---------------------------------------------------------------


def test_the_verify_prompt_renders_with_claims_and_passages() -> None:
    messages = render_prompt(
        load_prompt("verify"), {"claims": "B1 [S1.P1] Talks ended.", "passages": "[S1.P1] x"}
    )
    assert [m["role"] for m in messages] == ["system", "user"]
    assert "B1 [S1.P1] Talks ended." in messages[1]["content"]


def test_verify_with_llm_asks_once_per_batch_and_records_verdicts(
    briefing: Briefing, fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    bullets = briefing.bullets[:3]
    # Scripted test data: the model accepts the first and third bullets, refuses the second.
    fake_openai.script(
        Reply.json(
            {
                "verdicts": [
                    {"id": bullets[0].id, "supported": True, "reason": ""},
                    {"id": bullets[1].id, "supported": False, "reason": "The date is not there."},
                    {"id": bullets[2].id, "supported": True, "reason": "ignored"},
                ]
            }
        )
    )
    passages = {p.id: p for p in briefing.passages}
    with LLMClient(llm_settings(model="gpt-4o-mini")) as client:
        verdicts = verify_with_llm(bullets, passages, client)

    assert verdicts == [
        Verdict(bullet_id=bullets[0].id, supported=True, judge="llm:gpt-4o-mini"),
        Verdict(
            bullet_id=bullets[1].id,
            supported=False,
            reason="The date is not there.",
            judge="llm:gpt-4o-mini",
        ),
        Verdict(bullet_id=bullets[2].id, supported=True, judge="llm:gpt-4o-mini"),
    ]
    [request] = fake_openai.requests
    assert request["response_format"]["json_schema"]["name"] == "VerifyOutput"
    user = request["messages"][-1]["content"]
    for bullet in bullets:
        assert f"{bullet.id} [{bullet.citations[0].passage_id}" in user
        assert f"[{bullet.citations[0].passage_id}] " in user


def test_a_bullet_the_model_leaves_out_gets_no_verdict(
    briefing: Briefing, fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    bullets = briefing.bullets[:2]
    fake_openai.script(
        Reply.json({"verdicts": [{"id": bullets[1].id, "supported": True, "reason": ""}]})
    )
    with LLMClient(llm_settings()) as client:
        verdicts = verify_with_llm(bullets, {p.id: p for p in briefing.passages}, client)
    assert [v.bullet_id for v in verdicts] == [bullets[1].id]


def test_apply_verdicts_rejects_refused_bullets_and_renumbers(briefing: Briefing) -> None:
    refused = briefing.bullets[1]
    verdicts = [
        Verdict(bullet_id=b.id, supported=b.id != refused.id, reason="No.", judge="llm:m")
        for b in briefing.bullets
    ]

    checked = apply_verdicts(briefing, verdicts)

    assert len(checked.bullets) == len(briefing.bullets) - 1
    assert [b.id for b in checked.bullets] == [f"B{i}" for i in range(1, len(checked.bullets) + 1)]
    assert refused.text not in [b.text for b in checked.bullets]
    [item] = checked.rejected
    assert (item.claim.id, item.claim.text, item.stage) == ("R1", refused.text, "verify")
    assert item.reasons == [Reason(code="llm_unsupported", message="llm:m: No.")]
    cited = {c.passage_id for b in checked.bullets for c in b.citations}
    assert {p.id for p in checked.passages} == cited
    assert apply_verdicts(briefing, verdicts[:1] if verdicts[0].supported else []) == briefing
