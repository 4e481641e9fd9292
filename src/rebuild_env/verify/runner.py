"""Run the probe with the rebuilt environment's own interpreter and read what it found.

Each probe has a folder of its own: the host writes the request there, and the probe
runs in the OS sandbox (:mod:`.sandbox`) with one writable subfolder, ``out/``, where it
writes its result and any outputs it saves; the host moves those outputs to where the
request's caller asked for them afterwards.
"""

from __future__ import annotations

import atexit
import dataclasses
import json
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import _subprocess
from . import sandbox_report as _sandbox
from .sandbox_report import SandboxInfo

if TYPE_CHECKING:  # the probe of a cache hit starts before these are imported
    from ..local_code import LocalCode
    from ..pins import RecordedEnv

PROBE = Path(__file__).with_name("probe.py")
DEFAULT_TIMEOUT_S = 600.0
REQUEST_FILE = "request.json"
RESULT_FILE = "result.json"
WRITABLE_DIR = "out"
OUTPUTS_DIR = "outputs"
# Markers of "this pickle was written by another version" across scikit-learn releases.
_VERSION_WARNING_CATEGORIES = ("InconsistentVersionWarning",)
_VERSION_WARNING_TEXT = ("Trying to unpickle estimator", "from version", "when using version")


@dataclass(frozen=True)
class ProbeError:
    """Why the probe stopped: stage (load, predict, compare, probe), exception type, message."""

    stage: str
    type: str
    message: str
    refused: bool = False

    @property
    def last_line(self) -> str:
        """The exception's last line (``ModuleNotFoundError: No module named 'x'``)."""
        lines = [line for line in self.message.splitlines() if line.strip()]
        return lines[-1] if lines else self.type

    @property
    def headline(self) -> str:
        """The line that names the exception, for a message of several lines."""
        return error_headline(self.type, self.message)


def error_headline(kind: str, message: str) -> str:
    """``ValueError: node array from the pickle has an incompatible dtype:``, not the last
    of the lines that follow it; the last line when no line names the exception type."""
    lines = [line for line in message.splitlines() if line.strip()]
    for line in lines:
        name = line.split(":", 1)[0]
        if name == kind or name.endswith(f".{kind}"):
            return line
    return lines[-1] if lines else kind


@dataclass(frozen=True)
class ProbeResult:
    """What the probe reported (or why it could not report)."""

    level: str
    """``identical``, ``within-tolerance``, ``differs``, ``predicts``, ``loads`` or ``failed``."""
    python: str = ""
    input: str | None = None
    """``recorded``, ``generated`` or ``None`` (no input could be made)."""
    error: ProbeError | None = None
    warnings: tuple[tuple[str, str], ...] = ()
    versions: dict[str, str] = field(default_factory=dict)
    comparison: dict[str, Any] | None = None
    timed_out: bool = False
    seconds: float = 0.0
    outputs: tuple[dict[str, Any], ...] = ()
    """What each requested output run gave (``compare``): name, status, error, shape, dtype."""
    sandbox: SandboxInfo | None = None
    """The OS sandbox the probe ran in (``None``: not recorded, e.g. an older stored result)."""
    numeric_context: dict[str, Any] | None = None
    """The BLAS libraries, CPU and variables the outputs were computed with, when asked for
    (see ``numeric_context.py``)."""

    @property
    def version_warnings(self) -> tuple[str, ...]:
        """Warnings that say the model was saved by another library version."""
        return tuple(
            message
            for category, message in self.warnings
            if category in _VERSION_WARNING_CATEGORIES
            or all(text in message for text in _VERSION_WARNING_TEXT[1:])
            or _VERSION_WARNING_TEXT[0] in message
        )


def request_for(
    recorded: RecordedEnv,
    *,
    allowed_globals: Sequence[tuple[str, str]] | None,
    tolerance: dict[str, float] | None,
    local_code: LocalCode | None = None,
) -> dict[str, Any]:
    """The probe's request document for a bundle.

    ``local_code``, when trusted: the folders the probe appends to ``sys.path``, the file
    each local module must be imported from, and the globals allowed from them.
    """
    sample = recorded.sample
    request: dict[str, Any] = {
        "model": str(recorded.model.path.absolute()),
        "loader": recorded.model.loader,
        "method": recorded.model.method,
        "input": str(sample.input_path.absolute()) if sample else None,
        "expected": str(sample.output_path.absolute()) if sample and sample.output_path else None,
        "allowed_globals": [list(g) for g in allowed_globals]
        if allowed_globals is not None
        else None,
        "tolerance": tolerance,
        "skops_trusted": list(recorded.model.trusted_types),
        "input_schema": _input_schema(recorded),
    }
    if local_code is not None and local_code.trusted and local_code.modules:
        request["code_paths"] = local_code.code_paths()
        request["local_modules"] = local_code.files()
        request["local_globals"] = [list(g) for g in local_code.allowed_globals()]
    return request


def _input_schema(recorded: RecordedEnv) -> dict[str, Any] | None:
    """What the author recorded about the input's layout, for generating one."""
    model = recorded.model
    if model.input_columns:
        return {"columns": [list(c) for c in model.input_columns]}
    if model.input_tensor is not None:
        dtype, shape = model.input_tensor
        return {"tensor": {"dtype": dtype, "shape": list(shape)}}
    return None


@dataclass(frozen=True)
class _ProbeFolder:
    """A probe's folder: the request and the sandbox report (which the probe can read but
    not write) at the top, and ``out/``, the only folder the sandboxed probe may write."""

    root: Path
    sandbox: bool

    @classmethod
    def create(cls, sandbox: bool) -> _ProbeFolder:
        folder = cls(Path(tempfile.mkdtemp(prefix="rebuild-env-probe-")), sandbox)
        _LIVE_FOLDERS.add(folder.root)
        (folder.out / OUTPUTS_DIR).mkdir(parents=True)
        return folder

    @property
    def out(self) -> Path:
        return self.root / WRITABLE_DIR

    def command(self, argv: Sequence[str | Path]) -> list[str | Path]:
        """``argv``, through the sandbox launcher unless it is off or unavailable."""
        report = self.root / _sandbox.REPORT_FILE
        return _sandbox.wrap(argv, write=[self.out], report=report, enabled=self.sandbox)

    def sandbox_info(self) -> SandboxInfo:
        """Which sandbox the probe ran in."""
        if not self.sandbox:
            return _sandbox.OFF
        if not _sandbox.available():
            return _sandbox.unavailable()
        return _sandbox.read_report(self.root / _sandbox.REPORT_FILE)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        _LIVE_FOLDERS.discard(self.root)


_LIVE_FOLDERS: set[Path] = set()


def remove_probe_folders() -> None:
    """Remove the folders of probes still alive: a warm probe never handed its request
    when the user pressed Ctrl-C (its process is stopped by ``_subprocess.stop_all``)."""
    for root in list(_LIVE_FOLDERS):
        shutil.rmtree(root, ignore_errors=True)
        _LIVE_FOLDERS.discard(root)


atexit.register(remove_probe_folders)


class WarmProbe:
    """A probe started before the plan is known: it imports what the model needs (as
    the last run of this bundle found) while the host reads, scans and plans. Used by
    :func:`run_probe` when the plan lands on the same interpreter, else discarded.

    It is sandboxed from its start, in the folder it will be given its request in."""

    def __init__(
        self,
        python: Path,
        modules: Sequence[str],
        *,
        sandbox: bool = True,
        blas_env: Mapping[str, str] | None = None,
    ) -> None:
        self.python = python
        self.blas_env = dict(blas_env or {})
        self.folder = _ProbeFolder.create(sandbox)
        self.tmp = self.folder.root
        self.proc = _subprocess.start(
            self.folder.command([python, "-I", PROBE, "--warm", json.dumps(list(modules))]),
            env=_probe_env(self.blas_env),
            cwd=self.folder.out,
            what="probe",
            stdin=True,
        )

    @property
    def sandboxed(self) -> bool:
        """Whether it runs in the sandbox (a run with another setting starts its own)."""
        return self.folder.sandbox

    def discard(self) -> None:
        """Stop it (idempotent) and remove its folder."""
        _subprocess.discard(self.proc)
        self.folder.remove()


def _probe_env(blas_env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The probe's environment; ``blas_env`` pins a BLAS kernel and thread count
    (``OPENBLAS_CORETYPE``...), read by the library when it loads, so set before start."""
    return _subprocess.clean_env({"PYTHONFAULTHANDLER": "1", **(blas_env or {})})


def _outputs_inside(
    request: dict[str, Any], out: Path
) -> tuple[dict[str, Any], list[tuple[Path, Path]]]:
    """The request with each saved output written inside ``out``, and the moves that put
    them where the caller asked (the sandboxed probe can write nowhere else)."""
    runs = []
    moves = []
    for number, run in enumerate(request.get("outputs") or ()):
        wanted = Path(run["file"])
        inside = out / OUTPUTS_DIR / f"{number}-{wanted.name}"
        runs.append({**run, "file": str(inside)})
        moves.append((inside, wanted))
    if not runs:
        return request, moves
    return {**request, "outputs": runs}, moves


def run_probe(
    python: Path,
    request: dict[str, Any],
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    warm: WarmProbe | None = None,
    sandbox: bool = True,
    blas_env: Mapping[str, str] | None = None,
) -> ProbeResult:
    """Run the probe in isolated mode, in the OS sandbox unless ``sandbox`` is false, and
    parse its result file.

    ``warm``, when it runs ``python`` with the same sandbox setting and ``blas_env``, is
    handed the request instead of starting anew. ``blas_env``: variables that pin the BLAS
    kernel and thread count for the probe (``OPENBLAS_CORETYPE=Sandybridge``...).
    """
    if warm is not None and (
        warm.python != python
        or warm.sandboxed != sandbox
        or warm.blas_env != dict(blas_env or {})
        or warm.proc.poll() is not None
    ):
        warm.discard()
        warm = None
    folder = warm.folder if warm is not None else _ProbeFolder.create(sandbox)
    try:
        return _run_in(folder, python, request, timeout=timeout, warm=warm, blas_env=blas_env)
    finally:
        if warm is not None:
            warm.discard()
        folder.remove()


def _run_in(
    folder: _ProbeFolder,
    python: Path,
    request: dict[str, Any],
    *,
    timeout: float,
    warm: WarmProbe | None,
    blas_env: Mapping[str, str] | None = None,
) -> ProbeResult:
    request_file = folder.root / REQUEST_FILE
    result_file = folder.out / RESULT_FILE
    sent, moves = _outputs_inside(request, folder.out)
    request_file.write_text(json.dumps(sent), encoding="utf-8")
    try:
        if warm is not None:
            send = json.dumps([str(request_file), str(result_file)]) + "\n"
            done = _subprocess.finish(
                warm.proc, send=send, timeout=timeout, check=False, what="probe"
            )
        else:
            done = _subprocess.run(
                folder.command([python, "-I", PROBE, request_file, result_file]),
                env=_probe_env(blas_env),
                cwd=folder.out,
                timeout=timeout,
                check=False,
                what="probe",
            )
    except _subprocess.CommandTimeout:
        return ProbeResult(
            level="failed",
            timed_out=True,
            seconds=timeout,
            error=ProbeError(
                "predict", "Timeout", f"the probe did not finish within {timeout:.0f} s"
            ),
            sandbox=folder.sandbox_info(),
        )
    sandbox = folder.sandbox_info()
    try:
        data = json.loads(result_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        reason = _subprocess.tail(done.stderr, 5) or f"exit code {done.returncode}"
        if done.returncode < 0:
            reason = f"the interpreter was killed by signal {-done.returncode}. {reason}"
        return ProbeResult(
            level="failed",
            seconds=done.seconds,
            error=ProbeError("probe", "Crash", f"the probe wrote no result: {reason}"),
            sandbox=sandbox,
        )
    for inside, wanted in moves:
        if inside.is_file() and not inside.is_symlink():
            shutil.move(inside, wanted)
    return _parse(data, done.seconds, sandbox)


def result_to_dict(result: ProbeResult) -> dict[str, Any]:
    """A probe result as the probe's own JSON shape (to store it)."""
    data = dataclasses.asdict(result)
    data["warnings"] = [{"category": c, "message": m} for c, m in result.warnings]
    data["sandbox"] = result.sandbox.to_json() if result.sandbox is not None else None
    return data


def result_from_dict(data: dict[str, Any]) -> ProbeResult:
    """A stored probe result."""
    return _parse(data, float(data.get("seconds", 0.0)), SandboxInfo.from_json(data.get("sandbox")))


def _parse(data: dict[str, Any], seconds: float, sandbox: SandboxInfo | None) -> ProbeResult:
    error = data.get("error")
    return ProbeResult(
        level=str(data.get("level", "failed")),
        python=str(data.get("python", "")),
        input=data.get("input"),
        error=ProbeError(
            stage=str(error.get("stage", "")),
            type=str(error.get("type", "")),
            message=str(error.get("message", "")),
            refused=bool(error.get("refused")),
        )
        if isinstance(error, dict)
        else None,
        warnings=tuple(
            (str(w.get("category", "")), str(w.get("message", "")))
            for w in data.get("warnings", [])
            if isinstance(w, dict)
        ),
        versions={str(k): str(v) for k, v in (data.get("versions") or {}).items()},
        comparison=data.get("comparison"),
        seconds=seconds,
        outputs=tuple(o for o in data.get("outputs") or () if isinstance(o, dict)),
        sandbox=sandbox,
        numeric_context=data.get("numeric_context")
        if isinstance(data.get("numeric_context"), dict)
        else None,
    )
