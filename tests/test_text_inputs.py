"""Hostile and unusual text inputs (issue 10, "Text" and item 10): damaged UTF-8, non-Latin
scripts, deep HTML, Markdown that is only a table or code, briefer's own outputs in a folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from briefer.engines.extractive.engine import ExtractiveEngine
from briefer.errors import SourceError
from briefer.ingest.sources import read_sources
from briefer.models import BriefOptions
from briefer.pipeline import build_briefing
from briefer.render import OutputFormat, render

BRIDGE = [
    "Officials said the new bridge opened on Saturday after five years of work.",
    "The mayor said the bridge \u201cwill change the city\u201d and thanked the builders.",
    "Traffic on the old crossings fell by a third in the first week, the city reported.",
    "Residents welcomed the news, but some worried about noise near the river.",
]


def _read_with_warnings(*paths: Path) -> tuple[list[str], list[str]]:
    """Return the texts read from ``paths`` and the warnings given while reading."""
    warnings: list[str] = []
    sources = read_sources([str(p) for p in paths], warn=warnings.append)
    return [s.text for s in sources], warnings


# --- item 13: invalid UTF-8 in an otherwise UTF-8 file ----------------------------------------


def test_invalid_utf8_is_replaced_in_place_and_named_with_its_byte_offset(tmp_path: Path) -> None:
    data = "\n\n".join(BRIDGE).encode("utf-8")
    bad_at = data.index(b"Traffic") + 3
    path = tmp_path / "damaged.txt"
    path.write_bytes(data[:bad_at] + b"\xff" + data[bad_at:])

    [text], warnings = _read_with_warnings(path)

    # No mojibake: the curly quotes survive, the bad byte becomes one U+FFFD, nothing is lost.
    assert text == "\n\n".join(BRIDGE).replace("Traffic", "Tra\ufffdffic")
    assert warnings == [
        f"{path}: invalid UTF-8 at byte {bad_at}; "
        "decoded as UTF-8 with U+FFFD replacement characters"
    ]


def test_several_invalid_bytes_are_counted_in_one_warning(tmp_path: Path) -> None:
    data = "\n\n".join(BRIDGE).encode("utf-8")
    path = tmp_path / "damaged.txt"
    path.write_bytes(b"\xc3" + data + b"\n\nMore \x80\x80 text here.")

    [text], warnings = _read_with_warnings(path)

    assert text.startswith("\ufffdOfficials said") and "\u201cwill change the city\u201d" in text
    [warning] = warnings
    assert warning.startswith(f"{path}: invalid UTF-8 at byte 0 and 2 more places;")


def test_a_legacy_8_bit_file_is_still_detected_without_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "legacy.txt"
    path.write_bytes(
        "\n\n".join(BRIDGE)
        .replace("\u201c", '"')
        .replace("\u201d", '"')
        .replace("mayor", "mayor of Bogotá, José Pérez,")
        .encode("cp1252")
    )

    [text], warnings = _read_with_warnings(path)

    assert "Bogotá, José Pérez" in text and warnings == []


# --- item 10: a directory walk does not take briefer's own outputs for articles ---------------

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "istanbul-talks"


def test_the_example_folder_is_briefed_from_its_articles_not_its_goldens() -> None:
    warnings: list[str] = []
    sources = read_sources([str(EXAMPLE)], warn=warnings.append)

    assert sorted(Path(s.origin).name for s in sources) == sorted(
        p.name for p in (EXAMPLE / "articles").glob("*.txt")
    )
    assert warnings == [
        f"{EXAMPLE}: skipped 3 briefings that briefer wrote, not articles "
        "(golden/long-analyst.md, golden/short-executive.md, golden/standard-general.md); "
        "name a file to read it anyway"
    ]


@pytest.mark.parametrize("fmt", [OutputFormat.md, OutputFormat.html])
def test_a_briefing_saved_beside_the_articles_is_recognised_by_its_content(
    tmp_path: Path, fmt: OutputFormat
) -> None:
    articles = tmp_path / "news"
    articles.mkdir()
    for k, name in enumerate(["a.txt", "b.txt"]):
        (articles / name).write_text("\n\n".join(BRIDGE[k:]), encoding="utf-8")
    briefing = build_briefing(read_sources([str(articles)]), ExtractiveEngine(), BriefOptions())
    saved = articles / f"brief.{fmt.value}"
    saved.write_text(render(briefing, fmt), encoding="utf-8")

    warnings: list[str] = []
    walked = read_sources([str(articles)], warn=warnings.append)

    assert [Path(s.origin).name for s in walked] == ["a.txt", "b.txt"]
    assert len(warnings) == 1 and f"(brief.{fmt.value})" in warnings[0]


def test_a_folder_holding_only_briefings_is_a_clear_error() -> None:
    with pytest.raises(SourceError, match="holds only briefings briefer wrote, no articles"):
        read_sources([str(EXAMPLE / "golden")], warn=lambda _: None)
