"""Agreement and speed of briefer's sentence splitter against syntok, on real articles.

``briefer/sentences.py`` re-implements syntok's segmentation rules, looking only at the
places that could end a sentence. This script compares the two on the story blocks briefer
would split (each text read with ``read_sources``, as the pipeline reads it), in three parts:
the seed and example articles, the eval-dev news clusters (``mds/``) and the distinct
eval-dev faithfulness sources. It prints, per part, the sentence starts syntok finds, the
precision and recall of briefer's starts against them, and the CPU seconds of each splitter.
syntok is a bench extra: ``pip install -c requirements.lock -e '.[bench]'``.

Usage (from the repository root)::

    python bench/bench_sentences.py                  # the table
    python bench/bench_sentences.py --show 10        # plus up to 10 differing boundaries
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from briefer.ingest.sources import read_sources  # noqa: E402
from briefer.sentences import sentence_starts  # noqa: E402


def _texts(seeds_dir: Path, eval_dir: Path) -> Iterator[tuple[str, str]]:
    """Yield ``(part, text)`` for every article of the three parts."""
    for path in sorted(seeds_dir.glob("*.txt")):
        yield "seeds + examples", path.read_text(encoding="utf-8")
    for path in sorted((REPO_ROOT / "examples").glob("*/articles/*")):
        yield "seeds + examples", path.read_text(encoding="utf-8")
    for name in ("dev.jsonl", "dev-2doc.jsonl"):
        for line in (eval_dir / "mds" / name).read_text(encoding="utf-8").splitlines():
            for doc in json.loads(line)["docs"]:
                yield "eval-dev mds", doc["text"]
    seen: set[str] = set()
    for name in ("dev.jsonl", "train.jsonl"):
        for line in (eval_dir / "faithfulness" / name).read_text(encoding="utf-8").splitlines():
            text = json.loads(line)["source"]
            if text not in seen:
                seen.add(text)
                yield "eval-dev faithfulness", text


def story_blocks(seeds_dir: Path, eval_dir: Path) -> dict[str, list[str]]:
    """Return the story blocks of every article, per part, as the pipeline reads them."""
    parts: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory(prefix="briefer-sentences-") as tmp:
        for number, (part, text) in enumerate(_texts(seeds_dir, eval_dir)):
            path = Path(tmp) / f"article_{number:05d}.txt"
            path.write_text(text, encoding="utf-8")
            try:
                [source] = read_sources([str(path)])
            except Exception:  # a text that holds no story: nothing to split
                continue
            finally:
                path.unlink()
            parts.setdefault(part, []).extend(source.text[b.start : b.end] for b in source.blocks)
    return parts


def _syntok_starts(text: str) -> list[int]:
    from syntok import segmenter

    return [sentence[0].offset for paragraph in segmenter.analyze(text) for sentence in paragraph]


def main(argv: Sequence[str] | None = None) -> int:
    """Print the agreement table; return the exit code."""
    shared = REPO_ROOT.parent / "shared"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--eval-dir", type=Path, default=shared / "eval-dev")
    parser.add_argument("--seeds-dir", type=Path, default=shared / "seeds")
    parser.add_argument("--show", type=int, default=0, help="print up to N differing boundaries")
    args = parser.parse_args(argv)
    parts = story_blocks(args.seeds_dir, args.eval_dir)
    print(f"command: {shlex.join(sys.orig_argv)}")
    print()
    header = (
        "part",
        "blocks",
        "syntok starts",
        "precision",
        "recall",
        "syntok CPU s",
        "briefer CPU s",
    )
    rows = [header]
    shown = 0
    for part, blocks in parts.items():
        agreed = extra = missed = 0
        syntok_s = briefer_s = 0.0
        for block in blocks:
            clock = time.process_time()
            expected = set(_syntok_starts(block))
            syntok_s += time.process_time() - clock
            clock = time.process_time()
            found = set(sentence_starts(block))
            briefer_s += time.process_time() - clock
            agreed += len(expected & found)
            extra += len(found - expected)
            missed += len(expected - found)
            for offset in sorted(expected ^ found):
                if shown < args.show:
                    shown += 1
                    kind = "extra " if offset in found else "missed"
                    before, after = block[max(0, offset - 60) : offset], block[offset : offset + 40]
                    print(f"{kind} {before!r} | {after!r}")
        rows.append(
            (
                part,
                str(len(blocks)),
                f"{agreed + missed:,}",
                f"{agreed / max(1, agreed + extra):.4f}",
                f"{agreed / max(1, agreed + missed):.4f}",
                f"{syntok_s:.2f}",
                f"{briefer_s:.2f}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for number, row in enumerate(rows):
        print(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if number == 0:
            print("  ".join("-" * w for w in widths))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
