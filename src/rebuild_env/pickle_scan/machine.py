"""A symbolic pickle machine: walks opcodes, simulates the stack and memo, never calls.

Every opcode that names or calls a global is recorded (GLOBAL, STACK_GLOBAL, INST, OBJ,
NEWOBJ, NEWOBJ_EX, REDUCE via the callable it applies); STACK_GLOBAL must find two literal
strings however they reached the stack; extension-registry opcodes are refused. joblib's
array payloads, which sit *between* opcodes, are skipped exactly (alignment padding
included) and object-dtype payloads are walked as nested pickles. Anything malformed
raises :class:`ScanError`: the caller refuses the file.
"""

from __future__ import annotations

import pickle  # its opcode constants only; nothing here unpickles
import pickletools
import struct
from dataclasses import dataclass, field

from .stream import ByteStream, Truncated

MAX_DECLARED = 1 << 34  # 16 GiB: larger declared lengths are lies
MAX_KEPT = 4096  # strings longer than this are skipped, not kept
MAX_KEPT_TOTAL = 8 << 20  # past this many bytes of kept strings, further ones are skipped too
MAX_NESTING = 8
# What a hostile file could otherwise grow without bound (a few bytes of input each, and a
# compressed file inflates to gigabytes): far above what real models use, far below RAM.
MAX_MEMO = 1 << 21
MAX_STACK = 1 << 20
MAX_GLOBALS = 1 << 16
JOBLIB_WRAPPER = ("joblib.numpy_pickle", "NumpyArrayWrapper")
_CODES = {op.code.encode("latin-1"): op for op in pickletools.opcodes}
_BINGET, _BININT1, _MEMOIZE = pickle.BINGET[0], pickle.BININT1[0], pickle.MEMOIZE[0]
_COMPAT = {"__builtin__": "builtins", "copy_reg": "copyreg"}


class ScanError(Exception):
    """The file is not a pickle the scanner can account for."""


class Mark:
    """The MARK sentinel."""


MARK = Mark()


STOP = b"."  # the opcode that ends a pickle


@dataclass(frozen=True)
class Global:
    module: str
    name: str


@dataclass
class Obj:
    """An object built from a global (by REDUCE, NEWOBJ, INST or OBJ)."""

    cls: object
    args: object
    state: object = None


@dataclass(frozen=True)
class Found:
    """A global referenced by the file, where, and whether it is called."""

    module: str
    name: str
    offset: int
    where: str


@dataclass
class Result:
    protocol: int = 0
    globals: list[Found] = field(default_factory=list)
    arrays: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)
    strings: dict[tuple[str, str], str] = field(default_factory=dict)
    """(module, name) of an object -> a version string found in its state."""
    kept_bytes: int = 0


def _int(stream: ByteStream, size: int, fmt: str) -> int:
    value: int = struct.unpack(fmt, stream.read(size))[0]
    return value


def _length(value: int) -> int:
    if value < 0 or value > MAX_DECLARED:
        raise ScanError(f"declared length {value} is out of bounds")
    return value


def _blob(stream: ByteStream, n: int) -> bytes | None:
    n = _length(n)
    if n > MAX_KEPT:
        stream.skip(n)
        return None
    return stream.read(n)


def _text(data: bytes | None, encoding: str = "utf-8") -> object:
    if data is None:
        return None
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        return None


def _read_arg(stream: ByteStream, kind: str) -> object:
    # the most frequent first: BININT1/BINPUT/BINGET, then SHORT_BINUNICODE
    if kind == "uint1":
        return stream.read(1)[0]
    if kind == "unicodestring1":
        return _text(_blob(stream, stream.read(1)[0]))
    if kind == "uint2":
        return _int(stream, 2, "<H")
    if kind in ("int4",):
        return _int(stream, 4, "<i")
    if kind == "uint4":
        return _int(stream, 4, "<I")
    if kind == "uint8":
        return _int(stream, 8, "<Q")
    if kind == "float8":
        stream.read(8)
        return None
    if kind == "long1":
        return int.from_bytes(stream.read(stream.read(1)[0]), "little", signed=True)
    if kind == "long4":
        n = _length(_int(stream, 4, "<i"))
        data = _blob(stream, n)
        return int.from_bytes(data, "little", signed=True) if data is not None else None
    if kind in ("string1", "bytes1"):
        return _text(_blob(stream, stream.read(1)[0]), "latin-1")
    if kind in ("string4", "bytes4"):
        return _text(_blob(stream, _int(stream, 4, "<i" if kind == "string4" else "<I")), "latin-1")
    if kind in ("bytes8", "bytearray8"):
        return _text(_blob(stream, _int(stream, 8, "<Q")), "latin-1")
    if kind == "unicodestring4":
        return _text(_blob(stream, _int(stream, 4, "<I")))
    if kind == "unicodestring8":
        return _text(_blob(stream, _int(stream, 8, "<Q")))
    if kind in ("stringnl", "stringnl_noescape", "unicodestringnl"):
        line = stream.readline().rstrip(b"\r\n").decode("latin-1")
        if kind == "stringnl" and len(line) >= 2 and line[0] == line[-1] and line[0] in "'\"":
            return line[1:-1]
        return line
    if kind == "stringnl_noescape_pair":
        first = stream.readline().rstrip(b"\r\n").decode("latin-1")
        second = stream.readline().rstrip(b"\r\n").decode("latin-1")
        return (first, second)
    if kind in ("decimalnl_short", "decimalnl_long", "floatnl"):
        text = stream.readline().strip().decode("latin-1").rstrip("L")
        try:
            return int(text)
        except ValueError:
            return None
    raise ScanError(f"unknown argument kind {kind}")


class Machine:
    """Walks one pickle (and the nested ones joblib embeds) from a stream."""

    def __init__(self, stream: ByteStream, result: Result, where: str, depth: int = 0) -> None:
        if depth > MAX_NESTING:
            raise ScanError("nested pickles go too deep")
        self.stream = stream
        self.result = result
        self.where = where
        self.depth = depth
        self.stack: list[object] = []
        # The memo as the pickler writes it, keys 0, 1, 2...: a list (8 bytes an entry);
        # keys out of that order go to a dict.
        self.memo: list[object] = []
        self.sparse_memo: dict[int, object] = {}
        self._object_dtypes: dict[int, tuple[object, bool]] = {}

    def _pop(self) -> object:
        if not self.stack:
            raise ScanError(f"stack underflow at offset {self.stream.position}")
        return self.stack.pop()

    def _pop_mark(self) -> list[object]:
        items: list[object] = []
        while True:
            item = self._pop()
            if item is MARK:
                items.reverse()
                return items
            items.append(item)

    def _global(self, module: object, name: object, offset: int) -> Global:
        if not isinstance(module, str) or not isinstance(name, str):
            raise ScanError(f"a global at offset {offset} is not named by two literal strings")
        if self.result.protocol < 3:
            module = _COMPAT.get(module, module)
        if len(self.result.globals) >= MAX_GLOBALS:
            raise ScanError(f"more than {MAX_GLOBALS} global references (offset {offset})")
        self.result.globals.append(Found(module, name, offset, self.where))
        return Global(module, name)

    def run(self) -> None:
        """Walk to STOP."""
        stream, stack, memo = self.stream, self.stack, self.memo
        while True:
            # Fast paths, on the stream's buffer without a call, for the three most frequent
            # opcodes of a joblib file (BINGET, BININT1, MEMOIZE: 60% of a forest's). Every
            # case they leave out (a sparse memo, the limits, the buffer's end) goes on to
            # the general path below, which checks it.
            buf, at = stream._buffer, stream._offset
            if at + 1 < len(buf):
                code_int = buf[at]
                if code_int == _BINGET and len(stack) < MAX_STACK and buf[at + 1] < len(memo):
                    stack.append(memo[buf[at + 1]])
                    stream._offset, stream.position = at + 2, stream.position + 2
                    continue
                if code_int == _BININT1 and len(stack) < MAX_STACK:
                    stack.append(buf[at + 1])
                    stream._offset, stream.position = at + 2, stream.position + 2
                    continue
                if code_int == _MEMOIZE and stack and not self.sparse_memo and len(memo) < MAX_MEMO:
                    memo.append(stack[-1])
                    stream._offset, stream.position = at + 1, stream.position + 1
                    continue
            offset = stream.position
            try:
                code = stream.read(1)
            except Truncated:
                raise ScanError("the pickle ends without STOP") from None
            op = _CODES.get(code)
            if op is None:
                raise ScanError(f"unknown opcode {code!r} at offset {offset}")
            arg = _read_arg(stream, op.arg.name) if op.arg is not None else None
            if code == STOP:
                self._pop()
                return
            self._step(op, arg, offset)
            if len(self.stack) > MAX_STACK:
                raise ScanError(f"the stack grows past {MAX_STACK} items (offset {offset})")

    def _has_object(self, dtype: object) -> bool:
        """``_has_object``, once per dtype object (a forest's trees share one, memoized)."""
        known = self._object_dtypes.get(id(dtype))
        if known is None or known[0] is not dtype:
            known = (dtype, _has_object(dtype))
            self._object_dtypes[id(dtype)] = known
        return known[1]

    def _step(self, op: pickletools.OpcodeInfo, arg: object, offset: int) -> None:
        name = op.name
        if name in _PUSH_ARG:  # the most frequent opcodes first (strings and ints)
            if isinstance(arg, (str, bytes)) and len(arg) > 64:
                # Kept strings are bounded in total, not only each (a file of many long
                # strings would otherwise grow the scan with the file).
                self.result.kept_bytes += len(arg)
                if self.result.kept_bytes > MAX_KEPT_TOTAL:
                    arg = None
            self.stack.append(arg)
            return
        if name == "PROTO":
            self.result.protocol = max(self.result.protocol, int(arg))  # type: ignore[call-overload]
            return
        if name == "FRAME":
            return
        if name in ("EXT1", "EXT2", "EXT4"):
            raise ScanError(f"extension-registry opcode {name} at offset {offset} is refused")
        if name in ("PERSID", "BINPERSID"):
            raise ScanError(f"persistent id at offset {offset} (external object) is refused")
        if name == "GLOBAL":
            module, _, attr = str(arg).partition(" ")
            pair = arg if isinstance(arg, tuple) else (module, attr)
            self.stack.append(self._global(pair[0], pair[1], offset))
            return
        if name == "STACK_GLOBAL":
            qualname = self._pop()
            owner = self._pop()
            self.stack.append(self._global(owner, qualname, offset))
            return
        if name == "INST":
            pair = arg if isinstance(arg, tuple) else (None, None)
            cls = self._global(pair[0], pair[1], offset)
            self.stack.append(Obj(cls, self._pop_mark()))
            return
        if name == "OBJ":
            items = self._pop_mark()
            if not items:
                raise ScanError(f"OBJ without a class at offset {offset}")
            self.stack.append(Obj(items[0], items[1:]))
            return
        if name in ("REDUCE", "NEWOBJ"):
            args = self._pop()
            self.stack.append(Obj(self._pop(), args))
            return
        if name == "NEWOBJ_EX":
            self._pop()
            args = self._pop()
            self.stack.append(Obj(self._pop(), args))
            return
        if name == "BUILD":
            state = self._pop()
            if not self.stack:
                raise ScanError(f"BUILD without an object at offset {offset}")
            target = self.stack[-1]
            if isinstance(target, Obj):
                target.state = state
                self._after_build(target)
            return
        if name in ("PUT", "BINPUT", "LONG_BINPUT"):
            if not self.stack:
                raise ScanError(f"memo store on an empty stack at offset {offset}")
            self._memoize(int(str(arg)), offset)
            return
        if name == "MEMOIZE":
            if not self.stack:
                raise ScanError(f"MEMOIZE on an empty stack at offset {offset}")
            self._memoize(len(self.memo) + len(self.sparse_memo), offset)
            return
        if name in ("GET", "BINGET", "LONG_BINGET"):
            key = int(str(arg))
            if 0 <= key < len(self.memo):
                self.stack.append(self.memo[key])
            elif key in self.sparse_memo:
                self.stack.append(self.sparse_memo[key])
            else:
                raise ScanError(f"memo key {key} read before it was written (offset {offset})")
            return
        if name == "DUP":
            if not self.stack:
                raise ScanError("DUP on an empty stack")
            self.stack.append(self.stack[-1])
            return
        if name == "MARK":
            self.stack.append(MARK)
            return
        if name in ("TUPLE", "LIST", "DICT", "FROZENSET"):
            items = self._pop_mark()
            self.stack.append(
                tuple(items) if name == "TUPLE" else _dict(items) if name == "DICT" else None
            )
            return
        if name in ("TUPLE1", "TUPLE2", "TUPLE3"):
            n = int(name[-1])
            items = [self._pop() for _ in range(n)][::-1]
            self.stack.append(tuple(items))
            return
        if name == "EMPTY_TUPLE":
            self.stack.append(())
            return
        if name == "EMPTY_DICT":
            self.stack.append({})
            return
        if name == "SETITEM":
            value = self._pop()
            dict_key = self._pop()
            target = self._peek(offset)
            if isinstance(target, dict) and isinstance(dict_key, str):
                target[dict_key] = value
            return
        if name == "SETITEMS":
            items = self._pop_mark()
            target = self._peek(offset)
            if isinstance(target, dict):
                target.update(_dict(items))
            return
        if name in ("BININT", "BININT1", "BININT2", "INT", "LONG", "LONG1", "LONG4"):
            self.stack.append(arg)
            return
        if name in ("NEWTRUE", "NEWFALSE", "NONE"):
            self.stack.append({"NEWTRUE": True, "NEWFALSE": False, "NONE": None}[name])
            return
        if "UNICODE" in name or "STRING" in name or "BYTES" in name:
            self.stack.append(arg)
            return
        self._generic(op, offset)

    def _memoize(self, key: int, offset: int) -> None:
        value = self.stack[-1]
        if 0 <= key < len(self.memo):
            self.memo[key] = value
            return
        if len(self.memo) + len(self.sparse_memo) >= MAX_MEMO and key not in self.sparse_memo:
            raise ScanError(f"more than {MAX_MEMO} memoized objects (offset {offset})")
        if key == len(self.memo):
            self.memo.append(value)
        else:
            self.sparse_memo[key] = value

    def _peek(self, offset: int) -> object:
        if not self.stack:
            raise ScanError(f"stack underflow at offset {offset}")
        return self.stack[-1]

    def _generic(self, op: pickletools.OpcodeInfo, offset: int) -> None:
        """Opcodes with no naming power: apply their documented stack effect."""
        for item in reversed(op.stack_before):
            if item is pickletools.stackslice:
                continue
            if item is pickletools.markobject:
                self._pop_mark()
            else:
                if not self.stack:
                    raise ScanError(f"stack underflow at {op.name} (offset {offset})")
                self.stack.pop()
        for item in op.stack_after:
            self.stack.append(MARK if item is pickletools.markobject else None)

    def _after_build(self, obj: Obj) -> None:
        cls = obj.cls
        state = obj.state
        if isinstance(cls, Global) and isinstance(state, dict):
            version = state.get("_sklearn_version")
            if isinstance(version, str):
                self.result.strings[(cls.module, cls.name)] = version
        if isinstance(cls, Global) and (cls.module, cls.name) == JOBLIB_WRAPPER:
            self._skip_joblib_array(state)

    def _skip_joblib_array(self, state: object) -> None:
        if not isinstance(state, dict):
            raise ScanError("joblib array wrapper without a state")
        shape = state.get("shape")
        dtype = state.get("dtype")
        if not isinstance(shape, tuple) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise ScanError("joblib array wrapper with an unreadable shape")
        code = _dtype_code(dtype)
        count = 1
        for d in shape:
            count *= d
        self.result.arrays.append((code, shape))
        if code.startswith("O") or self._has_object(dtype):
            nested = Machine(
                self.stream, self.result, "object array in joblib payload", self.depth + 1
            )
            nested.run()
            return
        itemsize = _itemsize(code)
        if (
            "numpy_array_alignment_bytes" in state
            and state["numpy_array_alignment_bytes"] is not None
        ):
            padding = self.stream.read(1)[0]
            self.stream.skip(padding)
        self.stream.skip(_length(count * itemsize))


def _dict(items: list[object]) -> dict[object, object]:
    out: dict[object, object] = {}
    for key, value in zip(items[::2], items[1::2], strict=False):
        if isinstance(key, (str, int)):
            out[key] = value
    return out


def _dtype_code(dtype: object) -> str:
    """``f8``, ``U40``, ``O8``... from a ``numpy.dtype`` reconstruction."""
    if isinstance(dtype, Obj) and isinstance(dtype.args, tuple) and dtype.args:
        first = dtype.args[0]
        if isinstance(first, str):
            return first.lstrip("<>|=")
    raise ScanError("joblib array wrapper with an unreadable dtype")


# Opcodes that push their argument as the value: strings, bytes, ints.
_PUSH_ARG = frozenset(
    op.name
    for op in pickletools.opcodes
    if any(kind in op.name for kind in ("UNICODE", "STRING", "BYTES"))
    or op.name in ("BININT", "BININT1", "BININT2", "INT", "LONG", "LONG1", "LONG4")
)


def _has_object(dtype: object, depth: int = 0) -> bool:
    """A structured dtype with an object field (its fields sit in the dtype's state)."""
    if depth > MAX_NESTING:
        return False
    if isinstance(dtype, Obj):
        first = dtype.args[0] if isinstance(dtype.args, tuple) and dtype.args else None
        if isinstance(first, str) and first.lstrip("<>|=").startswith("O"):
            return True
        return _has_object(dtype.state, depth + 1)
    if isinstance(dtype, (tuple, list)):
        return any(_has_object(item, depth + 1) for item in dtype)
    if isinstance(dtype, dict):
        return any(_has_object(item, depth + 1) for item in dtype.values())
    return False


def _itemsize(code: str) -> int:
    digits = "".join(ch for ch in code if ch.isdigit())
    if not digits:
        sizes = {"?": 1, "b": 1, "B": 1, "e": 2, "f": 4, "d": 8, "g": 16}
        if code in sizes:
            return sizes[code]
        raise ScanError(f"unknown dtype {code!r} in joblib payload")
    # 'U10' counts UCS-4 characters; every other code counts bytes
    return int(digits) * (4 if code.startswith("U") else 1)
