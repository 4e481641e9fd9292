"""Payload builders, one family per attack class of issue 19.

Every builder takes the marker path the payload must touch and returns a
:class:`Payload`: the files of a bundle folder (the model file and any companion) and how
to tell that the payload fired. The bytes are assembled opcode by opcode
(``pickles.py``), never produced by pickling a live object, so the test knows exactly
what the loader will see.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import pickle
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.hostile.pickles import (
    Raw,
    build,
    global0,
    inst_call,
    newobj_call,
    obj_call,
    program,
    reduce_call,
    stack_global,
    text,
    value,
)

MODEL = "model.joblib"
WRAPPER = ("joblib.numpy_pickle", "NumpyArrayWrapper")
COMPAT_WRAPPER = ("joblib.numpy_pickle_compat", "NDArrayWrapper")
NPY_MAGIC = b"\x93NUMPY\x01\x00"
NPY_HEADER_ALIGN = 64
ZFILE_PREFIX = b"ZF"
ZFILE_LEN_WIDTH = 19  # joblib's _MAX_LEN: len(hex(2**64)) + 1 ... padded with spaces
SHORT_TEXT_HEADER = 2  # SHORT_BINUNICODE: opcode and a 1-byte length
TEXT_HEADER = 5  # BINUNICODE: opcode and a 4-byte length
HIDDEN_BYTES = 512  # what the scanner skips and joblib unpickles in the desync payloads


@dataclass(frozen=True)
class Payload:
    """A hostile bundle: files by relative path, and the marker its side effect creates."""

    name: str
    files: dict[str, bytes]
    marker: Path
    model: str = MODEL
    only_with: str = ""
    """A joblib/numpy condition under which the payload fires (empty: any version)."""
    outside: dict[str, bytes] = field(default_factory=dict)
    """Files written next to the bundle folder (a companion path that escapes it)."""

    def fired(self) -> bool:
        """The marker exists (a file, a folder, a socket, or a file named with its prefix)."""
        return self.marker.exists() or any(self.marker.parent.glob(self.marker.name + "*"))

    def write(self, folder: Path) -> Path:
        """Write the bundle's files under ``folder``; return the model file's path."""
        folder.mkdir(parents=True, exist_ok=True)
        self.marker.parent.mkdir(parents=True, exist_ok=True)
        for name, data in self.files.items():
            target = folder / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        for name, data in self.outside.items():
            (folder.parent / name).write_bytes(data)
        return folder / self.model


Builder = Callable[[Path], Payload]


def _model(name: str, data: bytes, marker: Path, **extra: object) -> Payload:
    return Payload(name=name, files={MODEL: data}, marker=marker, **extra)  # type: ignore[arg-type]


# --- side effects the payloads use (each a (callable opcodes, args) pair) ---------------


def open_for_writing(marker: Path) -> bytes:
    """builtins.open(MARKER, 'w'): what a scanner must never let through (refused by name)."""
    return reduce_call(stack_global("builtins", "open"), (str(marker), "w"))


def shell_touch(marker: Path) -> bytes:
    """posix.system('touch MARKER')."""
    return reduce_call(stack_global("posix", "system"), (f"touch '{marker}'",))


# --- class 1: standard-library classes re-exported by trusted packages -----------------
# Found by importing sklearn/numpy/scipy/pandas/joblib in the project venv and listing module
# attributes whose __module__ is a standard-library module with side effects.

GZIP_REEXPORT = ("sklearn.datasets._covtype", "GzipFile")
PATH_REEXPORT = ("sklearn.datasets._base", "Path")
TEMPFILE_REEXPORT = ("sklearn.datasets._base", "NamedTemporaryFile")


def gzipfile_reduce(marker: Path) -> Payload:
    """sklearn.datasets._covtype.GzipFile(MARKER, 'wb') by REDUCE: creates the file."""
    call = reduce_call(stack_global(*GZIP_REEXPORT), (str(marker), "wb"))
    return _model("gzipfile-reduce", program(call), marker)


def gzipfile_inst(marker: Path) -> Payload:
    """The same through the protocol-0 INST opcode."""
    return _model(
        "gzipfile-inst",
        program(inst_call(*GZIP_REEXPORT, (str(marker), "wb")), protocol=0),
        marker,
    )


def gzipfile_obj(marker: Path) -> Payload:
    """The same through OBJ (MARK cls args OBJ), the global by protocol-0 GLOBAL."""
    return _model(
        "gzipfile-obj",
        program(obj_call(global0(*GZIP_REEXPORT), (str(marker), "wb")), protocol=2),
        marker,
    )


def tempfile_reduce(marker: Path) -> Payload:
    """sklearn.datasets._base.NamedTemporaryFile(..., prefix=MARKER-name, dir=its folder)."""
    args = ("w+b", -1, None, None, "", marker.name, str(marker.parent), False)
    call = reduce_call(stack_global(*TEMPFILE_REEXPORT), args)
    return _model("namedtemporaryfile-reduce", program(call), marker)


def path_touch_dotted(marker: Path) -> Payload:
    """sklearn.datasets._base.Path.touch(Path(MARKER)): a dotted qualname on a re-export."""
    path = reduce_call(stack_global(*PATH_REEXPORT), (str(marker),))
    touch = stack_global(PATH_REEXPORT[0], "Path.touch")
    return _model("path-touch-dotted", program(reduce_call(touch, (Raw(path),))), marker)


REEXPORTS: tuple[Builder, ...] = (
    gzipfile_reduce,
    gzipfile_inst,
    gzipfile_obj,
    tempfile_reduce,
    path_touch_dotted,
)


# --- class 2: side-effecting constructors of trusted packages --------------------------


def fortranfile_reduce(marker: Path) -> Payload:
    """scipy.io.FortranFile(MARKER, 'w'): creates (or truncates) the file."""
    call = reduce_call(stack_global("scipy.io", "FortranFile"), (str(marker), "w"))
    return _model("fortranfile-reduce", program(call), marker)


def fortranfile_inst(marker: Path) -> Payload:
    """scipy.io._fortran.FortranFile by INST (protocol 0)."""
    call = inst_call("scipy.io._fortran", "FortranFile", (str(marker), "w"))
    return _model("fortranfile-inst", program(call, protocol=0), marker)


def memory_reduce(marker: Path) -> Payload:
    """joblib.Memory(location=MARKER): creates the cache folder."""
    call = reduce_call(stack_global("joblib", "Memory"), (str(marker),))
    return _model("joblib-memory-reduce", program(call), marker)


def memory_obj(marker: Path) -> Payload:
    """joblib.memory.Memory by OBJ."""
    call = obj_call(stack_global("joblib.memory", "Memory"), (str(marker),))
    return _model("joblib-memory-obj", program(call), marker)


def printtime_reduce(marker: Path) -> Payload:
    """joblib.logger.PrintTime(logfile=MARKER): writes the log file."""
    call = reduce_call(stack_global("joblib.logger", "PrintTime"), (str(marker),))
    return _model("printtime-reduce", program(call), marker)


def binaryzlibfile_inst(marker: Path) -> Payload:
    """joblib.compressor.BinaryZlibFile(MARKER, 'wb') by INST."""
    call = inst_call("joblib.compressor", "BinaryZlibFile", (str(marker), "wb"))
    return _model("binaryzlibfile-inst", program(call, protocol=0), marker)


def memmap_newobj(marker: Path) -> Payload:
    """numpy.memmap.__new__(memmap, MARKER, 'uint8', 'w+', 0, (1,)) by NEWOBJ: no __init__
    is needed, ``__new__`` creates the file."""
    call = newobj_call(stack_global("numpy", "memmap"), (str(marker), "uint8", "w+", 0, (1,)))
    return _model("memmap-newobj", program(call), marker)


CONSTRUCTORS: tuple[Builder, ...] = (
    fortranfile_reduce,
    fortranfile_inst,
    memory_reduce,
    memory_obj,
    printtime_reduce,
    binaryzlibfile_inst,
    memmap_newobj,
)


# --- joblib array payloads --------------------------------------------------------------


def dtype_ops(code: str, state: object = None) -> bytes:
    """numpy.dtype(code, False, True), then BUILD with ``state`` if given."""
    ops = reduce_call(stack_global("numpy", "dtype"), (code, False, True))
    return ops + (build(state) if state is not None else b"")


def wrapper_ops(dtype: bytes, shape: tuple[int, ...], *, aligned: bool = False) -> bytes:
    """A NumpyArrayWrapper built and BUILT: joblib reads the array bytes right after it."""
    state = {
        "subclass": Raw(stack_global("numpy", "ndarray")),
        "shape": shape,
        "order": "C",
        "dtype": Raw(dtype),
        "allow_mmap": False,
        "numpy_array_alignment_bytes": 16 if aligned else None,
    }
    return newobj_call(stack_global(*WRAPPER), ()) + build(state)


def padded(pickle_bytes: bytes, length: int) -> bytes:
    """``pickle_bytes`` grown to exactly ``length`` bytes by a pushed-and-popped string."""
    body, stop = pickle_bytes[:-1], pickle_bytes[-1:]
    room = length - len(pickle_bytes) - 1  # the POP
    for header in (SHORT_TEXT_HEADER, TEXT_HEADER):
        filler = text("x" * (room - header))
        if room - header >= 0 and len(filler) == room:
            return body + filler + pickle.POP + stop
    raise ValueError(f"cannot pad {len(pickle_bytes)} bytes to {length}")


def hidden_nested(
    name: str, marker: Path, dtype: bytes, scanner_itemsize: int, count: int
) -> Payload:
    """numpy sees an object dtype and joblib unpickles a nested pickle from the bytes that
    a scanner which sized the dtype at ``scanner_itemsize`` skips as plain data."""
    skipped = count * scanner_itemsize
    nested = padded(program(open_for_writing(marker)), skipped)
    data = program(wrapper_ops(dtype, (count,)) + nested)
    return _model(name, data, marker)


def hidden_tail(
    name: str, marker: Path, dtype: bytes, *, count: int, real: int, guessed: int
) -> Payload:
    """numpy reads ``count * real`` bytes of data; a scanner that guessed ``guessed`` bytes
    an item skips further, over the opcodes joblib then runs."""
    head = pickle.PROTO + bytes([4]) + wrapper_ops(dtype, (count,))
    evil = pickle.POP + open_for_writing(marker) + pickle.STOP
    gap = count * (guessed - real) - len(evil)
    if gap < 0:
        raise ValueError("the guessed size leaves no room for the payload")
    data = head + bytes(count * real) + evil + bytes(gap) + pickle.STOP
    return _model(name, data, marker)


def _structured_object(depth: int, leaf: bytes) -> bytes:
    """A structured dtype nesting another ``depth`` times around an object leaf."""
    inner = leaf
    for _ in range(depth):
        state = (3, "|", None, ("a",), {"a": (Raw(inner), 0)}, 8, 1, 0x1B)
        inner = dtype_ops("V8", state)
    return inner


def dtype_float64_name(marker: Path) -> Payload:
    """dtype('float64'): 8 bytes an item for numpy; 64 for a scanner reading the digits."""
    return hidden_tail(
        "dtype-float64-name", marker, dtype_ops("float64"), count=8, real=8, guessed=64
    )


def dtype_complex128_name(marker: Path) -> Payload:
    """dtype('complex128'): 16 bytes, not 128."""
    return hidden_tail(
        "dtype-complex128-name", marker, dtype_ops("complex128"), count=4, real=16, guessed=128
    )


def dtype_timedelta_units(marker: Path) -> Payload:
    """dtype('m8[100s]'): 8 bytes, not the 8100 the digits of the string say."""
    return hidden_tail(
        "dtype-m8-units", marker, dtype_ops("m8[100s]"), count=1, real=8, guessed=8100
    )


def dtype_subarray_object(marker: Path) -> Payload:
    """dtype('(2,)O'): a subarray of objects (numpy: hasobject), digits say 2 bytes."""
    return hidden_nested("dtype-subarray-object", marker, dtype_ops("(2,)O"), 2, HIDDEN_BYTES // 2)


def dtype_structured_object_name(marker: Path) -> Payload:
    """A structured dtype whose object field is spelled dtype('object'), not 'O'."""
    leaf = dtype_ops("object")
    return hidden_nested(
        "dtype-field-object-spelled", marker, _structured_object(1, leaf), 8, HIDDEN_BYTES // 8
    )


def dtype_structured_object_deep(marker: Path) -> Payload:
    """An 'O8' field nested three structured dtypes deep (past a bounded recursive check)."""
    leaf = dtype_ops("O8")
    return hidden_nested(
        "dtype-field-object-deep", marker, _structured_object(3, leaf), 8, HIDDEN_BYTES // 8
    )


def dtype_flags_lie(marker: Path) -> Payload:
    """dtype('V8') whose pickled state sets the has-object flag: numpy believes the flags."""
    state = (3, "|", None, None, None, 8, 1, 1)
    return hidden_nested(
        "dtype-flags-hasobject", marker, dtype_ops("V8", state), 8, HIDDEN_BYTES // 8
    )


def dtype_big_endian_object(marker: Path) -> Payload:
    """dtype('>O8') in a subarray: '(1,)>O8' (byte order inside the string, not in front)."""
    return hidden_nested("dtype-subarray-byteorder", marker, dtype_ops("(1,)>O8"), 18, 32)


DTYPE_DESYNC: tuple[Builder, ...] = (
    dtype_float64_name,
    dtype_complex128_name,
    dtype_timedelta_units,
    dtype_subarray_object,
    dtype_structured_object_name,
    dtype_structured_object_deep,
    dtype_flags_lie,
    dtype_big_endian_object,
)


# --- class 4: escaped names in protocol 0 ----------------------------------------------


def _string0(raw: str) -> bytes:
    """A protocol-0 STRING argument written exactly as given (escapes included)."""
    return b"S'" + raw.encode("latin-1") + b"'\n"


def _unicode0(raw: str) -> bytes:
    """A protocol-0 UNICODE argument (raw-unicode-escape decoded by pickle)."""
    return b"V" + raw.encode("latin-1") + b"\n"


def _escaped_touch(name: str, marker: Path, method_arg: bytes, *, memoize: bool) -> Payload:
    path = reduce_call(stack_global(*PATH_REEXPORT), (str(marker),))
    module = _string0(PATH_REEXPORT[0])
    if memoize:  # the two strings reach STACK_GLOBAL through the memo
        named = module + b"\x94" + method_arg + b"\x94" + b"0" + b"0" + b"h\x00h\x01"
    else:
        named = module + method_arg
    call = named + pickle.STACK_GLOBAL + pickle.MARK + path + pickle.TUPLE + pickle.REDUCE
    return _model(name, program(call), marker)


def escaped_string_qualname(marker: Path) -> Payload:
    """STRING 'Path\\x2etouch' decodes to the dotted 'Path.touch'; raw, it looks CapWords."""
    return _escaped_touch("escaped-string-x2e", marker, _string0("Path\\x2etouch"), memoize=False)


def escaped_string_memoized(marker: Path) -> Payload:
    """The same, the strings memoized (MEMOIZE) and fetched back (BINGET) for STACK_GLOBAL."""
    arg = _string0("Path\\x2etouch")
    return _escaped_touch("escaped-string-memo", marker, arg, memoize=True)


def escaped_unicode_qualname(marker: Path) -> Payload:
    """UNICODE 'Path\\u002etouch' (raw-unicode-escape) decodes to 'Path.touch'."""
    arg = _unicode0("Path\\u002etouch")
    return _escaped_touch("escaped-unicode-u002e", marker, arg, memoize=False)


def escaped_octal_qualname(marker: Path) -> Payload:
    """STRING 'Path\\056touch': an octal escape of the dot."""
    arg = _string0("Path\\056touch")
    return _escaped_touch("escaped-string-octal", marker, arg, memoize=True)


def global_crlf(marker: Path) -> Payload:
    """GLOBAL with CRLF line endings naming builtins.open (pickle keeps the CR: must not load)."""
    call = b"c__builtin__\nopen\n(" + text(str(marker)) + text("w") + b"tR"
    return _model("global-proto0-open", program(call, protocol=2), marker)


ESCAPED: tuple[Builder, ...] = (
    escaped_string_qualname,
    escaped_string_memoized,
    escaped_unicode_qualname,
    escaped_octal_qualname,
    global_crlf,
)


# --- class 5: nested object arrays and the joblib < 0.10 compat format ------------------


def _object_array(nested: bytes) -> bytes:
    return program(wrapper_ops(dtype_ops("O8"), (1,)) + nested)


def nested_object_gzipfile(marker: Path) -> Payload:
    """An object array whose nested pickle calls the GzipFile re-export."""
    nested = program(reduce_call(stack_global(*GZIP_REEXPORT), (str(marker), "wb")))
    return _model("object-array-gzipfile", _object_array(nested), marker)


def nested_object_fortranfile(marker: Path) -> Payload:
    """An object array whose nested pickle constructs scipy.io.FortranFile."""
    call = reduce_call(stack_global("scipy.io", "FortranFile"), (str(marker), "w"))
    return _model("object-array-fortranfile", _object_array(program(call)), marker)


def nested_object_open(marker: Path) -> Payload:
    """An object array whose nested pickle calls builtins.open directly."""
    return _model("object-array-open", _object_array(program(open_for_writing(marker))), marker)


def nested_object_in_object(marker: Path) -> Payload:
    """Object array -> nested pickle that is itself a joblib object array -> the payload."""
    inner = _object_array(program(reduce_call(stack_global(*GZIP_REEXPORT), (str(marker), "wb"))))
    return _model("object-array-twice", _object_array(inner), marker)


def npy_object(pickled: bytes) -> bytes:
    """A .npy file (format 1.0) holding an object array: numpy unpickles its body."""
    header = "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    total = len(NPY_MAGIC) + 2 + len(header) + 1
    header += " " * (-total % NPY_HEADER_ALIGN) + "\n"
    return NPY_MAGIC + struct.pack("<H", len(header)) + header.encode("latin-1") + pickled


def _compat(filename: str) -> bytes:
    state = {"filename": filename, "subclass": Raw(stack_global("numpy", "ndarray"))}
    state["allow_mmap"] = False
    return program(newobj_call(stack_global(*COMPAT_WRAPPER), ()) + build(state), protocol=2)


def compat_npy_companion(marker: Path) -> Payload:
    """NDArrayWrapper -> model.joblib_01.npy, an object array whose pickle calls GzipFile
    (numpy.load(allow_pickle=True) unpickles it, outside any restricted unpickler)."""
    companion = "model.joblib_01.npy"
    evil = program(reduce_call(stack_global(*GZIP_REEXPORT), (str(marker), "wb")))
    files = {MODEL: _compat(companion), companion: npy_object(evil)}
    return Payload("compat-npy-companion", files, marker)


def compat_npy_open(marker: Path) -> Payload:
    """The companion .npy calls builtins.open."""
    companion = "model.joblib_01.npy"
    files = {MODEL: _compat(companion), companion: npy_object(program(open_for_writing(marker)))}
    return Payload("compat-npy-open", files, marker)


def compat_escaping_companion(marker: Path) -> Payload:
    """The companion path leaves the bundle folder ('../x.npy')."""
    evil = npy_object(program(reduce_call(stack_global(*GZIP_REEXPORT), (str(marker), "wb"))))
    return Payload(
        "compat-companion-dotdot",
        {MODEL: _compat("../outside-companion.npy")},
        marker,
        outside={"outside-companion.npy": evil},
    )


def compat_absolute_companion(marker: Path) -> Payload:
    """The companion path is absolute (a file the attacker placed elsewhere)."""
    where = marker.parent / "absolute-companion.npy"
    evil = npy_object(program(reduce_call(stack_global(*GZIP_REEXPORT), (str(marker), "wb"))))
    where.parent.mkdir(parents=True, exist_ok=True)
    where.write_bytes(evil)
    return Payload("compat-companion-absolute", {MODEL: _compat(str(where))}, marker)


def zfile_main(marker: Path) -> Payload:
    """The joblib < 0.10 'ZF' format: the main pickle zlib-compressed behind a hex length."""
    inner = program(reduce_call(stack_global(*GZIP_REEXPORT), (str(marker), "wb")))
    header = ZFILE_PREFIX + hex(len(inner)).encode("ascii").ljust(ZFILE_LEN_WIDTH)
    return _model("zfile-main-gzipfile", header + zlib.compress(inner), marker)


NESTED: tuple[Builder, ...] = (
    nested_object_gzipfile,
    nested_object_fortranfile,
    nested_object_open,
    nested_object_in_object,
    compat_npy_companion,
    compat_npy_open,
    compat_escaping_companion,
    compat_absolute_companion,
    zfile_main,
)


# --- class 6: memo blow-ups ---------------------------------------------------------------


def shared_tuples(levels: int, fan_out: int) -> bytes:
    """``levels`` tuples, each holding ``fan_out`` references to the previous one (memo)."""
    ops = value("leaf") + pickle.MEMOIZE
    for level in range(levels):
        ops += pickle.MARK + (pickle.BINGET + bytes([level])) * fan_out + pickle.TUPLE
        ops += pickle.MEMOIZE
    return ops


def shared_dicts(levels: int, fan_out: int) -> bytes:
    """The same sharing through dicts of distinct string keys."""
    ops = value("leaf") + pickle.MEMOIZE
    for level in range(levels):
        items = b"".join(text(f"k{i}") + pickle.BINGET + bytes([level]) for i in range(fan_out))
        ops += pickle.EMPTY_DICT + pickle.MARK + items + pickle.SETITEMS + pickle.MEMOIZE
    return ops


MEMO_LEVELS = 12
MEMO_FAN_OUT = 64


def memo_dtype_state(_: Path) -> bytes:
    """A dtype whose pickled state is a tower of shared tuples, in a joblib array wrapper."""
    dtype = dtype_ops("V8") + shared_tuples(MEMO_LEVELS, MEMO_FAN_OUT) + pickle.BUILD
    return program(wrapper_ops(dtype, (0,)))


def memo_dtype_dict_state(_: Path) -> bytes:
    """The same with shared dicts."""
    dtype = dtype_ops("V8") + shared_dicts(MEMO_LEVELS, 16) + pickle.BUILD
    return program(wrapper_ops(dtype, (0,)))


def memo_plain(_: Path) -> bytes:
    """Shared tuples as the loaded object itself (no array)."""
    return program(shared_tuples(MEMO_LEVELS * 2, MEMO_FAN_OUT // 2))


MEMO_BLOWUPS: dict[str, Callable[[Path], bytes]] = {
    "dtype-state-tuples": memo_dtype_state,
    "dtype-state-dicts": memo_dtype_dict_state,
    "plain-shared-tuples": memo_plain,
}


# --- class 7: compression bombs ---------------------------------------------------------

BOMB_INFLATED = 1 << 29  # 512 MiB of zeros behind an honest BINBYTES8 length
BOMB_CHUNK = 1 << 24


def _bomb_stream(compressor: object, inflated: int) -> bytes:
    head = b"\x80\x04" + b"\x8e" + struct.pack("<Q", inflated)
    out = [compressor.compress(head)]  # type: ignore[attr-defined]
    zeros = bytes(BOMB_CHUNK)
    for _ in range(inflated // BOMB_CHUNK):
        out.append(compressor.compress(zeros))  # type: ignore[attr-defined]
    out.append(compressor.compress(pickle.STOP))  # type: ignore[attr-defined]
    out.append(compressor.flush())  # type: ignore[attr-defined]
    return b"".join(out)


def bomb(kind: str, inflated: int = BOMB_INFLATED) -> bytes:
    """A small file of ``kind`` compression that inflates to ``inflated`` bytes of pickle."""
    if kind == "zlib":
        return _bomb_stream(zlib.compressobj(9), inflated)
    if kind == "gzip":
        return _bomb_stream(zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS), inflated)
    if kind == "bz2":
        return _bomb_stream(bz2.BZ2Compressor(9), inflated)
    if kind == "xz":
        return _bomb_stream(lzma.LZMACompressor(), inflated)
    raise ValueError(kind)


BOMB_KINDS = ("zlib", "gzip", "bz2", "xz")
_ = gzip  # gzip files are written through zlib's gzip wrapper above (same bytes)


# --- class 8: a trusted payload for the sandbox -----------------------------------------


def sandbox_escape(marker: Path, port: int) -> Payload:
    """Writes MARKER (outside the probe's folder) and connects to 127.0.0.1:PORT."""
    write = open_for_writing(marker)
    connect = reduce_call(stack_global("socket", "create_connection"), (("127.0.0.1", port),))
    return _model("sandbox-escape", program(value((Raw(write), Raw(connect)))), marker)


ALL_FIRING: dict[str, tuple[Builder, ...]] = {
    "reexport": REEXPORTS,
    "constructor": CONSTRUCTORS,
    "dtype": DTYPE_DESYNC,
    "escaped": ESCAPED,
    "nested": NESTED,
}
