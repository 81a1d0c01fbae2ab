"""Record a golden case's cassette from a real model server (real model output, not test data).

Usage: ``python tests/record_real_cassette.py examples/<case> BASE_URL "LABEL"``, then
``briefer check examples/<case> --update`` and read the diff against the sources.

``python tests/record_real_cassette.py --label CASSETTE "LABEL"`` labels a cassette recorded
otherwise (``briefer brief --record``, or tests/test_real_server.py with
``BRIEFER_TEST_LLAMA_RECORD``) the same way: every line gets ``recorded_from`` first.

Each golden of the case runs through the real LLM engine and openai client against the
server at ``BASE_URL`` (e.g. a llama-server started as tests/test_real_server.py starts it),
with the settings the case pins. Every exchange is written to the case's cassette, each line
carrying ``"recorded_from": LABEL`` (which server and model answered), first, so a reader
sees it.
"""

from __future__ import annotations

import json
import sys
import tempfile
import tomllib
from pathlib import Path
from typing import Any

from briefer.engines.base import Engine
from briefer.engines.llm.engine import LLMEngine
from briefer.golden import case_settings, run_goldens


def record_case(case: Path, base_url: str, label: str) -> Path:
    """Write ``case``'s cassette from the server at ``base_url`` and return its path."""
    spec = tomllib.loads((case / "case.toml").read_text(encoding="utf-8"))
    recordings: list[Path] = []
    with tempfile.TemporaryDirectory() as scratch:

        def recording_engine(golden: dict[str, Any], _: Path) -> Engine:
            path = Path(scratch) / f"{len(recordings)}.jsonl"
            recordings.append(path)
            # A scratch cache: goldens of the same run options (Markdown and JSON) send the
            # same requests, and the server answers them once.
            settings = case_settings(
                golden,
                base_url=base_url,
                record_path=path,
                use_cache=True,
                cache_dir=Path(scratch) / "cache",
            )
            return LLMEngine(settings)

        run_goldens(case, engines={spec.get("engine", "llm-replay"): recording_engine})
        lines: dict[str, str] = {}
        for path in recordings:
            for line in path.read_text(encoding="utf-8").splitlines():
                entry = json.loads(line)
                key = entry.get("key") or json.dumps(entry, sort_keys=True)
                labelled = {"recorded_from": label, **entry}
                lines.setdefault(key, json.dumps(labelled, ensure_ascii=False))
    target = case / str(spec["cassette"])
    target.write_text("".join(f"{line}\n" for line in lines.values()), encoding="utf-8")
    return target


def label_cassette(cassette: Path, label: str) -> Path:
    """Put ``"recorded_from": label`` first on every line of ``cassette``; return its path."""
    lines = cassette.read_text(encoding="utf-8").splitlines()
    entries = [json.loads(line) for line in lines if line.strip()]
    labelled = [
        {"recorded_from": label, **{k: v for k, v in e.items() if k != "recorded_from"}}
        for e in entries
    ]
    cassette.write_text(
        "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in labelled), encoding="utf-8"
    )
    return cassette


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    if sys.argv[1] == "--label":
        print(f"labelled {label_cassette(Path(sys.argv[2]), sys.argv[3])}")
    else:
        print(f"recorded {record_case(Path(sys.argv[1]), sys.argv[2], sys.argv[3])}")
