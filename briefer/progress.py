"""Progress of an LLM run on stderr: a live display on a terminal, plain lines otherwise.

The engine says how many calls a stage expects (``expect``); the client reports each
finished call (``call_done``) with its label, whose first word names the stage (``map
S1.C2``, ``repair ...``, ``reduce level 1 part 2``, ``brief``, ``verify ...``). Nothing is
ever written to stdout, which carries the briefing.
"""

from __future__ import annotations

import threading
import time
from typing import IO, Protocol


class ProgressSink(Protocol):
    """Where the engine and client report what they are doing."""

    def expect(self, stage: str, calls: int) -> None:
        """``calls`` more calls of ``stage`` are planned (and the stage has started)."""

    def call_done(self, label: str, tokens: int) -> None:
        """A call labelled ``label`` finished, using ``tokens`` tokens (prompt + reply)."""


class NoProgress:
    """Reports nothing (library use, tests, the extractive engine)."""

    def expect(self, stage: str, calls: int) -> None:
        """Ignore the plan."""

    def call_done(self, label: str, tokens: int) -> None:
        """Ignore the call."""


def stage_of(label: str) -> str:
    """Return the stage a call label belongs to: its first word."""
    return label.split(" ", 1)[0] if label else "call"


class _Counts:
    def __init__(self) -> None:
        self.expected = 0
        self.done = 0
        self.tokens = 0


class _Stages:
    """Per-stage counts shared by both displays; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.started = time.monotonic()
        self.stages: dict[str, _Counts] = {}

    def expect(self, stage: str, calls: int) -> _Counts:
        with self._lock:
            counts = self.stages.setdefault(stage, _Counts())
            counts.expected += calls
            return counts

    def done(self, label: str, tokens: int) -> tuple[str, _Counts]:
        stage = stage_of(label)
        with self._lock:
            counts = self.stages.setdefault(stage, _Counts())
            counts.done += 1
            counts.tokens += tokens
            counts.expected = max(counts.expected, counts.done)  # re-asks and split parts
            return stage, counts

    def elapsed(self) -> float:
        return time.monotonic() - self.started


def describe(stage: str, counts: _Counts, elapsed: float) -> str:
    """Return one progress line: ``map 3/7 calls, 12,345 tokens, 42 s``."""
    return (
        f"{stage} {counts.done}/{counts.expected} calls, {counts.tokens:,} tokens, {elapsed:.0f} s"
    )


class LineProgress:
    """Plain lines on a stream that is not a terminal: a stage's start and each call."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._stages = _Stages()
        self._lock = threading.Lock()

    def expect(self, stage: str, calls: int) -> None:
        """Write the stage's plan when it starts or grows."""
        counts = self._stages.expect(stage, calls)
        if counts.done == 0 and counts.expected == calls:  # the stage's first plan only
            self._write(f"briefer: {stage}: started ({calls} call{'s' if calls != 1 else ''})")

    def call_done(self, label: str, tokens: int) -> None:
        """Write the stage's counts after a call."""
        stage, counts = self._stages.done(label, tokens)
        self._write(f"briefer: {describe(stage, counts, self._stages.elapsed())}")

    def _write(self, line: str) -> None:
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()


class LiveProgress:
    """A rich live display on a terminal's stderr: one bar per stage, removed at the end."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TaskID,
            TextColumn,
            TimeElapsedColumn,
        )

        self._stages = _Stages()
        self._tasks: dict[str, TaskID] = {}
        self._lock = threading.Lock()
        self._display = Progress(
            TextColumn("{task.description:<8}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("calls, {task.fields[tokens]:,} tokens"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._display.start()

    def expect(self, stage: str, calls: int) -> None:
        """Show the stage's bar, or lengthen it."""
        counts = self._stages.expect(stage, calls)
        self._update(stage, counts)

    def call_done(self, label: str, tokens: int) -> None:
        """Advance the stage's bar."""
        stage, counts = self._stages.done(label, tokens)
        self._update(stage, counts)

    def close(self) -> None:
        """Remove the display (the usage line that follows says what the run cost)."""
        self._display.stop()

    def _update(self, stage: str, counts: _Counts) -> None:
        with self._lock:
            task = self._tasks.get(stage)
            if task is None:
                task = self._display.add_task(stage, total=counts.expected, tokens=0)
                self._tasks[stage] = task
            self._display.update(
                task, total=counts.expected, completed=counts.done, tokens=counts.tokens
            )
