"""The values the symbolic pickle machine keeps on its stack and memo.

Only what the scanner must reason about is modelled: literal strings, bytes and ints,
tuples, dicts with literal keys, ``None``/booleans, globals and the objects built from
them. Everything else is :data:`UNKNOWN`, which is never mistaken for ``None`` or a
string: a joblib wrapper whose alignment is "some float" reads padding, and the scanner
must not assume it does not.
"""

from __future__ import annotations

from dataclasses import dataclass


class ScanError(Exception):
    """The file is not a pickle the scanner can account for."""


class Unknown:
    """A value the scanner does not model (a list, a float, what a call returned...)."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = Unknown()


class Mark:
    """The MARK sentinel."""


MARK = Mark()


class OpaqueKey:
    """Stands for dict keys the scanner could not read (a dict holding one is never trusted)."""


OPAQUE_KEY = OpaqueKey()


@dataclass(frozen=True)
class Global:
    """A global named by the pickle."""

    module: str
    name: str


@dataclass(eq=False, slots=True)
class Obj:
    """An object built from a callable or class (REDUCE, NEWOBJ, INST, OBJ...).

    ``how`` says which opcode built it; ``state`` is the merged state of its BUILDs (a dict
    state is merged the way ``object.__setstate__`` does), ``builds`` how many there were.
    """

    cls: object
    args: object
    how: str
    state: object = None
    builds: int = 0
    extra: dict[str, object] | None = None
    """What checks noted about it when it was built (a dtype's layout)."""

    def build(self, state: object) -> None:
        """Apply one BUILD."""
        if isinstance(state, dict) and isinstance(self.state, dict):
            self.state = {**self.state, **state}
        else:
            self.state = state
        self.builds += 1
