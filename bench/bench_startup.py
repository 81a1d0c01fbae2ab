"""Measure briefer's start-up: CPU seconds and peak memory of short commands (issue 9).

Each command runs ``--runs`` times (default 3) as a fresh subprocess; the script prints the
median CPU seconds (the child's user + system time, read with ``os.wait4`` as
``resource.getrusage`` reports it) with the fastest and slowest run, and the median peak RSS
(``ru_maxrss`` of that child), with the targets. The load average before and after is printed
too: on a shared machine other jobs inflate CPU seconds as well as wall time.

Before measuring, each command runs once untimed with bytecode writing allowed, so the measured
runs load compiled modules as an installed briefer does (pip compiles them at install). Without
it, an editable install under ``PYTHONDONTWRITEBYTECODE`` compiles briefer's sources on every
run, about 0.1 s more.

Usage (from the repository root)::

    python bench/bench_startup.py
    python bench/bench_startup.py --runs 5
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = "examples/istanbul-talks/articles"


@dataclass(frozen=True)
class Command:
    """A command to measure and its CPU target in seconds."""

    label: str
    argv: tuple[str, ...]
    target_cpu_s: float


def _briefer() -> list[str]:
    """Return how to start the installed ``briefer`` (its console script, else ``-m``)."""
    script = shutil.which("briefer", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "briefer"]


def commands() -> list[Command]:
    """Return the commands whose start-up issue 9 sets targets for."""
    briefer = _briefer()
    return [
        Command(f"briefer brief {EXAMPLE}", (*briefer, "brief", EXAMPLE), 1.0),
        Command("briefer --help", (*briefer, "--help"), 0.35),
    ]


def run_once(argv: Sequence[str], *, write_bytecode: bool = False) -> tuple[float, int]:
    """Run ``argv`` once with no API key; return (CPU seconds, peak RSS bytes) of that child."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "BRIEFER_"))}
    if write_bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    process = subprocess.Popen(
        list(argv), cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    assert process.stderr is not None
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{shlex.join(argv)} exited {process.returncode}: {stderr.decode()}")
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024


def main(argv: Sequence[str] | None = None) -> int:
    """Measure every command and print the table; return 1 with --strict if a target fails."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3, help="runs per command (median shown)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    args = parser.parse_args(argv)
    print(f"command: {shlex.join(sys.orig_argv)}")
    print(f"median of {args.runs} runs, each a fresh process; CPU = user + system")
    print(f"load average before: {_load()} ({os.cpu_count()} CPUs)")
    print()
    failed = False
    rows = [("command", "CPU", "fastest-slowest", "target", "peak RSS", "")]
    for command in commands():
        run_once(command.argv, write_bytecode=True)  # compiles what is not compiled yet
        runs = [run_once(command.argv) for _ in range(args.runs)]
        cpu = statistics.median(r[0] for r in runs)
        rss = statistics.median(r[1] for r in runs)
        ok = cpu <= command.target_cpu_s
        failed |= not ok
        rows.append(
            (
                command.label,
                f"{cpu:.2f} s",
                f"{min(r[0] for r in runs):.2f}-{max(r[0] for r in runs):.2f} s",
                f"<= {command.target_cpu_s:.2f} s",
                f"{rss / (1 << 20):.0f} MiB",
                "PASS" if ok else "FAIL",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        cells = zip(row, widths, strict=True)
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(cells)))
        if n == 0:
            print("  ".join("-" * w for w in widths))
    print()
    print(f"load average after: {_load()}")
    return 1 if args.strict and failed else 0


def _load() -> str:
    """Return the 1, 5 and 15 minute load averages, as ``uptime`` shows them."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    raise SystemExit(main())
