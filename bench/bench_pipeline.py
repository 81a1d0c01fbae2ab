"""Time briefer's offline pipeline on one generated pile of 1,000, 3,000 and 10,000 articles.

Articles are generated in a temporary directory (never in the repository) by recombining the
paragraphs of real articles (the seed articles, the eval-dev news clusters and faithfulness
sources): each distinct article mixes paragraphs of two or three reports on one story, with
its people's names and its dates varied, and about a fifth are near-duplicates of an earlier
article (republished with a new headline, a paragraph dropped or a credit line added), as in
real feeds. Every article is checked with briefer's own cleaning, so none fails to read.

Each run is a fresh process: ``read_sources`` on the whole pile, ``build_briefing`` with the
extractive engine, ``render_markdown``. The script prints, per pile size, the median over the
runs of the CPU seconds of each stage and of the whole process (user + system, from
``getrusage``; imports included) and of its peak RSS (``ru_maxrss``).

Usage (from the repository root)::

    python bench/bench_pipeline.py                           # 1k, 3k, 10k; 3 runs each
    python bench/bench_pipeline.py --sizes 1000 3000 10000 --runs 3 --runs-largest 1
"""

from __future__ import annotations

import argparse
import calendar
import hashlib
import json
import multiprocessing
import os
import platform
import random
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # lets a checkout run the bench without `pip install -e .`
    sys.path.insert(0, str(REPO_ROOT))

from briefer.ingest.cleaning import clean_text  # noqa: E402

CPU_TARGET_S = 45.0  # one pile of 10,000 articles
MEMORY_TARGET_BYTES = 1 << 30
DUPLICATE_SHARE = 0.2
MIN_KEPT_WORDS = 80  # an article must keep at least this much story after cleaning
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'\u201c\u2018(A-Z0-9])")
_FULL_NAME = re.compile(r"\b([A-Z][a-z]{2,}) ([A-Z][a-z]{3,})\b")
_CAPITALISED_NOT_NAMES = """
The This That These Those There Their When Where What While After Before During Since From With
Without Under Over About Into North South East West New Last Next Prime Vice United Supreme
Foreign Defense Defence Health State National Federal Monday Tuesday Wednesday Thursday Friday
Saturday Sunday January February March April June July August September October November
December President Minister Secretary Senator General
"""
_NOT_A_FIRST_NAME = frozenset(_CAPITALISED_NOT_NAMES.split())
_MONTH = re.compile(
    r"\b(January|February|March|April|May|June|July|August|September|October|November|"
    r"December)( \d{1,2})?\b"
)
_FIGURE = re.compile(r"(?<![\d,.])(?!(?:19|20)\d\d\b)\d{2,4}(?![\d,.])")
_YEAR = re.compile(r"\b(19[5-9]\d|20[0-4]\d)\b")
_MONTHS = list(calendar.month_name)[1:]
_OUTLETS = ("Wire", "Daily", "Herald", "Post", "Tribune", "Chronicle", "Observer", "Times")


@dataclass(frozen=True)
class Story:
    """One story of the pool: the headline and paragraphs of each report on it."""

    reports: list[list[str]]

    @property
    def sentences(self) -> list[str]:
        """Return the sentences of every report's body (headlines left out), in order."""
        return [
            s for report in self.reports for unit in report[1:] for s in _SENTENCE_END.split(unit)
        ]


def _split_units(text: str) -> list[str]:
    """Split an article into paragraphs, or failing that lines, or groups of sentences."""
    for separator in (r"\n\s*\n", r"\n"):
        units = [u.strip() for u in re.split(separator, text) if u.strip()]
        if len(units) >= 3:
            return units
    sentences = [s for s in _SENTENCE_END.split(text.strip()) if s]
    return [" ".join(sentences[i : i + 3]) for i in range(0, len(sentences), 3)]


def load_stories(seeds_dir: Path, eval_dir: Path) -> list[Story]:
    """Return the pool: the seeds as one story, and each eval-dev news cluster (mds)."""
    seeds = [p.read_text(encoding="utf-8") for p in sorted(seeds_dir.glob("*.txt"))]
    clusters = [seeds]
    for name in ("dev.jsonl", "dev-2doc.jsonl"):
        with (eval_dir / "mds" / name).open(encoding="utf-8") as lines:
            clusters += [[doc["text"] for doc in json.loads(line)["docs"]] for line in lines]
    stories = []
    for texts in clusters:
        reports = [units for units in map(_split_units, texts) if len(units) >= 3]
        if reports:
            stories.append(Story(reports=reports))
    return stories


def _names(stories: Sequence[Story]) -> list[tuple[str, str]]:
    """Return the full names ("Firstname Lastname") found in the pool, to swap in."""
    found = {
        match
        for story in stories
        for report in story.reports
        for unit in report
        for match in _FULL_NAME.findall(unit)
        if match[0] not in _NOT_A_FIRST_NAME and match[1] not in _NOT_A_FIRST_NAME
    }
    return sorted(found)


def _vary_names(text: str, names: Sequence[tuple[str, str]], rng: random.Random) -> str:
    """Give the people of ``text`` other names, consistently (full name and surname)."""
    people = list(
        dict.fromkeys(m for m in _FULL_NAME.findall(text) if m[0] not in _NOT_A_FIRST_NAME)
    )
    for first, last in people:
        new_first, new_last = rng.choice(names)
        text = re.sub(rf"\b{first} {last}\b", f"{new_first} {new_last}", text)
        text = re.sub(rf"\b{last}\b", new_last, text)
    return text


def _vary_dates(text: str, rng: random.Random) -> str:
    """Move the article in time: one month shift and one year shift for all its dates."""
    month_shift, year_shift = rng.randrange(12), rng.randrange(-3, 2)

    def month(match: re.Match[str]) -> str:
        name = _MONTHS[(_MONTHS.index(match.group(1)) + month_shift) % 12]
        day = f" {rng.randint(1, 28)}" if match.group(2) else ""
        return name + day

    text = _MONTH.sub(month, text)
    return _YEAR.sub(lambda m: str(int(m.group(1)) + year_shift), text)


def _vary_figures(text: str, rng: random.Random) -> str:
    """Change the counts of ``text`` (not its years) by up to a fifth, as later reports do."""

    def figure(match: re.Match[str]) -> str:
        value = int(match.group(0))
        return str(max(2, round(value * rng.uniform(0.8, 1.2))))

    return _FIGURE.sub(figure, text)


def _distinct(
    story: Story, pool: Sequence[str], names: Sequence[tuple[str, str]], rng: random.Random
) -> str:
    """Return a new article on ``story``: a lead report's headline and an opening sentence of
    it, then paragraphs recombined from sentences of the story's reports and, for half of
    them, of other reports in ``pool``; people renamed, dates moved, counts changed.

    The pool is a few thousand sentences; drawing sentences rather than whole paragraphs, and
    half of them from anywhere, keeps two generated articles from sharing most of their text
    (which would make briefer count them as one report).
    """
    lead = rng.choice(story.reports)
    opening = rng.choice(_SENTENCE_END.split(lead[1]))
    size = rng.randint(10, 24)
    drawn = rng.sample(story.sentences, min(len(story.sentences), size // 2))
    drawn += rng.sample(pool, size - len(drawn))
    paragraphs = [lead[0], opening]
    while drawn:
        size = rng.randint(2, 4)
        paragraphs.append(" ".join(drawn[:size]))
        drawn = drawn[size:]
    text = "\n\n".join(paragraphs) + "\n"
    return _vary_figures(_vary_dates(_vary_names(text, names, rng), rng), rng)


def _near_duplicate(original: str, rng: random.Random) -> str:
    """Return ``original`` as republished: a new headline, a paragraph dropped or a credit."""
    units = original.strip().split("\n\n")
    kind = rng.randrange(3)
    if kind == 0:
        units[0] = f"{units[0]} | {rng.choice(_OUTLETS)}"
    elif kind == 1 and len(units) > 4:
        del units[rng.randrange(2, len(units))]
    else:
        units.append(f"Reporting by {rng.choice(_OUTLETS)} staff; editing by the news desk.")
    return "\n\n".join(units) + "\n"


def _kept_words(text: str) -> int:
    blocks, _, _ = clean_text(text)
    return sum(len(text[b.start : b.end].split()) for b in blocks)


def generate_articles(stories: Sequence[Story], n: int, target: Path, seed: int = 0) -> list[Path]:
    """Write ``n`` pairwise byte-distinct articles under ``target``; return their paths.

    About ``DUPLICATE_SHARE`` of them are near-duplicates of an earlier one. Each keeps at
    least ``MIN_KEPT_WORDS`` words of story under briefer's cleaning, so every file reads.
    """
    rng = random.Random(seed)
    names = _names(stories)
    pool = [s for story in stories for s in story.sentences]
    seen: set[bytes] = set()
    originals: list[str] = []
    paths: list[Path] = []
    while len(paths) < n:
        if originals and rng.random() < DUPLICATE_SHARE:
            text = _near_duplicate(rng.choice(originals), rng)
        else:
            text = _distinct(rng.choice(stories), pool, names, rng)
            if _kept_words(text) >= MIN_KEPT_WORDS:
                originals.append(text)
        digest = hashlib.sha256(text.encode()).digest()
        if digest in seen or _kept_words(text) < MIN_KEPT_WORDS:
            continue
        seen.add(digest)
        path = target / f"article_{len(paths):05d}.txt"
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


# --- one run, in its own process -------------------------------------------------------------


def run_pile(directory: Path) -> dict[str, object]:
    """Brief every article under ``directory`` as one pile; return CPU seconds per stage."""
    import briefer.pipeline as pipeline
    from briefer.engines.extractive.engine import ExtractiveEngine
    from briefer.ingest.sources import read_sources
    from briefer.models import BriefOptions
    from briefer.render import render_markdown

    pipeline.stage_clock = time.process_time  # the stage timings become CPU seconds
    stages: dict[str, float] = {}
    clock = time.process_time()
    sources = read_sources([str(directory)])
    stages["read_sources"] = time.process_time() - clock
    briefing = pipeline.build_briefing(sources, ExtractiveEngine(), BriefOptions())
    stages.update(briefing.provenance.timings)
    clock = time.process_time()
    page = render_markdown(briefing)
    stages["render"] = time.process_time() - clock
    if not page.strip():
        raise RuntimeError("the pile rendered an empty page")
    return {
        "stages": stages,
        "sources": len(sources),
        "near_duplicates": sum(1 for s in sources if s.duplicate_of),
        "bullets": len(briefing.bullets),
        "words": sum(len(b.text.split()) for b in briefing.bullets),
    }


@dataclass
class Run:
    """What one run measured: CPU per stage, the process's CPU and peak RSS, and counts."""

    stages: dict[str, float]
    process_cpu_s: float
    peak_rss_bytes: int
    counts: dict[str, int]


def run_isolated(directory: Path) -> Run:
    """Run one pile in a fresh interpreter; its CPU and peak RSS come from ``os.wait4``."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as out:
        report = Path(out.name)
    try:
        child = subprocess.Popen(
            [sys.executable, __file__, "--worker", str(directory), "--report", str(report)]
        )
        _, status, usage = os.wait4(child.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"the run on {directory} failed")
        result = json.loads(report.read_text(encoding="utf-8"))
    finally:
        report.unlink(missing_ok=True)
    return Run(
        stages=result.pop("stages"),
        process_cpu_s=usage.ru_utime + usage.ru_stime,
        peak_rss_bytes=usage.ru_maxrss * 1024,
        counts=result,
    )


def _median_run(runs: Sequence[Run]) -> Run:
    stages = list(dict.fromkeys(s for r in runs for s in r.stages))
    return Run(
        stages={s: statistics.median(r.stages.get(s, 0.0) for r in runs) for s in stages},
        process_cpu_s=statistics.median(r.process_cpu_s for r in runs),
        peak_rss_bytes=int(statistics.median(r.peak_rss_bytes for r in runs)),
        counts=runs[0].counts,
    )


def format_table(sizes: Sequence[int], medians: Sequence[Run], runs: Sequence[int]) -> str:
    """Return the per-stage table: one column per pile size."""
    stages = list(dict.fromkeys(s for r in medians for s in r.stages))
    rows: list[tuple[str, ...]] = [
        ("stage (CPU s, median)", *(f"{n:,} ({k} runs)" for n, k in zip(sizes, runs, strict=True)))
    ]
    rows += [(s, *(f"{r.stages.get(s, 0.0):.2f}" for r in medians)) for s in stages]
    rows.append(("stages total", *(f"{sum(r.stages.values()):.2f}" for r in medians)))
    rows.append(("process CPU incl. imports", *(f"{r.process_cpu_s:.2f}" for r in medians)))
    rows.append(
        (
            "CPU per 1,000 articles",
            *(f"{r.process_cpu_s * 1000 / n:.2f}" for n, r in zip(sizes, medians, strict=True)),
        )
    )
    rows.append(("peak RSS (MiB)", *(f"{r.peak_rss_bytes / (1 << 20):,.0f}" for r in medians)))
    rows.append(
        (
            "sources (near-dups)",
            *(f"{r.counts['sources']} ({r.counts['near_duplicates']})" for r in medians),
        )
    )
    rows.append(
        ("bullets / words", *(f"{r.counts['bullets']} / {r.counts['words']}" for r in medians))
    )
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


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    shared = REPO_ROOT.parent / "shared"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 3000, 10000])
    parser.add_argument("--runs", type=int, default=3, help="runs per size (median shown)")
    parser.add_argument(
        "--runs-largest", type=int, default=None, help="runs for the largest size (default --runs)"
    )
    parser.add_argument("--eval-dir", type=Path, default=shared / "eval-dev")
    parser.add_argument("--seeds-dir", type=Path, default=shared / "seeds")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated articles")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--report", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Generate the piles, run each size, print the table; return the exit code."""
    args = _parse_args(argv)
    if args.worker is not None:
        result = run_pile(args.worker)
        args.report.write_text(json.dumps(result), encoding="utf-8")
        return 0
    sizes = sorted(args.sizes)
    stories = load_stories(args.seeds_dir, args.eval_dir)
    runs_per_size = [args.runs] * len(sizes)
    if args.runs_largest is not None:
        runs_per_size[-1] = args.runs_largest
    medians: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="briefer-bench-") as tmp:
        for size, runs in zip(sizes, runs_per_size, strict=True):
            directory = Path(tmp) / str(size)
            directory.mkdir()
            paths = generate_articles(stories, size, directory, seed=args.seed)
            megabytes = sum(p.stat().st_size for p in paths) / 1e6
            print(f"generated {size:,} articles ({megabytes:.1f} MB)", file=sys.stderr)
            medians.append(_median_run([run_isolated(directory) for _ in range(runs)]))
    print(f"command: {shlex.join(sys.orig_argv)}")
    print(
        f"pool: {len(stories)} stories; {multiprocessing.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
    print()
    print(format_table(sizes, medians, runs_per_size))
    largest = medians[-1]
    ok = largest.process_cpu_s <= CPU_TARGET_S and largest.peak_rss_bytes < MEMORY_TARGET_BYTES
    print()
    print(
        f"{sizes[-1]:,} articles: {'PASS' if ok else 'FAIL'} ({largest.process_cpu_s:.1f} s CPU "
        f"of {CPU_TARGET_S:.0f} s, {largest.peak_rss_bytes / (1 << 20):,.0f} MiB of 1,024 MiB)"
    )
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    raise SystemExit(main())
