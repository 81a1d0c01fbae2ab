"""Briefing -> Markdown, JSON or HTML text."""

from __future__ import annotations

import html
import json
import re
from datetime import date

from briefer.choices import OutputFormat as OutputFormat
from briefer.models import Audience, Briefing, Bullet, SourceRef, Version

_AUDIENCE_LABEL = {
    Audience.executive: "an executive",
    Audience.analyst: "an analyst",
    Audience.general: "a general reader",
}


# Characters Markdown (CommonMark and GitHub's) would read as markup anywhere in a line: code,
# emphasis, links and images, raw HTML and autolinks, strikethrough, the escape itself.
# "_" inside a word is not emphasis and "&" only starts an entity, so those stay as they are.
_MD_INLINE = re.compile(r"[\\`*\[\]<~]|(?<![^\W_])_|_(?![^\W_])|&(?=#?\w+;)")
# What opens a block at the start of a line: heading, quote, list item, fence, table row.
_MD_LINE_START = re.compile(r"^(?:[#>+=|-]|\d{1,9}(?=[.)]))")
# Hashes ending a line after a space would close a heading and vanish.
_MD_CLOSING_HASHES = re.compile(r"(?<=\s)(#+)$")


def md_text(text: str) -> str:
    """Return ``text`` escaped so Markdown shows it as written, on one line.

    Only what Markdown would interpret is escaped (HTML tags and entities, link and image
    brackets, emphasis, code, a heading, quote or list marker at the start), so ordinary
    prose (apostrophes, hyphens, periods, quotes) reads unchanged in the raw file.
    """
    flat = re.sub(r"\s*\n\s*", " ", text.strip())
    escaped = _MD_INLINE.sub(lambda m: "\\" + m[0], flat)
    start = _MD_LINE_START.match(escaped)
    if start:
        end = start.end()
        escaped = escaped[:end] + "\\" + escaped[end:] if start[0][0].isdigit() else "\\" + escaped
    return _MD_CLOSING_HASHES.sub(r"\\\1", escaped)


def md_code(text: str) -> str:
    """Return ``text`` as a Markdown code span that no backtick inside it can close."""
    flat = re.sub(r"\s*\n\s*", " ", text)
    fence = "`" * (max((len(run) for run in re.findall(r"`+", flat)), default=0) + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    return f"{fence}{pad}{flat}{pad}{fence}"


def render(briefing: Briefing, fmt: OutputFormat) -> str:
    """Return ``briefing`` rendered in ``fmt``."""
    if fmt is OutputFormat.json:
        return render_json(briefing)
    if fmt is OutputFormat.html:
        return render_html(briefing)
    return render_markdown(briefing)


def render_json(briefing: Briefing) -> str:
    """Return the briefing as indented JSON (the ``Briefing`` model, full provenance)."""
    return briefing.model_dump_json(indent=2) + "\n"


def briefing_schema() -> str:
    """Return the JSON Schema of the JSON output."""
    return json.dumps(Briefing.model_json_schema(), indent=2) + "\n"


def render_markdown(briefing: Briefing) -> str:
    """Return the one-page Markdown briefing: title, cited bullets, numbered sources."""
    numbers = {s.id: s.number for s in briefing.sources}
    dates = {s.id: s.published for s in briefing.sources if s.published}
    lines = [f"# {md_text(briefing.title)}", "", f"*{md_text(_subtitle(briefing))}*", ""]
    for section in briefing.sections:
        lines += [f"## {md_text(section.title)}", ""]
        for b in section.bullets:
            if b.versions:
                lines.append(f"- **{md_text(b.text)}**: {_how_they_differ(b, dates)}")
                lines += [
                    f"  - {md_text(v.text)} {_markers(v, numbers)}{_dated(v, dates)}"
                    for v in _in_time_order(b, dates)
                ]
            else:
                lines.append(f"- {md_text(b.text)} {_markers(b, numbers)}{_support(b, briefing)}")
        lines.append("")
    if not briefing.bullets:
        lines += ["*No statement in the sources passed validation.*", ""]
    lines += ["## Sources", ""]
    lines += [f"{s.number}. {_source_line(s, numbers, markdown=True)}" for s in briefing.sources]
    if briefing.rejected:
        n = len(briefing.rejected)
        left = "claims failed validation and were" if n != 1 else "claim failed validation and was"
        lines += ["", f"*{n} {left} left out (see the JSON output).*"]
    return "\n".join(lines).rstrip("\n") + "\n"


def render_html(briefing: Briefing) -> str:
    """Return a self-contained HTML page of the briefing."""
    numbers = {s.id: s.number for s in briefing.sources}
    dates = {s.id: s.published for s in briefing.sources if s.published}
    esc = html.escape
    body = [f"<h1>{esc(briefing.title)}</h1>", f"<p><em>{esc(_subtitle(briefing))}</em></p>"]
    for section in briefing.sections:
        body.append(f"<h2>{esc(section.title)}</h2>\n<ul>")
        for b in section.bullets:
            if b.versions:
                items = "".join(
                    f"<li>{esc(v.text)} <sup>{_links(v, numbers)}</sup>{esc(_dated(v, dates))}</li>"
                    for v in _in_time_order(b, dates)
                )
                how = esc(_how_they_differ(b, dates))
                body.append(f"<li><strong>{esc(b.text)}</strong>: {how}<ul>{items}</ul></li>")
                continue
            quotes = "&#10;".join(esc(f"{c.passage_id}: {c.quote}") for c in b.citations)
            body.append(
                f'<li title="{quotes}">{esc(b.text)} <sup>{_links(b, numbers)}</sup>'
                f"{esc(_support(b, briefing))}</li>"
            )
        body.append("</ul>")
    body.append("<h2>Sources</h2>\n<ol>")
    body += [
        f'<li id="src{s.number}">{esc(_source_line(s, numbers))}</li>' for s in briefing.sources
    ]
    body.append("</ol>")
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="generator" content="briefer">\n'
        f"<title>{esc(briefing.title)}</title>\n"
        "<style>body{font:16px/1.5 system-ui,sans-serif;max-width:46em;margin:2em auto;"
        "padding:0 1em}li{margin:.4em 0}sup a{text-decoration:none}</style>\n"
        "</head>\n<body>\n" + "\n".join(body) + "\n</body>\n</html>\n"
    )


def _subtitle(briefing: Briefing) -> str:
    params = briefing.provenance.parameters
    preset = params.audience_preset
    reader = _AUDIENCE_LABEL[preset] if preset else f"“{params.audience}”"
    n_sources = len(briefing.sources)
    independent = sum(1 for s in briefing.sources if s.duplicate_of is None)
    counted = f"{n_sources} sources" if n_sources != 1 else "1 source"
    if independent != n_sources:
        counted += f" ({independent} independent)"
    words = sum(b.words for b in briefing.bullets)
    engine = briefing.provenance.engine
    if briefing.provenance.model:
        engine += f", {briefing.provenance.model}"
    return f"For {reader} · {counted} · {words} words · {engine} engine"


def _how_they_differ(bullet: Bullet, dates: dict[str, date]) -> str:
    """Tell a figure that changed between dated reports from a real disagreement."""
    when = [_date_of(v, dates) for v in bullet.versions]
    if all(when) and len(set(when)) == len(when):
        return "reported differently over time (earliest first)"
    return "the sources differ"


def _in_time_order(bullet: Bullet, dates: dict[str, date]) -> list[Version]:
    if all(_date_of(v, dates) for v in bullet.versions):
        return sorted(bullet.versions, key=lambda v: _date_of(v, dates) or date.min)
    return list(bullet.versions)


def _date_of(version: Version, dates: dict[str, date]) -> date | None:
    return min((dates[s] for s in version.source_ids if s in dates), default=None)


def _dated(version: Version, dates: dict[str, date]) -> str:
    when = _date_of(version, dates)
    return f" ({when.isoformat()})" if when else ""


def _markers(cited: Bullet | Version, numbers: dict[str, int]) -> str:
    return "".join(f"[{numbers[sid]}]" for sid in cited.source_ids)


def _links(cited: Bullet | Version, numbers: dict[str, int]) -> str:
    return "".join(f'<a href="#src{numbers[s]}">[{numbers[s]}]</a>' for s in cited.source_ids)


def _support(bullet: Bullet, briefing: Briefing) -> str:
    """Return how many independent reports back the bullet, when there is more than one."""
    if sum(1 for s in briefing.sources if s.duplicate_of is None) < 2:
        return ""  # one report: every bullet is single-source, saying so adds nothing
    if bullet.n_sources > 1:
        return f" ({bullet.n_sources} sources)"
    return " (single source)"


def _source_line(source: SourceRef, numbers: dict[str, int], markdown: bool = False) -> str:
    if markdown:
        line = f"{md_text(source.title)} — {md_code(source.origin)}"
    else:
        line = f"{source.title} — `{source.origin}`"
    if source.published:
        line += f", {source.published.isoformat()}"
    if source.duplicate_of:
        line += f" (same report as [{numbers[source.duplicate_of]}])"
    return line
