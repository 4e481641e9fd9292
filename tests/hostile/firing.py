"""Running payloads: under plain joblib/pickle (proof they fire) and through rebuild-env.

Hostile files are only ever loaded in a scratch subprocess, never in the test process.
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import ROOT
from tests.hostile.payloads import Payload

SCRATCH_TIMEOUT_S = 60
INSPECT_TIMEOUT_S = 60
PROBE = ROOT / "src" / "rebuild_env" / "verify" / "probe.py"
UNSAFE_EXIT = 7  # README "Exit codes": refused as unsafe

_PLAIN_LOAD = """
import sys
loader = sys.argv[2]
try:
    if loader == "pickle":
        import pickle
        with open(sys.argv[1], "rb") as handle:
            pickle.load(handle)
    else:
        import joblib
        joblib.load(sys.argv[1])
except BaseException as exc:  # the side effect, not the result, is what counts
    print(type(exc).__name__, exc)
"""

_PROBE_LOAD = """
import json, runpy, sys
probe = runpy.run_path(sys.argv[1])
try:
    probe["load_model"](json.loads(sys.argv[2]))
    print("loaded")
except BaseException as exc:
    print(type(exc).__name__, exc)
"""


def scratch_load(model: Path, loader: str = "joblib", cwd: Path | None = None) -> str:
    """Load ``model`` with plain joblib (or pickle) in a scratch process; its output."""
    done = subprocess.run(
        [sys.executable, "-c", _PLAIN_LOAD, str(model), loader],
        capture_output=True,
        text=True,
        timeout=SCRATCH_TIMEOUT_S,
        cwd=cwd or model.parent,
        check=False,
    )
    return done.stdout + done.stderr


def probe_load(request: dict[str, object], cwd: Path) -> str:
    """The probe's own ``load_model(request)`` in a scratch process; its output."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE_LOAD, str(PROBE), json.dumps(request)],
        capture_output=True,
        text=True,
        timeout=SCRATCH_TIMEOUT_S,
        cwd=cwd,
        check=False,
    )
    return done.stdout + done.stderr


def prove_it_fires(build: object, scratch: Path, loader: str = "joblib") -> str:
    """Build the payload against a scratch marker, load it with plain joblib, and return the
    loader's output; the caller asserts the marker exists."""
    payload: Payload = build(scratch / "markers" / "proof")  # type: ignore[operator]
    model = payload.write(scratch / "bundle")
    return scratch_load(model, loader)


@dataclass(frozen=True)
class Inspected:
    code: int
    scan: dict[str, object]
    stderr: str
    cpu_s: float


def inspect(model: Path, timeout: float = INSPECT_TIMEOUT_S) -> Inspected:
    """``rebuild-env inspect MODEL --json`` as a user runs it, with the CPU time it used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [sys.executable, "-m", "rebuild_env", "inspect", str(model), "--json"],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    try:
        scan = json.loads(done.stdout).get("scan") or {}
    except json.JSONDecodeError:
        scan = {}
    return Inspected(done.returncode, scan, done.stderr, cpu)


def fresh_marker_dir(base: Path) -> Path:
    """An empty folder for one payload's marker."""
    if base.exists():
        shutil.rmtree(base)
    base.mkdir(parents=True)
    return base


_MANY_LOAD = """
import json, sys
import joblib
for path in json.loads(sys.argv[1]):
    try:
        joblib.load(path)
    except BaseException:
        pass
"""


def scratch_load_many(models: list[Path]) -> None:
    """Load every model with plain joblib, one after the other, in one scratch process
    (cheaper than a process each; a payload that kills the process stops the rest)."""
    subprocess.run(
        [sys.executable, "-c", _MANY_LOAD, json.dumps([str(m) for m in models])],
        capture_output=True,
        timeout=SCRATCH_TIMEOUT_S * 2,
        cwd=models[0].parent if models else None,
        check=False,
    )
