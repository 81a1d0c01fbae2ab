"""Command line: parse flags, run the pipeline, print the result or a one-line error."""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
import typer.core

from briefer import __version__
from briefer.choices import LENGTH_WORDS, Audience, Length, OutputFormat
from briefer.errors import (
    BrieferError,
    ConfigError,
    EmptyBriefingError,
    OutputError,
    SourceError,
)
from briefer.ingest.reading import (
    DEFAULT_MAX_FILE_MB,
    MAX_FILE_ENV,
    MAX_FILE_FLAG,
    MEGABYTE,
    is_url,
)
from briefer.output import (
    check_not_input,
    check_target,
    is_stdout,
    reserve_new_file,
    write_file,
    write_stdout,
)

# Each command imports the stages it runs when it runs: `--help` builds no pydantic model,
# and the offline path never imports the LLM engine or openai.
if TYPE_CHECKING:
    from typer._click.core import Context, Parameter
    from typer._click.formatting import HelpFormatter

    from briefer.config import Settings
    from briefer.engines.llm.engine import LLMEngine
    from briefer.models import Briefing, BriefOptions, Usage
    from briefer.progress import ProgressSink


class _ManyArgument(typer.core.TyperArgument):
    """An argument taking several values: its help shows ``articles...``, not ``<list[str]>``."""

    def display_type_rich(self, ctx: Context) -> str | None:
        return None


def _plain_help(params: list[Parameter]) -> list[Parameter]:
    """Keep Python type names out of the help: no ``<bool>`` after a flag, no ``<list[str]>``."""
    for param in params:
        if isinstance(param, typer.core.TyperOption) and param.is_flag and param.metavar is None:
            param.metavar = ""
        elif type(param) is typer.core.TyperArgument and param.nargs != 1:
            # typer prints a list argument's Python type whatever its metavar says.
            param.__class__ = _ManyArgument
    return params


class _OnDemand:
    """Stands in for a rich class that typer's help module imports but help never uses.

    Building it, or calling one of its class methods, imports the real class and uses it.
    """

    _module = ""

    def __new__(cls, *args: object, **kwargs: object) -> Any:
        return cls._real()(*args, **kwargs)

    @classmethod
    def _real(cls) -> Any:
        import importlib

        return getattr(importlib.import_module(cls._module), cls.__name__)


class Markdown(_OnDemand):
    _module = "rich.markdown"


class Traceback(_OnDemand):
    _module = "rich.traceback"

    @classmethod
    def from_exception(cls, *args: Any, **kwargs: Any) -> Any:
        return cls._real().from_exception(*args, **kwargs)


def _import_help_renderer() -> None:
    """Import typer's rich help module without rich.markdown and rich.traceback.

    It imports them for the "markdown" markup mode and for pretty tracebacks, neither of
    which a help page uses, and they cost a third of ``briefer --help`` (markdown-it and
    pygments). While it is imported they are stand-ins that load the real classes if ever
    used; later imports of either module get the real one.
    """
    if "typer.rich_utils" in sys.modules:
        return
    stand_ins = {}
    for stand_in in (Markdown, Traceback):
        if stand_in._module not in sys.modules:
            module = ModuleType(stand_in._module)
            setattr(module, stand_in.__name__, stand_in)
            stand_ins[stand_in._module] = sys.modules[stand_in._module] = module
    try:
        import typer.rich_utils  # noqa: F401
    except ImportError:  # typer then prints plain help, or says what is missing itself
        pass
    finally:
        for name, module in stand_ins.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]


class _Command(typer.core.TyperCommand):
    def get_params(self, ctx: Context) -> list[Parameter]:
        return _plain_help(super().get_params(ctx))

    def format_help(self, ctx: Context, formatter: HelpFormatter) -> None:
        _import_help_renderer()
        super().format_help(ctx, formatter)


class _Group(typer.core.TyperGroup):
    def get_params(self, ctx: Context) -> list[Parameter]:
        return _plain_help(super().get_params(ctx))

    def format_help(self, ctx: Context, formatter: HelpFormatter) -> None:
        _import_help_renderer()
        super().format_help(ctx, formatter)


app = typer.Typer(
    name="briefer",
    cls=_Group,
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

_BRIEF_HELP = """Write a one-page briefing of ARTICLES (files, directories, http(s) URLs or -
for stdin).

Reads .txt, .md and .html files; directories are searched recursively; URLs are fetched.

Examples:

  briefer brief examples/istanbul-talks/articles

  briefer brief notes/ --length long --audience analyst --format json -o brief.json

  cat story.html | briefer brief - --max-words 150

  briefer brief scraped/ --skip-unreadable    (leave out empty or unreadable pages)
"""


def _warn_skipped(error: SourceError) -> None:
    typer.echo(f"briefer: skipped {error}", err=True)


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
    from briefer.models import BriefOptions

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


_MAX_FILE_SIZE = typer.Option(
    MAX_FILE_FLAG,
    min=0.001,
    envvar=MAX_FILE_ENV,
    metavar="MB",
    help="Largest file, stdin or page read, in megabytes.",
)


class Verification(StrEnum):
    rules = "rules"
    llm = "llm"


class Structured(StrEnum):
    """Structured-output modes (``config.StructuredMode``), as the --structured choices."""

    auto = "auto"
    json_schema = "json_schema"
    json_object = "json_object"
    none = "none"


class EngineChoice(StrEnum):
    auto = "auto"
    llm = "llm"
    extractive = "extractive"


_LLM = "LLM engine (an API key or --base-url selects it)"


@app.command(cls=_Command, help=_BRIEF_HELP)
def brief(
    articles: Annotated[
        list[str], typer.Argument(help="Files, directories, http(s) URLs, or - for stdin.")
    ],
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
        Path | None,
        typer.Option(
            "--output", "-o", help="Write to this file (a regular file) instead of stdout (-)."
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite an existing -o or --record file.")
    ] = False,
    skip_unreadable: Annotated[
        bool,
        typer.Option(
            "--skip-unreadable",
            help="Leave out, with a warning, files that cannot be read or hold no article text.",
        ),
    ] = False,
    max_file_size: Annotated[float, _MAX_FILE_SIZE] = DEFAULT_MAX_FILE_MB,
    passage_tokens: Annotated[
        int, typer.Option(min=16, help="Largest passage, in tokens (whole sentences).")
    ] = 96,
    chunk_tokens: Annotated[
        int, typer.Option(min=64, help="Largest map chunk, in tokens (whole passages).")
    ] = 1500,
    engine_choice: Annotated[
        EngineChoice,
        typer.Option("--engine", help="auto: the LLM when configured, else extractive."),
    ] = EngineChoice.auto,
    model: Annotated[
        str | None,
        typer.Option(
            metavar="<name>", help="Model name (env BRIEFER_MODEL).", rich_help_panel=_LLM
        ),
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(
            metavar="<url>",
            help="OpenAI-compatible server (env OPENAI_BASE_URL).",
            rich_help_panel=_LLM,
        ),
    ] = None,
    api_key_env: Annotated[
        str | None,
        typer.Option(
            metavar="<variable>",
            help="Variable holding the API key (default OPENAI_API_KEY; env BRIEFER_API_KEY_ENV).",
            rich_help_panel=_LLM,
        ),
    ] = None,
    concurrency: Annotated[
        int | None, typer.Option(min=1, help="Parallel map calls.", rich_help_panel=_LLM)
    ] = None,
    temperature: Annotated[
        float | None, typer.Option(help="Sampling temperature.", rich_help_panel=_LLM)
    ] = None,
    context_window: Annotated[
        int | None,
        typer.Option(help="Override the model's context window.", rich_help_panel=_LLM),
    ] = None,
    structured: Annotated[
        Structured | None,
        typer.Option(
            help="How replies are held to the schema (none: plain text, validated by briefer).",
            rich_help_panel=_LLM,
        ),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            min=0.001,
            help="Seconds a call may take in all (env BRIEFER_TIMEOUT, default 600).",
            rich_help_panel=_LLM,
        ),
    ] = None,
    first_token_timeout: Annotated[
        float | None,
        typer.Option(
            min=0.001,
            help="Seconds to wait for a reply's first token, prompt reading included "
            "(env BRIEFER_FIRST_TOKEN_TIMEOUT, default 300).",
            rich_help_panel=_LLM,
        ),
    ] = None,
    stall_timeout: Annotated[
        float | None,
        typer.Option(
            min=0.001,
            help="Seconds a reply may stall between tokens (env BRIEFER_STALL_TIMEOUT, "
            "default 60).",
            rich_help_panel=_LLM,
        ),
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Bypass the response cache.", rich_help_panel=_LLM)
    ] = False,
    record: Annotated[
        Path | None, typer.Option(help="Record model exchanges here.", rich_help_panel=_LLM)
    ] = None,
    replay: Annotated[
        Path | None, typer.Option(help="Replay a recorded cassette.", rich_help_panel=_LLM)
    ] = None,
    trace: Annotated[
        Path | None,
        typer.Option(
            help="Write every request, response and claim list here.", rich_help_panel=_LLM
        ),
    ] = None,
    prompts_dir: Annotated[
        Path | None, typer.Option(help="Folder of prompt overrides.", rich_help_panel=_LLM)
    ] = None,
    prompt_version: Annotated[
        str | None,
        typer.Option(help='Prompt versions, e.g. "2" or "map=2,reduce=1".', rich_help_panel=_LLM),
    ] = None,
    show_rejected: Annotated[
        bool,
        typer.Option("--show-rejected", help="Append the rejected claims and reasons (Markdown)."),
    ] = False,
    verify: Annotated[
        Verification,
        typer.Option(
            "--verify",
            help="llm: also ask the model whether each bullet follows from its evidence.",
        ),
    ] = Verification.rules,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Print the plan and cost; call nothing.", rich_help_panel=_LLM
        ),
    ] = False,
) -> None:
    from briefer.config import load_settings
    from briefer.engines.extractive.engine import ExtractiveEngine
    from briefer.ingest.sources import read_sources
    from briefer.pipeline import build_briefing
    from briefer.render import render
    from briefer.verify import VERIFY_BATCH, rejected_markdown, summarize_grounding

    _imports_done()

    options = _options(length, max_words, audience, passage_tokens, chunk_tokens)
    flags: dict[str, object] = {
        "model": model,
        "base_url": base_url,
        "api_key_env": api_key_env,
        "concurrency": concurrency,
        "temperature": temperature,
        "context_window": context_window,
        "structured": structured.value if structured is not None else None,
        "timeout": timeout,
        "first_token_timeout": first_token_timeout,
        "stall_timeout": stall_timeout,
        "use_cache": False if no_cache else None,
        "record_path": record,
        "replay_path": replay,
        "trace_dir": trace,
        "prompts_dir": prompts_dir,
        "prompt_versions": prompt_version,
    }
    if output is not None and is_stdout(output):
        output = None
    reserved: Path | None = None  # a --record file this run created, removed if left empty
    try:
        settings = load_settings({k: v for k, v in flags.items() if v is not None})
        use_llm = engine_choice is EngineChoice.llm or (
            engine_choice is EngineChoice.auto and settings.llm_enabled
        )
        if use_llm and settings.refused is not None:
            raise ConfigError(settings.refused)
        recording = settings.record_path if use_llm and not dry_run else None
        targets = _check_targets(articles, output, recording, settings.replay_path, force)
        if use_llm and not settings.llm_enabled:
            raise ConfigError(
                f"no API key found. Set {settings.api_key_env} or pass --base-url "
                "(or use --engine extractive to work offline)."
            )
        sources = read_sources(
            articles,
            stdin=sys.stdin,
            on_skip=_warn_skipped if skip_unreadable else None,
            max_file_bytes=int(max_file_size * MEGABYTE),
        )
        # Every file read, including those found inside a directory argument.
        for target, flag in targets:
            check_not_input(target, (Path(s.origin) for s in sources), flag=flag)
        if dry_run:
            if not use_llm:
                typer.echo("extractive engine: no model calls, no cost.")
                return
            from briefer.chunking import chunk_source
            from briefer.engines.llm.engine import plan_run
            from briefer.engines.llm.limits import learn_limits
            from briefer.tokens import count_tokens

            settings, _, learnt = learn_limits(settings)
            if learnt:
                typer.echo(f"briefer: {learnt}", err=True)
            chunks = [c for s in sources for c in chunk_source(s, count_tokens)[1]]
            typer.echo(plan_run(chunks, settings, options).summary())
            return
        if verify is Verification.llm and not use_llm:
            raise ConfigError("--verify llm needs a model: set OPENAI_API_KEY or pass --base-url.")
        if use_llm:
            from briefer.engines.llm.engine import (
                LLMEngine,  # imports openai: only when a model is used
            )

            started = time.perf_counter()
            if recording is not None and reserve_new_file(recording):
                reserved = recording
            with LLMEngine(settings) as llm, _progress() as progress:
                llm.watch(progress)
                told: set[str] = set()

                def tell(note: str) -> None:
                    if note not in told:
                        told.add(note)
                        typer.echo(f"briefer: {note}", err=True)

                for note in llm.all_notes():  # what was learnt from the server, at once
                    tell(note)
                llm.on_notice = tell  # and a re-plan as it happens
                options = options.model_copy(
                    update={"chunk_tokens": min(options.chunk_tokens, llm.budgets.map_tokens)}
                )
                try:
                    briefing = build_briefing(sources, llm, options)
                    if verify is Verification.llm:
                        progress.expect("verify", -(-len(briefing.bullets) // VERIFY_BATCH))
                        briefing = _verify_with_model(briefing, llm, settings)
                except KeyboardInterrupt:
                    _interrupted(llm, settings, progress, reserved)
                finally:  # what was spent, and why, is told even when the run fails
                    for note in llm.all_notes():
                        tell(note)
                    typer.echo(_usage_line(llm.usage(), started), err=True)
        else:
            typer.echo(
                "briefer: no API key configured; using the built-in offline extractive engine.",
                err=True,
            )
            briefing = build_briefing(sources, ExtractiveEngine(), options)
        text = render(briefing, fmt)
        if show_rejected and fmt is OutputFormat.md and briefing.rejected:
            text += "\n" + "\n".join(rejected_markdown(briefing)).rstrip("\n") + "\n"
        if briefing.grounding is not None:
            typer.echo(f"briefer: {summarize_grounding(briefing.grounding)}", err=True)
        if output is None:
            write_stdout(text)
        else:
            write_file(text, output, replace=force)
        reserved = None
        if not briefing.bullets:
            raise EmptyBriefingError(
                "the briefing has no bullets: no claim survived validation "
                "(see --show-rejected or --format json)"
            )
    except BrieferError as error:
        raise _fail(error) from None
    except KeyboardInterrupt:
        typer.echo("briefer: interrupted", err=True)
        raise typer.Exit(INTERRUPTED) from None
    finally:
        if reserved is not None and _records_nothing(reserved):
            reserved.unlink(missing_ok=True)


INTERRUPTED = 130  # the exit status of a run stopped by Ctrl-C (128 + SIGINT), as shells use


def _interrupted(
    llm: LLMEngine, settings: Settings, progress: ProgressSink, reserved: Path | None
) -> NoReturn:
    """End a model run stopped by Ctrl-C at once: abort the calls in flight, say what was kept.

    The calls in flight are cut off (their streams closed), not waited for; every call that
    finished was cached (and recorded) as it landed. The process exits without joining the
    worker threads, which a blocked HTTP read would otherwise hold up.
    """
    llm.client.cancel()
    finished = llm.usage().calls
    if settings.use_cache and settings.replay_path is None:
        kept = f"{finished} finished call(s) were cached"
    else:
        kept = f"{finished} call(s) had finished (the cache is off)"
    with contextlib.suppress(Exception):
        close = getattr(progress, "close", None)
        if close is not None:
            close()
    if reserved is not None and _records_nothing(reserved):
        reserved.unlink(missing_ok=True)
    sys.stderr.write(f"briefer: interrupted; {kept}\n")
    sys.stderr.flush()
    os._exit(INTERRUPTED)


def _check_targets(
    articles: list[str],
    output: Path | None,
    record: Path | None,
    replay: Path | None,
    force: bool,
) -> list[tuple[Path, str]]:
    """Return the files this run will write (-o, --record) once each is known to be writable.

    Runs before any work: an output that would be refused costs nothing. The same guards
    hold for --record whether it came from the flag, the environment or ``.env``. Whether a
    file found inside a directory argument is among them is checked once sources are read.
    """
    named = [Path(a) for a in articles if a != "-" and not is_url(a)]
    if replay is not None:
        named.append(replay)
    targets = [(output, "-o"), (record, "--record")]
    found = [(path, flag) for path, flag in targets if path is not None]
    for path, flag in found:
        check_target(path, named, force=force, flag=flag)
    if len(found) == 2 and Path(os.path.abspath(found[0][0])) == Path(os.path.abspath(found[1][0])):
        raise OutputError(f"{found[0][0]}: -o and --record name the same file")
    return found


def _records_nothing(path: Path) -> bool:
    """True if a recording made by this run holds no exchange (at most its parameters line)."""
    try:
        if path.stat().st_size > 1 << 16:
            return False
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return False
    return all(line.startswith('{"parameters":') for line in lines if line.strip())


@contextmanager
def _progress() -> Iterator[ProgressSink]:
    """Yield the progress display: live on a terminal's stderr, plain lines otherwise."""
    from briefer.progress import LineProgress, LiveProgress

    if not sys.stderr.isatty():
        yield LineProgress(sys.stderr)
        return
    live = LiveProgress()
    try:
        yield live
    finally:
        live.close()


def _verify_with_model(briefing: Briefing, llm: LLMEngine, settings: Settings) -> Briefing:
    """Return ``briefing`` without the bullets the model judges unsupported by their evidence."""
    from briefer.engines.llm.prompts import load_prompt, select_version
    from briefer.verify import apply_verdicts, grounding_report, verify_with_llm

    template = load_prompt(
        "verify", select_version("verify", settings.prompt_versions), settings.prompts_dir
    )
    passages = {p.id: p for p in briefing.passages}
    verdicts = verify_with_llm(briefing.bullets, passages, llm.client, template)
    checked = apply_verdicts(briefing, verdicts)
    before = briefing.grounding
    report = grounding_report(
        checked,
        claims_checked=before.claims_checked if before else 0,
        reasks=before.reasks if before else 0,
        verdicts=verdicts,
    )
    return checked.model_copy(update={"grounding": report})


def _usage_line(usage: Usage, started: float) -> str:
    cost = "" if usage.cost_usd is None else f", about ${usage.cost_usd:.4f}"
    return (
        f"briefer: {usage.calls} model calls ({usage.cache_hits} from cache), "
        f"{usage.prompt_tokens:,} tokens in, {usage.completion_tokens:,} out, "
        f"{time.perf_counter() - started:.1f} s{cost}"
    )


@app.command(
    cls=_Command,
    help=(
        "Re-check an existing briefing (our JSON) against its evidence; exit 3 if any bullet "
        "fails.\n\n"
        "Without SOURCES each bullet is checked against the passages stored in the JSON, which "
        "shows only that the briefing is consistent with itself; with them, the sources are "
        "read and chunked again, and a source whose sha256 differs from the one recorded in "
        "the briefing fails.\n\n"
        "Example:\n\n  briefer verify brief.json\n\n"
        "  briefer verify brief.json examples/istanbul-talks/articles/*.txt"
    ),
)
def verify(
    briefing: Annotated[Path, typer.Argument(help="A briefing written with --format json.")],
    sources: Annotated[
        list[str] | None,
        typer.Argument(help="The source files, directories or URLs, to check against afresh."),
    ] = None,
    max_file_size: Annotated[float, _MAX_FILE_SIZE] = DEFAULT_MAX_FILE_MB,
) -> None:
    from briefer.verify import format_verify, verify_briefing

    try:
        result = verify_briefing(briefing, sources or [], int(max_file_size * MEGABYTE))
        write_stdout("".join(f"{line}\n" for line in format_verify(result)))
    except BrieferError as error:
        raise _fail(error) from None
    raise typer.Exit(code=result.exit_code)


@app.command(
    cls=_Command,
    help="Show the effective settings and where each came from (secrets masked).\n\n"
    "Example:\n\n  briefer config",
)
def config() -> None:
    from briefer.config import describe_settings, load_settings

    try:
        settings = load_settings()
        if settings.llm_enabled:  # a local server is asked its window, as a run would
            from briefer.engines.llm.limits import learn_limits

            settings = learn_limits(settings)[0]
        rows = describe_settings(settings)
    except BrieferError as error:
        raise _fail(error) from None
    width = max(len(name) for name, _, _ in rows)
    for name, value, origin in rows:
        typer.echo(f"{name:<{width}}  {value}  ({origin})")
    if settings.refused is not None:
        typer.echo(f"briefer: the API key is not used: {settings.refused}", err=True)


@app.command(
    cls=_Command,
    help="List the prompt templates, their versions and hashes.\n\n"
    "Example:\n\n  briefer prompts\n\n  briefer prompts --prompts-dir my-prompts",
)
def prompts(
    prompts_dir: Annotated[Path | None, typer.Option(help="Folder of prompt overrides.")] = None,
) -> None:
    from briefer.engines.llm.prompts import describe_prompts

    try:
        rows = describe_prompts(prompts_dir)
    except BrieferError as error:
        raise _fail(error) from None
    for name, version, use, sha256, description in rows:
        typer.echo(f"{name:<8} {version:<4} {use:<16} {sha256[:12]}  {description}")


@app.command(
    cls=_Command,
    help=(
        "Re-run the golden examples under DIR and report any drift.\n\n"
        "Example:\n\n  briefer check examples\n\n  briefer check examples --update"
    ),
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


@app.command(
    cls=_Command, help="Print the JSON Schema of the JSON output.\n\nExample:\n\n  briefer schema"
)
def schema() -> None:
    from briefer.render import briefing_schema

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
    # Start-up creates several hundred thousand objects that live as long as the process
    # (modules, classes, pydantic validators); collecting cycles among them every 700 new
    # objects found nothing and cost 4-5% of `briefer brief`. Collections are rarer until the
    # command's stages are imported (_imports_done), which are then frozen out of later ones.
    global _thresholds_after_start_up
    _thresholds_after_start_up = gc.get_threshold()
    gc.set_threshold(_START_UP_GC_THRESHOLD, *_thresholds_after_start_up[1:])
    app()


_START_UP_GC_THRESHOLD = 50_000
# Set by main() only: a CliRunner in the tests runs the app in a process that is not ours.
_thresholds_after_start_up: tuple[int, ...] | None = None


def _imports_done() -> None:
    """After main()'s start-up: keep what it built out of collections, collect as usual."""
    if _thresholds_after_start_up is not None:
        gc.freeze()
        gc.set_threshold(*_thresholds_after_start_up)
