"""Peak memory and CPU time of ``briefer brief`` on one big generated text file (issue 10).

The file is generated in a temporary directory (never in the repository): paragraphs of two
to five sentences drawn at random from the seed articles and the eval-dev documents, so
that no two paragraphs are the same (a file of one article repeated would be mostly dropped
as repeated page furniture and measure little). The run is ``briefer brief FILE`` as a user
types it, in a child process; its peak resident memory and CPU seconds are read from
``resource.getrusage(RUSAGE_CHILDREN)`` once it ends. ``--stages`` runs a second child that
prints the peak after reading and after building the briefing, to show where memory goes;
``--ingest-only`` runs only that child's reading stage (``read_sources``: decoding, HTML
extraction, cleaning, near-duplicate shingles), which takes seconds where the whole run on
50 MB takes many CPU minutes.

Usage (from the repository root)::

    python bench/bench_big_file.py                 # 50 MB
    python bench/bench_big_file.py --megabytes 5 --stages
    python bench/bench_big_file.py --ingest-only     # 50 MB, reading stage only
    python bench/bench_big_file.py --repo ../other-checkout   # the same file, other code
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'\u201c(A-Z])")
_MEGABYTE = 1_000_000

_STAGES_CHILD = """
import resource, sys, time
from briefer.engines.extractive.engine import ExtractiveEngine
from briefer.ingest.sources import read_sources
from briefer.models import BriefOptions
from briefer.pipeline import build_briefing
from briefer.render import render_markdown

def mark(stage):
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{stage:<26} peak {peak:7.0f} MiB  CPU {time.process_time():6.1f} s", flush=True)

mark("imports")
try:
    sources = read_sources([sys.argv[1]], max_file_bytes=int(sys.argv[2]))
except TypeError:  # a checkout from before the size limit
    sources = read_sources([sys.argv[1]])
mark("read_sources")
if sys.argv[3] == "ingest":
    raise SystemExit(0)
briefing = build_briefing(sources, ExtractiveEngine(), BriefOptions())
mark("build_briefing")
render_markdown(briefing)
mark("render")
"""


def sentence_pool(seeds_dir: Path, eval_dir: Path) -> list[str]:
    """Return the distinct sentences of the seeds and the eval-dev documents."""
    texts = [p.read_text(encoding="utf-8") for p in sorted(seeds_dir.glob("*.txt"))]
    for name in ("dev.jsonl", "dev-2doc.jsonl"):
        with (eval_dir / "mds" / name).open(encoding="utf-8") as lines:
            texts += [doc["text"] for line in lines for doc in json.loads(line)["docs"]]
    for name in ("dev.jsonl", "train.jsonl"):
        path = eval_dir / "faithfulness" / name
        if path.exists():
            with path.open(encoding="utf-8") as lines:
                texts += list(dict.fromkeys(json.loads(line)["source"] for line in lines))
    sentences = (s.strip() for t in texts for s in _SENTENCE_END.split(" ".join(t.split())))
    return sorted({s for s in sentences if 40 <= len(s) <= 400 and s[-1] in ".!?\"'"})


def generate_file(pool: list[str], megabytes: float, path: Path, seed: int = 0) -> int:
    """Write about ``megabytes`` MB of paragraphs to ``path``; return its size in bytes."""
    rng = random.Random(seed)
    target = int(megabytes * _MEGABYTE)
    size = 0
    with path.open("w", encoding="utf-8") as out:
        out.write("A long report assembled from many news paragraphs\n\n")
        while size < target:
            paragraph = " ".join(rng.sample(pool, rng.randint(2, 5))) + "\n\n"
            out.write(paragraph)
            size += len(paragraph.encode("utf-8"))
    return path.stat().st_size


def run_brief(path: Path, repo: Path, max_bytes: int) -> tuple[int, float, float, str]:
    """Run ``briefer brief path`` from ``repo``; return (exit code, peak MiB, CPU s, stderr)."""
    env = {**os.environ, "PYTHONPATH": str(repo), "OPENAI_API_KEY": ""}
    # cwd=repo: ``python -m`` and ``-c`` put the working directory first on sys.path.
    help_text = subprocess.run(
        [sys.executable, "-m", "briefer", "brief", "--help"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    command = [sys.executable, "-m", "briefer", "brief", str(path)]
    if "--max-file-size" in help_text:
        command += ["--max-file-size", f"{max_bytes / _MEGABYTE:g}"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        command,
        cwd=repo,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return done.returncode, after.ru_maxrss / 1024, cpu, done.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--megabytes", type=float, default=50.0)
    parser.add_argument("--repo", type=Path, default=REPO_ROOT, help="checkout to run")
    parser.add_argument("--seeds-dir", type=Path, default=REPO_ROOT.parent / "shared" / "seeds")
    parser.add_argument("--eval-dir", type=Path, default=REPO_ROOT.parent / "shared" / "eval-dev")
    parser.add_argument("--stages", action="store_true", help="also show the peak per stage")
    parser.add_argument("--ingest-only", action="store_true", help="measure read_sources only")
    args = parser.parse_args()

    pool = sentence_pool(args.seeds_dir, args.eval_dir)
    with tempfile.TemporaryDirectory(prefix="briefer-big-") as scratch:
        path = Path(scratch) / "big.txt"
        size = generate_file(pool, args.megabytes, path)
        limit = size + _MEGABYTE
        print(f"file: {size / _MEGABYTE:.1f} MB of paragraphs from {len(pool):,} sentences")
        if not args.ingest_only:
            started = time.perf_counter()
            code, peak, cpu, stderr = run_brief(path, args.repo.resolve(), limit)
            wall = time.perf_counter() - started
            print(f"briefer brief (code in {args.repo}): exit {code}")
            print(f"peak memory (RSS): {peak:,.0f} MiB = {peak * 1024 * 1024 / size:.1f}x the file")
            print(f"CPU: {cpu:.1f} s (wall {wall:.1f} s on a shared machine)")
            if code != 0:
                print(stderr.strip().splitlines()[-1] if stderr.strip() else "(no stderr)")
        if args.stages or args.ingest_only:
            print(f"stages (code in {args.repo}):", flush=True)
            env = {**os.environ, "PYTHONPATH": str(args.repo.resolve())}
            stage = "ingest" if args.ingest_only else "all"
            subprocess.run(
                [sys.executable, "-c", _STAGES_CHILD, str(path), str(limit), stage],
                cwd=args.repo.resolve(),
                env=env,
                check=False,
            )


if __name__ == "__main__":
    main()
