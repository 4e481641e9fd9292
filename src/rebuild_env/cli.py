"""Command line: parse (:mod:`.arguments`), run the command (:mod:`.commands`), print its
result one way; the work is in the library."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from .arguments import COMMAND_SEPARATOR, COMMANDS, build_parser
from .commands import Display, Result, RichResult, clock
from .errors import ExitCode, RebuildEnvError, UsageError

__all__ = ["HANDLERS", "build_parser", "main"]


def _normalise(argv: Sequence[str]) -> list[str]:
    args = list(argv)
    first = next((a for a in args if not a.startswith("-")), None)
    if first is not None and first not in COMMANDS and "--version" not in args:
        args.insert(0, "rebuild")
    if not args or all(a in ("-q", "--quiet", "--debug", "--json") for a in args):
        return args or ["--help"]
    return args


def _show_output(what: str, argv: tuple[str, ...], output: str) -> None:
    """``-v``: an installer's (or any command's) own output, as it ends."""
    if output.strip():
        name = what or Path(argv[0]).name
        print(f"--- {name}: {' '.join(argv[:4])} ...\n{output.rstrip()}", file=sys.stderr)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


# Commands whose stderr says which package they are at, and the lines worth showing
INSTALLER_STEPS = ("package install", "uv pip compile", "pip: section install", "uv python")
INSTALLER_NEWS = ("Downloading", "Downloaded", "Building", "Built", "Prepared", "Installed", "+ ")
INSTALLER_SLOW = ("Downloading", "Building")


class _Line:
    """The spinner's text, read again at each refresh so that the elapsed time moves."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.text = ""

    def __rich__(self) -> str:
        return f"[{clock(time.monotonic() - self.started)}] {self.text}"


class _Progress:
    """One line per stage on stderr, with the elapsed time (a spinner on a terminal);
    silent when asked. Stages may carry what they are at: ``build: numpy==1.26.4``."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self.started = time.monotonic()
        self._status: Any = None
        self._line = _Line(self.started)

    def __call__(self, stage: str, event: str) -> None:
        if not self.enabled:
            return
        if self.tty:
            if self._status is None:
                from rich.console import Console

                self._status = Console(stderr=True).status(self._line)
                self._status.start()
            if event == "start":
                self._line.text = f"{stage}…"
                self._status.update(self._line)
            return
        if event == "start":
            elapsed = clock(time.monotonic() - self.started)
            print(f"rebuild-env: {stage}  [{elapsed}]", file=sys.stderr, flush=True)

    def installer_line(self, what: str, line: str) -> None:
        """What an installer says it is doing, as it says it: on a terminal the spinner shows
        each step (``build: Downloading numpy (15.9MiB)``); elsewhere only the slow ones
        (downloads, source builds) get a line of their own."""
        text = line.strip()
        if not self.enabled or not what.startswith(INSTALLER_STEPS) or not text:
            return
        if self.tty:
            if self._status is not None and text.startswith(INSTALLER_NEWS):
                stage = self._line.text.split(": ", 1)[0].rstrip("…")
                self._line.text = f"{stage}: {text}"
                self._status.update(self._line)
            return
        if text.startswith(INSTALLER_SLOW):
            elapsed = clock(time.monotonic() - self.started)
            print(f"rebuild-env:   {text}  [{elapsed}]", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None


def _rebuild(args: argparse.Namespace, progress: Display) -> Result:
    from .commands import rebuild

    return rebuild.run(args, progress)


def _inspect(args: argparse.Namespace, progress: Display) -> Result:
    from .commands.inspect import inspect

    return inspect(args.path)


def _save(args: argparse.Namespace, progress: Display) -> Result:
    from .commands import save

    return save.run(args, progress)


def _pack(args: argparse.Namespace, progress: Display) -> Result:
    from .commands import pack

    return pack.run(args, progress)


def _cache(args: argparse.Namespace, progress: Display) -> Result:
    from .commands import cache

    return cache.run(args, progress)


def _verify(args: argparse.Namespace, progress: Display) -> Result:
    from .commands import verify

    return verify.run(args, progress)


def _compare(args: argparse.Namespace, progress: Display) -> Result:
    from .commands import compare

    return compare.run(args, progress)


def _enter(args: argparse.Namespace, progress: Display) -> Result:
    from .commands import run

    run.run(args, progress)


HANDLERS: dict[str, Callable[[argparse.Namespace, Display], Result]] = {
    "rebuild": _rebuild,
    "plan": _rebuild,
    "inspect": _inspect,
    "save": _save,
    "pack": _pack,
    "cache": _cache,
    "verify": _verify,
    "compare": _compare,
    "run": _enter,
    "shell": _enter,
}
"""Each command's adapter: it imports its module only when run (start-up stays fast)."""


def _print(args: argparse.Namespace, result: Result) -> None:
    """The one way a result reaches stdout: JSON, a rich table on a terminal, or text."""
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
        return
    if isinstance(result, RichResult) and sys.stdout.isatty() and not args.quiet:
        from rich.console import Console

        Console().print(result.rich())
        return
    text = result.render_text()
    if text:
        print(text)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rebuild-env`` command."""
    try:
        code = _main(argv)
        sys.stdout.flush()  # inside the try: a closed pipe shows up here, not at exit
    except BrokenPipeError:
        # The reader went away (`| head -1`, `| true`): like any CLI that dies of SIGPIPE,
        # stop without a traceback; later writes (and the final flush) go nowhere.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return int(ExitCode.BROKEN_PIPE)
    return code


def entry() -> None:
    """The ``rebuild-env`` console script and ``python -m rebuild_env``: :func:`main`, then
    exit the process.

    py-rattler's runtime threads can still be finishing requests (another subdir, another
    channel) when one failed; meeting a finalizing interpreter they abort it (exit 134
    after the answer was printed). So once everything is written, a process that imported
    rattler leaves at once. Only here: :func:`main` called in-process (tests, the API)
    returns its code and never ends the caller's process.
    """
    code = main()
    if "rattler" in sys.modules:
        runner = sys.modules.get("rebuild_env.verify.runner")
        if runner is not None:  # os._exit runs no atexit handler
            runner.remove_probe_folders()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    given = list(sys.argv[1:] if argv is None else argv)
    command_line: list[str] = []
    if given and given[0] == "run" and COMMAND_SEPARATOR in given:
        split = given.index(COMMAND_SEPARATOR)
        given, command_line = given[:split], given[split + 1 :]
    args = parser.parse_args(_normalise(given))
    args.command_line = command_line
    if args.command is None:
        parser.print_help()
        return int(ExitCode.BAD_INPUT)
    if getattr(args, "no_python_downloads", False):
        from .interpreters import DOWNLOADS_VARIABLE

        os.environ[DOWNLOADS_VARIABLE] = "never"  # uv's own switch: uv obeys it too
    if getattr(args, "verbose", False):
        from . import _subprocess

        _subprocess.on_output(_show_output)
    signal.signal(signal.SIGTERM, _on_sigterm)
    progress = _Progress(enabled=not (args.quiet or args.json))
    if progress.enabled:
        from . import _subprocess

        _subprocess.on_line(progress.installer_line)
    try:
        result = HANDLERS[args.command](args, progress)
    except RebuildEnvError as exc:
        progress.close()
        if args.debug:
            raise
        return _fail(args, exc)
    except KeyboardInterrupt:
        from ._subprocess import stop_all

        stop_all()
        progress.close()
        return _fail(
            args, UsageError("interrupted; nothing half-built was kept"), ExitCode.INTERRUPTED
        )
    except Exception as exc:
        progress.close()
        if args.debug:
            raise
        if isinstance(exc, OSError):  # any write into the cache: its own one line
            from .locations import cache_unwritable

            unwritable = cache_unwritable(exc)
            if unwritable is not None:
                return _fail(args, unwritable)
        bug = RebuildEnvError(
            f"internal error: {type(exc).__name__}: {exc}",
            hint="rerun with --debug and report it",
        )
        return _fail(args, bug)
    progress.close()
    _print(args, result)
    return int(result.exit_code)


def _fail(args: argparse.Namespace, exc: RebuildEnvError, code: ExitCode | None = None) -> int:
    code = code or exc.exit_code
    output = getattr(exc, "output", "")
    if args.json:
        doc = {
            "schema_version": 1,
            "command": args.command,
            "status": "error",
            "exit_code": int(code),
            "error": exc.one_line(),
            "output": output or None,
        }
        print(json.dumps(doc, indent=2))
    else:
        if output:
            print(output, file=sys.stderr)
        print(f"rebuild-env: error: {exc.one_line()}", file=sys.stderr)
    return int(code)
