"""A symbolic pickle machine: walks opcodes, simulates the stack and memo, never calls.

Every opcode that names or calls a global is recorded (GLOBAL, STACK_GLOBAL, INST, OBJ,
NEWOBJ, NEWOBJ_EX, REDUCE via the callable it applies); STACK_GLOBAL must find two literal
strings however they reached the stack; extension-registry opcodes and persistent ids are
refused. Arguments are decoded exactly as CPython's unpickler decodes them (escapes in
protocol-0 strings, UTF-8 with surrogates, ``_compat_pickle``'s renames below protocol 3).

In joblib mode (the main pickle of a file ``joblib.load`` reads) the array payloads that
sit *between* opcodes are sized from the wrapper's dtype the way numpy sizes it
(``dtypes.py``) and skipped exactly, padding included; object-dtype payloads are walked as
the plain nested pickles joblib loads with ``pickle.load``. A wrapper must be built the
ways joblib builds it, so that its attributes are exactly the ones the scanner read.

The whole walk is bounded: bytes walked as opcodes, plus every node visited by a check,
count against one budget (:class:`Budget`). Anything malformed, ambiguous or over budget
raises :class:`ScanError`: the caller refuses the file.
"""

from __future__ import annotations

import _compat_pickle
import pickle  # its opcode constants only; nothing here unpickles
import pickletools
from collections.abc import Callable
from dataclasses import dataclass, field

from . import dtypes
from .opargs import length, read_arg
from .stream import ByteStream, Truncated
from .values import MARK, OPAQUE_KEY, UNKNOWN, Global, Mark, Obj, ScanError

__all__ = ["Budget", "Found", "Machine", "Result", "ScanError", "TooComplex"]

MAX_KEPT_TOTAL = 8 << 20  # past this many bytes of kept strings, further ones are skipped too
MAX_NESTING = 8
# What a hostile file could otherwise grow without bound (a few bytes of input each, and a
# compressed file inflates to gigabytes): far above what real models use, far below RAM.
MAX_MEMO = 1 << 21
MAX_STACK = 1 << 20
MAX_GLOBALS = 1 << 16
WRAPPERS = frozenset({"NumpyArrayWrapper", "NDArrayWrapper", "ZNDArrayWrapper"})
COMPAT_WRAPPERS = frozenset({"NDArrayWrapper", "ZNDArrayWrapper"})
WRAPPER_MODULES = frozenset(
    {
        "joblib.numpy_pickle",
        "joblib.numpy_pickle_compat",
        "sklearn.externals.joblib.numpy_pickle",
        "sklearn.externals.joblib.numpy_pickle_compat",
    }
)
RECONSTRUCTOR = ("copyreg", "_reconstructor")
_CODES = {op.code.encode("latin-1"): op for op in pickletools.opcodes}
_BINGET, _BININT1, _MEMOIZE = pickle.BINGET[0], pickle.BININT1[0], pickle.MEMOIZE[0]


class TooComplex(ScanError):
    """The walk ran past its budget."""


@dataclass
class Budget:
    """Work allowed for one file: opcode bytes walked plus nodes visited by checks."""

    limit: int
    steps: int = 0

    def charge(self, n: int = 1) -> None:
        """Spend ``n`` steps; past the limit the file is refused."""
        self.steps += n
        self.check()

    def check(self, walking: int = 0) -> None:
        """Refuse once the steps, plus ``walking`` opcode bytes not yet charged, pass the limit."""
        if self.steps + walking > self.limit:
            raise TooComplex(
                f"proving it safe takes more than {self.limit:,} steps (a memo or "
                "decompression blow-up); too complex to prove safe"
            )


@dataclass(frozen=True)
class Found:
    """A global referenced by the file, and where."""

    module: str
    name: str
    offset: int
    where: str


@dataclass(frozen=True)
class Companion:
    """A file next to the model that joblib < 0.10's wrappers read (``.npy`` or z-file)."""

    filename: str
    compressed: bool


@dataclass
class Result:
    protocol: int = 0
    globals: list[Found] = field(default_factory=list)
    arrays: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)
    strings: dict[tuple[str, str], str] = field(default_factory=dict)
    """(module, name) of an object -> a version string found in its state."""
    companions: list[Companion] = field(default_factory=list)
    wrappers: int = 0
    kept_bytes: int = 0


class Machine:
    """Walks one pickle (and the nested ones joblib embeds) from a stream."""

    def __init__(
        self,
        stream: ByteStream,
        result: Result,
        where: str,
        budget: Budget,
        *,
        joblib: bool,
        depth: int = 0,
    ) -> None:
        if depth > MAX_NESTING:
            raise ScanError("nested pickles go too deep")
        self.stream = stream
        self.result = result
        self.where = where
        self.budget = budget
        self.joblib = joblib
        self.depth = depth
        self.proto = 0  # as the unpickler tracks it: the last PROTO seen
        self.frame_end = 0
        self.value: object = UNKNOWN
        """What the pickle evaluates to, as far as the machine models it (after STOP)."""
        self.stack: list[object] = []
        # The memo as the pickler writes it, keys 0, 1, 2...: a list (8 bytes an entry);
        # keys out of that order go to a dict.
        self.memo: list[object] = []
        self.sparse_memo: dict[int, object] = {}

    def _pop(self) -> object:
        if not self.stack or self.stack[-1] is MARK:  # the unpickler never pops past a MARK
            raise ScanError(f"stack underflow at offset {self.stream.position}")
        return self.stack.pop()

    def _pop_mark(self, *, class_first: bool = False) -> list[object]:
        """The items above the last MARK. ``class_first`` (OBJ): the first is the class
        being built, which may be a joblib wrapper; the others may not."""
        stack = self.stack
        for i in range(len(stack) - 1, -1, -1):
            if stack[i] is MARK:
                items = stack[i + 1 :]
                del stack[i:]
                self.budget.charge(len(items))
                self._no_wrapper(items[1:] if class_first else items)
                return items
        raise ScanError(f"no MARK on the stack at offset {self.stream.position}")

    def _no_wrapper(self, items: list[object] | tuple[object, ...]) -> None:
        """In joblib mode a wrapper class may only be instantiated directly: passed on as a
        value (to a reconstructor, a partial, a state) it could be built in a way whose
        attributes the scanner did not read."""
        if not self.joblib:
            return
        for item in items:
            if isinstance(item, Global) and item.name in WRAPPERS:
                raise ScanError(
                    f"joblib array wrapper {item.module}.{item.name} is passed as a value "
                    f"(offset {self.stream.position}); joblib never writes that"
                )

    def _global(self, module: object, name: object, offset: int) -> Global:
        if not isinstance(module, str) or not isinstance(name, str):
            raise ScanError(f"a global at offset {offset} is not named by two literal strings")
        if self.proto < 3:  # what the unpickler's fix_imports does
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            elif module in _compat_pickle.IMPORT_MAPPING:
                module = _compat_pickle.IMPORT_MAPPING[module]
        if len(self.result.globals) >= MAX_GLOBALS:
            raise ScanError(f"more than {MAX_GLOBALS} global references (offset {offset})")
        self.result.globals.append(Found(module, name, offset, self.where))
        return Global(module, name)

    def run(self) -> None:
        """Walk to STOP."""
        stream, stack, memo, budget = self.stream, self.stack, self.memo, self.budget
        while True:
            # Fast paths, on the stream's buffer without a call, for the three most frequent
            # opcodes of a joblib file (BINGET, BININT1, MEMOIZE: 60% of a forest's). Every
            # case they leave out (a sparse memo, the limits, the buffer's end) goes on to
            # the general path below, which checks it. They push onto the stack or the memo,
            # both bounded, so they run at most that many times between two checks.
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
            budget.check(stream.walked)
            try:
                code = stream.read(1)
            except Truncated:
                raise ScanError("the pickle ends without STOP") from None
            op = _CODES.get(code)
            if op is None:
                raise ScanError(f"unknown opcode {code!r} at offset {offset}")
            arg = read_arg(stream, op) if op.arg is not None else None
            if code == b".":  # STOP
                self.value = self._pop()
                return
            self._step(op, arg, offset)
            if len(stack) > MAX_STACK:
                raise ScanError(f"the stack grows past {MAX_STACK} items (offset {offset})")

    def _step(self, op: pickletools.OpcodeInfo, arg: object, offset: int) -> None:
        name = op.name
        if name in _PUSH_ARG:  # the most frequent opcodes first (strings and ints)
            if isinstance(arg, (str, bytes)) and len(arg) > 64:
                # Kept strings are bounded in total, not only each (a file of many long
                # strings would otherwise grow the scan with the file).
                self.result.kept_bytes += len(arg)
                if self.result.kept_bytes > MAX_KEPT_TOTAL:
                    arg = UNKNOWN
            self.stack.append(arg)
            return
        handler = _HANDLERS.get(name)
        if handler is not None:
            handler(self, arg, offset)
            return
        self._generic(op, offset)

    # --- opcodes that name or call globals -------------------------------------------

    def _op_global(self, arg: object, offset: int) -> None:
        pair = arg if isinstance(arg, tuple) else (UNKNOWN, UNKNOWN)
        self.stack.append(self._global(pair[0], pair[1], offset))

    def _op_stack_global(self, arg: object, offset: int) -> None:
        qualname = self._pop()
        owner = self._pop()
        self.stack.append(self._global(owner, qualname, offset))

    def _op_inst(self, arg: object, offset: int) -> None:
        pair = arg if isinstance(arg, tuple) else (UNKNOWN, UNKNOWN)
        cls = self._global(pair[0], pair[1], offset)
        args = self._pop_mark()
        self.stack.append(self._construct(cls, tuple(args), "inst", offset))

    def _op_obj(self, arg: object, offset: int) -> None:
        items = self._pop_mark(class_first=True)
        if not items:
            raise ScanError(f"OBJ without a class at offset {offset}")
        self.stack.append(self._construct(items[0], tuple(items[1:]), "obj", offset))

    def _op_reduce(self, arg: object, offset: int) -> None:
        args = self._pop()
        self.stack.append(self._construct(self._pop(), args, "reduce", offset))

    def _op_newobj(self, arg: object, offset: int) -> None:
        args = self._pop()
        self.stack.append(self._construct(self._pop(), args, "newobj", offset))

    def _op_newobj_ex(self, arg: object, offset: int) -> None:
        kwargs = self._pop()
        args = self._pop()
        self._no_wrapper((kwargs,))
        self.stack.append(self._construct(self._pop(), args, "newobj", offset))

    def _construct(self, cls: object, args: object, how: str, offset: int) -> object:
        if isinstance(args, tuple):
            self._no_wrapper(args)
        elif isinstance(args, Global):
            self._no_wrapper((args,))
        reconstructs = isinstance(cls, Global) and (cls.module, cls.name) == RECONSTRUCTOR
        if reconstructs and self.joblib and isinstance(args, tuple) and args:
            # protocol 0/1 objects: copyreg._reconstructor(cls, object, None) is cls.__new__
            target = args[0]
            if isinstance(target, Global) and target.name in WRAPPERS:
                if args[1:] != (Global("builtins", "object"), None):
                    raise ScanError(f"joblib array wrapper rebuilt oddly at offset {offset}")
                return Obj(target, (), "newobj")
        if self.joblib and isinstance(cls, Global) and cls.name in WRAPPERS:
            # only __new__ leaves the attributes to BUILD; __init__ would set them from args
            if how in ("inst", "obj", "reduce") and args != ():
                raise ScanError(f"joblib array wrapper built with arguments at offset {offset}")
            if how == "reduce":
                raise ScanError(f"joblib array wrapper called at offset {offset}")
        return Obj(cls, args, how)

    def _op_build(self, arg: object, offset: int) -> None:
        state = self._pop()
        if not self.stack:
            raise ScanError(f"BUILD without an object at offset {offset}")
        self._no_wrapper((state,))
        target = self.stack[-1]
        if not isinstance(target, Obj):
            return
        if isinstance(target.state, dict) and isinstance(state, dict):
            self.budget.charge(len(target.state) + len(state))
        target.build(state)
        cls = target.cls
        if isinstance(cls, Global) and (cls.module, cls.name) == dtypes.NUMPY_DTYPE:
            try:
                target.extra = {"layout": dtypes.compute(target, self.budget.charge)}
            except TooComplex:
                raise
            except ScanError as exc:  # refused only if an array payload depends on it
                target.extra = {"layout": str(exc)}
        if isinstance(cls, Global) and isinstance(state, dict):
            version = state.get("_sklearn_version")
            if isinstance(version, str):
                self.result.strings[(cls.module, cls.name)] = version
        if self.joblib and isinstance(cls, Global) and cls.name in WRAPPERS:
            self.stack[-1] = UNKNOWN  # joblib replaces the wrapper by the array it reads
            self._wrapper(cls, target, offset)

    # --- joblib's array payloads -------------------------------------------------------

    def _wrapper(self, cls: Global, wrapper: Obj, offset: int) -> None:
        if cls.module not in WRAPPER_MODULES:
            raise ScanError(f"{cls.module}.{cls.name} is not joblib's array wrapper")
        state = wrapper.state
        if not isinstance(state, dict) or OPAQUE_KEY in state:
            raise ScanError(f"joblib array wrapper at offset {offset} has an unreadable state")
        self.result.wrappers += 1
        if self.stream.position < self.frame_end:
            raise ScanError(
                f"joblib array payload at offset {offset} sits inside a pickle frame: joblib "
                "would read it from after the frame"
            )
        if cls.name in COMPAT_WRAPPERS:
            self._companion(cls, state, offset)
            return
        shape = state.get("shape")
        if not isinstance(shape, tuple) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
        ):
            raise ScanError("joblib array wrapper with an unreadable shape")
        layout = self._layout(state.get("dtype"))
        count = 1
        for d in shape:
            count = length(count * d)
        self.result.arrays.append((layout.code, shape))
        if layout.has_object:
            nested = Machine(
                self.stream,
                self.result,
                "object array in joblib payload",
                self.budget,
                joblib=False,  # joblib reads it with plain pickle.load
                depth=self.depth + 1,
            )
            nested.run()
            return
        alignment = state.get("numpy_array_alignment_bytes")
        if alignment is not None:
            if isinstance(alignment, Global) or alignment is UNKNOWN:
                raise ScanError("joblib array wrapper with an unreadable alignment")
            self.stream.skip(self.stream.read(1)[0])
        if layout.itemsize == 0 and count:
            raise ScanError("joblib array of zero-sized items")
        self.stream.skip(length(count * layout.itemsize))

    def _layout(self, dtype: object) -> dtypes.Layout:
        """The layout numpy gave the dtype when it was built (a forest's trees share one)."""
        return dtypes.layout_of(dtype)

    def _companion(self, cls: Global, state: dict[object, object], offset: int) -> None:
        filename = state.get("filename")
        if not isinstance(filename, str):
            raise ScanError(f"joblib {cls.name} at offset {offset} names no file")
        if cls.name == "ZNDArrayWrapper":
            inner = state.get("state")
            if not isinstance(inner, tuple) or len(inner) < 3:
                raise ScanError(f"joblib {cls.name} at offset {offset} has no array state")
            layout = self._layout(inner[2])
            if layout.has_object:
                raise ScanError(f"joblib {cls.name} at offset {offset} holds objects")
        self.result.companions.append(Companion(filename, cls.name == "ZNDArrayWrapper"))

    # --- the memo and plain data -------------------------------------------------------

    def _op_proto(self, arg: object, offset: int) -> None:
        if not isinstance(arg, int) or not 0 <= arg <= pickle.HIGHEST_PROTOCOL:
            raise ScanError(f"unsupported pickle protocol {arg} at offset {offset}")
        self.proto = arg
        self.result.protocol = max(self.result.protocol, arg)

    def _op_frame(self, arg: object, offset: int) -> None:
        # pickle's unframer reads a whole frame ahead; joblib then reads an array payload
        # from the file, i.e. after the frame. Real files end a frame before each payload.
        if self.stream.position < self.frame_end:
            raise ScanError(f"a frame begins inside the previous one (offset {offset})")
        if not isinstance(arg, int):
            raise ScanError(f"an unreadable frame length at offset {offset}")
        self.frame_end = self.stream.position + length(arg)

    def _op_refused(self, arg: object, offset: int) -> None:
        raise ScanError(f"an extension-registry or persistent-id opcode at offset {offset}")

    def _op_put(self, arg: object, offset: int) -> None:
        if not self.stack:
            raise ScanError(f"memo store on an empty stack at offset {offset}")
        if not isinstance(arg, int) or arg < 0:
            raise ScanError(f"a memo key at offset {offset} is not a non-negative integer")
        self._memoize(arg, offset)

    def _op_memoize(self, arg: object, offset: int) -> None:
        if not self.stack:
            raise ScanError(f"MEMOIZE on an empty stack at offset {offset}")
        self._memoize(len(self.memo) + len(self.sparse_memo), offset)

    def _op_get(self, arg: object, offset: int) -> None:
        key = arg if isinstance(arg, int) else -1
        if 0 <= key < len(self.memo):
            self.stack.append(self.memo[key])
        elif key in self.sparse_memo:
            self.stack.append(self.sparse_memo[key])
        else:
            raise ScanError(f"memo key {arg} read before it was written (offset {offset})")

    def _op_dup(self, arg: object, offset: int) -> None:
        self.stack.append(self._peek(offset))

    def _op_mark(self, arg: object, offset: int) -> None:
        self.stack.append(MARK)

    def _op_tuple(self, arg: object, offset: int) -> None:
        self.stack.append(tuple(self._pop_mark()))

    def _op_tuple_n(self, n: int, offset: int) -> None:
        if len(self.stack) < n:
            raise ScanError(f"stack underflow at offset {offset}")
        items = self.stack[len(self.stack) - n :] if n else []
        del self.stack[len(self.stack) - n :]
        if any(item is MARK for item in items):
            raise ScanError(f"a MARK inside a tuple at offset {offset}")
        self._no_wrapper(items)
        self.stack.append(tuple(items))

    def _op_dict(self, arg: object, offset: int) -> None:
        self.stack.append(_dict(self._pop_mark()))

    def _op_empty_dict(self, arg: object, offset: int) -> None:
        self.stack.append({})

    def _op_setitem(self, arg: object, offset: int) -> None:
        value = self._pop()
        key = self._pop()
        self._no_wrapper((key, value))
        target = self._peek(offset)
        if isinstance(target, dict):
            target.update(_dict([key, value]))

    def _op_setitems(self, arg: object, offset: int) -> None:
        items = self._pop_mark()
        target = self._peek(offset)
        if isinstance(target, dict):
            target.update(_dict(items))

    def _op_const(self, value: object) -> None:
        self.stack.append(value)

    def _memoize(self, key: int, offset: int) -> None:
        value = self.stack[-1]
        if value is MARK:
            raise ScanError(f"memo store of a MARK at offset {offset}")
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
        if not self.stack or self.stack[-1] is MARK:
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
                popped = self._pop()
                if isinstance(popped, Mark):
                    raise ScanError(f"{op.name} pops a MARK at offset {offset}")
                self._no_wrapper((popped,))
        for item in op.stack_after:
            self.stack.append(MARK if item is pickletools.markobject else UNKNOWN)


def _dict(items: list[object]) -> dict[object, object]:
    """A dict from key/value items; keys the scanner cannot read make it opaque."""
    if len(items) % 2:
        raise ScanError("a dict with an odd number of items")
    out: dict[object, object] = {}
    for key, value in zip(items[::2], items[1::2], strict=True):
        if key is None or isinstance(key, (str, int, bytes)):
            out[key] = value
        else:
            out[OPAQUE_KEY] = True
    return out


Handler = Callable[[Machine, object, int], None]


def _const(value: object) -> Handler:
    return lambda machine, arg, offset: machine._op_const(value)


def _tuple_n(n: int) -> Handler:
    return lambda machine, arg, offset: machine._op_tuple_n(n, offset)


_HANDLERS: dict[str, Handler] = {
    "PROTO": Machine._op_proto,
    "FRAME": Machine._op_frame,
    "EXT1": Machine._op_refused,
    "EXT2": Machine._op_refused,
    "EXT4": Machine._op_refused,
    "PERSID": Machine._op_refused,
    "BINPERSID": Machine._op_refused,
    "GLOBAL": Machine._op_global,
    "STACK_GLOBAL": Machine._op_stack_global,
    "INST": Machine._op_inst,
    "OBJ": Machine._op_obj,
    "REDUCE": Machine._op_reduce,
    "NEWOBJ": Machine._op_newobj,
    "NEWOBJ_EX": Machine._op_newobj_ex,
    "BUILD": Machine._op_build,
    "PUT": Machine._op_put,
    "BINPUT": Machine._op_put,
    "LONG_BINPUT": Machine._op_put,
    "MEMOIZE": Machine._op_memoize,
    "GET": Machine._op_get,
    "BINGET": Machine._op_get,
    "LONG_BINGET": Machine._op_get,
    "DUP": Machine._op_dup,
    "MARK": Machine._op_mark,
    "TUPLE": Machine._op_tuple,
    "EMPTY_TUPLE": _tuple_n(0),
    "TUPLE1": _tuple_n(1),
    "TUPLE2": _tuple_n(2),
    "TUPLE3": _tuple_n(3),
    "DICT": Machine._op_dict,
    "EMPTY_DICT": Machine._op_empty_dict,
    "SETITEM": Machine._op_setitem,
    "SETITEMS": Machine._op_setitems,
    "NONE": _const(None),
    "NEWTRUE": _const(True),
    "NEWFALSE": _const(False),
}

# Opcodes that push their argument as the value: strings, bytes, ints.
_PUSH_ARG = frozenset(
    op.name
    for op in pickletools.opcodes
    if op.name not in _HANDLERS
    and op.arg is not None
    and op.name != "FLOAT"
    and (
        any(kind in op.name for kind in ("UNICODE", "STRING", "BYTES", "BYTEARRAY"))
        or op.name in ("BININT", "BININT1", "BININT2", "INT", "LONG", "LONG1", "LONG4")
        or op.name in ("BINFLOAT",)
    )
)
