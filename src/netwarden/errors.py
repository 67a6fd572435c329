"""Errors a user sees.

Every error that comes from bad input names the input (a file, a URL, a record), the key or
place inside it, and the problem, so that the person running an audit can fix it without
reading code. The CLI maps :class:`InputError` to exit code 2.
"""

from __future__ import annotations


class NetwardenError(Exception):
    """Base of every error netwarden raises on purpose."""


class InputError(NetwardenError):
    """Bad input given by the user: a file, an option, a record.

    ``source`` names the input (usually a path), ``where`` the key, line or field inside it,
    ``problem`` says what is wrong in words a user understands.
    """

    def __init__(self, source: str, problem: str, where: str | None = None) -> None:
        self.source = str(source)
        self.where = where
        self.problem = problem
        location = f"{self.source}: {where}" if where else self.source
        super().__init__(f"{location}: {problem}")


class ScopeError(InputError):
    """The scope file is invalid or forbids the run (for example, the window is over)."""
