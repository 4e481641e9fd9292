"""Detect a bundle's format and read it into a :class:`RecordedEnv`."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import BundleError
from ..pins import RecordedEnv

BARE = "bare"


@dataclass(frozen=True)
class BundleFormat:
    """A reader: its ``--format`` name and the module of ``formats`` that reads it.

    The module is imported when the format is first tried, so that reading a
    ``bundle.yaml`` does not pay for the MLflow, lockfile and conda parsers (a cache hit
    is mostly start-up).
    """

    name: str
    module: str

    def _reader(self) -> Any:
        module = importlib.import_module(f"{__package__}.formats.{self.module}")
        if self.module == "lockfiles":  # one module, a reader per lockfile kind
            return next(k for k in module.PRECEDENCE if k.name == self.name)
        return module

    def detect(self, bundle: Path) -> bool:
        """Whether ``bundle`` holds this format's files."""
        return bool(self._reader().detect(bundle))

    def read(self, bundle: Path, *, model: Path | None = None) -> RecordedEnv:
        """Read ``bundle`` in this format."""
        recorded: RecordedEnv = self._reader().read(bundle, model=model)
        return recorded


# Most specific first: an MLflow folder also has a requirements.txt, so "bare" comes last.
# Lockfiles come before conda: a folder with uv.lock and an environment.yml is a uv project.
# Each lockfile kind is its own format, in lockfiles.PRECEDENCE order, so that
# ``--format poetry-lock`` picks one when a folder has several.
FORMATS: tuple[BundleFormat, ...] = (
    BundleFormat("manifest", "manifest"),
    BundleFormat("mlflow", "mlflow"),
    BundleFormat("skops", "skops"),
    *(
        BundleFormat(name, "lockfiles")
        for name in ("pylock", "uv-lock", "poetry-lock", "pipfile-lock")
    ),
    BundleFormat("conda-env", "conda_env"),
    BundleFormat(BARE, "bare"),
)


def format_names() -> tuple[str, ...]:
    """The names ``--format`` accepts, most specific first (the CLI's choices)."""
    return tuple(f.name for f in FORMATS)


def read_bundle(
    path: Path | str, *, format: str | None = None, model: Path | str | None = None
) -> RecordedEnv:
    """Read a bundle folder (or a lone model file) in whichever format it is written.

    ``format`` forces a reader by name; ``model`` overrides the model file the bundle names.
    """
    bundle = Path(path)
    model_path = Path(model) if model is not None else None
    if not bundle.exists():
        raise BundleError("bundle does not exist", path=bundle, hint="check the path")
    if bundle.is_file():
        # A lone model file: the folder is the bundle, this file its model.
        model_path, bundle = bundle, bundle.parent
        if format is None:
            format = BARE
    if model_path is not None and not model_path.is_absolute() and bundle.is_dir():
        # ``--model model_reg.pkl`` names a file of the bundle, wherever the command runs
        inside = bundle / model_path
        model_path = inside if inside.is_file() else model_path
    if model_path is not None and not model_path.is_file():
        raise BundleError("model file does not exist", path=model_path)
    if format is not None:
        chosen = next((f for f in FORMATS if f.name == format), None)
        if chosen is None:
            names = ", ".join(f.name for f in FORMATS)
            raise BundleError(f"unknown bundle format {format!r}", hint=f"use one of: {names}")
    else:
        chosen = next((f for f in FORMATS if f.detect(bundle)), None)
        if chosen is None:
            raise BundleError(
                "no model file or environment record found in this folder",
                path=bundle,
                hint="a bundle needs a model file (model.joblib, model.pkl, ...) "
                "and ideally a requirements.txt or bundle.yaml",
            )
    return chosen.read(bundle, model=model_path)
