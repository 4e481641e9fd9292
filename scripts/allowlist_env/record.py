# ruff: noqa: UP004, BLE001
"""Record every global a REAL unpickler asks for while loading a cell's model files.

Runs INSIDE the cell's environment, in a fresh process (Python 3.6 and newer, stdlib and
the environment's libraries only), on files this matrix wrote itself:

    python record.py MODELS_DIR OUT_JSON

joblib files go through ``joblib.load`` (its NumpyUnpickler is a pure-Python
``pickle._Unpickler`` subclass, whose ``find_class`` is instrumented); plain pickles
through a ``pickle.Unpickler`` subclass; ``pickle.load``/``pickle.loads`` are replaced so
that the nested unpickles joblib and numpy perform (object arrays) are recorded too.
What is recorded is the name ``find_class`` resolves, after protocol < 3 names
(``__builtin__``, ``copy_reg``) are mapped the way the unpickler maps them.
"""

import _compat_pickle
import io
import json
import os
import pickle
import sys
import warnings

warnings.filterwarnings("ignore")

PROTO_OPCODE = b"\x80"
FIRST_PY3_PROTOCOL = 3
REASON_CHARS = 200

CURRENT = set()


def mapped(module, name, proto, fix_imports):
    """The name the unpickler really imports (what ``find_class`` maps for protocol < 3)."""
    if proto < FIRST_PY3_PROTOCOL and fix_imports:
        if (module, name) in _compat_pickle.NAME_MAPPING:
            return _compat_pickle.NAME_MAPPING[(module, name)]
        if module in _compat_pickle.IMPORT_MAPPING:
            return _compat_pickle.IMPORT_MAPPING[module], name
    return module, name


_python_find_class = pickle._Unpickler.find_class


def _recording_find_class(self, module, name):
    CURRENT.add(mapped(module, name, self.proto, getattr(self, "fix_imports", True)))
    return _python_find_class(self, module, name)


pickle._Unpickler.find_class = _recording_find_class


class _ProtocolSniffer(object):
    """A file wrapper that keeps the first two bytes read: the PROTO opcode, if any.

    The C unpickler does not expose the protocol it read, and a subclass's ``find_class``
    receives the raw (unmapped) names."""

    def __init__(self, handle):
        self._handle = handle
        self.head = b""

    def _keep(self, data):
        if len(self.head) < 2:
            self.head += bytes(data[: 2 - len(self.head)])

    def read(self, size=-1):
        data = self._handle.read(size)
        self._keep(data)
        return data

    def readline(self):
        data = self._handle.readline()
        self._keep(data)
        return data

    def readinto(self, buffer):
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    @property
    def proto(self):
        if len(self.head) == 2 and self.head[:1] == PROTO_OPCODE:
            return bytearray(self.head)[1]
        return 0


class RecordingUnpickler(pickle.Unpickler):
    """The C unpickler, recording every global it resolves."""

    def __init__(self, handle, **kwargs):
        self._sniffer = _ProtocolSniffer(handle)
        self._fix = kwargs.get("fix_imports", True)
        pickle.Unpickler.__init__(self, self._sniffer, **kwargs)

    def find_class(self, module, name):
        CURRENT.add(mapped(module, name, self._sniffer.proto, self._fix))
        return pickle.Unpickler.find_class(self, module, name)


def _load(handle, **kwargs):
    return RecordingUnpickler(handle, **kwargs).load()


def _loads(data, **kwargs):
    return RecordingUnpickler(io.BytesIO(data), **kwargs).load()


pickle.load = _load
pickle.loads = _loads


def main():
    models, out = sys.argv[1], sys.argv[2]
    import joblib

    result = {"pairs": {}, "errors": {}}
    for filename in sorted(os.listdir(models)):
        path = os.path.join(models, filename)
        CURRENT.clear()
        try:
            if ".vendored." in filename:  # written by scikit-learn < 0.21's own joblib
                from sklearn.externals import joblib as vendored

                vendored.load(path)
            elif filename.endswith(".joblib"):
                joblib.load(path)
            else:
                with open(path, "rb") as handle:
                    RecordingUnpickler(handle).load()
        except Exception as exc:
            text = str(exc).strip().splitlines()
            result["errors"][filename] = type(exc).__name__ + (
                ": " + text[0][:REASON_CHARS] if text else ""
            )
        result["pairs"][filename] = sorted([m, n] for m, n in CURRENT)
    with open(out, "w") as handle:
        json.dump(result, handle, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
