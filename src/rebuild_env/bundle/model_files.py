"""Finding the model file in a folder, and telling which loader it needs."""

from __future__ import annotations

from pathlib import Path

from ..errors import BundleError

# Most specific first: a folder with model.joblib and a stray .pkl means model.joblib.
MODEL_NAMES = ("model.joblib", "model.pkl", "model.pickle", "model.skops", "model.sav")
MODEL_SUFFIXES = (
    ".joblib",
    ".pkl",
    ".pk",
    ".pickle",
    ".skops",
    ".sav",
    ".jbl",
    ".pck",
    ".model",
)
_ZIP_MAGIC = b"PK\x03\x04"


def find_model_file(bundle: Path, *, required: bool) -> Path | None:
    """The bundle's model file: a well-known name, else the one file with a model suffix."""
    for name in MODEL_NAMES:
        if (bundle / name).is_file():
            return bundle / name
    candidates = (
        sorted(p for p in bundle.iterdir() if p.is_file() and p.suffix.lower() in MODEL_SUFFIXES)
        if bundle.is_dir()
        else []
    )
    if len(candidates) == 1:
        return candidates[0]
    if not required:
        return candidates[0] if candidates else None
    if not candidates:
        raise BundleError(
            "no model file found (looked for *.joblib, *.pkl, *.pk, *.pickle, *.sav, *.skops)",
            path=bundle,
            hint="pass --model FILE",
        )
    names = ", ".join(p.name for p in candidates)
    raise BundleError(f"several model files ({names})", path=bundle, hint="pass --model FILE")


def loader_for(path: Path) -> str:
    """``skops`` for skops zip files, otherwise ``joblib`` (which also loads plain pickles)."""
    try:
        with path.open("rb") as handle:
            head = handle.read(4)
    except OSError as exc:
        raise BundleError(f"cannot read model file: {exc.strerror}", path=path) from exc
    if head == _ZIP_MAGIC or path.suffix == ".skops":
        return "skops"
    return "joblib"
