"""The one way rebuild-env runs an external command.

Argument lists only, a cleaned environment, a timeout, output captured and handed back
on failure, and a careful shutdown (interrupt -> terminate -> kill) of the whole process
group when the user presses Ctrl-C or the timeout fires. On Linux a child is also killed
when rebuild-env itself is (SIGKILL cannot be caught): an orphaned installer would keep
writing into a prefix the next run is rebuilding, an orphaned probe would run on for hours.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from .errors import BuildError, ExitCode, Interrupted, RebuildEnvError

DEFAULT_TIMEOUT_S = 1800.0
SHUTDOWN_GRACE_S = 3.0
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

# Variables of the caller's shell that change what an installer or interpreter does behind
# our back; the environment we build must depend only on the plan. Where packages come
# from (index URLs, certificates, caches: UV_*, PIP_INDEX_URL...) is the user's to set.
_NOISY_PREFIXES = ("PYTHON", "VIRTUAL_ENV", "CONDA_", "PYENV_VERSION", "PIP_")
_KEPT_PIP = frozenset(
    {
        "PIP_INDEX_URL",
        "PIP_EXTRA_INDEX_URL",
        "PIP_FIND_LINKS",
        "PIP_CERT",
        "PIP_TRUSTED_HOST",
        "PIP_DEFAULT_TIMEOUT",
    }
)
_NOISY_NAMES = frozenset({"UV_PYTHON", "UV_SYSTEM_PYTHON", "UV_PROJECT_ENVIRONMENT"})


_T = TypeVar("_T")
_ACTIVE: set[subprocess.Popen[str]] = set()
_ACTIVE_LOCK = threading.Lock()
OutputHook = Callable[[str, tuple[str, ...], str], None]
"""Called with (what, argv, output) as each command ends: ``-v`` shows installers' output."""
_HOOKS: list[OutputHook] = []


def on_output(hook: OutputHook) -> None:
    """Have ``hook`` see every finished command's output (the CLI's ``-v``)."""
    _HOOKS.append(hook)


LineHook = Callable[[str, str], None]
"""Called with (what, line) for each line a command writes to stderr, as it writes it."""
_LINE_HOOKS: list[LineHook] = []


def on_line(hook: LineHook) -> Callable[[], None]:
    """Have ``hook`` see each stderr line of every command as it comes (the progress line
    shows what the installer says it is doing: downloading numpy, building pandas...).
    Returns the function that removes it."""
    _LINE_HOOKS.append(hook)
    return lambda: _LINE_HOOKS.remove(hook)


@dataclass(frozen=True)
class Completed:
    """A finished command."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    seconds: float


class CommandTimeout(RebuildEnvError):
    """The command ran past its timeout and was stopped.

    Part of the error hierarchy, so that a hung ``uv pip compile`` or install reaches the
    user as one line with a documented exit code, not as an internal error. It is not a
    :class:`BuildError`: the handlers that read an installer's failed output must not take
    a stopped command's partial output for the installer's verdict.
    """

    exit_code = ExitCode.BUILD_FAILED

    def __init__(self, args: Sequence[str], seconds: float, output: str, what: str = "") -> None:
        super().__init__(
            f"{what or Path(args[0]).name} did not finish within {seconds:.0f} s and was stopped",
            hint="a slow or unreachable package index, or a command that hangs: check the "
            "network and run again",
        )
        self.seconds = seconds
        self.output = output


def clean_env(
    extra: Mapping[str, str] | None = None, *, keep: Sequence[str] = ()
) -> dict[str, str]:
    """The caller's environment without Python/pip/conda noise, plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k in keep or k in _KEPT_PIP or not (k in _NOISY_NAMES or k.startswith(_NOISY_PREFIXES))
    }
    if extra:
        env.update(extra)
    return env


def _dies_with_parent_hook() -> Callable[[], None] | None:
    """A ``preexec_fn`` that has the kernel SIGKILL the child when its parent dies (Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()
    kill = int(signal.SIGKILL)

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, kill)
        if os.getppid() != parent:  # the parent died before the request was in place
            os.kill(os.getpid(), kill)

    return hook


def _escalate(proc: subprocess.Popen[str], wait: Callable[[float], _T]) -> _T | None:
    """Interrupt, then terminate, then kill the command's process group, giving it
    ``wait(grace)`` after each; ``None`` when the group is gone or outlived every signal."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            return None
        try:
            return wait(SHUTDOWN_GRACE_S)
        except subprocess.TimeoutExpired:
            continue
    return None


def _stop(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """Stop the command's process group; what it wrote."""
    if proc.returncode is not None:  # already stopped and reaped (a streamed command)
        return "", ""
    if getattr(proc, "streamed", False):  # threads read its pipes: wait on the process only
        _signal_group(proc)
        return "", ""
    stopped = _escalate(proc, lambda grace: proc.communicate(timeout=grace))
    if stopped is not None:
        return stopped
    out, err = proc.communicate()
    return out, err


def stop_all() -> None:
    """Stop every command still running (Ctrl-C while worker threads wait on children)."""
    with _ACTIVE_LOCK:
        running = list(_ACTIVE)
    for proc in running:
        _stop(proc)


def run(
    args: Sequence[str | Path],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    check: bool = True,
    what: str = "",
) -> Completed:
    """Run a command; raise :class:`BuildError` (or return, with ``check=False``) on failure.

    The child runs in its own process group so that Ctrl-C and timeouts stop it and
    everything it started.
    """
    proc = start(args, env=env, cwd=cwd, what=what)
    return finish(proc, timeout=timeout, check=check, what=what)


def start(
    args: Sequence[str | Path],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    what: str = "",
    stdin: bool = False,
) -> subprocess.Popen[str]:
    """Start a command (``stdin=True``: it reads what :func:`finish` sends it)."""
    argv = tuple(str(a) for a in args)
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            env=dict(env) if env is not None else clean_env(),
            cwd=cwd,
            start_new_session=True,
            preexec_fn=_dies_with_parent_hook(),  # noqa: PLW1509 - only calls prctl
        )
    except OSError as exc:
        raise BuildError(f"cannot run {argv[0]}: {exc.strerror}", hint=what) from exc
    proc.started = time.perf_counter()  # type: ignore[attr-defined]
    with _ACTIVE_LOCK:
        _ACTIVE.add(proc)
    return proc


def finish(
    proc: subprocess.Popen[str],
    *,
    send: str | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    check: bool = True,
    what: str = "",
) -> Completed:
    """Wait for a started command (sending it ``send``); the same failures as :func:`run`."""
    argv = tuple(str(a) for a in proc.args)  # type: ignore[union-attr]
    started = time.perf_counter() if send is not None else proc.started  # type: ignore[attr-defined]
    try:
        if _LINE_HOOKS and send is None:
            out, err = _streamed(proc, timeout, what)
        else:
            out, err = proc.communicate(input=send, timeout=timeout)
    except subprocess.TimeoutExpired:
        out, err = _stop(proc)
        raise CommandTimeout(argv, timeout, (out or "") + (err or ""), what) from None
    except KeyboardInterrupt:
        _stop(proc)
        raise Interrupted("interrupted", hint="nothing half-built was kept") from None
    finally:
        with _ACTIVE_LOCK:
            _ACTIVE.discard(proc)
    done = Completed(argv, proc.returncode, out, err, time.perf_counter() - started)
    for hook in _HOOKS:
        hook(what, argv, (out or "") + (err or ""))
    if check and done.returncode != 0:
        raise BuildError(
            f"{what or Path(argv[0]).name} failed ({exit_status(done.returncode)})",
            output=tail(done.stderr or done.stdout),
        )
    return done


def _streamed(proc: subprocess.Popen[str], timeout: float, what: str) -> tuple[str, str]:
    """``communicate`` that hands each stderr line to the line hooks as it arrives.

    Both pipes are drained by threads (a full pipe would block the command); on a
    timeout the threads end with the pipes once :func:`_stop` has stopped the command.
    """
    chunks: dict[str, list[str]] = {"out": [], "err": []}
    proc.streamed = True  # type: ignore[attr-defined]  # _stop must not read its pipes

    def drain_out() -> None:
        assert proc.stdout is not None
        chunks["out"].append(proc.stdout.read())

    def drain_err() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            chunks["err"].append(line)
            for hook in _LINE_HOOKS:
                hook(what, line.rstrip("\n"))

    readers = [threading.Thread(target=f, daemon=True) for f in (drain_out, drain_err)]
    for reader in readers:
        reader.start()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _signal_group(proc)
        for reader in readers:
            reader.join(SHUTDOWN_GRACE_S)
        argv = tuple(str(a) for a in proc.args)  # type: ignore[union-attr]
        output = "".join(chunks["out"]) + "".join(chunks["err"])
        raise CommandTimeout(argv, timeout, output, what) from None
    except KeyboardInterrupt:
        _signal_group(proc)
        raise
    for reader in readers:
        reader.join()
    return "".join(chunks["out"]), "".join(chunks["err"])


def _signal_group(proc: subprocess.Popen[str]) -> None:
    """Stop a streamed command's group (threads read its pipes: wait on the process)."""
    _escalate(proc, lambda grace: proc.wait(timeout=grace))


def discard(proc: subprocess.Popen[str]) -> None:
    """Stop a started command whose answer is no longer wanted."""
    if proc.poll() is None:
        _stop(proc)
    elif proc.stdout is not None and not proc.stdout.closed:
        proc.communicate()
    with _ACTIVE_LOCK:
        _ACTIVE.discard(proc)


def exit_status(returncode: int) -> str:
    """``exit 2``, or ``killed by SIGXFSZ (File size limit exceeded)`` for a signal."""
    if returncode >= 0:
        return f"exit {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        return f"killed by signal {-returncode}"
    return f"killed by {name} ({signal.strsignal(-returncode)})"


def tail(text: str, lines: int = 15) -> str:
    """The last lines of a command's output, which is where installers put the reason."""
    kept = [line for line in text.strip().splitlines() if line.strip()]
    return "\n".join(kept[-lines:])
