"""``rebuild-env verify B1 B2 ...``: rebuild (through the cache) and verify many bundles.

Bundles run in parallel threads (each rebuild spends its time in subprocesses: the
installer and the probe), and a failing bundle never stops the others: its error becomes
its row.
"""

from __future__ import annotations

import sysconfig
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .errors import ExitCode, RebuildEnvError
from .options import Options, Progress
from .rebuild import rebuild
from .report import Report


@dataclass(frozen=True)
class Worker:
    """Where a bundle was verified, when a Dask cluster did it (``verify --scheduler``)."""

    address: str
    """The Dask worker's address (``tcp://10.0.0.7:40123``)."""
    host: str
    """Its machine's host name."""


@dataclass(frozen=True)
class BatchRow:
    """The outcome of one bundle."""

    bundle: Path | str
    """As given: a path, or (``--scheduler``) an fsspec URL such as ``s3://bucket/model``."""
    status: str
    exit_code: ExitCode
    summary: str
    python: str = ""
    versions: tuple[tuple[str, str], ...] = ()
    seconds: float = 0.0
    report: Report | None = None
    bug: BaseException | None = field(default=None, compare=False, repr=False)
    """An internal error (a bug), kept whole so that ``--debug`` shows its traceback."""
    worker: Worker | None = None
    """The cluster worker that verified it; ``None`` for a local run."""

    def to_json(self) -> dict[str, Any]:
        """The row as JSON (the full report included when there is one)."""
        doc: dict[str, Any] = {
            "bundle": str(self.bundle),
            "status": self.status,
            "exit_code": int(self.exit_code),
            "summary": self.summary,
            "python": self.python,
            "versions": dict(self.versions),
            "seconds": round(self.seconds, 3),
            "report": self.report.to_json() if self.report else None,
        }
        if self.worker is not None:
            doc["worker"] = {"address": self.worker.address, "host": self.worker.host}
        return doc


KEY_DISTRIBUTIONS = ("scikit-learn", "numpy", "scipy", "pandas")


def verify_one(
    bundle: Path,
    options: Options,
    number: int,
    on_start: Callable[[int, Path], None] | None = None,
    progress: Progress | None = None,
) -> BatchRow:
    """Rebuild and verify one bundle; any failure becomes the row (this never raises).

    The same call serves a local ``--jobs`` run and each Dask task of ``--scheduler``."""
    if on_start is not None:
        on_start(number, bundle)
    started = time.perf_counter()
    try:
        fresh = replace(options, seconds={})
        report = rebuild(bundle, fresh) if progress is None else rebuild(bundle, fresh, progress)
    except RebuildEnvError as exc:
        return BatchRow(
            bundle, "error", exc.exit_code, exc.one_line(), seconds=time.perf_counter() - started
        )
    except Exception as exc:  # a bug must not stop the other bundles  # noqa: BLE001
        summary = f"internal error: {type(exc).__name__}: {exc}"
        seconds = time.perf_counter() - started
        return BatchRow(bundle, "error", ExitCode.INTERNAL, summary, seconds=seconds, bug=exc)
    versions = report.probe.versions if report.probe else {}
    return BatchRow(
        bundle=bundle,
        status=report.status,
        exit_code=report.exit_code,
        summary=report.headline(),
        python=report.plan.python_version,
        versions=tuple((k, versions[k]) for k in KEY_DISTRIBUTIONS if k in versions),
        seconds=time.perf_counter() - started,
        report=report,
    )


def verify_all(
    bundles: Sequence[Path],
    options: Options,
    *,
    jobs: int = 1,
    on_done: Callable[[BatchRow], None] | None = None,
    on_start: Callable[[int, Path], None] | None = None,
) -> list[BatchRow]:
    """Rebuild and verify every bundle; rows in the order given.

    ``on_start(n, bundle)`` is called as the n-th bundle (from 1) starts, ``on_done(row)``
    as each finishes, in the order they finish (a slow bundle holds back no other's line).
    """
    # sysconfig fills its config variables lazily and not thread-safely: a second thread
    # can read the half-filled dict (``get_config_var("EXE")`` -> None, which uv's
    # ``find_uv_bin`` then adds to a str). Fill it here, before any worker starts.
    sysconfig.get_config_vars()
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [
            pool.submit(verify_one, b, options, n, on_start) for n, b in enumerate(bundles, start=1)
        ]
        for future in as_completed(futures):
            if on_done is not None:
                on_done(future.result())
        return [future.result() for future in futures]


def batch_exit_code(rows: Sequence[BatchRow]) -> ExitCode:
    """0 when every bundle verified; else the code of the first one that did not."""
    return next((r.exit_code for r in rows if r.exit_code != ExitCode.OK), ExitCode.OK)
