"""The one exception type that the CLI turns into a single line on stderr and exit code 2."""

from __future__ import annotations


class UsageError(Exception):
    """Bad input from the user: a message that says what is wrong and how to fix it.

    The CLI prints ``sweep: <message>`` on stderr and exits with code 2, without a traceback
    (``--debug`` shows it). Raise it as early as possible, before anything is written.
    """


def first_line(error: BaseException) -> str:
    """What went wrong in one line: the first line of ``error``'s message, or its type's name
    where it has none (libraries raise multi-line messages, and some none at all)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
