"""``rebuild-env run BUNDLE -- CMD`` and ``shell BUNDLE``: the env through the cache, then
the command replaces this process."""

from __future__ import annotations

import argparse
import os
import sys
from typing import NoReturn

from ..errors import ExitCode, UsageError
from . import Display
from .rebuild import bundle_options


def run(args: argparse.Namespace, progress: Display) -> NoReturn:
    """``run`` / ``shell``: the env through the cache, then the command replaces this process
    (its exit code, signals and terminal are the user's, as with ``uv run``)."""
    from ..enter import activated, resolve_command, user_shell
    from ..rebuild import rebuild

    options = bundle_options(
        args, out=args.out, sandbox=not args.no_sandbox, pin_kernel=args.pin_kernel
    )
    report = rebuild(args.bundle, options, progress)
    progress.close()  # the terminal is the command's from here on
    if report.prefix is None:
        raise UsageError("no environment was kept", hint="rebuild without --no-cache")
    if report.exit_code not in (ExitCode.OK, ExitCode.VERSION_WARNING, ExitCode.LOADS_ONLY):
        print(f"rebuild-env: warning: {report.headline()}", file=sys.stderr)
    env = activated(report.plan.backend, report.prefix)
    pin = report.fidelity.pin if report.fidelity is not None else None
    if args.pin_kernel and pin is not None:
        env.update(pin.env)
    command = list(args.command_line) if args.command == "run" else [user_shell(env)]
    executable = resolve_command(command, env)
    if args.command == "shell" and not args.quiet:
        print(
            f"rebuild-env: {report.activate} (in {command[0]}; `exit` leaves it)",
            file=sys.stderr,
        )
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(executable, command, env)
    raise AssertionError("unreachable: execve returned")  # pragma: no cover
