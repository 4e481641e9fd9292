"""The sandbox launcher on the real kernel: what a program it execs can and cannot do."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rebuild_env.verify import sandbox as launcher
from rebuild_env.verify import sandbox_report as sandbox
from rebuild_env.verify.sandbox_report import SandboxInfo
from tests.conftest import pyenv_python

pytestmark = pytest.mark.skipif(not sandbox.available(), reason="the launcher is Linux-only")

LAUNCH_TIMEOUT_S = 60
ACCEPT_WAIT_S = 0.5
# Runs on Python 2.7 and 3.6+: tries each thing and prints what happened, as JSON.
CHILD = r"""
import json, os, socket, sys, tempfile
inside, outside, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
seen = {"tmpdir": tempfile.gettempdir(), "python": sys.version_info[0]}
def attempt(name, action):
    try:
        action()
        seen[name] = "ok"
    except Exception as exc:
        seen[name] = type(exc).__name__
def write(path):
    with open(path, "w") as handle:
        handle.write("x")
def connect():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(2)
    sock.connect(("127.0.0.1", port))
    sock.close()
def hostname():
    with open("/etc/hostname") as handle:
        seen["hostname"] = handle.read().strip()
attempt("write_inside", lambda: write(os.path.join(inside, "inside.txt")))
attempt("write_outside", lambda: write(outside))
attempt("write_tmpdir", lambda: write(os.path.join(tempfile.gettempdir(), "t.txt")))
attempt("connect", connect)
attempt("read", hostname)
sys.stdout.write(json.dumps(seen))
"""


class Listener:
    """A loopback TCP listener that counts the connections it accepts."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(5)
        self.sock.settimeout(ACCEPT_WAIT_S)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0

    def drain(self) -> int:
        """Connections accepted so far (waits a moment for a late one)."""
        try:
            while True:
                conn, _ = self.sock.accept()
                conn.close()
                self.accepted += 1
        except TimeoutError:
            return self.accepted


@pytest.fixture
def listener() -> Iterator[Listener]:
    found = Listener()
    yield found
    found.sock.close()


def launch(
    program: list[str | Path], write: Path, report: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    args = [str(a) for a in sandbox.command(program, write=[write], report=report)]
    args[4:4] = extra  # launcher flags go before the first --write
    return subprocess.run(
        args, capture_output=True, text=True, timeout=LAUNCH_TIMEOUT_S, check=False
    )


def run_child(python: Path | str, tmp_path: Path, port: int) -> tuple[dict[str, Any], Path]:
    write = tmp_path / "writable"
    write.mkdir()
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    outside = tmp_path / "outside.txt"
    done = launch(
        [python, script, write, outside, str(port)], write, tmp_path / sandbox.REPORT_FILE
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), write


def report_of(tmp_path: Path) -> SandboxInfo:
    return sandbox.read_report(tmp_path / sandbox.REPORT_FILE)


def test_the_launched_program_writes_only_inside_and_cannot_connect(
    tmp_path: Path, listener: Listener
) -> None:
    seen, write = run_child(sys.executable, tmp_path, listener.port)
    info = report_of(tmp_path)
    assert info.mode == "on" and info.filesystem and info.netns, info
    assert seen["write_inside"] == "ok" and (write / "inside.txt").read_text() == "x"
    assert seen["write_outside"] == "PermissionError"
    assert not (tmp_path / "outside.txt").exists()
    assert seen["connect"] != "ok"
    assert listener.drain() == 0
    assert seen["tmpdir"] == str(write / launcher.TMP_DIR) and seen["write_tmpdir"] == "ok"


def test_reading_anywhere_still_works(tmp_path: Path, listener: Listener) -> None:
    if not Path("/etc/hostname").is_file():
        pytest.skip("no /etc/hostname here")
    seen, _ = run_child(sys.executable, tmp_path, listener.port)
    assert seen["read"] == "ok"
    assert seen["hostname"] == Path("/etc/hostname").read_text().strip()


def test_the_report_names_what_was_applied(tmp_path: Path, listener: Listener) -> None:
    run_child(sys.executable, tmp_path, listener.port)
    info = report_of(tmp_path)
    if info.landlock_abi == 0:
        pytest.skip("no Landlock in this kernel")
    assert info.filesystem
    assert info.tcp == (info.landlock_abi >= 4)
    text = info.describe()
    assert text.startswith(f"landlock ABI {info.landlock_abi} (filesystem")
    assert text.endswith("+ network namespace + no unix sockets")
    assert info.shortfalls() == ()


UNIX_CLIENT = r"""
import socket, sys
a, b = socket.socketpair()  # multiprocessing's pipes still work
a.send(b"x")
assert b.recv(1) == b"x"
client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
client.connect(sys.argv[1])
client.send(b"escaped")
"""


def test_a_pathname_unix_socket_cannot_be_reached(tmp_path: Path) -> None:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    path = tmp_path / "host.sock"
    server.bind(str(path))
    server.listen(1)
    server.settimeout(ACCEPT_WAIT_S)
    write = tmp_path / "writable"
    write.mkdir()
    program: list[str | Path] = [sys.executable, "-c", UNIX_CLIENT, path]
    done = launch(program, write, tmp_path / sandbox.REPORT_FILE)
    assert report_of(tmp_path).unix_sockets
    assert done.returncode != 0 and "PermissionError" in done.stderr, done.stderr
    with pytest.raises(TimeoutError):
        server.accept()
    server.close()


def test_without_the_sandbox_the_same_program_can_write_and_connect(
    tmp_path: Path, listener: Listener
) -> None:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    outside = tmp_path / "outside.txt"
    done = subprocess.run(
        [sys.executable, script, tmp_path, outside, str(listener.port)],
        capture_output=True,
        text=True,
        timeout=LAUNCH_TIMEOUT_S,
        check=True,
    )
    seen = json.loads(done.stdout)
    assert seen["write_outside"] == "ok" and outside.exists()
    assert seen["connect"] == "ok" and listener.drain() == 1


@pytest.mark.parametrize("minor", ["2.7", "3.6"])
def test_old_interpreters_start_and_are_confined(
    minor: str, tmp_path: Path, listener: Listener
) -> None:
    python = pyenv_python(minor)
    if python is None:
        pytest.skip(f"no pyenv Python {minor}")
    seen, _ = run_child(python, tmp_path, listener.port)
    assert seen["python"] == int(minor[0])
    assert seen["write_inside"] == "ok"
    assert seen["write_outside"] in ("PermissionError", "IOError")  # Python 2 has no subclass
    assert not (tmp_path / "outside.txt").exists()
    assert seen["connect"] != "ok" and listener.drain() == 0


def test_a_non_root_user_gets_a_network_namespace_through_a_user_namespace(
    listener: Listener,
) -> None:
    setpriv = shutil.which("setpriv")
    system_python = shutil.which("python3", path=os.defpath)  # not under root's home
    if os.getuid() != 0 or setpriv is None or system_python is None:
        pytest.skip("needs root, setpriv and a system python3 to run as another user")
    nobody = 65534
    # pytest's own folders are private to root: a folder of ours the other user can reach
    work = Path(tempfile.mkdtemp(prefix="rebuild-env-sandbox-test-"))
    try:
        work.chmod(0o755)
        write, reports = work / "writable", work / "report"
        for folder in (write, reports):
            folder.mkdir()
            folder.chmod(0o777)
        script = work / "child.py"
        script.write_text(CHILD)
        launcher = work / sandbox.LAUNCHER.name
        shutil.copy(sandbox.LAUNCHER, launcher)
        report = reports / sandbox.REPORT_FILE
        program = [system_python, script, write, reports / "outside.txt", str(listener.port)]
        args = [str(a) for a in sandbox.command(program, write=[write], report=report)]
        args[0], args[3] = system_python, str(launcher)
        user = [f"--reuid={nobody}", f"--regid={nobody}", "--clear-groups"]
        no_caps = ["--inh-caps=-all", "--bounding-set=-all"]
        done = subprocess.run(
            [setpriv, *user, *no_caps, *args],
            capture_output=True,
            text=True,
            timeout=LAUNCH_TIMEOUT_S,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        seen = json.loads(done.stdout)
        info = sandbox.read_report(report)
        assert info.netns and info.filesystem, info
        assert (write / "inside.txt").stat().st_uid == nobody  # the uid map kept the user
        assert seen["write_outside"] == "PermissionError" and seen["connect"] != "ok"
        assert not (reports / "outside.txt").exists()
        assert listener.drain() == 0
    finally:
        shutil.rmtree(work)


def test_the_launcher_reports_a_program_it_cannot_run(tmp_path: Path) -> None:
    done = launch([tmp_path / "no-such-program"], tmp_path, tmp_path / sandbox.REPORT_FILE)
    assert done.returncode == launcher.REFUSED_EXIT
    assert "cannot run" in done.stderr and "no-such-program" in done.stderr


def test_required_protections_in_place_let_the_program_run(tmp_path: Path) -> None:
    done = launch(
        [sys.executable, "-c", "print('ran')"], tmp_path, tmp_path / "r.json", "--require"
    )
    info = sandbox.read_report(tmp_path / "r.json")
    if not info.filesystem:
        assert done.returncode == launcher.REFUSED_EXIT and "refusing" in done.stderr
    else:
        assert done.returncode == 0 and done.stdout.strip() == "ran"


def test_descriptions() -> None:
    assert sandbox.OFF.describe() == "off (--no-sandbox)" and sandbox.OFF.shortfalls() == ()
    none = sandbox.unavailable()
    assert none.describe() == f"none: {sandbox.NO_PLATFORM}"
    assert none.shortfalls() == (sandbox.NO_PLATFORM,)
    partial = SandboxInfo(mode="on", netns=True, warnings=("no Landlock in this kernel (x)",))
    assert partial.describe() == "network namespace"
    assert partial.shortfalls() == (
        "the probe could write outside its folder",
        "no Landlock in this kernel (x)",
    )
    assert SandboxInfo.from_json(partial.to_json()) == partial
