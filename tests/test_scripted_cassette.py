"""The scripted-replay example's cassette is what tests/record_scripted_cassette.py records."""

from __future__ import annotations

import shutil
from pathlib import Path

from record_scripted_cassette import record_case

CASE = Path(__file__).parents[1] / "examples" / "istanbul-scripted-replay"


def test_recording_the_scripted_case_again_gives_the_committed_cassette(tmp_path: Path) -> None:
    # A request briefer sends differently (a prompt, a schema, a reply limit) shows up here
    # first: record the case again with the script, never by editing the cassette.
    case = tmp_path / CASE.name
    shutil.copytree(CASE, case)
    recorded = record_case(case)
    # Lines in any order: the recorder keeps the first of each request, in arrival order.
    assert sorted(recorded.read_text(encoding="utf-8").splitlines()) == sorted(
        (CASE / "cassette.jsonl").read_text(encoding="utf-8").splitlines()
    )
