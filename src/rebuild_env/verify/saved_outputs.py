"""The reference outputs ``compare`` saved, kept in the reference environment.

A cached environment is immutable once complete, so what its probe computed for a given
model, sample and list of output runs stays true: a later ``compare`` of the same bundle
reads those ``.npy`` files instead of running the reference probe again (``--reverify``
runs it). Each entry is ``rebuild-env-outputs/<key>/`` in the env: the outputs and
``probe.json`` (the probe's result, when it ran, and the env's fingerprint then), renamed
into place whole. An entry serves only while the env's fingerprint still matches: a
damaged or modified env is probed again, as ``rebuild`` does with its stored verdicts.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from . import fingerprint
from .runner import ProbeResult, result_from_dict, result_to_dict
from .store import verification_key

OUTPUTS_DIR = "rebuild-env-outputs"
RESULT_FILE = "probe.json"
KEPT_ENTRIES = 8


def _digest(path: str | None) -> str | None:
    if not path:
        return None
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def outputs_key(request: dict[str, Any]) -> str:
    """The probe request's hash, by the content of its inputs rather than their paths.

    The output runs' inputs (the larger input is drawn anew in a temporary folder each
    time, identically) count by content; where the outputs are written does not count.
    """
    runs = [
        {
            "name": run.get("name"),
            "method": run.get("method"),
            "optional": run.get("optional"),
            "input": _digest(run.get("input")),
        }
        for run in request.get("outputs") or ()
    ]
    return verification_key({**request, "outputs": runs})[:32]


def saved_outputs(prefix: Path, key: str) -> tuple[ProbeResult, Path, str] | None:
    """The stored probe result, its outputs folder and when it ran; ``None`` if absent, or
    if the env changed since (or the entry predates fingerprints)."""
    folder = prefix / OUTPUTS_DIR / key
    try:
        data = json.loads((folder / RESULT_FILE).read_text(encoding="utf-8"))
        result = result_from_dict(data["result"]), folder, str(data["at"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    then = fingerprint.EnvFingerprint.from_json(data.get("env"))
    if then is None or fingerprint.changes(then, fingerprint.take(prefix), prefix):
        return None
    return result


def save_outputs(prefix: Path, key: str, probe: ProbeResult, outputs: Path) -> None:
    """Keep ``outputs`` (and ``probe``) as the entry ``key`` of ``prefix``; best effort."""
    root = prefix / OUTPUTS_DIR
    target = root / key
    temporary = root / f".{key}.{os.getpid()}.{threading.get_ident()}"
    try:
        root.mkdir(exist_ok=True)
        shutil.copytree(outputs, temporary)
        at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        record = {
            "at": at,
            "result": result_to_dict(probe),
            "env": fingerprint.take(prefix).to_json(),
        }
        (temporary / RESULT_FILE).write_text(json.dumps(record), encoding="utf-8")
        try:
            temporary.rename(target)
        except OSError:  # another compare stored the same outputs first: keep theirs
            shutil.rmtree(temporary, ignore_errors=True)
        _prune(root)
    except OSError:  # a read-only env only loses the shortcut
        shutil.rmtree(temporary, ignore_errors=True)


def _prune(root: Path) -> None:
    entries = sorted(
        (p for p in root.iterdir() if not p.name.startswith(".")),
        key=lambda p: p.stat().st_mtime,
    )
    for old in entries[:-KEPT_ENTRIES]:
        shutil.rmtree(old, ignore_errors=True)
