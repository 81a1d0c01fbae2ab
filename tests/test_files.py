"""Files in hostile surroundings: what briefer writes (-o, --record) and what it reads.

Writes: never over an input or an existing file unasked (whatever set the path), only regular
files, checked before any work, atomic against a second run, the old file's permissions kept,
and a failed write is one line with nothing left behind. Reads: only regular files (a FIFO
never hangs, /dev/zero is never read), under a size limit that names itself.
"""

from __future__ import annotations

import errno
import os
import resource
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import TEST_KEY
from fake_openai import FakeOpenAI, Reply, echo_model
from typer.testing import CliRunner

import briefer.ingest.duplicates as duplicates_module
import briefer.ingest.sources as sources_module
import briefer.output as output_module
from briefer.cli import app
from briefer.errors import OutputError, SourceError
from briefer.ingest.reading import read_regular_file
from briefer.ingest.sources import read_sources
from briefer.output import check_target, write_file

ARTICLES = Path(__file__).parents[1] / "examples" / "istanbul-talks" / "articles"
STORY = ARTICLES / "003_5beee2cfb4e9681c.txt"
runner = CliRunner()
needs_posix_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")


def _run(*args: str, env: dict[str, str] | None = None, stdin: str | None = None):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args), input=stdin, env={"OPENAI_API_KEY": "", **(env or {})})


def _briefer(
    *args: str, timeout: float = 120, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a child process (for pipes, devices and hangs)."""
    env = {**os.environ, "OPENAI_API_KEY": "", "BRIEFER_CACHE_DIR": os.devnull}
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-m", "briefer", *args],
        env=env,
        text=True,
        timeout=timeout,
        check=False,
        **{"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **kwargs},
    )


def _one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, stderr
    return errors[0]


def _llm_env(tmp_path: Path) -> dict[str, str]:
    return {
        "OPENAI_API_KEY": TEST_KEY,
        "BRIEFER_CACHE_DIR": str(tmp_path / "cache"),
        "BRIEFER_RETRY_WAIT": "0",
        "BRIEFER_MAX_RETRIES": "0",
    }


# --- 5. --record has the guards of -o ---------------------------------------------------------


def test_record_never_overwrites_an_input_even_with_force(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.responder = echo_model
    article = tmp_path / "story.txt"
    article.write_bytes(STORY.read_bytes())
    args = ["brief", str(article), "--base-url", fake_openai.url, "--record", str(article)]
    result = runner.invoke(app, [*args, "--force", "--no-cache"], env=_llm_env(tmp_path))
    assert result.exit_code == 1
    assert "is one of the input files" in _one_error_line(result.stderr)
    assert article.read_bytes() == STORY.read_bytes()
    assert fake_openai.requests == []


def test_record_inside_an_input_directory_is_refused(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.responder = echo_model
    folder = tmp_path / "news"
    folder.mkdir()
    (folder / "story.txt").write_bytes(STORY.read_bytes())
    args = ["brief", str(folder), "--base-url", fake_openai.url]
    result = runner.invoke(
        app,
        [*args, "--record", str(folder / "story.txt"), "--force", "--no-cache"],
        env=_llm_env(tmp_path),
    )
    assert result.exit_code == 1
    assert "is one of the input files" in result.stderr
    assert (folder / "story.txt").read_bytes() == STORY.read_bytes()
    assert fake_openai.requests == []


def test_record_from_the_environment_never_overwrites_unasked(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.responder = echo_model
    cassette = tmp_path / "mine.jsonl"
    cassette.write_text("my notes\n", encoding="utf-8")
    env = {**_llm_env(tmp_path), "BRIEFER_RECORD": str(cassette)}
    result = runner.invoke(app, ["brief", str(STORY), "--base-url", fake_openai.url], env=env)
    assert result.exit_code == 1
    assert "already exists" in result.stderr and "--force" in result.stderr
    assert cassette.read_text(encoding="utf-8") == "my notes\n"
    assert fake_openai.requests == []


def test_record_to_a_device_is_refused(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    fake_openai.responder = echo_model
    args = ["brief", str(STORY), "--base-url", fake_openai.url, "--record", os.devnull]
    result = runner.invoke(app, [*args, "--force"], env=_llm_env(tmp_path))
    assert result.exit_code == 1
    assert f"{os.devnull}: is a character device" in _one_error_line(result.stderr)
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


def test_a_failed_run_leaves_no_empty_recording_behind(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.script(Reply.fail(401, "invalid api key"))
    cassette = tmp_path / "run.jsonl"
    args = ["brief", str(STORY), "--base-url", fake_openai.url, "--record", str(cassette)]
    result = runner.invoke(app, [*args, "--no-cache"], env=_llm_env(tmp_path))
    assert result.exit_code == 1
    assert not cassette.exists()


# --- 6. only regular files are written ----------------------------------------------------------


@needs_posix_fifo
def test_output_over_a_fifo_is_refused_even_with_force(tmp_path: Path) -> None:
    fifo = tmp_path / "brief.md"
    os.mkfifo(fifo)
    result = _run("brief", str(STORY), "-o", str(fifo), "--force")
    assert result.exit_code == 1
    line = _one_error_line(result.stderr)
    assert f"{fifo}: is a named pipe (FIFO); briefer writes only regular files" in line
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_output_over_a_device_node_is_refused_even_with_force(tmp_path: Path) -> None:
    device = tmp_path / "null"
    try:  # a private copy of /dev/null: replacing it would harm nothing else
        os.mknod(device, stat.S_IFCHR | 0o666, os.stat(os.devnull).st_rdev)
    except (PermissionError, AttributeError):
        pytest.skip("cannot create a device node here (not root)")
    result = _run("brief", str(STORY), "-o", str(device), "--force")
    assert result.exit_code == 1
    assert f"{device}: is a character device" in _one_error_line(result.stderr)
    assert stat.S_ISCHR(os.lstat(device).st_mode)


def test_dash_output_is_stdout() -> None:
    result = _run("brief", str(STORY), "-o", "-", "--length", "short")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("# ")
    assert not Path("-").exists()


# --- 7. checked before any work; atomic; permissions kept ---------------------------------------


def _forbid_work(monkeypatch: pytest.MonkeyPatch, *, reading: bool) -> None:
    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("work started although the output was refused")

    if not reading:
        monkeypatch.setattr(sources_module, "read_sources", refuse)
    monkeypatch.setattr("briefer.pipeline.build_briefing", refuse)


def test_an_existing_output_is_refused_before_anything_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "brief.md"
    target.write_text("mine", encoding="utf-8")
    _forbid_work(monkeypatch, reading=False)
    result = _run("brief", str(STORY), "-o", str(target))
    assert result.exit_code == 1
    assert "already exists" in _one_error_line(result.stderr)


def test_an_input_as_output_is_refused_before_the_pipeline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "news"
    folder.mkdir()
    article = folder / "story.txt"
    article.write_bytes(STORY.read_bytes())
    _forbid_work(monkeypatch, reading=False)
    named = _run("brief", str(article), "-o", str(article), "--force")
    assert named.exit_code == 1 and "is one of the input files" in named.stderr
    monkeypatch.undo()
    _forbid_work(monkeypatch, reading=True)  # a file inside a directory needs the walk
    found = _run("brief", str(folder), "-o", str(article), "--force")
    assert found.exit_code == 1 and "is one of the input files" in found.stderr
    assert article.read_bytes() == STORY.read_bytes()


def test_a_file_that_appears_during_the_run_is_not_overwritten(tmp_path: Path) -> None:
    target = tmp_path / "brief.md"
    check_target(target, [], force=False)  # nothing there when the run starts...
    target.write_text("another run's briefing", encoding="utf-8")  # ...then a second run lands
    with pytest.raises(OutputError, match="already exists"):
        write_file("ours", target, replace=False)
    assert target.read_text(encoding="utf-8") == "another run's briefing"
    assert [p.name for p in tmp_path.iterdir()] == ["brief.md"]


def test_concurrent_writers_without_force_exactly_one_wins(tmp_path: Path) -> None:
    for attempt in range(10):
        target = tmp_path / f"brief{attempt}.md"
        start = threading.Barrier(8)
        won: list[str] = []

        def write(
            name: str,
            target: Path = target,
            start: threading.Barrier = start,
            won: list[str] = won,
        ) -> None:
            start.wait()
            try:
                write_file(name, target, replace=False)
                won.append(name)
            except OutputError:
                pass

        threads = [threading.Thread(target=write, args=(f"run {i}",)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(won) == 1
        assert target.read_text(encoding="utf-8") == won[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"brief{i}.md" for i in range(10)]


def test_force_keeps_the_permissions_and_new_files_follow_the_umask(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)
    try:
        fresh = tmp_path / "new.md"
        assert _run("brief", str(STORY), "-o", str(fresh), "--length", "short").exit_code == 0
        assert stat.S_IMODE(fresh.stat().st_mode) == 0o644
        shared = tmp_path / "shared.md"
        shared.write_text("old", encoding="utf-8")
        shared.chmod(0o664)
        result = _run("brief", str(STORY), "-o", str(shared), "--force", "--length", "short")
        assert result.exit_code == 0, result.stderr
        assert stat.S_IMODE(shared.stat().st_mode) == 0o664
        assert shared.read_text(encoding="utf-8").startswith("# ")
    finally:
        os.umask(old_umask)


def test_force_writes_through_a_symlink_to_the_file_it_names(tmp_path: Path) -> None:
    real = tmp_path / "real.md"
    real.write_text("old", encoding="utf-8")
    link = tmp_path / "link.md"
    link.symlink_to(real)
    result = _run("brief", str(STORY), "-o", str(link), "--force", "--length", "short")
    assert result.exit_code == 0, result.stderr
    assert link.is_symlink() and real.read_text(encoding="utf-8").startswith("# ")


# --- 8. write errors: one line, non-zero exit, nothing half-written -----------------------------


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full here")
def test_stdout_on_a_full_disk_is_one_line() -> None:
    with open("/dev/full", "w", encoding="utf-8") as full:
        result = _briefer("brief", str(STORY), "--length", "short", stdout=full)
    assert result.returncode == 1
    line = _one_error_line(result.stderr)
    assert line == "Error: stdout: cannot write (No space left on device)"


def _closed_pipe_run(*args: str) -> subprocess.CompletedProcess[str]:
    reader, writer = os.pipe()
    os.close(reader)  # like `briefer brief x | head -0`, but never racing head's exit
    try:
        return _briefer(*args, stdout=writer)
    finally:
        os.close(writer)


def test_stdout_into_a_closed_pipe_is_one_line() -> None:
    result = _closed_pipe_run("brief", str(STORY), "--length", "short")
    assert result.returncode == 1
    assert "closed the pipe" in _one_error_line(result.stderr)


def test_dev_stdout_into_a_closed_pipe_is_one_line() -> None:
    result = _closed_pipe_run("brief", str(STORY), "-o", "/dev/stdout", "--force")
    assert result.returncode == 1
    line = _one_error_line(result.stderr)
    assert "/dev/stdout: is a named pipe (FIFO); briefer writes only regular files" in line
    assert "use -o - for stdout" in line


def test_a_full_disk_leaves_the_old_file_and_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "brief.md"
    target.write_text("the previous briefing", encoding="utf-8")
    real_write = os.write

    def write_then_fill(fd: int, data: bytes) -> int:
        real_write(fd, bytes(data)[:10])  # a partial write, then the disk is full
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(output_module.os, "write", write_then_fill)
    result = _run("brief", str(STORY), "-o", str(target), "--force", "--length", "short")
    assert result.exit_code == 1
    assert _one_error_line(result.stderr) == (
        f"Error: {target}: cannot write (No space left on device)"
    )
    assert target.read_text(encoding="utf-8") == "the previous briefing"
    assert [p.name for p in tmp_path.iterdir()] == ["brief.md"]


def test_an_unwritable_directory_is_one_line_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    if os.access(locked, os.W_OK):  # root writes anywhere: make the OS say no all the same
        real_mkstemp = output_module.tempfile.mkstemp

        def denied(*args: object, **kwargs: object) -> tuple[int, str]:
            if Path(str(kwargs.get("dir"))) == locked:
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
            return real_mkstemp(*args, **kwargs)  # type: ignore[call-overload, no-any-return]

        monkeypatch.setattr(output_module.tempfile, "mkstemp", denied)
    try:
        result = _run("brief", str(STORY), "-o", str(locked / "brief.md"))
        assert result.exit_code == 1
        line = _one_error_line(result.stderr)
        assert line == f"Error: {locked / 'brief.md'}: cannot write (Permission denied)"
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)


# --- 9. only regular files are read, under a size limit -----------------------------------------


@needs_posix_fifo
def test_a_fifo_named_txt_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "story.txt"
    os.mkfifo(fifo)
    result = _briefer("brief", str(fifo), timeout=60)  # before the fix: blocked forever
    assert result.returncode == 1
    assert _one_error_line(result.stderr) == (
        f"Error: {fifo}: is a named pipe (FIFO), not a regular file; "
        "briefer reads only regular files"
    )


@needs_posix_fifo
def test_verify_refuses_a_fifo_as_briefing_or_source(tmp_path: Path) -> None:
    made = _run("brief", str(STORY), "--format", "json", "--length", "short")
    briefing = tmp_path / "brief.json"
    briefing.write_text(made.stdout, encoding="utf-8")
    fifo = tmp_path / "story.txt"
    os.mkfifo(fifo)
    as_source = _briefer("verify", str(briefing), str(fifo), timeout=60)
    assert as_source.returncode == 1
    assert "is a named pipe (FIFO)" in _one_error_line(as_source.stderr)
    fifo_json = tmp_path / "other.json"
    os.mkfifo(fifo_json)
    as_briefing = _briefer("verify", str(fifo_json), timeout=60)
    assert as_briefing.returncode == 1
    assert "is a named pipe (FIFO)" in _one_error_line(as_briefing.stderr)


def _at_most_4_gib() -> None:
    """Cap the child's address space: a regression then fails the test, not the machine."""
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero here")
def test_a_txt_symlink_to_dev_zero_is_refused(tmp_path: Path) -> None:
    link = tmp_path / "story.txt"
    link.symlink_to("/dev/zero")
    result = _briefer("brief", str(link), timeout=60, preexec_fn=_at_most_4_gib)
    assert result.returncode == 1
    assert "is a character device" in _one_error_line(result.stderr)


def test_a_symlink_to_a_regular_file_is_read(tmp_path: Path) -> None:
    link = tmp_path / "story.txt"
    link.symlink_to(STORY)
    assert read_sources([str(link)])[0].text


def test_a_file_over_the_limit_names_the_limit_and_how_to_raise_it(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_bytes(STORY.read_bytes() * 10)  # 48,730 bytes
    result = _run("brief", str(big), "--max-file-size", "0.02")
    assert result.exit_code == 1
    assert _one_error_line(result.stderr) == (
        f"Error: {big}: 48,730 bytes is over the 0.02 MB limit per file; "
        "raise it with --max-file-size (or BRIEFER_MAX_FILE_SIZE)"
    )
    assert _run("brief", str(big), "--max-file-size", "0.1").exit_code == 0
    from_env = _run("brief", str(big), env={"BRIEFER_MAX_FILE_SIZE": "0.02"})
    assert from_env.exit_code == 1 and "over the 0.02 MB limit" in from_env.stderr


def test_the_default_limit_is_20_mb(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    with big.open("wb") as handle:
        handle.truncate(20_000_001)  # sparse: takes no disk
    with pytest.raises(SourceError, match=r"20\.0 MB is over the 20 MB limit per file"):
        read_regular_file(big, str(big), 20_000_000)
    with pytest.raises(SourceError, match="over the 20 MB limit"):
        read_sources([str(big)])


def test_stdin_over_the_limit_is_refused() -> None:
    result = _run("brief", "-", "--max-file-size", "0.001", stdin="word " * 1000)
    assert result.exit_code == 1
    assert "<stdin>: more than 0.001 MB is over the 0.001 MB limit" in result.stderr


@needs_posix_fifo
def test_a_directory_walk_skips_special_files_and_symlink_loops(tmp_path: Path) -> None:
    folder = tmp_path / "news"
    (folder / "sub").mkdir(parents=True)
    (folder / "story.txt").write_bytes(STORY.read_bytes())
    os.mkfifo(folder / "pipe.txt")
    (folder / "sub" / "loop").symlink_to(folder)
    if Path("/dev/zero").exists():
        (folder / "zero.txt").symlink_to("/dev/zero")
    result = _briefer("brief", str(folder), "--length", "short", timeout=120)
    assert result.returncode == 0, result.stderr
    assert [s.origin for s in read_sources([str(folder)])] == [str(folder / "story.txt")]


def test_shingles_read_a_stretch_at_a_time_and_match_the_whole_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import numpy as np

    sources = read_sources([str(ARTICLES)])

    def whole_text_shingles(source: object) -> list[int]:
        kept = " ".join(source.text[b.start : b.end] for b in source.blocks)  # type: ignore[attr-defined]
        words = duplicates_module._WORD.findall(kept.lower())
        assert len(words) >= 5
        return sorted(set(duplicates_module._hashed_shingles(np, words).tolist()))

    for stretch in (1, 7, 50_000):
        monkeypatch.setattr(duplicates_module, "_SHINGLE_STRETCH", stretch)
        for source in sources:
            codes = duplicates_module.shingle_codes(source).tolist()
            assert codes == whole_text_shingles(source)
