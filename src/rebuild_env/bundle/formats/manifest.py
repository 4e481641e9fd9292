"""rebuild-env's own manifest, ``bundle.yaml`` (written by ``save_bundle`` / ``rebuild-env save``).

Schema (``format_version: 1``)::

    format_version: 1                 # required, int
    created_by: rebuild-env 0.1.0     # informative
    model: {file: model.joblib, loader: joblib, method: predict}   # file required
    python: {version: 3.11.7, implementation: cpython}             # version required
    platform: linux-x86_64            # sysconfig.get_platform() of the saving machine
    packages:                         # required, list (may be empty)
      - {name: scikit-learn, version: 1.5.2, sha256: <hex or omitted>, direct: true}
    sample: {input: sample_input.npy, output: sample_output.npy}   # optional
    code: [code/my_features.py]       # optional: the author's modules the model imports
                                      # (.py files or package folders inside the bundle)
    numeric_context:                  # optional: where the sample's outputs were computed
      blas: [{internal_api: openblas, version: 0.3.27, architecture: Haswell,
              num_threads: 8, threading_layer: pthreads, prefix: libscipy_openblas}]
      cpu: {model: "Intel(R) Core(TM) i7-...", flags: [avx, avx2, fma, ...]}
      env: {OPENBLAS_NUM_THREADS: "1"}  # the variables that choose a kernel or threads
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from ...errors import BundleError
from ...numeric_context import NumericContext
from ...pins import (
    MODEL_LOADERS,
    CodeLocation,
    ModelSpec,
    Pin,
    PythonRecord,
    RecordedEnv,
    Sample,
)
from ..textfile import read_text

NAME = "manifest"
MANIFEST = "bundle.yaml"
FORMAT_VERSION = 1
NUMERIC_CONTEXT = "numeric_context"


def numeric_section(context: object) -> dict[str, object] | None:
    """The ``numeric_context`` section to write, from what the probe captured (``None``:
    nothing usable was captured)."""
    parsed = NumericContext.from_json(context)
    return parsed.to_json() if parsed is not None else None


def detect(bundle: Path) -> bool:
    """A folder with ``bundle.yaml``."""
    return (bundle / MANIFEST).is_file()


class _Fields:
    """Typed access to the manifest's mapping, with one clear error per bad field."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, field: str, problem: str) -> BundleError:
        return BundleError(
            f"field '{field}' {problem}",
            path=self.path,
            hint="re-save the bundle with rebuild-env save, or fix the field (schema in README)",
        )

    def mapping(self, data: Any, field: str, *, required: bool = True) -> dict[str, Any]:
        if data is None and not required:
            return {}
        if not isinstance(data, dict):
            raise self.fail(field, "is missing" if data is None else "must be a mapping")
        return data

    def string(self, data: dict[str, Any], key: str, field: str, default: str | None = None) -> str:
        value = data.get(key, default)
        if value is None:
            raise self.fail(field, "is missing")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)  # YAML reads `version: 3.10` as a float; keep what was meant
        if not isinstance(value, str) or not value.strip():
            raise self.fail(field, "must be a non-empty string")
        return value.strip()

    def version(self, data: dict[str, Any], key: str, field: str) -> str:
        text = self.string(data, key, field)
        try:
            Version(text)
        except InvalidVersion:
            raise self.fail(field, f"is not a version: {text!r}") from None
        return text

    def file(self, bundle: Path, data: dict[str, Any], key: str, field: str) -> Path:
        return self.inside(bundle, self.string(data, key, field), field, folder_ok=False)

    def inside(self, bundle: Path, name: str, field: str, *, folder_ok: bool) -> Path:
        """``name`` resolved in the bundle: it must stay inside and exist (a file, unless
        ``folder_ok``)."""
        try:
            target = (bundle / name).resolve()
        except (OSError, ValueError):  # a NUL byte, a symlink loop
            raise self.fail(field, f"is not a usable file name: {name!r}") from None
        if bundle.resolve() not in target.parents:
            raise self.fail(field, f"points outside the bundle: {name!r}")
        if not (target.is_file() or (folder_ok and target.is_dir())):
            raise BundleError(
                f"field '{field}' names {name!r}, which does not exist",
                path=self.path,
                hint="the bundle is incomplete; ask its author for the missing file",
            )
        return target

    def code(self, bundle: Path, data: Any) -> tuple[CodeLocation, ...]:
        if data is None:
            return ()
        if not isinstance(data, list):
            raise self.fail("code", "must be a list of files or folders inside the bundle")
        found = []
        for i, entry in enumerate(data):
            field = f"code[{i}]"
            if not isinstance(entry, str) or not entry.strip():
                raise self.fail(field, "must be a non-empty string")
            target = self.inside(bundle, entry, field, folder_ok=True)
            found.append(CodeLocation(target, f"{MANIFEST} code"))
        return tuple(found)


def read(bundle: Path, *, model: Path | None = None) -> RecordedEnv:
    """Read and validate ``bundle.yaml``."""
    path = bundle / MANIFEST
    fields = _Fields(path)
    try:
        data = yaml.safe_load(read_text(path))
    except yaml.YAMLError as exc:
        raise BundleError(f"is not valid YAML ({str(exc).splitlines()[0]})", path=path) from None
    data = fields.mapping(data, "<top level>")
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        raise fields.fail(
            "format_version",
            f"is {version!r}; this rebuild-env reads version {FORMAT_VERSION}",
        )
    model_data = fields.mapping(data.get("model"), "model")
    model_path = model or fields.file(bundle, model_data, "file", "model.file")
    loader = fields.string(model_data, "loader", "model.loader", default="joblib")
    if loader not in MODEL_LOADERS:
        raise fields.fail("model.loader", f"must be one of {', '.join(MODEL_LOADERS)}")
    method = fields.string(model_data, "method", "model.method", default="predict")

    python_data = fields.mapping(data.get("python"), "python")
    python = PythonRecord(
        version=fields.version(python_data, "version", "python.version"),
        implementation=fields.string(
            python_data, "implementation", "python.implementation", default="cpython"
        ).lower(),
        source=MANIFEST,
    )
    packages = data.get("packages")
    if not isinstance(packages, list):
        raise fields.fail("packages", "must be a list" if packages is not None else "is missing")
    pins = []
    for i, raw in enumerate(packages):
        field = f"packages[{i}]"
        entry = fields.mapping(raw, field)
        name = canonicalize_name(fields.string(entry, "name", f"{field}.name"))
        pkg_version = fields.version(entry, "version", f"{field}.version")
        sha = entry.get("sha256")
        if sha is not None and (not isinstance(sha, str) or len(sha) != 64):
            raise fields.fail(f"{field}.sha256", "must be 64 hex digits")
        pins.append(
            Pin(
                name=name,
                specifier=f"=={pkg_version}",
                source=MANIFEST,
                hashes=(f"sha256:{sha}",) if sha else (),
            )
        )
    sample = None
    sample_data = fields.mapping(data.get("sample"), "sample", required=False)
    if sample_data:
        sample = Sample(
            input_path=fields.file(bundle, sample_data, "input", "sample.input"),
            output_path=fields.file(bundle, sample_data, "output", "sample.output")
            if sample_data.get("output")
            else None,
        )
    platform = data.get("platform", "")
    return RecordedEnv(
        bundle_dir=bundle,
        format=NAME,
        model=ModelSpec(path=model_path, loader=loader, method=method),
        pins=tuple(pins),
        python=python,
        platform=platform if isinstance(platform, str) else "",
        sample=sample,
        code=fields.code(bundle, data.get("code")),
        # informative only: a malformed section is ignored rather than refused
        numeric=NumericContext.from_json(data.get("numeric_context")),
    )
