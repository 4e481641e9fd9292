"""Sentinel fragments for fuzzing: stack-neutral opcode runs that touch a marker when loaded.

Spliced between two opcodes of a real pickle, a fragment leaves the stack as it found it
(it pops its own result), so the file still loads and the side effect happens.
"""

from __future__ import annotations

import pickle
import pickletools
from collections.abc import Callable
from pathlib import Path

from tests.hostile.pickles import (
    global0,
    inst_call,
    newobj_call,
    obj_call,
    reduce_call,
    stack_global,
    text,
    value,
)

MEMO_KEY = 1 << 20  # far above any key the real pickle uses
Fragment = Callable[[Path], bytes]


def _popped(ops: bytes) -> bytes:
    return ops + pickle.POP


def system_reduce(marker: Path) -> bytes:
    return _popped(reduce_call(stack_global("posix", "system"), (f"touch '{marker}'",)))


def open_global0(marker: Path) -> bytes:
    return _popped(reduce_call(global0("builtins", "open"), (str(marker), "w")))


def open_inst(marker: Path) -> bytes:
    return _popped(inst_call("builtins", "open", (str(marker), "w")))


def gzipfile_obj(marker: Path) -> bytes:
    cls = stack_global("sklearn.datasets._covtype", "GzipFile")
    return _popped(obj_call(cls, (str(marker), "wb")))


def fortranfile_reduce(marker: Path) -> bytes:
    return _popped(reduce_call(stack_global("scipy.io", "FortranFile"), (str(marker), "w")))


def memory_memoized_names(marker: Path) -> bytes:
    """joblib.Memory, its two names stored with LONG_BINPUT and fetched back."""
    put = pickle.LONG_BINPUT + MEMO_KEY.to_bytes(4, "little")
    put2 = pickle.LONG_BINPUT + (MEMO_KEY + 1).to_bytes(4, "little")
    get = pickle.LONG_BINGET + MEMO_KEY.to_bytes(4, "little")
    get2 = pickle.LONG_BINGET + (MEMO_KEY + 1).to_bytes(4, "little")
    names = text("joblib") + put + pickle.POP + text("Memory") + put2 + pickle.POP
    call = names + get + get2 + pickle.STACK_GLOBAL + value((str(marker),)) + pickle.REDUCE
    return _popped(call)


def memmap_newobj(marker: Path) -> bytes:
    args = (str(marker), "uint8", "w+", 0, (1,))
    return _popped(newobj_call(stack_global("numpy", "memmap"), args))


def escaped_path_touch(marker: Path) -> bytes:
    """Path.touch named by a protocol-0 STRING with the dot escaped."""
    path = reduce_call(stack_global("sklearn.datasets._base", "Path"), (str(marker),))
    named = b"S'sklearn.datasets._base'\nS'Path\\x2etouch'\n" + pickle.STACK_GLOBAL
    return _popped(named + pickle.MARK + path + pickle.TUPLE + pickle.REDUCE)


DOTTED_FROM_PROTOCOL = 4  # pickle resolves a dotted qualname only from protocol 4 on


def fragments(protocol: int) -> tuple[Fragment, ...]:
    """The fragments that fire in a pickle of ``protocol``."""
    if protocol >= DOTTED_FROM_PROTOCOL:
        return FRAGMENTS
    return tuple(f for f in FRAGMENTS if f is not escaped_path_touch)


FRAGMENTS: tuple[Fragment, ...] = (
    system_reduce,
    open_global0,
    open_inst,
    gzipfile_obj,
    fortranfile_reduce,
    memory_memoized_names,
    memmap_newobj,
    escaped_path_touch,
)


def unframed(data: bytes) -> tuple[bytes, list[int]]:
    """``data`` without its FRAME opcodes (legal, and splicing cannot break a frame), and
    the offsets between two opcodes where a fragment may go (after PROTO, up to STOP)."""
    out = bytearray()
    boundaries = []
    ops = list(pickletools.genops(data))
    for index, (op, _arg, pos) in enumerate(ops):
        end = ops[index + 1][2] if index + 1 < len(ops) else len(data)
        if op.name == "FRAME":
            continue
        if op.name != "PROTO":
            boundaries.append(len(out))
        out += data[pos:end]
    return bytes(out), boundaries
