"""Time briefer's offline pipeline on a generated pile of 1,000 articles (issue 2's benchmark).

Articles are generated in a temporary directory (never in the repository) from the seed
articles and the eval-dev documents, varied so that no two files are byte-identical. Two
passes are timed, each in a fresh process so that its peak memory is its own:

* one pile:  all N articles -> ``read_sources`` -> ``build_briefing`` -> one rendered page;
* many piles: the same N articles as N/5 piles of 5 -> N/5 briefings.

Usage (from the repository root)::

    python bench/bench_pipeline.py
    python bench/bench_pipeline.py --articles 200 --tracemalloc
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import platform
import random
import re
import resource
import shlex
import sys
import tempfile
import time
import traceback
import tracemalloc
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # lets a checkout run the bench without `pip install -e .`
    sys.path.insert(0, str(REPO_ROOT))

from briefer.engines.extractive.engine import ExtractiveEngine  # noqa: E402
from briefer.ingest.sources import read_sources  # noqa: E402
from briefer.models import Briefing, BriefOptions  # noqa: E402
from briefer.pipeline import build_briefing  # noqa: E402
from briefer.render import render_markdown  # noqa: E402

TIME_TARGET_S = 20.0
MEMORY_TARGET_BYTES = 1 << 30
PILE_SIZE = 5
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'\u201c\u2018(A-Z0-9])")


@dataclass
class PassResult:
    """What one timed pass measured."""

    name: str
    briefings: int = 0
    sources: int = 0
    duplicates: int = 0
    bullets: int = 0
    words: int = 0
    rejected: int = 0
    stages: dict[str, float] = field(default_factory=dict)
    total_s: float = 0.0
    process_s: float = 0.0
    peak_rss_bytes: int = 0
    traced_peak_bytes: int | None = None


def _split_units(text: str) -> list[str]:
    """Split an article into paragraphs, or failing that lines, or groups of sentences."""
    for separator in (r"\n\s*\n", r"\n"):
        units = [u.strip() for u in re.split(separator, text) if u.strip()]
        if len(units) >= 3:
            return units
    sentences = [s for s in _SENTENCE_END.split(text.strip()) if s]
    return [" ".join(sentences[i : i + 3]) for i in range(0, len(sentences), 3)]


def _load_pool(seeds_dir: Path, eval_dir: Path) -> list[list[str]]:
    """Return every distinct base article (seeds, mds docs, faithfulness sources) as units."""
    texts = [p.read_text(encoding="utf-8") for p in sorted(seeds_dir.glob("*.txt"))]
    with (eval_dir / "mds" / "dev.jsonl").open(encoding="utf-8") as lines:
        texts += [doc["text"] for line in lines for doc in json.loads(line)["docs"]]
    with (eval_dir / "faithfulness" / "dev.jsonl").open(encoding="utf-8") as lines:
        texts += list(dict.fromkeys(json.loads(line)["source"] for line in lines))
    return [units for units in map(_split_units, texts) if units]


def _vary(base: list[str], other: list[str], rng: random.Random) -> list[str]:
    """Return a variant of ``base``: the first unit (headline) kept, the body reworked."""
    head, body = base[:1], base[1:]
    if len(body) < 2:
        return head + body + other[-2:]
    kind = rng.randrange(4)
    if kind == 0:  # rotate: the same paragraphs, a different lead
        k = rng.randrange(1, len(body))
        body = body[k:] + body[:k]
    elif kind == 1:  # a contiguous slice holding at least 60% of the body's text
        size = max(2, round(len(body) * rng.uniform(0.6, 0.9)))
        total = sum(map(len, body))
        starts = [
            i
            for i in range(len(body) - size + 1)
            if sum(map(len, body[i : i + size])) >= 0.6 * total
        ]
        if starts:  # otherwise one long paragraph holds the story: keep the whole body
            start = rng.choice(starts)
            body = body[start : start + size]
    elif kind == 2:  # splice in paragraphs of another article
        at = rng.randrange(len(body) + 1)
        body = body[:at] + other[1 : 1 + rng.randint(1, 3)] + body[at:]
    else:  # merge neighbouring paragraphs into longer ones
        merged: list[str] = []
        for unit in body:
            if merged and rng.random() < 0.4:
                merged[-1] = f"{merged[-1]} {unit}"
            else:
                merged.append(unit)
        body = merged
    return head + body


def generate_articles(pool: Sequence[list[str]], n: int, target: Path, seed: int = 0) -> list[Path]:
    """Write ``n`` varied, pairwise byte-distinct articles under ``target``; return their paths."""
    rng = random.Random(seed)
    seen: set[str] = set()
    paths: list[Path] = []
    for i in range(n):
        base = pool[i % len(pool)]
        units = base if i < len(pool) else _vary(base, rng.choice(pool), rng)
        text = "\n\n".join(units) + "\n"
        while hashlib.sha256(text.encode()).hexdigest() in seen:
            text += "\n" + rng.choice(rng.choice(pool)) + "\n"
        seen.add(hashlib.sha256(text.encode()).hexdigest())
        path = target / f"article_{i:05d}.txt"
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


def _brief_pile(paths: Sequence[Path], options: BriefOptions, result: PassResult) -> None:
    """Brief one pile, adding its stage timings and counts to ``result``."""
    clock = time.perf_counter()
    sources = read_sources([str(p) for p in paths])
    _add(result.stages, "read_sources", time.perf_counter() - clock)

    briefing: Briefing = build_briefing(sources, ExtractiveEngine(), options)
    for stage, seconds in briefing.provenance.timings.items():
        _add(result.stages, stage, seconds)

    clock = time.perf_counter()
    page = render_markdown(briefing)
    _add(result.stages, "render", time.perf_counter() - clock)

    result.briefings += 1
    result.sources += len(sources)
    result.duplicates += sum(1 for s in sources if s.duplicate_of)
    result.bullets += len(briefing.bullets)
    result.words += sum(len(b.text.split()) for b in briefing.bullets)
    result.rejected += len(briefing.rejected)
    if not page.strip():
        raise RuntimeError(f"pile starting {paths[0].name} rendered an empty page")


def _add(stages: dict[str, float], stage: str, seconds: float) -> None:
    stages[stage] = stages.get(stage, 0.0) + seconds


def run_pass(name: str, piles: list[list[Path]], trace: bool) -> PassResult:
    """Brief every pile in this process and return the timings and peak memory."""
    options = BriefOptions()
    result = PassResult(name=name)
    if trace:
        tracemalloc.start()
    start = time.perf_counter()
    try:
        for pile in piles:
            _brief_pile(pile, options, result)
    except Exception:
        # briefer's errors take extra __init__ arguments and cannot cross the process
        # boundary by pickling, so send the child's traceback as text instead
        raise RuntimeError(traceback.format_exc()) from None
    result.total_s = time.perf_counter() - start
    if trace:
        result.traced_peak_bytes = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    result.peak_rss_bytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return result


def _run_isolated(name: str, piles: list[list[Path]], trace: bool) -> PassResult:
    """Run one pass in a fresh process so that its peak RSS is not another pass's."""
    context = multiprocessing.get_context("spawn")
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        result = pool.submit(run_pass, name, piles, trace).result()
    result.process_s = time.perf_counter() - start
    return result


def _mib(n_bytes: int | None) -> str:
    return "-" if n_bytes is None else f"{n_bytes / (1 << 20):,.0f} MiB"


def format_table(results: Sequence[PassResult]) -> str:
    """Return the per-stage comparison of the passes as aligned text."""
    stages = list(dict.fromkeys(s for r in results for s in r.stages))
    rows: list[tuple[str, ...]] = [("stage", *(r.name for r in results))]
    rows += [(s, *(f"{r.stages.get(s, 0.0):.2f} s" for r in results)) for s in stages]
    rows.append(("total (wall)", *(f"{r.total_s:.2f} s" for r in results)))
    rows.append(("process incl. imports", *(f"{r.process_s:.2f} s" for r in results)))
    rows.append(("peak RSS", *(_mib(r.peak_rss_bytes) for r in results)))
    if any(r.traced_peak_bytes is not None for r in results):
        rows.append(("tracemalloc peak", *(_mib(r.traced_peak_bytes) for r in results)))
    rows.append(("briefings", *(str(r.briefings) for r in results)))
    rows.append(("sources (near-dups)", *(f"{r.sources} ({r.duplicates})" for r in results)))
    rows.append(("bullets / words", *(f"{r.bullets} / {r.words}" for r in results)))
    rows.append(("rejected claims", *(str(r.rejected) for r in results)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def meets_targets(result: PassResult) -> bool:
    """Return whether a pass stayed under both the time and the memory target."""
    return result.total_s < TIME_TARGET_S and result.peak_rss_bytes < MEMORY_TARGET_BYTES


def _verdict(result: PassResult) -> str:
    return (
        f"{result.name}: {'PASS' if meets_targets(result) else 'FAIL'} "
        f"({result.total_s:.1f} s of {TIME_TARGET_S:.0f} s, "
        f"{_mib(result.peak_rss_bytes)} of {_mib(MEMORY_TARGET_BYTES)})"
    )


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    shared = REPO_ROOT.parent / "shared"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--articles", type=int, default=1000, help="articles to generate")
    parser.add_argument("--eval-dir", type=Path, default=shared / "eval-dev")
    parser.add_argument("--seeds-dir", type=Path, default=shared / "seeds")
    parser.add_argument("--seed", type=int, default=0, help="seed of the article variations")
    parser.add_argument(
        "--tracemalloc", action="store_true", help="also trace Python allocations (slower)"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a pass misses a target")
    args = parser.parse_args(argv)
    if args.articles < PILE_SIZE:
        parser.error(f"--articles must be at least {PILE_SIZE}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Generate the articles, run both passes and print the table; return the exit code."""
    args = _parse_args(argv)
    pool = _load_pool(args.seeds_dir, args.eval_dir)
    with tempfile.TemporaryDirectory(prefix="briefer-bench-") as tmp:
        paths = generate_articles(pool, args.articles, Path(tmp), seed=args.seed)
        size = sum(p.stat().st_size for p in paths)
        n_piles = len(paths) // PILE_SIZE
        many = [paths[i * PILE_SIZE : (i + 1) * PILE_SIZE] for i in range(n_piles)]
        results = [
            _run_isolated(f"1 pile x {len(paths)}", [paths], args.tracemalloc),
            _run_isolated(f"{n_piles} piles x {PILE_SIZE}", many, args.tracemalloc),
        ]
    print(f"command: {shlex.join(sys.orig_argv)}")
    print(
        f"corpus: {len(paths)} articles, {size / 1e6:.1f} MB, from {len(pool)} base articles; "
        f"{multiprocessing.cpu_count()} cores, Python {platform.python_version()}"
    )
    print()
    print(format_table(results))
    print()
    print("\n".join(_verdict(r) for r in results))
    failed = not all(meets_targets(r) for r in results)
    return 1 if args.strict and failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
