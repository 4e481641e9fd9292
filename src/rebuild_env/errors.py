"""One exception hierarchy for the whole library.

Each error carries the exit code the CLI uses and a hint telling the user what to do.
The library raises these; only ``cli.py`` prints them and exits.
"""

from __future__ import annotations

from enum import IntEnum
from pathlib import Path


class ExitCode(IntEnum):
    """Documented exit codes of ``rebuild-env`` (see README)."""

    OK = 0
    INTERNAL = 1
    BAD_INPUT = 2
    CANNOT_RESOLVE = 3
    BUILD_FAILED = 4
    MODEL_FAILED = 5
    PREDICTIONS_DIFFER = 6
    UNSAFE_MODEL = 7
    VERIFY_TIMEOUT = 8
    VERSION_WARNING = 9
    LOADS_ONLY = 10
    FAILS_TO_PREDICT = 11
    """``compare``: the candidate loads the model but cannot predict with it."""
    FAILS_TO_LOAD = 12
    """``compare``: the candidate cannot load the model."""
    INTERRUPTED = 130
    BROKEN_PIPE = 141
    """stdout was closed by its reader (``| head``): 128 + SIGPIPE, as a shell reports a
    writer killed by it."""


class RebuildEnvError(Exception):
    """Base class: a failure the user can act on."""

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str, *, path: Path | str | None = None, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.path = Path(path) if path is not None else None
        self.hint = hint

    def one_line(self) -> str:
        """The single line the CLI prints: what is wrong, which file, what to do."""
        parts = [self.message]
        if self.path is not None:
            parts[0] = f"{self.path}: {self.message}"
        if self.hint:
            parts.append(self.hint)
        # one line, whatever a parser's message embeds (packaging's errors add a caret line)
        return " ".join(" — ".join(parts).split())


class BundleError(RebuildEnvError):
    """The bundle is missing, unreadable or malformed."""

    exit_code = ExitCode.BAD_INPUT


class UsageError(RebuildEnvError):
    """The command line asks for something impossible."""

    exit_code = ExitCode.BAD_INPUT


class ResolveError(RebuildEnvError):
    """No plan can satisfy the recorded environment on this machine."""

    exit_code = ExitCode.CANNOT_RESOLVE


class InterpreterNotFound(ResolveError):
    """No interpreter of the recorded Python version could be found."""


class BuildError(RebuildEnvError):
    """Creating the environment or installing packages failed."""

    exit_code = ExitCode.BUILD_FAILED

    def __init__(
        self,
        message: str,
        *,
        path: Path | str | None = None,
        hint: str = "",
        output: str = "",
    ) -> None:
        super().__init__(message, path=path, hint=hint)
        self.output = output


class CacheUnwritable(RebuildEnvError):
    """rebuild-env's cache cannot be written (a read-only mount or HOME, a file in its place)."""

    exit_code = ExitCode.BUILD_FAILED


class PrefixExists(BuildError):
    """The target prefix exists and is not ours to replace."""

    exit_code = ExitCode.BAD_INPUT


class UnsafeModelError(RebuildEnvError):
    """The model file references something that could run code when loaded."""

    exit_code = ExitCode.UNSAFE_MODEL


class UntrustedCode(UnsafeModelError):
    """The model needs its author's own modules, and importing them runs them: not trusted."""


class CodeNotFound(BundleError):
    """The model needs a module that no distribution provides and no code path holds."""


class ArtifactsMissing(BundleError):
    """``--offline``: the bundle lacks (or carries corrupt copies of) artifacts the plan needs."""


class Interrupted(RebuildEnvError):
    """The user pressed Ctrl-C (or the process got SIGTERM)."""

    exit_code = ExitCode.INTERRUPTED


class ExtraMissing(UsageError):
    """The command line asks for a feature whose optional dependencies are not installed."""


class SchedulerUnreachable(UsageError):
    """``verify --scheduler``: no Dask scheduler answered at that address in time."""
