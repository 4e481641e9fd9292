"""The commands: one module per ``rebuild-env`` command, between the CLI and the library.

Each turns the parsed arguments into library calls and returns a :class:`Result` (an exit
code, its text and its JSON document); ``cli.py`` prints it, one way for all. Only ``cli.py``
and the public API import this package: the library never imports upward.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from ..errors import ExitCode

SECONDS_PER_MINUTE = 60


class Result(Protocol):
    """What every command returns."""

    @property
    def exit_code(self) -> int:
        """The process's exit code (:class:`ExitCode`)."""
        ...

    def render_text(self) -> str:
        """What a person reads on stdout (empty: nothing)."""
        ...

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` document (``output.schema.json``)."""
        ...


class Display(Protocol):
    """The progress a command shows: a :data:`..options.Progress` callback that the command
    can close (``run`` / ``shell`` hand the terminal to the user's command)."""

    def __call__(self, stage: str, event: str) -> None:
        """A stage starts or ends."""
        ...

    def close(self) -> None:
        """Stop showing progress."""
        ...


@runtime_checkable
class RichResult(Protocol):
    """A result that has a richer rendering for a terminal."""

    def rich(self) -> Any:
        """A ``rich`` renderable."""
        ...


@dataclass(frozen=True)
class Outcome:
    """A result that is already text and JSON (the small commands)."""

    exit_code: ExitCode
    text: str
    doc: dict[str, Any] = field(default_factory=dict)

    def render_text(self) -> str:
        """The text, as built."""
        return self.text

    def to_json(self) -> dict[str, Any]:
        """The JSON document, as built."""
        return self.doc


def clock(seconds: float) -> str:
    """``0:07``, ``12:30``: elapsed time as people read it."""
    minutes, rest = divmod(int(seconds), SECONDS_PER_MINUTE)
    return f"{minutes}:{rest:02d}"


def columns(table: Sequence[Sequence[str]]) -> list[str]:
    """Rows of text whose columns fit their content (the last column is not padded)."""
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]) - 1)]
    return [
        "  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[-1]])
        for row in table
    ]
