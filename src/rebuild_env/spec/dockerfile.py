"""``--emit dockerfile DIR``: the verified environment as a container image recipe.

Writes a Dockerfile plus everything it copies (the spec files, the probe, its request, the
model, the sample and the author's trusted local modules), so that ``docker build DIR``
rebuilds the same environment and re-runs the same verification as a build step: an image
that builds is a verified image.
The Dockerfile references only files written next to it.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from ..plan import Plan
from ..verify.runner import PROBE

PYTHON_IMAGE = "python:{version}-slim"
# The official image has a tag per CPython patch release from 3.5 on (docker-library builds
# security-only releases from source too); older ones only by minor, if at all.
OLDEST_PATCH_IMAGE = (3, 5)
MICROMAMBA_IMAGE = "mambaorg/micromamba:1.5.10"
BUNDLE_DIR = "/opt/bundle"
CODE_DIR = "code"
_CHECK = (
    "import json,sys; r=json.load(open('/tmp/probe-result.json')); "
    "print('verification:', r['level']); "
    "sys.exit(0 if r['level'] in ('identical','within-noise','within-tolerance','predicts') else 1)"
)


def _copy_inputs(plan: Plan, request: dict[str, Any], out: Path) -> dict[str, Any]:
    """Copy the model and sample next to the Dockerfile; rewrite the request's paths."""
    files = out / "bundle"
    files.mkdir(parents=True, exist_ok=True)
    rewritten = dict(request)
    for key in ("model", "input", "expected"):
        if request.get(key):
            source = Path(str(request[key]))
            shutil.copy2(source, files / source.name)
            rewritten[key] = f"{BUNDLE_DIR}/{source.name}"
    if request.get("local_modules"):
        rewritten.update(_copy_local_code(request["local_modules"], files / CODE_DIR))
    shutil.copy2(PROBE, files / "probe.py")
    (files / "request.json").write_text(json.dumps(rewritten, indent=2) + "\n", encoding="utf-8")
    return rewritten


def _copy_local_code(modules: dict[str, str], code: Path) -> dict[str, Any]:
    """Copy each trusted local module (file or package) into ``code/``; the request keys."""
    code.mkdir(exist_ok=True)
    where = {}
    for name, path in modules.items():
        source = Path(path)
        if source.is_dir():
            shutil.copytree(source, code / source.name, dirs_exist_ok=True)
        else:
            shutil.copy2(source, code / source.name)
        where[name] = f"{BUNDLE_DIR}/{CODE_DIR}/{source.name}"
    return {"code_paths": [f"{BUNDLE_DIR}/{CODE_DIR}"], "local_modules": where}


def python_image(plan: Plan) -> tuple[str, str]:
    """The base image (the recorded patch release when the plan kept its minor version),
    and a comment line when it falls back to the minor version."""
    minor = plan.python_version
    recorded = plan.recorded.python.version if plan.recorded.python else ""
    try:
        exact = Version(recorded)
    except InvalidVersion:
        exact = None
    fits = (
        exact is not None
        and len(exact.release) == 3
        and f"{exact.major}.{exact.minor}" == ".".join(minor.split(".")[:2])
        and exact.release[:2] >= OLDEST_PATCH_IMAGE
    )
    if fits:
        return PYTHON_IMAGE.format(version=recorded), ""
    why = (
        f"the bundle records Python {recorded}, the plan uses {minor}"
        if recorded
        else "the bundle records no patch release of Python"
    )
    return PYTHON_IMAGE.format(version=minor), f"# Python {minor}: {why}."


def render(plan: Plan, spec_names: list[str], env: Mapping[str, str] | None = None) -> str:
    """The Dockerfile text for the plan's backend; ``env``: variables every later step and
    the image's containers get (the recorded BLAS kernel, with ``--pin-kernel``)."""
    pinned = [f"ENV {k}={v}" for k, v in sorted((env or {}).items())]
    verify = [
        *pinned,
        f"COPY bundle/ {BUNDLE_DIR}/",
        f"RUN python -I {BUNDLE_DIR}/probe.py {BUNDLE_DIR}/request.json /tmp/probe-result.json \\",
        f'    && python -c "{_CHECK}"',
    ]
    if plan.backend == "conda":
        lock = "conda-lock.yml" if "conda-lock.yml" in spec_names else "environment.yml"
        lines = [
            f"FROM {MICROMAMBA_IMAGE}",
            f"COPY --chown=$MAMBA_USER:$MAMBA_USER {lock} /tmp/{lock}",
            f"RUN micromamba install -y -n base -f /tmp/{lock} && micromamba clean -a -y",
            "ARG MAMBA_DOCKERFILE_ACTIVATE=1",
        ]
        if "requirements-pip.txt" in spec_names:
            lines += [
                "COPY requirements-pip.txt /tmp/requirements-pip.txt",
                "RUN python -m pip install --no-cache-dir -r /tmp/requirements-pip.txt",
            ]
    else:
        image, comment = python_image(plan)
        hashed = bool(plan.packages) and all(p.hashes for p in plan.packages)
        lines = [
            *([comment] if comment else []),
            f"FROM {image}",
            "COPY requirements.txt /tmp/requirements.txt",
            "RUN python -m pip install --no-cache-dir"
            + (" --require-hashes" if hashed else "")
            + " -r /tmp/requirements.txt",
        ]
    header = [
        f"# Written by rebuild-env for {plan.recorded.bundle_dir.name}: Python "
        f"{plan.python_version}, {len(plan.packages)} packages ({plan.backend} backend).",
        "# The last step re-runs rebuild-env's verification: the image only builds if the",
        "# model loads and predicts as recorded.",
    ]
    return "\n".join([*header, *lines, *verify]) + "\n"


def write(
    plan: Plan,
    specs: tuple[Path, ...],
    request: dict[str, Any],
    out: Path,
    env: Mapping[str, str] | None = None,
) -> list[Path]:
    """Write the Dockerfile and everything it copies into ``out``; return the paths."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for spec in specs:
        target = out / spec.name
        if spec.resolve() != target.resolve():
            shutil.copy2(spec, target)
        written.append(target)
    _copy_inputs(plan, request, out)
    dockerfile = out / "Dockerfile"
    dockerfile.write_text(render(plan, [s.name for s in specs], env), encoding="utf-8")
    return [dockerfile, *written, out / "bundle"]
