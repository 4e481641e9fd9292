"""Helpers for the fault tests: a CLI run that can be watched stage by stage and signalled,
and the processes it started, found in ``/proc`` (no psutil on the CI machines).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

PROC = Path("/proc")
STAGE_PREFIX = "rebuild-env: "
POLL_S = 0.05


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, start time) of a live process, from ``/proc/PID/stat``."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after the last ')'
    fields = text[text.rindex(")") + 2 :].split()
    if fields[0] == "Z":  # a zombie has finished; it only waits to be reaped
        return None
    return int(fields[1]), int(fields[19])


def cmdline(pid: int) -> str:
    """A process's command line, space separated ('' when it is gone)."""
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def descendants(root: int) -> dict[int, int]:
    """Every live process below ``root``: pid -> start time (so a reused pid is not confused)."""
    parents: dict[int, tuple[int, int]] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            found = _stat(int(entry.name))
            if found is not None:
                parents[int(entry.name)] = found
    out: dict[int, int] = {}
    frontier = [root]
    while frontier:
        current = frontier.pop()
        for pid, (ppid, start) in parents.items():
            if ppid == current and pid not in out:
                out[pid] = start
                frontier.append(pid)
    return out


def still_running(seen: dict[int, int]) -> list[str]:
    """Those of ``seen`` that are still alive (same pid, same start time)."""
    alive = []
    for pid, start in seen.items():
        found = _stat(pid)
        if found is not None and found[1] == start:
            alive.append(f"{pid}: {cmdline(pid)}")
    return alive


def outliving(seen: dict[int, int], grace: float = 5.0) -> list[str]:
    """Those of ``seen`` still alive after ``grace`` seconds (a killed process with many
    threads takes a moment to be torn down)."""
    deadline = time.monotonic() + grace
    while (alive := still_running(seen)) and time.monotonic() < deadline:
        time.sleep(POLL_S)
    return alive


def mentioning(text: str) -> list[str]:
    """Live processes whose command line mentions ``text`` (a test's own temporary paths)."""
    me = os.getpid()
    hits = []
    for entry in PROC.iterdir():
        if entry.name.isdigit() and int(entry.name) != me and _stat(int(entry.name)):
            line = cmdline(int(entry.name))
            if text in line:
                hits.append(f"{entry.name}: {line}")
    return hits


@dataclass
class CliRun:
    """``python -m rebuild_env ARGS`` running in the background, its stderr read line by line."""

    proc: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    seen: dict[int, int] = field(default_factory=dict)
    """Every process ever seen below the CLI (pid -> start time)."""
    _reader: threading.Thread | None = None

    @classmethod
    def start(cls, *args: str | Path, env: dict[str, str]) -> CliRun:
        proc = subprocess.Popen(
            [sys.executable, "-m", "rebuild_env", *map(str, args)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        run = cls(proc)
        run._reader = threading.Thread(target=run._read, daemon=True)
        run._reader.start()
        return run

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    @property
    def stderr(self) -> str:
        return "\n".join(self.lines)

    def wait_until(self, condition: Callable[[], bool], what: str, timeout: float) -> None:
        """Poll ``condition`` (noting the CLI's children meanwhile) until it holds."""
        deadline = time.monotonic() + timeout
        while not condition():
            self.seen.update(descendants(self.proc.pid))
            code = self.proc.poll()
            assert code is None, f"exited {code} before {what}:\n{self.stderr}"
            assert time.monotonic() < deadline, f"never reached {what}:\n{self.stderr}"
            time.sleep(POLL_S)
        self.seen.update(descendants(self.proc.pid))

    def wait_for_stage(self, stage: str, timeout: float) -> None:
        """Until the progress line of ``stage`` (``read``, ``plan``, ``build``...) is out."""
        line = f"{STAGE_PREFIX}{stage}"  # then the elapsed time: "rebuild-env: read  [0:00]"
        self.wait_until(
            lambda: any(seen == line or seen.startswith(f"{line}  [") for seen in self.lines),
            f"stage {stage}",
            timeout,
        )

    def wait_for_child(self, needle: str, timeout: float) -> None:
        """Until a process below the CLI has ``needle`` in its command line."""

        def running() -> bool:
            return any(needle in cmdline(pid) for pid in descendants(self.proc.pid))

        self.wait_until(running, f"a child running {needle!r}", timeout)

    def linger(self, seconds: float) -> None:
        """Let the stage run on a little, still noting children."""
        end = time.monotonic() + seconds
        while time.monotonic() < end and self.proc.poll() is None:
            self.seen.update(descendants(self.proc.pid))
            time.sleep(POLL_S)
        assert self.proc.poll() is None, f"finished before the signal:\n{self.stderr}"

    def signal(self, signum: int, timeout: float) -> float:
        """Send ``signum``; wait for the exit; return the seconds it took."""
        self.seen.update(descendants(self.proc.pid))
        sent = time.monotonic()
        self.proc.send_signal(signum)
        self.proc.wait(timeout=timeout)
        took = time.monotonic() - sent
        if self._reader is not None:
            self._reader.join(timeout=5)
        return took


@contextmanager
def hung_server() -> Iterator[int]:
    """A local port that accepts connections and never answers (a hung package index)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(64)  # the kernel completes the handshakes; nobody ever reads
        yield server.getsockname()[1]


def closed_port() -> int:
    """A local port nothing listens on (connections are refused at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
