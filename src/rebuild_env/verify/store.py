"""What rebuild-env keeps about earlier verifications.

- In each environment, ``rebuild-env-verified.json``: the result of each verification that
  passed, by a hash of the probe request and every file it reads, so that a cache hit with
  the same model and sample can reuse it (``--reverify`` runs the probe again).
- In the cache, ``warm/``: which interpreter each bundle was probed with last time, so that
  the next run can start that probe (its imports) before it has even planned.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import RebuildEnvError
from ..locations import cache_dir
from .fingerprint import EnvFingerprint
from .runner import ProbeResult, WarmProbe, result_from_dict, result_to_dict

VERIFIED_FILE = "rebuild-env-verified.json"
KEPT_VERIFICATIONS = 64
PASSING = ("identical", "within-noise", "within-tolerance", "predicts", "loads")


def verification_key(request: dict[str, Any]) -> str:
    """A hash of the probe request and the content of every file it reads.

    The author's local code counts too: an edited ``my_features.py`` is verified again.
    """
    digest = hashlib.sha256(json.dumps(request, sort_keys=True).encode())
    files = [Path(request[key]) for key in ("model", "input", "expected") if request.get(key)]
    for where in map(Path, (request.get("local_modules") or {}).values()):
        files += sorted(where.rglob("*.py")) if where.is_dir() else [where]
    for path in files:
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def _stored_verifications(prefix: Path) -> dict[str, Any]:
    """Earlier verifications in this environment: verification key -> {at, result}."""
    try:
        data = json.loads((prefix / VERIFIED_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    found = data.get("verifications") if isinstance(data, dict) else None
    return found if isinstance(found, dict) else {}


@dataclass(frozen=True)
class EarlierVerification:
    """A verification stored in an environment: its result, when, and the env's state then."""

    result: ProbeResult
    at: str
    fingerprint: EnvFingerprint | None
    """``None`` for a record written before fingerprints were kept: never reused."""


def earlier_verification(prefix: Path, key: str) -> EarlierVerification | None:
    """The earlier verification in ``prefix`` with this key, if any."""
    entry = _stored_verifications(prefix).get(key)
    if not isinstance(entry, dict) or not isinstance(entry.get("result"), dict):
        return None
    return EarlierVerification(
        result_from_dict(entry["result"]),
        str(entry.get("at", "")),
        EnvFingerprint.from_json(entry.get("env")),
    )


def store_verification(
    prefix: Path, key: str, probe: ProbeResult, fingerprint: EnvFingerprint
) -> None:
    """Keep ``probe`` as the verification of this key in ``prefix`` (written atomically),
    with the fingerprint of the env it passed in: it is reused only while that holds."""
    # One entry per verification key: bundles that share a cached environment (same plan)
    # each keep their own, instead of overwriting each other's and re-running the probe.
    stored = {k: v for k, v in _stored_verifications(prefix).items() if isinstance(v, dict)}
    stored[key] = {
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "result": result_to_dict(probe),
        "env": fingerprint.to_json(),
    }
    kept = dict(
        sorted(stored.items(), key=lambda kv: str(kv[1].get("at", "")))[-KEPT_VERIFICATIONS:]
    )
    target = prefix / VERIFIED_FILE
    temporary = target.with_name(f".{VERIFIED_FILE}.{os.getpid()}.{threading.get_ident()}")
    try:  # written aside, then renamed: concurrent batch jobs never read a torn file
        temporary.write_text(json.dumps({"verifications": kept}), encoding="utf-8")
        temporary.replace(target)
    except OSError:  # a read-only env only loses the shortcut
        temporary.unlink(missing_ok=True)


WARM_DIR = "warm"


def _warm_file(bundle: Path | str, key: str = "") -> Path:
    name = f"{Path(bundle).resolve()}\0{key}" if key else str(Path(bundle).resolve())
    digest = hashlib.sha256(name.encode()).hexdigest()[:20]
    return cache_dir() / WARM_DIR / f"{digest}.json"


def start_warm_probe(
    bundle: Path | str, *, key: str = "", always: bool = False, sandbox: bool = True
) -> WarmProbe | None:
    """Start the probe in the env this bundle verified in last time, if it will likely run.

    Its imports (the model's modules) then overlap reading, scanning and planning; the
    plan decides later whether it is used (same interpreter) or discarded. ``key`` names
    another environment of the same bundle (a ``compare`` candidate); ``always``: the
    probe will run whatever an earlier verification stored.
    """
    try:
        last = json.loads(_warm_file(bundle, key).read_text())
        python = Path(last["python"])
        if not (always or last["probe_ran"]) or not python.exists():
            return None
        return WarmProbe(python, [str(m) for m in last["modules"]], sandbox=sandbox)
    except (OSError, ValueError, KeyError, TypeError, RebuildEnvError):
        return None


def remember_warm_probe(
    bundle_dir: Path, python: Path, modules: Sequence[str], *, probe_ran: bool, key: str = ""
) -> None:
    """Note which interpreter (and modules) the next run of this bundle will likely probe."""
    record = {"python": str(python), "modules": list(modules), "probe_ran": probe_ran}
    path = _warm_file(bundle_dir, key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(record))
        tmp.replace(path)
    except OSError:
        pass
