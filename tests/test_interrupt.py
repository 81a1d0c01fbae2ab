"""Ctrl-C during a model run: the calls in flight are cut off, not waited for.

``briefer brief`` runs as a real subprocess against the fake server (scripted replies, test
data): the first map call answers at once, every later one waits a minute before its first
byte, as a slow local server reading a long prompt does. SIGINT must end the run within a
few seconds, with exit 130, one line saying what was kept, and no traceback.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from conftest import TEST_KEY
from fake_openai import FakeOpenAI, Reply, echo_model

ARTICLES = Path(__file__).parents[1] / "examples" / "istanbul-talks" / "articles"
SLOW_REPLY_SECONDS = 60.0


def _first_fast_then_slow(fake: FakeOpenAI) -> None:
    answered = 0

    def respond(request: dict[str, Any]) -> Reply:
        nonlocal answered
        answered += 1
        reply = echo_model(request)
        if answered > 1:
            reply.delay = SLOW_REPLY_SECONDS
        return reply

    fake.responder = respond


def _wait_for(condition: Any, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the run never got there"
        time.sleep(0.05)


def _reads_stdin(pid: int) -> bool:
    """True once ``pid`` is blocked reading its stdin (Linux: read(0, ...) in /proc)."""
    syscall = Path(f"/proc/{pid}/syscall")
    if not syscall.exists():  # not Linux: give it time to import and start reading
        time.sleep(5)
        return True
    try:
        return syscall.read_text().startswith("0 0x0 ")
    except OSError:
        return False


def test_ctrl_c_cancels_calls_in_flight_and_keeps_the_cache(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    _first_fast_then_slow(fake_openai)
    cache = tmp_path / "cache"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BRIEFER_", "OPENAI_"))}
    env |= {"OPENAI_API_KEY": TEST_KEY, "BRIEFER_CACHE_DIR": str(cache)}
    command = [sys.executable, "-m", "briefer", "brief", str(ARTICLES), "--model", "gpt-4o-mini"]
    # A small window: several map calls, two at a time, so one is in flight when SIGINT comes.
    command += ["--base-url", fake_openai.url, "--context-window", "3000", "--concurrency", "2"]
    run = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        # Wait until the first reply is cached and a slow call is in flight.
        _wait_for(lambda: len(fake_openai.requests) >= 3, 60)
        _wait_for(lambda: any(p.is_file() for p in cache.rglob("*")), 30)
        time.sleep(0.5)
        sent = time.monotonic()
        run.send_signal(signal.SIGINT)
        stdout, stderr = run.communicate(timeout=SLOW_REPLY_SECONDS)
        took = time.monotonic() - sent
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode == 130, stderr
    assert took < 5, f"took {took:.1f} s to stop: the calls in flight were waited for"
    assert "Traceback" not in stderr
    assert stdout == ""
    last = stderr.strip().splitlines()[-1]
    assert last == "briefer: interrupted; 1 finished call(s) were cached", stderr
    # What finished stays cached: exactly the one fast reply.
    assert len([p for p in cache.rglob("*") if p.is_file()]) == 1


def test_ctrl_c_before_any_model_call_is_one_line_too(tmp_path: Path) -> None:
    """Reading stdin that never ends (no model involved): exit 130, one line, no traceback."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BRIEFER_", "OPENAI_"))}
    command = [sys.executable, "-m", "briefer", "brief", "-"]
    run = subprocess.Popen(
        command,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for(lambda: _reads_stdin(run.pid), 60)
        run.send_signal(signal.SIGINT)
        _, stderr = run.communicate(timeout=30)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == "briefer: interrupted"
