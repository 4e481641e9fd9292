"""A tiny pickle assembler: exact opcodes, so a payload is what the test says it is."""

from __future__ import annotations

import pickle
import struct

PROTO_HEAD = b"\x80"
Value = object


def proto(version: int) -> bytes:
    """The PROTO opcode (protocol 2 and newer)."""
    return PROTO_HEAD + bytes([version])


def text(value: str) -> bytes:
    """A str pushed by SHORT_BINUNICODE or BINUNICODE."""
    data = value.encode("utf-8")
    if len(data) < 1 << 8:
        return pickle.SHORT_BINUNICODE + bytes([len(data)]) + data
    return pickle.BINUNICODE + struct.pack("<I", len(data)) + data


def raw_bytes(value: bytes) -> bytes:
    """A bytes object (SHORT_BINBYTES / BINBYTES)."""
    if len(value) < 1 << 8:
        return pickle.SHORT_BINBYTES + bytes([len(value)]) + value
    return pickle.BINBYTES + struct.pack("<I", len(value)) + value


def integer(value: int) -> bytes:
    """An int (BININT or LONG1)."""
    if -(1 << 31) <= value < 1 << 31:
        return pickle.BININT + struct.pack("<i", value)
    data = value.to_bytes((value.bit_length() + 8) // 8, "little", signed=True)
    return pickle.LONG1 + bytes([len(data)]) + data


def value(item: Value) -> bytes:
    """Any of None, bool, int, str, bytes, tuple, list, dict (of those), as binary opcodes."""
    if item is None:
        return pickle.NONE
    if item is True:
        return pickle.NEWTRUE
    if item is False:
        return pickle.NEWFALSE
    if isinstance(item, int):
        return integer(item)
    if isinstance(item, str):
        return text(item)
    if isinstance(item, bytes):
        return raw_bytes(item)
    if isinstance(item, tuple):
        return pickle.MARK + b"".join(value(x) for x in item) + pickle.TUPLE
    if isinstance(item, list):
        return pickle.EMPTY_LIST + pickle.MARK + b"".join(value(x) for x in item) + pickle.APPENDS
    if isinstance(item, dict):
        body = b"".join(value(k) + value(v) for k, v in item.items())
        return pickle.EMPTY_DICT + pickle.MARK + body + pickle.SETITEMS
    if isinstance(item, Raw):
        return item.data
    raise TypeError(f"cannot assemble {item!r}")


class Raw:
    """Opcodes spliced in as they are (a nested call, a global)."""

    def __init__(self, data: bytes) -> None:
        self.data = data


def stack_global(module: str, name: str) -> bytes:
    """STACK_GLOBAL from two literal strings."""
    return text(module) + text(name) + pickle.STACK_GLOBAL


def global0(module: str, name: str) -> bytes:
    """The protocol-0 GLOBAL opcode."""
    return pickle.GLOBAL + module.encode() + b"\n" + name.encode() + b"\n"


def reduce_call(callable_ops: bytes, args: tuple[Value, ...]) -> bytes:
    """callable(*args) by REDUCE."""
    return callable_ops + value(args) + pickle.REDUCE


def newobj_call(cls_ops: bytes, args: tuple[Value, ...]) -> bytes:
    """cls.__new__(cls, *args) by NEWOBJ."""
    return cls_ops + value(args) + pickle.NEWOBJ


def newobj_ex_call(cls_ops: bytes, args: tuple[Value, ...], kwargs: dict[str, Value]) -> bytes:
    """cls.__new__(cls, *args, **kwargs) by NEWOBJ_EX."""
    return cls_ops + value(args) + value(kwargs) + pickle.NEWOBJ_EX


def obj_call(cls_ops: bytes, args: tuple[Value, ...]) -> bytes:
    """cls(*args) by OBJ (MARK cls args OBJ)."""
    return pickle.MARK + cls_ops + b"".join(value(a) for a in args) + pickle.OBJ


def inst_call(module: str, name: str, args: tuple[Value, ...]) -> bytes:
    """cls(*args) by the protocol-0 INST opcode."""
    head = pickle.MARK + b"".join(value(a) for a in args)
    return head + pickle.INST + module.encode() + b"\n" + name.encode() + b"\n"


def build(state: Value) -> bytes:
    """BUILD with ``state`` on the object on top of the stack."""
    return value(state) + pickle.BUILD


def program(*parts: bytes, protocol: int = 4) -> bytes:
    """A whole pickle: PROTO, the parts, STOP (the last part is the loaded object)."""
    head = proto(protocol) if protocol >= 2 else b""
    return head + b"".join(parts) + pickle.STOP
