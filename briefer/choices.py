"""The command line's choices (lengths, audiences, output formats) as plain enums.

They live apart from the pydantic models so that parsing the command line, and ``--help``,
need not build any model; ``briefer.models`` and ``briefer.render`` re-export them.
"""

from __future__ import annotations

from enum import StrEnum


class Length(StrEnum):
    """One-pager length presets; the word budget of each is in ``LENGTH_WORDS``."""

    short = "short"
    standard = "standard"
    long = "long"


LENGTH_WORDS: dict[Length, int] = {Length.short: 120, Length.standard: 250, Length.long: 500}


class Audience(StrEnum):
    """Audience presets. Free-text audiences are carried as plain strings."""

    executive = "executive"
    analyst = "analyst"
    general = "general"


class OutputFormat(StrEnum):
    """Formats ``briefer brief --format`` writes."""

    md = "md"
    json = "json"
    html = "html"
