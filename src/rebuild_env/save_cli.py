"""``rebuild-env save``: turn a model file of yours into a bundle.

The model is unpickled only after the static scan passed, and only in a child process
(this Python, so the recorded versions are the ones you trained with), never in the
rebuild-env process itself.
"""

from __future__ import annotations

import sys
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
    pack: str | None = None,
) -> Path:
    """Scan ``model_file``, then write the bundle ``dest`` from a child process.

    ``pack``: a backend (``venv``/``conda``) whose artifacts are then stored in the bundle.
    """
    from .pickle_scan import check_safe, scan_file

    if not model_file.is_file():
        raise BundleError("model file does not exist", path=model_file)
    if sample_input is not None and not sample_input.is_file():
        raise UsageError("sample input does not exist", path=sample_input)
    report = scan_file(model_file, trust=trust)
    if not trust:
        check_safe(report)
    args: list[str | Path] = [sys.executable, "-m", "rebuild_env.capture", model_file, dest, method]
    if sample_input is not None:
        args.append(sample_input)
    env = _subprocess.clean_env(keep=("PYTHONPATH",))
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
        pack_bundle(dest, Options(backend=pack, python=sys.executable, trust=trust))
    return dest
