"""URL arguments: fetched from a loopback HTTP server started here, never sent credentials."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import TEST_KEY
from typer.testing import CliRunner

from briefer.cli import app
from briefer.errors import SourceError
from briefer.ingest.reading import fetch_url
from briefer.ingest.sources import read_sources
from briefer.models import Briefing

ARTICLES = Path(__file__).parents[1] / "examples" / "istanbul-talks" / "articles"
STORY = (ARTICLES / "003_5beee2cfb4e9681c.txt").read_text(encoding="utf-8")
runner = CliRunner()
_RAISE = "--max-file-size (or BRIEFER_MAX_FILE_SIZE)"


def _html_page() -> bytes:
    title, *paragraphs = [p for p in STORY.split("\n\n") if p.strip()]
    body = "".join(f"<p>{p.strip()}</p>\n" for p in paragraphs)
    page = (
        "<!doctype html><html><head><title>Page title | Site</title></head><body>"
        "<nav><a href='/'>Home</a> <a href='/world'>World</a></nav>"
        f"<article><h1>{title.strip()}</h1>\n{body}</article>"
        "<footer>Copyright 2025 Site. All rights reserved.</footer></body></html>"
    )
    return page.encode("utf-8")


class _Site(BaseHTTPRequestHandler):
    """A small web site; every request's headers are kept for the credential checks."""

    seen_headers: list[dict[str, str]] = []  # noqa: RUF012 (the test reads it)

    def do_GET(self) -> None:
        type(self).seen_headers.append(dict(self.headers.items()))
        path = self.path.split("?")[0]
        if path == "/story.html":
            self._send(200, "text/html; charset=utf-8", _html_page())
        elif path == "/story.txt":
            self._send(200, "text/plain", STORY.encode("utf-8"))
        elif path == "/latin1.txt":
            self._send(
                200,
                "text/plain; charset=iso-8859-1",
                STORY.replace("the", "thé").encode("latin-1", "replace"),
            )
        elif path == "/photo.png":
            self._send(200, "image/png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
        elif path == "/big.txt":  # declares its size
            self._send(200, "text/plain", b"word " * 400_000)
        elif path == "/endless.txt":  # no Content-Length, never ends on its own
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            try:
                for _ in range(10_000):
                    self.wfile.write(b"word " * 10_000)
            except OSError:
                return
        elif path == "/slow.txt":
            time.sleep(3)
            self._send(200, "text/plain", STORY.encode("utf-8"))
        elif path == "/to-file":
            self.send_response(302)
            self.send_header("Location", "file:///etc/passwd")
            self.end_headers()
        elif path == "/moved":
            self.send_response(301)
            self.send_header("Location", "/story.html")
            self.end_headers()
        else:
            self._send(404, "text/html", b"<html><body>not here</body></html>")

    def _send(self, code: int, kind: str, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Set-Cookie", "session=abc")
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:
            return

    def log_message(self, *_: object) -> None:
        return


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    """Return the base URL of a loopback web site serving ``_Site``."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _run(*args: str, key: str = ""):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args), env={"OPENAI_API_KEY": key})


def test_a_url_is_fetched_and_briefed_like_a_file(site: str) -> None:
    url = f"{site}/story.html"
    result = _run("brief", url, "--format", "json", "--length", "short")
    assert result.exit_code == 0, result.stderr
    briefing = Briefing.model_validate_json(result.stdout)
    assert briefing.bullets
    (source,) = briefing.sources
    assert source.origin == url
    from_file = read_sources([str(ARTICLES / "003_5beee2cfb4e9681c.txt")])[0]
    fetched = read_sources([url])[0]
    # The same extraction as files: the story is kept, the menu and the footer are not.
    assert "Home" not in fetched.text and "All rights reserved" not in fetched.text
    assert from_file.text.split("\n\n")[1].strip() in fetched.text


def test_plain_text_and_redirects_are_followed(site: str) -> None:
    text, html = read_sources([f"{site}/story.txt", f"{site}/moved"])
    assert text.text.startswith(STORY.split("\n")[0])
    assert html.duplicate_of == text.id  # the same report, recognised across formats


def test_a_declared_charset_is_used(site: str) -> None:
    (source,) = read_sources([f"{site}/latin1.txt"])
    assert "thé" in source.text


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("/missing", "cannot fetch (HTTP 404 Not Found)"),
        ("/photo.png", "is not HTML or text (content type image/png)"),
        ("/big.txt", "2.0 MB is over the 1 MB limit per file; raise it with " + _RAISE),
        ("/endless.txt", "more than 1 MB is over the 1 MB limit per file; raise it with " + _RAISE),
        (
            "/to-file",
            "cannot fetch (HTTP 302 Found - "
            "Redirection to url 'file:///etc/passwd' is not allowed)",
        ),
    ],
)
def test_a_url_that_cannot_be_used_is_one_line_naming_it(
    site: str, path: str, problem: str
) -> None:
    url = f"{site}{path}"
    result = _run("brief", url, "--max-file-size", "1")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == f"Error: {url}: {problem}"
    assert "Traceback" not in result.stderr


def test_a_refused_connection_is_one_line() -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/story.html"
    result = _run("brief", url)
    assert result.exit_code == 1
    assert (
        result.stderr.strip().splitlines()[-1] == f"Error: {url}: cannot fetch (connection refused)"
    )


def test_a_server_that_does_not_answer_in_time_is_one_line(site: str) -> None:
    with pytest.raises(SourceError, match=r"/slow\.txt: cannot fetch \(no answer in time\)"):
        fetch_url(f"{site}/slow.txt", 1_000_000, timeout=0.5)


def test_other_schemes_and_credentials_in_urls_are_refused(site: str) -> None:
    ftp = _run("brief", "ftp://127.0.0.1/story.txt")
    assert ftp.exit_code == 1
    assert "ftp://127.0.0.1/story.txt: only http:// and https:// URLs are fetched" in ftp.stderr
    with_password = site.replace("http://", "http://reader:hunter2@") + "/story.txt"
    result = _run("brief", with_password)
    assert result.exit_code == 1
    assert "hunter2" not in result.stderr
    assert "briefer sends no credentials" in result.stderr


def test_no_key_or_credentials_are_sent_to_a_url(site: str) -> None:
    _Site.seen_headers.clear()
    result = _run("brief", f"{site}/story.html", "--engine", "extractive", key=TEST_KEY)
    assert result.exit_code == 0, result.stderr
    assert _Site.seen_headers
    for headers in _Site.seen_headers:
        names = {name.lower() for name in headers}
        assert not names & {"authorization", "cookie", "proxy-authorization"}
        assert TEST_KEY not in " ".join(headers.values())


def test_verify_rereads_a_url_source(site: str, tmp_path: Path) -> None:
    url = f"{site}/story.html"
    made = _run("brief", url, "--format", "json", "--length", "short")
    briefing = tmp_path / "brief.json"
    briefing.write_text(made.stdout, encoding="utf-8")
    result = _run("verify", str(briefing), url)
    assert result.exit_code == 0, result.stdout + result.stderr
