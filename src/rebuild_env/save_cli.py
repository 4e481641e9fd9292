"""``rebuild-env save``: turn a model file of yours into a bundle.

The model is unpickled only after the static scan passed, and only in a child process
(this Python, so the recorded versions are the ones you trained with), never in the
rebuild-env process itself.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from . import _subprocess
from .errors import BuildError, BundleError, UsageError

SAVE_TIMEOUT_S = 900.0


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
) -> Path:
    """Scan ``model_file``, then write the bundle ``dest`` from a child process.

    The author's own modules the model needs (found in ``code_paths`` or beside the file)
    are imported by the child only with ``trust_code`` (or ``trust``), and copied into the
    bundle. ``pack``: a backend (``venv``/``conda``) whose artifacts are then stored in it.
    """
    from .local_code import vet
    from .pickle_scan import scan_file
    from .pins import ModelSpec, RecordedEnv

    if not model_file.is_file():
        raise BundleError("model file does not exist", path=model_file)
    if sample_input is not None and not sample_input.is_file():
        raise UsageError("sample input does not exist", path=sample_input)
    report = scan_file(model_file, trust=trust)
    recorded = RecordedEnv(model_file.parent, "model file", ModelSpec(model_file))
    local = vet(report, recorded, trust=trust, trust_code=trust_code, code_paths=code_paths)
    args: list[str | Path] = [sys.executable, "-m", "rebuild_env.capture", model_file, dest, method]
    if sample_input is not None:
        args.append(sample_input)
    env = _subprocess.clean_env(keep=("PYTHONPATH",))
    if local.code_paths():  # the child imports the author's modules to unpickle the model
        given = [env["PYTHONPATH"]] if env.get("PYTHONPATH") else []
        env["PYTHONPATH"] = os.pathsep.join([*local.code_paths(), *given])
    try:
        _subprocess.run(args, env=env, timeout=SAVE_TIMEOUT_S, what="save")
    except BuildError as exc:
        raise BundleError(
            f"saving failed: {_subprocess.tail(exc.output, 1)}", path=model_file
        ) from None
    if pack is not None:
        from .pack.packing import pack_bundle
        from .rebuild import Options

        # The bundle records this Python, so it is the interpreter the plan uses.
        options = Options(backend=pack, python=sys.executable, trust=trust, trust_code=trust_code)
        pack_bundle(dest, options)
    return dest
