"""Errors briefer reports to the user.

BrieferError
├── ConfigError          missing key, conflicting flags
├── SourceError          unreadable, empty or undecodable input
├── OutputError          refusing to overwrite an input, unwritable target
├── PromptError          unknown template, missing variable
├── LLMError
│   ├── LLMUnavailableError   connection/timeout/429/5xx after retries
│   ├── LLMAuthError          401/403: the key is wrong
│   ├── LLMResponseError      output still invalid after the re-ask
│   └── LLMTruncatedError     finish_reason == "length"
└── GroundingError       bullets not supported under --strict

``str()`` of each is one sentence a user can act on; the CLI prints it as ``Error: ...``.
"""

from __future__ import annotations


class BrieferError(Exception):
    """Base class: anything the CLI prints as a one-line error."""

    exit_code = 1


class ConfigError(BrieferError):
    pass


class SourceError(BrieferError):
    """A source could not be used; ``path`` names it."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")

    def __reduce__(self) -> tuple[type[SourceError], tuple[str, str]]:
        # Rebuild from (path, problem) so the error survives a trip between processes.
        return (SourceError, (self.path, self.problem))


class OutputError(BrieferError):
    pass


class PromptError(BrieferError):
    pass


class LLMError(BrieferError):
    pass


class LLMUnavailableError(LLMError):
    pass


class LLMAuthError(LLMError):
    pass


class LLMResponseError(LLMError):
    pass


class LLMTruncatedError(LLMError):
    pass


class GroundingError(BrieferError):
    exit_code = 3
