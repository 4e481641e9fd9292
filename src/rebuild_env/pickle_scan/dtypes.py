"""numpy dtypes, sized and typed the way numpy itself builds them, from what a file says.

joblib decides how many bytes of array payload follow a wrapper, and whether they are a
nested pickle, from the dtype it reconstructs (``dtype.itemsize``, ``dtype.hasobject``).
The scanner must reach the same two answers or it walks bytes the loader skips (and the
other way round): a hidden pickle. So only the forms numpy's own ``__reduce__`` and the
``.npy`` header write are understood, each exactly; anything else is refused, never guessed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from .values import Global, Obj, ScanError

MAX_DEPTH = 8
MAX_FIELDS = 4096
NUMPY_DTYPE = ("numpy", "dtype")
# numpy's NPY_ITEM_REFCOUNT flag: the dtype holds Python objects
HASOBJECT_FLAG = 0x01
DATETIME_SIZE = 8
# The codes numpy's dtype.__reduce__ and the .npy header write: kind + size in bytes
# (flexible kinds S/U/V count their size in the state), with an optional byte order.
_CODE = re.compile(r"^([<>|=]?)([biufcOSUVMma])(\d*)(\[[A-Za-z0-9]+\])?$")
_FIXED = {
    "b": (1,),
    "i": (1, 2, 4, 8),
    "u": (1, 2, 4, 8),
    "f": (2, 4, 8, 10, 12, 16),
    "c": (8, 16, 20, 24, 32),
    "O": (4, 8),
}
_SUBARRAY_MAX = 1 << 32


@dataclass(frozen=True)
class Layout:
    """What numpy would make of a dtype: its item size and whether it holds objects."""

    itemsize: int
    has_object: bool
    code: str


Step = Callable[[], None]


def _code(text: object) -> tuple[str, str, int | None]:
    if not isinstance(text, str):
        raise ScanError("a numpy dtype is not named by a literal string")
    match = _CODE.match(text)
    if match is None:
        raise ScanError(f"numpy dtype {text!r} is not a form numpy writes; cannot size it")
    order, kind, digits, unit = match.groups()
    if unit and kind not in ("M", "m"):
        raise ScanError(f"numpy dtype {text!r} is not a form numpy writes; cannot size it")
    return order, kind, int(digits) if digits else None


def _simple(kind: str, size: int | None, text: str) -> Layout:
    """A non-structured code whose size is in the code (not the state)."""
    if kind in ("M", "m"):
        if size not in (None, DATETIME_SIZE):
            raise ScanError(f"numpy dtype {text!r} has an impossible size")
        return Layout(DATETIME_SIZE, has_object=False, code=text)
    if kind == "O" and size is None:
        return Layout(8, has_object=True, code=text)
    if kind == "a":
        kind = "S"
    if kind in ("S", "U", "V"):
        if size is None:
            raise ScanError(f"numpy dtype {text!r} has no size")
        return Layout(size * (4 if kind == "U" else 1), has_object=False, code=text)
    if size not in _FIXED.get(kind, ()):
        raise ScanError(f"numpy dtype {text!r} has an impossible size")
    assert size is not None
    return Layout(size, has_object=kind == "O", code=text)


def from_descr(descr: object, step: Step, depth: int = 0) -> Layout:
    """A ``.npy`` header's ``descr``: a type string, or a list of fields (numpy's format)."""
    step()
    if depth > MAX_DEPTH:
        raise ScanError("a numpy dtype nests too deep")
    if isinstance(descr, str):
        _, kind, size = _code(descr)
        return _simple(kind, size, descr)
    if not isinstance(descr, list) or len(descr) > MAX_FIELDS:
        raise ScanError("a .npy header's dtype is not a form numpy writes")
    itemsize, has_object = 0, False
    for field in descr:
        if not isinstance(field, tuple) or len(field) not in (2, 3):
            raise ScanError("a .npy header's dtype field is not a form numpy writes")
        name, sub = field[0], field[1]
        if not isinstance(name, (str, tuple)):
            raise ScanError("a .npy header's dtype field has no name")
        layout = from_descr(sub, step, depth + 1)
        count = _count(field[2]) if len(field) == 3 else 1
        itemsize += layout.itemsize * count
        has_object = has_object or layout.has_object
    return Layout(itemsize, has_object, code=f"V{itemsize}")


def _count(shape: object) -> int:
    if isinstance(shape, int) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, tuple):
        raise ScanError("a numpy subarray shape is not a tuple of integers")
    count = 1
    for d in shape:
        if not isinstance(d, int) or isinstance(d, bool) or d < 0:
            raise ScanError("a numpy subarray shape is not a tuple of integers")
        count *= d
        if count > _SUBARRAY_MAX:
            raise ScanError("a numpy subarray is too large")
    return count


def layout_of(dtype: object) -> Layout:
    """The layout numpy gave a dtype object when its one BUILD ran (see :func:`compute`)."""
    if not isinstance(dtype, Obj) or not isinstance(dtype.cls, Global):
        raise ScanError("an array's dtype is not rebuilt by numpy.dtype")
    if (dtype.cls.module, dtype.cls.name) != NUMPY_DTYPE or dtype.how != "reduce":
        raise ScanError("an array's dtype is not rebuilt by numpy.dtype")
    if dtype.builds != 1:
        raise ScanError("a numpy dtype's state is set more or less than once")
    layout = (dtype.extra or {}).get("layout")
    if not isinstance(layout, Layout):
        raise ScanError(str(layout))
    return layout


def compute(dtype: Obj, step: Step) -> Layout:
    """What numpy makes of ``numpy.dtype(code, align, copy)`` and the state of its BUILD.

    numpy takes the size of flexible kinds (S, U, V) and the object flag from the state,
    so both must be present and agree with the code and the fields. Called when the BUILD
    runs: numpy reads the state then, whatever later opcodes do to the containers in it.
    """
    step()
    args = dtype.args
    if not isinstance(args, tuple) or not 1 <= len(args) <= 3:
        raise ScanError("numpy.dtype is called with unexpected arguments")
    text = args[0]
    _, kind, size = _code(text)
    state = dtype.state
    if not isinstance(state, tuple) or len(state) not in (8, 9):
        raise ScanError(f"numpy dtype {text!r} has a state numpy does not write")
    version, order, subarray, names, fields, elsize, _align, flags = state[:8]
    if version not in (3, 4) or order not in ("<", ">", "|", "="):
        raise ScanError(f"numpy dtype {text!r} has a state numpy does not write")
    if not isinstance(flags, int) or isinstance(flags, bool) or not isinstance(elsize, int):
        raise ScanError(f"numpy dtype {text!r} has a state numpy does not write")
    if kind != "V":
        if subarray is not None or names is not None or fields is not None:
            raise ScanError(f"numpy dtype {text!r} has fields numpy would not give it")
        layout = _simple(kind, size, str(text))
        if kind in ("S", "U", "a") and elsize != layout.itemsize:
            raise ScanError(f"numpy dtype {text!r} says its items are {elsize} bytes")
    else:
        layout = _void(str(text), size, state, step)
    if bool(flags & HASOBJECT_FLAG) != layout.has_object:
        raise ScanError(f"numpy dtype {text!r}: its object flag contradicts its fields")
    return layout


def _void(text: str, size: int | None, state: tuple[object, ...], step: Step) -> Layout:
    _, _, subarray, names, fields, elsize, _, _ = state[:8]
    if size is None or elsize != size:
        raise ScanError(f"numpy dtype {text!r} says its items are {elsize} bytes")
    if subarray is not None:
        if names is not None or fields is not None:
            raise ScanError(f"numpy dtype {text!r} is both a subarray and a record")
        if not isinstance(subarray, tuple) or len(subarray) != 2:
            raise ScanError(f"numpy dtype {text!r} has an unreadable subarray")
        base = layout_of(subarray[0])
        if base.itemsize * _count(subarray[1]) != size:
            raise ScanError(f"numpy dtype {text!r}: its subarray does not fill its items")
        return Layout(size, base.has_object, text)
    if names is None and fields is None:
        return Layout(size, has_object=False, code=text)
    if not isinstance(names, tuple) or not isinstance(fields, dict):
        raise ScanError(f"numpy dtype {text!r} has unreadable fields")
    if len(names) > MAX_FIELDS or set(names) != set(fields) or len(set(names)) != len(names):
        raise ScanError(f"numpy dtype {text!r}: its field names and fields disagree")
    has_object = False
    for name in names:
        field = fields[name]
        if not isinstance(field, tuple) or len(field) not in (2, 3):
            raise ScanError(f"numpy dtype {text!r} has an unreadable field")
        step()
        layout = layout_of(field[0])
        offset = field[1]
        if not isinstance(offset, int) or offset < 0 or offset + layout.itemsize > size:
            raise ScanError(f"numpy dtype {text!r} has a field outside its items")
        has_object = has_object or layout.has_object
    return Layout(size, has_object, text)
