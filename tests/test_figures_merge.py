"""Same-fact merging never joins statements whose figures disagree, at any scale (issue 10.16)."""

from __future__ import annotations

from pathlib import Path

import pytest

from briefer.engines.extractive.engine import ExtractiveEngine
from briefer.grounding.matching import extract_numbers
from briefer.ingest.sources import read_sources
from briefer.models import BriefOptions
from briefer.pipeline import build_briefing


def _pile(folder: Path, count: int) -> list[str]:
    """Write ``count`` short reports, each naming a different item number, like a log dump.

    The numbers run from 1900, where a bare four-digit figure also reads as a year.
    """
    paths = []
    for n in range(count):
        path = folder / f"report{n:05d}.txt"
        path.write_text(
            f"Inventory notice {n}\n\n"
            f"The regional depot reported that item number {1900 + n} was missing from the "
            "shelves during the weekly audit on Tuesday.\n",
            encoding="utf-8",
        )
        paths.append(str(path))
    return paths


@pytest.mark.parametrize("count", [40, 250])
def test_bullets_never_merge_sentences_with_different_figures(tmp_path: Path, count: int) -> None:
    sources = read_sources(_pile(tmp_path, count))
    briefing = build_briefing(sources, ExtractiveEngine(), BriefOptions(max_words=120))
    assert briefing.bullets
    for bullet in briefing.bullets:
        figures = extract_numbers(bullet.text)
        for citation in bullet.citations:
            assert extract_numbers(citation.quote) == figures, (bullet.text, citation.quote)
        # each report names its own item, so no bullet can stand for two of them
        assert len(bullet.source_ids) == 1, (bullet.text, bullet.source_ids)
        assert bullet.n_sources == 1, (bullet.text, bullet.n_sources)


def test_figures_conflict_needs_figures_on_both_sides_that_cannot_be_one_fact() -> None:
    from briefer.engines.extractive.synthesis import figures_conflict

    assert figures_conflict("Item 4812 was missing.", "Item 4813 was missing.")
    assert figures_conflict("The house sold for $3 million.", "The house sold for $4 million.")
    assert not figures_conflict(
        "The strike hit 472 drones and 7 missiles.", "The strike hit 472 drones, 41 of them decoys."
    )
    assert not figures_conflict(
        "The city will return 600 books.", "The city will return 600 books and 20 maps."
    )
    assert not figures_conflict("The city will return 600 books.", "The city returns books.")
