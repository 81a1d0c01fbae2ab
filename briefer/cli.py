"""Command line: parse flags, run the pipeline, print the result or a one-line error."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from briefer import __version__
from briefer.errors import BrieferError, OutputError
from briefer.models import LENGTH_WORDS, Audience, BriefOptions, Length
from briefer.render import OutputFormat, briefing_schema, render

app = typer.Typer(
    name="briefer",
    help=(
        "Turn a pile of articles into a one-page briefing in which every bullet cites the "
        "source passages it came from.\n\n"
        "Example:\n\n"
        "  briefer brief examples/istanbul-talks/articles --length short --audience executive"
    ),
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)

_BRIEF_HELP = """Write a one-page briefing of ARTICLES (files, directories or - for stdin).

Reads .txt, .md and .html files; directories are searched recursively.

Examples:

  briefer brief examples/istanbul-talks/articles

  briefer brief notes/ --length long --audience analyst --format json -o brief.json

  cat story.html | briefer brief - --max-words 150
"""


def _fail(error: BrieferError) -> typer.Exit:
    typer.echo(f"Error: {error}", err=True)
    return typer.Exit(code=error.exit_code)


def _options(
    length: Length | None,
    max_words: int | None,
    audience: str,
    passage_tokens: int,
    chunk_tokens: int,
) -> BriefOptions:
    if max_words is None:
        max_words = LENGTH_WORDS[length or Length.standard]
        length = length or Length.standard
    elif length is not None:
        raise typer.BadParameter("give --length or --max-words, not both", param_hint="--max-words")
    return BriefOptions(
        length=length,
        max_words=max_words,
        audience=audience.strip() or Audience.general.value,
        passage_tokens=passage_tokens,
        chunk_tokens=chunk_tokens,
    )


def write_output(text: str, target: Path, inputs: list[Path], force: bool) -> None:
    """Write ``text`` to ``target`` atomically; never over an input, never over a file unasked."""
    resolved = target.resolve()
    if any(resolved == p.resolve() for p in inputs if p.exists()):
        raise OutputError(f"{target}: is one of the input files; choose another output path")
    if resolved.exists() and not force:
        raise OutputError(f"{target}: already exists; pass --force to overwrite it")
    if resolved.is_dir():
        raise OutputError(f"{target}: is a directory; give a file name")
    if not resolved.parent.is_dir():
        raise OutputError(f"{target}: directory {resolved.parent} does not exist")
    fd, tmp = tempfile.mkstemp(dir=resolved.parent, prefix=f".{resolved.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.replace(tmp, resolved)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@app.command(help=_BRIEF_HELP)
def brief(
    articles: Annotated[list[str], typer.Argument(help="Files, directories, or - for stdin.")],
    length: Annotated[
        Length | None,
        typer.Option("--length", "-l", help="short ≈120 words, standard ≈250, long ≤500."),
    ] = None,
    max_words: Annotated[
        int | None, typer.Option("--max-words", min=10, help="Word budget for the bullets.")
    ] = None,
    audience: Annotated[
        str,
        typer.Option(
            "--audience", "-a", help="executive, analyst, general, or a free-text description."
        ),
    ] = Audience.general.value,
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = (
        OutputFormat.md
    ),
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing -o file.")] = False,
    passage_tokens: Annotated[
        int, typer.Option(min=16, help="Largest passage, in tokens (whole sentences).")
    ] = 96,
    chunk_tokens: Annotated[
        int, typer.Option(min=64, help="Largest map chunk, in tokens (whole passages).")
    ] = 1500,
) -> None:
    from briefer.extractive import ExtractiveEngine
    from briefer.pipeline import build_briefing
    from briefer.sources import read_sources

    options = _options(length, max_words, audience, passage_tokens, chunk_tokens)
    try:
        sources = read_sources(articles, stdin=sys.stdin)
        typer.echo(
            "briefer: no API key configured; using the built-in offline extractive engine.",
            err=True,
        )
        briefing = build_briefing(sources, ExtractiveEngine(), options)
        text = render(briefing, fmt)
        if output is None:
            typer.echo(text, nl=False)
        else:
            inputs = [Path(a) for a in articles if a != "-"]
            write_output(text, output, inputs, force)
    except BrieferError as error:
        raise _fail(error) from None


@app.command(
    help=(
        "Re-run the golden examples under DIR and report any drift.\n\n"
        "Example:\n\n  briefer check examples\n\n  briefer check examples --update"
    )
)
def check(
    directory: Annotated[Path, typer.Argument(help="Folder of golden examples.")] = Path(
        "examples"
    ),
    update: Annotated[bool, typer.Option("--update", help="Rewrite the goldens.")] = False,
) -> None:
    from briefer.golden import run_goldens

    try:
        results = run_goldens(directory, update=update)
    except BrieferError as error:
        raise _fail(error) from None
    drifted = 0
    for result in results:
        typer.echo(f"{result.status:8} {result.name}")
        if result.diff:
            typer.echo(result.diff, nl=False)
        drifted += result.status == "drift"
    typer.echo(f"{len(results) - drifted} passed, {drifted} failed")
    if drifted:
        raise typer.Exit(code=1)


@app.command(help="Print the JSON Schema of the JSON output.\n\nExample:\n\n  briefer schema")
def schema() -> None:
    typer.echo(briefing_schema(), nl=False)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"briefer {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show version.")
    ] = False,
) -> None:
    """briefer: cited one-page briefings from many articles."""


def main() -> None:
    """Run the CLI."""
    app()
