"""A hand-made bundle: a model file next to a ``requirements.txt`` (or nothing at all)."""

from __future__ import annotations

import re
from pathlib import Path

from ...errors import BundleError
from ...pins import ModelSpec, PythonRecord, RecordedEnv, Sample
from ..model_files import find_model_file, loader_for
from ..textfile import read_text
from .requirements import RequirementsFile, parse_requirements

NAME = "bare"
REQUIREMENTS_NAMES = ("requirements.txt", "requirements.lock", "requirements-lock.txt")
SAMPLE_INPUTS = ("sample_input.npy", "sample_input.json")
SAMPLE_OUTPUT = "sample_output.npy"
_RUNTIME = re.compile(r"^\s*python-(\d+(?:\.\d+){0,2})\s*$", re.MULTILINE)
_PYTHON_VERSION = re.compile(r"^\s*(\d+\.\d+(?:\.\d+)?)\s*$", re.MULTILINE)


def detect(bundle: Path) -> bool:
    """Any folder with a model file or a requirements file."""
    return any((bundle / n).is_file() for n in REQUIREMENTS_NAMES) or bool(
        find_model_file(bundle, required=False)
    )


def python_hint(bundle: Path) -> PythonRecord | None:
    """``.python-version`` (pyenv) or ``runtime.txt`` (Heroku: ``python-3.8.10``)."""
    candidates = ((".python-version", _PYTHON_VERSION), ("runtime.txt", _RUNTIME))
    for filename, pattern in candidates:
        path = bundle / filename
        if path.is_file():
            match = pattern.search(read_text(path))
            if match:
                return PythonRecord(version=match.group(1), source=filename)
    return None


def sample_files(bundle: Path) -> Sample | None:
    """``sample_input.npy`` / ``.json`` with ``sample_output.npy``, the names save_bundle uses."""
    for name in SAMPLE_INPUTS:
        if (bundle / name).is_file():
            output = bundle / SAMPLE_OUTPUT
            return Sample(bundle / name, output if output.is_file() else None)
    return None


def read(bundle: Path, *, model: Path | None = None) -> RecordedEnv:
    """Read a bare bundle."""
    model_path = model or find_model_file(bundle, required=True)
    assert model_path is not None
    if not model_path.is_file():
        raise BundleError("model file does not exist", path=model_path)
    requirements = next((bundle / n for n in REQUIREMENTS_NAMES if (bundle / n).is_file()), None)
    if requirements is None:
        parsed = RequirementsFile()
        parsed.notes.append(
            "the bundle records no package versions; they are inferred from the model file"
        )
    else:
        parsed = parse_requirements(requirements)
        if not parsed.pins:
            parsed.notes.append(f"{requirements.name} lists no packages")
    return RecordedEnv(
        bundle_dir=bundle,
        format=NAME,
        model=ModelSpec(path=model_path, loader=loader_for(model_path)),
        pins=tuple(parsed.pins),
        constraints=tuple(parsed.constraints),
        python=python_hint(bundle),
        sample=sample_files(bundle),
        index=parsed.index,
        notes=tuple(parsed.notes),
    )
