"""The OS sandbox around the probe: a launcher that confines itself, then execs the probe.

The probe unpickles a model, and a pickle can run code, so the probe runs confined even
when the scan passed (or the user passed ``--trust``). The probe's interpreter may be
Python 2.7 or 3.6, and code in it cannot be trusted to confine itself anyway, so the
confinement is applied by this launcher, run by the *host's* interpreter, before it
``exec``s the probe command; the kernel keeps it across ``exec``::

    python -I -S sandbox.py --write DIR [--write DIR2] --report FILE -- PROGRAM ARGS...

On Linux, in this order:

1. ``PR_SET_NO_NEW_PRIVS`` (Landlock needs it; no setuid program regains privileges);
2. a network namespace (``unshare(CLONE_NEWNET)``; without root, inside a user namespace
   mapping the caller's own uid and gid): a loopback interface that is down, so no TCP,
   UDP or abstract unix socket reaches the host or the network;
3. the capability bounding set emptied, so a probe run by root keeps no capability after
   ``exec`` (no module loading, no raw devices, no ``sethostname``);
4. a mount namespace with a private, empty tmpfs on ``/dev/shm`` (named semaphores);
5. Landlock: read and execute anywhere, write only beneath the ``--write`` folders (and
   ``/dev/null``, ``/dev/shm``), no TCP bind or connect (ABI >= 4), no abstract unix
   socket or signal reaching outside the sandbox (ABI >= 6).

Each step that the kernel refuses is reported instead of being fatal (``--require`` makes
a missing filesystem or network restriction fatal). The report is JSON written to
``--report`` through a file opened *before* the confinement, so it can live outside the
probe's writable folders where the probe cannot rewrite it. ``TMPDIR``, ``TEMP`` and
``TMP`` point into the first writable folder.

The host builds the command and reads the report with :mod:`.sandbox_report`. This file
runs before every probe, so it imports only ``os``, ``sys`` and ``ctypes`` (``json``,
``pathlib``, ``typing`` and ``dataclasses`` would double its 30 ms start).
"""

from __future__ import annotations

import ctypes
import os
import sys

TMP_DIR = "tmp"
REFUSED_EXIT = 125
"""The launcher's exit code when ``--require`` is given and a protection is missing."""
NO_PLATFORM = "no OS sandbox on this platform"

# <linux/prctl.h>, <linux/sched.h>, <linux/capability.h>
_PR_SET_NO_NEW_PRIVS = 38
_PR_CAPBSET_DROP = 24
_CLONE_NEWNET = 0x40000000
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNS = 0x00020000
_MS_NOSUID = 0x2
_MS_NODEV = 0x4
_MS_REC = 0x4000
_MS_PRIVATE = 1 << 18
_CAP_LAST_CAP_FILE = "/proc/sys/kernel/cap_last_cap"
_CAP_LAST_CAP_DEFAULT = 40

# <linux/landlock.h>: the syscall numbers are the same on every Linux architecture.
_SYS_LANDLOCK_CREATE_RULESET = 444
_SYS_LANDLOCK_ADD_RULE = 445
_SYS_LANDLOCK_RESTRICT_SELF = 446
_LANDLOCK_CREATE_RULESET_VERSION = 1
_LANDLOCK_RULE_PATH_BENEATH = 1
_ABI_NET = 4
_ABI_SCOPE = 6
# Filesystem rights: (bit, first ABI that knows it).
_FS_EXECUTE = (1 << 0, 1)
_FS_WRITE_FILE = (1 << 1, 1)
_FS_READ_FILE = (1 << 2, 1)
_FS_READ_DIR = (1 << 3, 1)
_FS_OTHER_V1 = ((1 << 13) - 1, 1)  # remove/make dir, file, char, sock, fifo, block, symlink
_FS_REFER = (1 << 13, 2)
_FS_TRUNCATE = (1 << 14, 3)
_FS_IOCTL_DEV = (1 << 15, 5)
_ALL_FS = (_FS_OTHER_V1, _FS_REFER, _FS_TRUNCATE, _FS_IOCTL_DEV)
_READ_FS = (_FS_EXECUTE, _FS_READ_FILE, _FS_READ_DIR)
_DEVICE_FS = (_FS_READ_FILE, _FS_WRITE_FILE, _FS_TRUNCATE, _FS_IOCTL_DEV)
_NET_BIND_TCP = 1 << 0
_NET_CONNECT_TCP = 1 << 1
_SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0
_SCOPE_SIGNAL = 1 << 1
_U64 = 8
_FIRST_PRINTABLE = 0x20
_SURROGATES = (0xD800, 0xDFFF)  # an undecodable byte of a path, kept by os as a lone surrogate

# seccomp: Landlock (ABI <= 7) does not cover connecting to a pathname unix socket (a
# docker.sock would be a way out), so socket(AF_UNIX, ...) is refused with EPERM
# (socketpair, which multiprocessing uses, stays allowed), and io_uring, which could open
# a socket around the filter, is refused too. <linux/seccomp.h>, <linux/filter.h>
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
_SECCOMP_RET_ALLOW = 0x7FFF0000
_SECCOMP_RET_ERRNO = 0x00050000
_EPERM = 1
_AF_UNIX = 1
_BPF_LD_W_ABS = 0x20
_BPF_JEQ_K = 0x15
_BPF_JSET_K = 0x45
_BPF_RET_K = 0x06
_SECCOMP_NR = 0  # offsets in struct seccomp_data
_SECCOMP_ARCH = 4
_SECCOMP_ARG0_LOW = 16  # little-endian: the low 32 bits of the first argument
_SYS_IO_URING_SETUP = 425  # the same on every architecture
# machine -> (AUDIT_ARCH_*, socket syscall number, bits that mark another syscall ABI)
_SECCOMP_ARCHES = {
    "x86_64": (0xC000003E, 41, 0x40000000),  # x32 syscalls set bit 30
    "aarch64": (0xC00000B7, 198, 0),
}
# Files every program writes to; beneath "/" they are readable only.
_WRITABLE_DEVICES = ("/dev/null",)
# Named POSIX semaphores live in /dev/shm: joblib creates one when it is imported (else it
# warns "joblib will operate in serial mode"), multiprocessing for its locks. The probe
# gets a private, empty tmpfs there when a mount namespace is allowed.
_SHARED_MEMORY = "/dev/shm"


class Found:
    """What held: the report's fields (read back by :mod:`.sandbox_report`)."""

    def __init__(self) -> None:
        self.mode = "on"
        self.landlock_abi = 0
        self.filesystem = False
        self.tcp = False
        self.scoped = False
        self.netns = False
        self.private_shm = False
        self.capabilities = False
        self.unix_sockets = False
        self.warnings: list[str] = []

    def to_json(self) -> str:
        """The report as a JSON object (written by hand: ``json`` costs the launcher 20 ms)."""
        fields = ", ".join(f"{_json_string(k)}: {_json(v)}" for k, v in vars(self).items())
        return "{" + fields + "}"


def _json(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_json(v) for v in value) + "]"
    return _json_string(str(value))


def _json_string(text: str) -> str:
    """A JSON string: quotes, backslashes and control characters escaped."""
    escaped = (
        f"\\u{ord(c):04x}"
        if c in '"\\' or ord(c) < _FIRST_PRINTABLE or _SURROGATES[0] <= ord(c) <= _SURROGATES[1]
        else c
        for c in text
    )
    return '"' + "".join(escaped) + '"'


def available() -> bool:
    """Whether this platform has the launcher (Linux)."""
    return sys.platform.startswith("linux")


def _rights(abi: int, *rights: tuple[int, int]) -> int:
    """The union of ``rights`` that this Landlock ABI knows."""
    mask = 0
    for bit, since in rights:
        if abi >= since:
            mask |= bit
    return mask


class _PathBeneath(ctypes.Structure):
    """``struct landlock_path_beneath_attr`` (packed)."""

    _pack_ = 1
    _fields_ = (("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32))


class _SockFilter(ctypes.Structure):
    """``struct sock_filter``: one classic BPF instruction."""

    _fields_ = (
        ("code", ctypes.c_uint16),
        ("jt", ctypes.c_uint8),
        ("jf", ctypes.c_uint8),
        ("k", ctypes.c_uint32),
    )


class _SockFprog(ctypes.Structure):
    """``struct sock_fprog``."""

    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter)))


class _Kernel:
    """The few system calls the launcher makes, through ctypes."""

    def __init__(self) -> None:
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.libc.syscall.restype = ctypes.c_long

    def error(self) -> str:
        return os.strerror(ctypes.get_errno())

    def prctl(self, option: int, arg: int) -> bool:
        return int(self.libc.prctl(option, arg, 0, 0, 0)) == 0

    def unshare(self, flags: int) -> bool:
        return int(self.libc.unshare(flags)) == 0

    def mount(self, source: str, target: str, kind: str | None, flags: int) -> bool:
        encoded = kind.encode() if kind else None
        return int(self.libc.mount(source.encode(), target.encode(), encoded, flags, None)) == 0

    def syscall(self, number: int, *args: object) -> int:
        return int(self.libc.syscall(number, *args))


def _write_file(path: str, text: str) -> None:
    handle = os.open(path, os.O_WRONLY)
    try:
        os.write(handle, text.encode("ascii"))
    finally:
        os.close(handle)


def _new_netns(kernel: _Kernel, warnings: list[str]) -> bool:
    """A network namespace of our own; without root, inside a user namespace."""
    if kernel.unshare(_CLONE_NEWNET):
        return True
    uid, gid = os.getuid(), os.getgid()
    if not kernel.unshare(_CLONE_NEWUSER | _CLONE_NEWNET):
        warnings.append(f"no network namespace: unshare failed ({kernel.error()})")
        return False
    maps = (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1"))
    try:  # keep the caller's uid and gid: the files the probe writes stay the user's
        for name, text in maps:
            _write_file(f"/proc/self/{name}", text)
    except OSError as exc:
        warnings.append(f"user namespace without an id map: {exc.strerror}")
    return True


def _private_shm(kernel: _Kernel) -> bool:
    """An empty tmpfs on /dev/shm in a mount namespace of our own (the host's stays unseen)."""
    if not os.path.isdir(_SHARED_MEMORY) or not kernel.unshare(_CLONE_NEWNS):  # noqa: PTH112
        return False
    # mounts made here must not propagate back to the host's namespace
    if not kernel.mount("none", "/", None, _MS_REC | _MS_PRIVATE):
        return False
    return kernel.mount("tmpfs", _SHARED_MEMORY, "tmpfs", _MS_NOSUID | _MS_NODEV)


def _deny_unix_sockets(kernel: _Kernel, warnings: list[str]) -> bool:
    """A seccomp filter: ``socket(AF_UNIX)`` and ``io_uring_setup`` fail with EPERM; so
    does every syscall of another ABI (i386, x32), which could bypass the numbers below."""
    found = _SECCOMP_ARCHES.get(os.uname().machine)
    if found is None:
        warnings.append(f"no seccomp filter for {os.uname().machine}: unix sockets stay open")
        return False
    arch, socket_nr, other_abi = found
    allow, deny = 8, 9  # the indexes of the two return instructions
    program = [
        (_BPF_LD_W_ABS, 0, 0, _SECCOMP_ARCH),
        (_BPF_JEQ_K, 0, deny - 2, arch),
        (_BPF_LD_W_ABS, 0, 0, _SECCOMP_NR),
        (_BPF_JSET_K, deny - 4, 0, other_abi),
        (_BPF_JEQ_K, deny - 5, 0, _SYS_IO_URING_SETUP),
        (_BPF_JEQ_K, 0, allow - 6, socket_nr),
        (_BPF_LD_W_ABS, 0, 0, _SECCOMP_ARG0_LOW),
        (_BPF_JEQ_K, deny - 8, allow - 8, _AF_UNIX),
        (_BPF_RET_K, 0, 0, _SECCOMP_RET_ALLOW),
        (_BPF_RET_K, 0, 0, _SECCOMP_RET_ERRNO | _EPERM),
    ]
    filters = (_SockFilter * len(program))(*(_SockFilter(*op) for op in program))
    fprog = _SockFprog(len(program), filters)
    done = kernel.libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0)
    if int(done) != 0:
        warnings.append(f"no seccomp filter ({kernel.error()}): unix sockets stay open")
        return False
    return True


def _drop_capabilities(kernel: _Kernel) -> bool:
    """Empty the bounding set: after exec the probe has no capability, even as root."""
    try:
        with open(_CAP_LAST_CAP_FILE, encoding="ascii") as handle:  # noqa: PTH123
            last = int(handle.read())
    except (OSError, ValueError):
        last = _CAP_LAST_CAP_DEFAULT
    dropped = True
    for cap in range(last + 1):
        dropped = kernel.prctl(_PR_CAPBSET_DROP, cap) and dropped
    return dropped


def _landlock(kernel: _Kernel, write: list[str], found: Found) -> None:
    """Restrict this process (and what it execs) with Landlock; record what held."""
    abi = kernel.syscall(_SYS_LANDLOCK_CREATE_RULESET, None, 0, _LANDLOCK_CREATE_RULESET_VERSION)
    if abi < 1:
        found.warnings.append(f"no Landlock in this kernel ({kernel.error()})")
        return
    found.landlock_abi = abi
    handled_fs = _rights(abi, *_ALL_FS)
    handled_net = _NET_BIND_TCP | _NET_CONNECT_TCP if abi >= _ABI_NET else 0
    scoped = _SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL if abi >= _ABI_SCOPE else 0
    attr = (ctypes.c_uint64 * 3)(handled_fs, handled_net, scoped)
    size = _U64 * (3 if abi >= _ABI_SCOPE else 2 if abi >= _ABI_NET else 1)
    ruleset = kernel.syscall(_SYS_LANDLOCK_CREATE_RULESET, ctypes.byref(attr), size, 0)
    if ruleset < 0:
        found.warnings.append(f"Landlock refused the ruleset ({kernel.error()})")
        return

    rules = [("/", _rights(abi, *_READ_FS))]
    rules += [(path, _rights(abi, *_DEVICE_FS)) for path in _WRITABLE_DEVICES]
    rules += [(path, handled_fs) for path in (*write, _SHARED_MEMORY)]
    try:
        for path, access in rules:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                found.warnings.append(f"cannot open {path} for a Landlock rule")
                continue
            try:
                rule = _PathBeneath(access, fd)
                added = kernel.syscall(
                    _SYS_LANDLOCK_ADD_RULE,
                    ruleset,
                    _LANDLOCK_RULE_PATH_BENEATH,
                    ctypes.byref(rule),
                    0,
                )
                if added != 0:
                    found.warnings.append(f"Landlock rule for {path}: {kernel.error()}")
            finally:
                os.close(fd)
        if kernel.syscall(_SYS_LANDLOCK_RESTRICT_SELF, ruleset, 0) != 0:
            found.warnings.append(f"Landlock restrict_self failed ({kernel.error()})")
            return
    finally:
        os.close(ruleset)
    found.filesystem = True
    found.tcp = bool(handled_net)
    found.scoped = bool(scoped)


def confine(write: list[str]) -> Found:
    """Confine this process as the module docstring says; the report of what held."""
    found = Found()
    if not available():
        found.mode = "unavailable"
        found.warnings.append(NO_PLATFORM)
        return found
    kernel = _Kernel()
    if not kernel.prctl(_PR_SET_NO_NEW_PRIVS, 1):
        found.warnings.append(f"no_new_privs refused ({kernel.error()})")
    found.netns = _new_netns(kernel, found.warnings)
    found.private_shm = _private_shm(kernel)
    found.capabilities = _drop_capabilities(kernel)
    _landlock(kernel, write, found)
    found.unix_sockets = _deny_unix_sockets(kernel, found.warnings)
    return found


def _parse(argv: list[str]) -> tuple[list[str], str | None, bool, list[str]]:
    """``--write DIR``..., ``--report FILE``, ``--require``, ``--``, then the command."""
    write: list[str] = []
    report = None
    require = False
    args = list(argv)
    while args and args[0] != "--":
        flag = args.pop(0)
        if flag == "--require":
            require = True
        elif flag in ("--write", "--report") and args:
            value = os.path.abspath(args.pop(0))  # noqa: PTH100
            if flag == "--write":
                write.append(value)
            else:
                report = value
        else:
            raise SystemExit(f"sandbox: unknown argument {flag!r}")
    if len(args) < 2:
        raise SystemExit("sandbox: usage: sandbox.py --write DIR [--report FILE] -- PROGRAM ARGS")
    return write, report, require, args[1:]


def main(argv: list[str]) -> int:
    """Confine, report, exec the command (``--require``: refuse when unconfined)."""
    write, report, require, program = _parse(argv)
    # Opened before the confinement: the report may live where the probe cannot write.
    handle = os.open(report, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC) if report else -1
    found = confine(write)
    if handle >= 0:
        try:
            os.write(handle, found.to_json().encode("utf-8"))
        finally:
            os.close(handle)
    if require and not (found.filesystem and (found.tcp or found.netns)):
        missing = "; ".join(found.warnings) or "no protection applied"
        print(f"sandbox: refusing to run unconfined: {missing}", file=sys.stderr)
        return REFUSED_EXIT
    env = dict(os.environ)
    if write:
        tmp = os.path.join(write[0], TMP_DIR)  # noqa: PTH118
        os.makedirs(tmp, exist_ok=True)  # noqa: PTH103
        env.update(TMPDIR=tmp, TEMP=tmp, TMP=tmp)
    try:
        os.execve(program[0], program, env)
    except OSError as exc:
        print(f"sandbox: cannot run {program[0]}: {exc.strerror}", file=sys.stderr)
        return REFUSED_EXIT
    return REFUSED_EXIT  # not reached: execve replaced this process


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
