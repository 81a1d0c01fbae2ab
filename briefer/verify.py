"""Grounding tools for users: ``briefer verify``, the grounding report, rejected claims.

- ``verify_briefing``: a briefing JSON (ours) + optionally its sources -> ``VerifyResult``:
  every bullet re-checked by the validator against the passages embedded in the JSON, or
  against passages re-derived from the sources (passages whose text changed are reported).
- ``grounding_report`` / ``summarize_grounding``: the ``GroundingReport`` a briefing carries
  and its one-line summary.
- ``rejected_markdown``: the rejected claims and their reasons, for ``--show-rejected``.
- ``verify_with_llm`` / ``apply_verdicts``: the optional second opinion of a model, asked
  with its own versioned prompt (``prompts/verify.v1.md``).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, ValidationError

from briefer.chunking import chunk_source
from briefer.errors import SourceError
from briefer.grounding.validator import check_bullet
from briefer.ingest.reading import DEFAULT_MAX_FILE_BYTES, read_regular_file
from briefer.ingest.sources import read_sources
from briefer.models import (
    Briefing,
    Bullet,
    Citation,
    Claim,
    GroundingReport,
    Passage,
    Reason,
    RejectedClaim,
    Section,
    Source,
    SourceRef,
    Verdict,
)
from briefer.render import md_text
from briefer.tokens import count_tokens

if TYPE_CHECKING:
    from briefer.engines.llm.client import LLMClient
    from briefer.engines.llm.prompts import PromptTemplate

VERIFY_PROMPT = "verify"
VERIFY_PROMPT_VERSION = 1
VERIFY_BATCH = 12  # bullets per model call: a one-pager fits in one or two
FAILED_EXIT_CODE = 3  # as GroundingError: the statements are not supported


@dataclass(frozen=True)
class BulletFailure:
    """A bullet that failed verification and every reason why."""

    bullet_id: str
    text: str
    reasons: list[Reason]


@dataclass(frozen=True)
class SourceChange:
    """A source whose bytes differ from those the briefing was made from."""

    source_id: str
    origin: str  # the file given to verify
    recorded: str  # sha256 stored in the briefing
    found: str  # sha256 of the file now


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of re-checking one briefing."""

    path: Path
    bullets: int
    against: str  # what the bullets were checked against, for the summary line
    failures: list[BulletFailure] = field(default_factory=list)
    changed_passages: list[str] = field(default_factory=list)
    missing_sources: list[str] = field(default_factory=list)
    changed_sources: list[SourceChange] = field(default_factory=list)
    sources_given: bool = True  # False: only the briefing's internal consistency was checked

    @property
    def ok(self) -> bool:
        """Tell whether every bullet passed and every source given is the one briefed."""
        return not self.failures and not self.changed_sources

    @property
    def exit_code(self) -> int:
        """Return the CLI exit code: 0 when every bullet passed, else 3."""
        return 0 if self.ok else FAILED_EXIT_CODE


# --- briefer verify ----------------------------------------------------------------------


def load_briefing(path: Path, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> Briefing:
    """Return the briefing stored as JSON at ``path`` (a regular file of at most ``max_bytes``).

    Raises:
        SourceError: the file cannot be read or is not a briefing in briefer's JSON format.
    """
    data = read_regular_file(path, str(path), max_bytes)
    try:
        raw = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SourceError(str(path), f"cannot be read ({exc})") from None
    try:
        return Briefing.model_validate_json(raw)
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(part) for part in problem["loc"]) or "the top level"
        raise SourceError(
            str(path),
            f"is not a briefer JSON briefing ({where}: {problem['msg']}); "
            "make one with `briefer brief --format json`",
        ) from None


def verify_briefing(
    path: Path,
    sources: Sequence[Path | str] = (),
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> VerifyResult:
    """Return the result of re-checking every bullet of the briefing JSON at ``path``.

    Without ``sources`` each bullet is checked against the passages embedded in the JSON,
    which shows only that the briefing is consistent with itself: a consistent edit of a
    bullet, its quote and its passage passes. With them (files, directories or URLs, each
    at most ``max_file_bytes``), the sources are read and chunked again with the briefing's
    parameters, and bullets are checked against those passages; a source whose bytes no
    longer have the sha256 the briefing recorded, a cited passage whose text no longer
    matches the embedded copy, and a briefing source not among ``sources`` are failures.
    """
    briefing = load_briefing(path, max_file_bytes)
    embedded = {p.id: p for p in briefing.passages}
    source_changes: list[SourceChange] = []
    if not sources:
        passages = embedded
        against = f"the {len(embedded)} passages embedded in {path.name}"
        missing: list[str] = []
    else:
        read = read_sources([str(s) for s in sources], max_file_bytes=max_file_bytes)
        passages, missing, source_changes = _rederive(briefing, read)
        against = f"{len(read)} re-read sources"
    changed = sorted(
        (pid for pid, p in embedded.items() if pid in passages and passages[pid].text != p.text),
        key=_passage_order,
    )
    failures = []
    for bullet in briefing.bullets:
        reasons = _check_whole_bullet(bullet, passages)
        reasons += _source_reasons(bullet, missing, changed, source_changes)
        if reasons:
            failures.append(BulletFailure(bullet.id, bullet.text, list(dict.fromkeys(reasons))))
    return VerifyResult(
        path=path,
        bullets=len(briefing.bullets),
        against=against,
        failures=failures,
        changed_passages=changed,
        missing_sources=missing,
        changed_sources=source_changes,
        sources_given=bool(sources),
    )


def format_verify(result: VerifyResult) -> list[str]:
    """Return the lines ``briefer verify`` prints: each failing bullet, then a summary."""
    lines = [
        f"{c.source_id} ({c.origin}) changed since the briefing was made: sha256 "
        f"{c.found[:12]}… is not the {c.recorded[:12]}… the briefing recorded."
        for c in result.changed_sources
    ]
    for failure in result.failures:
        lines.append(f'{failure.bullet_id} failed: "{_shorten(failure.text, 90)}"')
        lines += [f"  - {r.code}: {r.message}" for r in failure.reasons]
    if not result.failures:
        verdict = "still pass" if result.changed_sources else "verified"
        lines.append(f"All {result.bullets} bullets {verdict} against {result.against}.")
    else:
        codes = Counter(r.code for f in result.failures for r in dict.fromkeys(f.reasons))
        tally = ", ".join(f"{n} {code}" for code, n in codes.most_common())
        lines.append(
            f"{len(result.failures)} of {result.bullets} bullets failed verification against "
            f"{result.against} ({tally})."
        )
    if result.changed_sources:
        n = len(result.changed_sources)
        lines.append(
            f"Verification failed: {n} source{'s' if n != 1 else ''} changed since the "
            "briefing was made."
        )
    if not result.sources_given:
        lines.append(
            "Only the briefing's internal consistency was checked: without the source files "
            "its embedded passages are taken on trust. Pass the sources to check them."
        )
    return lines


def _rederive(
    briefing: Briefing, read: Sequence[Source]
) -> tuple[dict[str, Passage], list[str], list[SourceChange]]:
    """Return the passages of ``read`` under the briefing's source ids, ids not found, and
    the sources whose bytes changed."""
    options = briefing.provenance.parameters
    passages: dict[str, Passage] = {}
    missing: list[str] = []
    changes: list[SourceChange] = []
    for ref in briefing.sources:
        source = _match_source(ref, read)
        if source is None:
            missing.append(ref.id)
            continue
        if source.sha256 != ref.sha256:
            changes.append(SourceChange(ref.id, source.origin, ref.sha256, source.sha256))
        found, _ = chunk_source(
            source.model_copy(update={"id": ref.id}),
            count_tokens,
            options.passage_tokens,
            options.chunk_tokens,
        )
        # Passages name their source; the copy's passages must carry the briefing's id.
        passages.update((p.id, p) for p in found)
    return passages, missing, changes


def _match_source(ref: SourceRef, read: Sequence[Source]) -> Source | None:
    """Return the re-read source that is ``ref``: same bytes, else same path, else same name."""
    for matches in (
        lambda s: s.sha256 == ref.sha256,
        lambda s: _same_path(s.origin, ref.origin),
        lambda s: Path(s.origin).name == Path(ref.origin).name,
    ):
        found = [s for s in read if matches(s)]
        if found:
            return found[0]
    return None


def _same_path(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a == b


def _check_whole_bullet(bullet: Bullet, passages: Mapping[str, Passage]) -> list[Reason]:
    """Return the validator's reasons for ``bullet`` and each of its versions."""
    reasons = check_bullet(bullet, passages)
    for version in bullet.versions:
        reasons += check_bullet(
            bullet.model_copy(
                update={"text": version.text, "citations": version.citations, "versions": []}
            ),
            passages,
        )
    return reasons


def _source_reasons(
    bullet: Bullet,
    missing: Sequence[str],
    changed: Sequence[str],
    source_changes: Sequence[SourceChange],
) -> list[Reason]:
    cited = [c.passage_id for c in _all_citations(bullet)]
    cited_sources = {pid.split(".")[0] for pid in cited}
    reasons = [
        Reason(
            code="source_changed",
            message=f"Source {c.source_id} ({c.origin}) is not the file the briefing was "
            "made from (its sha256 differs).",
        )
        for c in source_changes
        if c.source_id in cited_sources
    ]
    reasons += [
        Reason(
            code="passage_changed",
            message=f"Passage {pid} of the re-read source no longer has the text the "
            "briefing quotes.",
        )
        for pid in dict.fromkeys(cited)
        if pid in changed
    ]
    gone = [sid for sid in dict.fromkeys(pid.split(".")[0] for pid in cited) if sid in missing]
    reasons += [
        Reason(code="source_missing", message=f"Source {sid} is not among the sources given.")
        for sid in gone
    ]
    return reasons


def _all_citations(bullet: Bullet) -> Iterable[Citation]:
    yield from bullet.citations
    for version in bullet.versions:
        yield from version.citations


def _passage_order(passage_id: str) -> tuple[int, int]:
    source, _, number = passage_id.partition(".P")
    return int(source[1:] or 0), int(number or 0)


# --- grounding report ----------------------------------------------------------------------


def grounding_report(
    briefing: Briefing,
    *,
    claims_checked: int,
    reasks: int = 0,
    verdicts: Sequence[Verdict] = (),
) -> GroundingReport:
    """Return the grounding report of ``briefing``.

    ``claims_checked`` is how many claims the validator saw (map and repair), ``reasks`` how
    many rejected claims were sent back to the engine. Bullets checked are those shown plus
    those rejected at the reduce and verify stages.
    """
    codes = Counter(r.code for item in briefing.rejected for r in dict.fromkeys(item.reasons))
    shown = len(briefing.bullets)
    return GroundingReport(
        bullets_shown=shown,
        bullets_checked=shown + sum(r.stage in {"reduce", "verify"} for r in briefing.rejected),
        claims_checked=claims_checked,
        reasks=reasks,
        rejected=len(briefing.rejected),
        rejected_by_code=dict(codes.most_common()),
        verdicts=list(verdicts),
    )


def summarize_grounding(report: GroundingReport) -> str:
    """Return the one-line summary of ``report`` the CLI prints at the end of a run."""
    line = (
        f"grounding: {report.bullets_shown} of {report.bullets_checked} bullets shown; "
        f"{report.claims_checked} claims checked, {report.rejected} rejected"
    )
    if report.rejected_by_code:
        line += " (" + ", ".join(f"{n} {c}" for c, n in report.rejected_by_code.items()) + ")"
    line += f"; {report.reasks} re-ask{'s' if report.reasks != 1 else ''}"
    if report.verdicts:
        refused = sum(not v.supported for v in report.verdicts)
        line += f"; second opinion: {refused} of {len(report.verdicts)} bullets unsupported"
    return line


def rejected_markdown(briefing: Briefing) -> list[str]:
    """Return the Markdown lines that list the rejected claims and why (``--show-rejected``)."""
    if not briefing.rejected:
        return []
    lines = ["## Rejected claims", ""]
    for item in briefing.rejected:
        lines.append(f"- {md_text(item.claim.text)} *({item.stage})*")
        lines += [f"  - `{r.code}`: {md_text(r.message)}" for r in item.reasons]
    return lines


# --- second opinion of a model ---------------------------------------------------------------


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class VerdictOut(_Out):
    id: str
    supported: bool
    reason: str


class VerifyOutput(_Out):
    verdicts: list[VerdictOut]


def verify_with_llm(
    bullets: Sequence[Bullet],
    passages: Mapping[str, Passage],
    client: LLMClient,
    template: PromptTemplate | None = None,
) -> list[Verdict]:
    """Return the model's verdict on each bullet: is it entailed by the passages it cites?

    One call per ``VERIFY_BATCH`` bullets, with ``template`` (default: ``verify`` at
    ``VERIFY_PROMPT_VERSION``). A bullet the reply leaves out gets no verdict.
    """
    from briefer.engines.llm.prompts import load_prompt, render_prompt  # only with a model

    template = template or load_prompt(VERIFY_PROMPT, VERIFY_PROMPT_VERSION)
    judge = f"llm:{client.settings.model}"
    verdicts: list[Verdict] = []
    for start in range(0, len(bullets), VERIFY_BATCH):
        batch = bullets[start : start + VERIFY_BATCH]
        cited = dict.fromkeys(c.passage_id for b in batch for c in _all_citations(b))
        messages = render_prompt(
            template,
            {
                "claims": "\n".join(_render_bullet(b) for b in batch),
                "passages": "\n\n".join(
                    f"[{pid}] {passages[pid].text}" for pid in cited if pid in passages
                ),
            },
        )
        reply = client.complete(messages, VerifyOutput, label=f"verify {start // VERIFY_BATCH + 1}")
        by_id = {v.id: v for v in reply.verdicts}
        for bullet in batch:
            if bullet.id in by_id:
                out = by_id[bullet.id]
                verdicts.append(
                    Verdict(
                        bullet_id=bullet.id,
                        supported=out.supported,
                        reason="" if out.supported else out.reason.strip(),
                        judge=judge,
                    )
                )
    return verdicts


def apply_verdicts(briefing: Briefing, verdicts: Sequence[Verdict]) -> Briefing:
    """Return ``briefing`` without the bullets judged unsupported, rejected at stage "verify".

    Shown bullets are numbered again B1, B2...; rejected ones continue the R series.
    """
    refused = {v.bullet_id: v for v in verdicts if not v.supported}
    if not refused:
        return briefing
    rejected = list(briefing.rejected)
    sections: list[Section] = []
    shown = 0
    for section in briefing.sections:
        kept: list[Bullet] = []
        for bullet in section.bullets:
            verdict = refused.get(bullet.id)
            if verdict is None:
                shown += 1
                kept.append(bullet.model_copy(update={"id": f"B{shown}"}))
                continue
            number = sum(r.claim.id.startswith("R") for r in rejected) + 1
            message = verdict.reason or "The model judged it not entailed by its evidence."
            rejected.append(
                RejectedClaim(
                    claim=_as_claim(bullet, f"R{number}"),
                    stage="verify",
                    reasons=[Reason(code="llm_unsupported", message=f"{verdict.judge}: {message}")],
                )
            )
        if kept:
            sections.append(section.model_copy(update={"bullets": kept}))
    cited = {c.passage_id for s in sections for b in s.bullets for c in _all_citations(b)}
    return briefing.model_copy(
        update={
            "sections": sections,
            "rejected": rejected,
            "passages": [p for p in briefing.passages if p.id in cited],
        }
    )


def _as_claim(bullet: Bullet, claim_id: str) -> Claim:
    return Claim(id=claim_id, text=bullet.text, citations=list(_all_citations(bullet)))


def _render_bullet(bullet: Bullet) -> str:
    ids = ", ".join(dict.fromkeys(c.passage_id for c in _all_citations(bullet)))
    text = bullet.text
    if bullet.versions:
        text += " — " + " / ".join(v.text for v in bullet.versions)
    return f"{bullet.id} [{ids}] {text}"


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
