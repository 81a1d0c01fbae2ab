"""Errors briefer reports to the user.

BrieferError
├── ConfigError          missing key, conflicting flags
├── SourceError          unreadable, empty or undecodable input
├── OutputError          refusing to overwrite an input, unwritable target
├── PromptError          unknown template, missing variable
├── LLMError
│   ├── LLMUnavailableError   connection/timeout/429/5xx after retries
│   │   └── LLMTimeoutError   no first token, a stalled stream or the call's time limit
│   ├── LLMAuthError          401/403: the key is wrong
│   ├── LLMResponseError      output still invalid after the re-ask
│   ├── LLMTruncatedError     finish_reason == "length" with nothing usable parsed
│   └── LLMContextError       the server refused the request for its size
├── GroundingError       bullets not supported under --strict
└── EmptyBriefingError   the run ended with no bullet to show (exit 4)

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


class LLMTimeoutError(LLMUnavailableError):
    """A call that got no first token, stalled mid-reply or ran past its time limit."""


class LLMResponseError(LLMError):
    pass


class LLMTruncatedError(LLMError):
    """A reply cut off at its output limit from which nothing usable could be parsed."""

    def __init__(self, message: str, *, looping: bool = False) -> None:
        super().__init__(message)
        self.looping = looping  # the cut-off reply was repeating itself


class LLMInterruptedError(LLMError):
    """A call cut off, or not sent, because the run was interrupted (Ctrl-C)."""


class LLMContextError(LLMError):
    """The server refused a request as larger than its context window.

    ``window`` is the limit the server stated (its tokens), ``server_tokens`` the size it
    counted for the prompt, and ``our_tokens`` briefer's own count of the same prompt; any
    of the first two may be unknown (None) when the server's message does not say.
    """

    def __init__(
        self,
        message: str,
        *,
        window: int | None = None,
        server_tokens: int | None = None,
        our_tokens: int = 0,
    ) -> None:
        super().__init__(message)
        self.window = window
        self.server_tokens = server_tokens
        self.our_tokens = our_tokens


class GroundingError(BrieferError):
    exit_code = 3


class EmptyBriefingError(BrieferError):
    """The run finished but no bullet survived validation: nothing to brief."""

    exit_code = 4
