"""``rebuild-env save MODEL DEST``: turn a model file of yours into a bundle, untouched.

The bundle holds the file's exact bytes (their sha256 is recorded in ``bundle.yaml``): the
model is never unpickled in this process, nor pickled again. What it records comes from
the environment that trained the model, told by that environment's own interpreter
(``--python PATH``; by default the one running rebuild-env, but only when its versions
agree with what the scan reads from the file, e.g. ``_sklearn_version``). The outputs on
the sample input are computed by the probe, run by that interpreter exactly as a
verification runs it (restricted unpickler, the probe's sandbox).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .. import __version__, _subprocess
from ..errors import BuildError, BundleError, ExitCode, UsageError
from . import Display, Outcome

INVENTORY_TIMEOUT_S = 120.0
CAPTURE_TIMEOUT_S = 900.0
COPY_CHUNK = 1 << 20
# Always needed to load and verify a bundle, whatever the model references.
ALWAYS = ("joblib", "numpy")
SAMPLE_OUTPUT = "sample_output.npy"
SAMPLE_INPUT_NPY = "sample_input.npy"
SAMPLE_INPUT_JSON = "sample_input.json"
CODE_DIR = "code"


@dataclass(frozen=True)
class SavedBundle:
    """What ``save`` wrote."""

    folder: Path
    model_sha256: str
    python: str
    """The Python version recorded."""
    interpreter: Path
    """The interpreter that told the versions and computed the outputs."""


@dataclass(frozen=True)
class Inventory:
    """What the training interpreter has installed (see ``env_inventory.py``)."""

    python: str
    implementation: str
    platform: str
    markers: dict[str, str]
    distributions: dict[str, dict[str, Any]]
    """Canonical name -> name, version, requires, top_level, sha256."""

    def version(self, name: str) -> str | None:
        """The installed version of ``name`` (any spelling), if installed."""
        from packaging.utils import canonicalize_name

        entry = self.distributions.get(canonicalize_name(name))
        return str(entry["version"]) if entry else None


def _inventory(python: Path, csv: tuple[Path, Path] | None = None) -> Inventory:
    from packaging.utils import canonicalize_name

    from ..env_inventory import PATH

    args: list[str | Path] = [python, "-I", PATH]
    if csv is not None:
        args += ["--csv", *csv]
    try:
        done = _subprocess.run(
            args, env=_subprocess.clean_env(), timeout=INVENTORY_TIMEOUT_S, what="python"
        )
        doc = json.loads(done.stdout)
    except (BuildError, OSError, ValueError) as exc:
        detail = _subprocess.tail(getattr(exc, "output", "") or str(exc), 1)
        raise UsageError(
            f"cannot read what this interpreter has installed: {detail}",
            path=python,
            hint="pass --python PATH: the interpreter (3.7 or newer) that trained the model",
        ) from None
    dists = {str(canonicalize_name(d["name"])): d for d in doc["distributions"]}
    return Inventory(doc["python"], doc["implementation"], doc["platform"], doc["markers"], dists)


def _disagreements(hints: Sequence[Any], inventory: Inventory) -> list[str]:
    """``scikit-learn==1.5.2 (_sklearn_version; installed: 1.9.1)`` for each version the
    file says it was written with that the interpreter does not have."""
    from packaging.specifiers import SpecifierSet

    found = []
    for pin in hints:
        installed = inventory.version(pin.name)
        why = pin.source.split(": ", 1)[-1]
        if installed is None:
            found.append(f"{pin.name}{pin.specifier} ({why}; not installed)")
        elif pin.specifier and not SpecifierSet(pin.specifier).contains(
            installed, prereleases=True
        ):
            found.append(f"{pin.name}{pin.specifier} ({why}; installed: {installed})")
    return found


def _closure(names: Sequence[str], inventory: Inventory) -> list[dict[str, Any]]:
    """The distributions named, plus everything they require there (markers evaluated)."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    environment = {**inventory.markers, "extra": ""}
    found: dict[str, dict[str, Any]] = {}
    todo = list(names)
    while todo:
        name = canonicalize_name(todo.pop())
        dist = inventory.distributions.get(name)
        if name in found or dist is None:
            continue
        found[name] = dist
        for text in dist.get("requires") or ():
            try:
                req = Requirement(text)
            except InvalidRequirement:
                continue
            if req.marker is None or req.marker.evaluate(environment):
                todo.append(req.name)
    return [found[n] for n in sorted(found)]


def _copy_exact(source: Path, target: Path) -> str:
    """Copy ``source`` byte for byte; its sha256 (checked on the copy too)."""
    digest, check = hashlib.sha256(), hashlib.sha256()
    with source.open("rb") as reader, target.open("wb") as writer:
        for chunk in iter(lambda: reader.read(COPY_CHUNK), b""):
            digest.update(chunk)
            writer.write(chunk)
    with target.open("rb") as reader:
        for chunk in iter(lambda: reader.read(COPY_CHUNK), b""):
            check.update(chunk)
    if digest.hexdigest() != check.hexdigest():
        raise BundleError("the copy of the model file differs from it", path=target)
    return digest.hexdigest()


def save_from_file(
    model_file: Path,
    dest: Path,
    *,
    sample_input: Path | None,
    method: str,
    trust: bool,
    trust_code: bool = False,
    code_paths: Sequence[Path] = (),
    pack: str | None = None,
    python: Path | None = None,
    sandbox: bool = True,
) -> SavedBundle:
    """Scan ``model_file`` and write the bundle ``dest`` holding its exact bytes.

    ``python``: the interpreter of the environment that trained the model (default: this
    one, refused when its versions disagree with the file's). The author's own modules
    the model needs (found in ``code_paths`` or beside the file) are imported by the probe
    only with ``trust_code`` (or ``trust``), and copied into the bundle. ``pack``: a backend
    (``venv``/``conda``) whose artifacts are then stored in it. ``sandbox``: false runs the
    probe that loads the model without the OS sandbox (``--no-sandbox``).
    """
    from ..local_code import vet
    from ..pickle_scan import scan_file
    from ..pins import ModelSpec, RecordedEnv

    if not model_file.is_file():
        raise BundleError("model file does not exist", path=model_file)
    if sample_input is not None and not sample_input.is_file():
        raise UsageError("sample input does not exist", path=sample_input)
    if sample_input is not None and sample_input.suffix not in (".npy", ".csv"):
        raise UsageError("sample input must be .npy or .csv", path=sample_input)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise BundleError("exists and is not an empty folder", path=dest, hint="choose a new one")
    report = scan_file(model_file, trust=trust)
    recorded = RecordedEnv(model_file.parent, "model file", ModelSpec(model_file))
    local = vet(report, recorded, trust=trust, trust_code=trust_code, code_paths=code_paths)
    interpreter = (python or Path(sys.executable)).absolute()
    if python is not None and not interpreter.is_file():
        raise UsageError("--python: no such interpreter", path=interpreter)
    inventory = _inventory(interpreter)
    disagree = _disagreements(report.hints, inventory)
    if disagree:
        raise UsageError(
            f"was written with {', '.join(disagree)}, which {interpreter} does not have",
            path=model_file,
            hint="pass --python PATH, the interpreter of the environment that trained it"
            if python is None
            else "--python must be the interpreter of the environment that trained it",
        )
    staging = dest.absolute().with_name(f".{dest.name}.saving-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        saved = _write(
            staging,
            model_file=model_file,
            report=report,
            local=local,
            trust=trust,
            method=method,
            sample_input=sample_input,
            interpreter=interpreter,
            inventory=inventory,
            sandbox=sandbox,
        )
        if dest.exists():
            dest.rmdir()
        staging.rename(dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if pack is not None:
        from ..options import Options
        from ..pack.packing import pack_bundle

        # The bundle records that interpreter's Python, so the plan uses it.
        options = Options(backend=pack, python=str(interpreter), trust=trust, trust_code=trust_code)
        pack_bundle(dest, options)
    return SavedBundle(dest, saved, inventory.python, interpreter)


def _write(
    folder: Path,
    *,
    model_file: Path,
    report: Any,
    local: Any,
    trust: bool,
    method: str,
    sample_input: Path | None,
    interpreter: Path,
    inventory: Inventory,
    sandbox: bool,
) -> str:
    """Fill ``folder``: the model's bytes, the sample and its outputs, the code, the manifest."""
    from ..bundle.formats.manifest import FORMAT_VERSION, MANIFEST, NUMERIC_CONTEXT, numeric_section

    sha = _copy_exact(model_file, folder / model_file.name)
    loader = "pickle" if report.container == "pickle" else "joblib"
    modules = {g.module.split(".")[0] for g in report.globals} - {"builtins", "__builtin__"}
    sample: dict[str, str] | None = None
    if sample_input is not None and sample_input.suffix == ".csv":
        _inventory(interpreter, csv=(sample_input.absolute(), folder / SAMPLE_INPUT_JSON))
        sample = {"input": SAMPLE_INPUT_JSON, "output": SAMPLE_OUTPUT}
        modules.add("pandas")  # the probe rebuilds the table as a DataFrame
    elif sample_input is not None:
        _copy_exact(sample_input, folder / SAMPLE_INPUT_NPY)
        sample = {"input": SAMPLE_INPUT_NPY, "output": SAMPLE_OUTPUT}
    context = _capture_outputs(
        folder,
        model_name=model_file.name,
        loader=loader,
        method=method,
        sample=sample,
        report=report,
        local=local,
        trust=trust,
        interpreter=interpreter,
        sandbox=sandbox,
    )
    owners: dict[str, list[str]] = {}
    for dist in inventory.distributions.values():
        for top in dist.get("top_level") or ():
            owners.setdefault(top, []).append(dist["name"])
    wanted = [*ALWAYS, *(name for m in sorted(modules) for name in owners.get(m, []))]
    manifest: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "created_by": f"rebuild-env {__version__}",
        "model": {"file": model_file.name, "loader": loader, "method": method, "sha256": sha},
        "python": {"version": inventory.python, "implementation": inventory.implementation},
        "platform": inventory.platform,
        "packages": [
            {
                "name": d["name"],
                "version": d["version"],
                **({"sha256": d["sha256"]} if d.get("sha256") else {}),
            }
            for d in _closure(wanted, inventory)
        ],
    }
    if sample is not None:
        manifest["sample"] = sample
    code = _copy_code(local, folder)
    if code:
        manifest["code"] = code
    numeric = numeric_section(context)
    if numeric is not None:
        manifest[NUMERIC_CONTEXT] = numeric
    (folder / MANIFEST).write_text(
        yaml.safe_dump(manifest, sort_keys=False, default_flow_style=False), encoding="utf-8"
    )
    return sha


def _capture_outputs(
    folder: Path,
    *,
    model_name: str,
    loader: str,
    method: str,
    sample: dict[str, str] | None,
    report: Any,
    local: Any,
    trust: bool,
    interpreter: Path,
    sandbox: bool,
) -> dict[str, Any] | None:
    """Load the model with the probe in the training interpreter (restricted unpickler,
    the probe's sandbox) and save its outputs on the sample; raise when it cannot load.

    Returns the numeric context the outputs were computed in (BLAS kernel, CPU, variables)."""
    from ..pins import ModelSpec, RecordedEnv, Sample
    from ..verify.runner import request_for, run_probe

    recorded = RecordedEnv(
        folder,
        "model file",
        ModelSpec(folder / model_name, loader=loader, method=method),
        sample=Sample(folder / sample["input"]) if sample else None,
    )
    request = request_for(
        recorded,
        allowed_globals=None if trust else report.allowed_globals(),
        tolerance=None,
        local_code=local,
    )
    if sample is not None:
        request["outputs"] = [
            {
                "name": "sample",
                "method": method,
                "input": request["input"],
                "file": str(folder / SAMPLE_OUTPUT),
                "optional": False,
            }
        ]
        request["input"] = None  # the output run predicts on it; nothing to compare with
        request["numeric_context"] = "always"
    probe = run_probe(interpreter, request, timeout=CAPTURE_TIMEOUT_S, sandbox=sandbox)
    runs = [o for o in probe.outputs if o.get("name") == "sample"]
    if probe.error is not None and probe.error.stage != "predict":
        raise BundleError(
            f"the model does not load with {interpreter}: {probe.error.last_line}",
            path=folder / model_name,
            hint="pass --python PATH, the interpreter of the environment that trained it",
        )
    if sample is not None and (not runs or runs[0].get("status") != "ok"):
        error = runs[0].get("error") if runs else None
        last = (error or {}).get("message", "no output").strip().splitlines()[-1:]
        raise BundleError(
            f"{method} failed on the sample input: {''.join(last)}",
            path=folder / model_name,
            hint="check --method and --sample-input",
        )
    return probe.numeric_context


def _copy_code(local: Any, folder: Path) -> list[str]:
    """The author's modules the model needs, copied into ``code/``; their manifest paths."""
    listed = []
    for module in local.modules:
        source = module.path
        if source is None:
            continue
        target = folder / CODE_DIR / source.name
        target.parent.mkdir(exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, target)
        listed.append(f"{CODE_DIR}/{target.name}")
    return listed


def run(args: argparse.Namespace, progress: Display) -> Outcome:
    """``save MODEL_FILE DEST``: the bundle written, in one line (or JSON)."""
    saved = save_from_file(
        args.model_file,
        args.dest,
        sample_input=args.sample_input,
        method=args.method,
        trust=args.trust,
        trust_code=args.trust_code,
        code_paths=tuple(args.code_path),
        pack=args.pack_backend if args.pack else None,
        sandbox=not args.no_sandbox,
        python=args.python,
    )
    return Outcome(
        ExitCode.OK,
        f"saved bundle {saved.folder}: {args.model_file.name} as is (sha256 "
        f"{saved.model_sha256[:12]}...), versions of Python {saved.python} at "
        f"{saved.interpreter}" + (f" (packed for {args.pack_backend})" if args.pack else ""),
        {"schema_version": 1, "command": "save", "bundle": str(saved.folder)},
    )
