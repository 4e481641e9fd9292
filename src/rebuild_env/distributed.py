"""``verify BUNDLES --scheduler ADDRESS``: one Dask task per bundle on a cluster's workers.

Dask distributed does the scheduling: placement, and a worker that dies has its task run
again on another. This module only turns bundles into tasks and tasks back into the rows a
local run returns: each task is the very call a local ``--jobs`` run makes
(:func:`rebuild_env.batch.verify_one`, through the worker's own env cache), and its row
comes back the same, naming the worker that produced it.

It is imported only when a scheduler is named, so rebuild-env without the ``dask`` extra
never needs Dask; this module imports it lazily too, to say in one line what to install.
"""

from __future__ import annotations

import os
import re
import socket
import tempfile
import traceback
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from .batch import BatchRow, Worker, verify_one
from .errors import BundleError, ExitCode, ExtraMissing, SchedulerUnreachable, UsageError
from .rebuild import Options

SCHEDULER_VARIABLE = "DASK_SCHEDULER_ADDRESS"
"""Dask's own variable for the scheduler's address; ``--scheduler`` wins over it."""
CONNECT_TIMEOUT_S = 10.0
"""How long the scheduler may take to answer: enough for a busy one across a network, short
enough that a wrong address is an error in seconds rather than a hang."""
CLOSE_TIMEOUT_S = 5.0
"""How long closing the connection may take (the results are in by then)."""
EXTRA_HINT = "install the extra: pip install 'rebuild-env[dask]'"
DEFAULT_SCHEME = "tcp"
PROGRESS_TOPIC = "rebuild-env-verify"
"""The Dask event topic each task reports its stages on (``task``, ``read``, ``build``...)."""
TASK_KEY_PREFIX = "rebuild-env-verify"
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")

Bundle = Path | str
"""A bundle as given: a path the workers can read, or an fsspec URL (``s3://...``)."""


class RemoteBug(Exception):
    """An internal error raised on a worker, carried back as its formatted traceback (the
    original exception and its traceback need not survive pickling)."""


def is_url(bundle: Bundle) -> bool:
    """True for ``s3://...``, ``gs://...``, ``file://...``: a bundle fsspec fetches."""
    return isinstance(bundle, str) and _URL.match(bundle) is not None


def normalise_address(address: str) -> str:
    """``host:port`` -> ``tcp://host:port``; refuse what names no host and port (Dask would
    otherwise spend its whole timeout on it, then say little)."""
    full = address if "://" in address else f"{DEFAULT_SCHEME}://{address}"
    try:
        parts = urlsplit(full)
        port = parts.port
    except ValueError:
        port = None
        parts = None
    if parts is None or not parts.hostname or port is None:
        raise UsageError(
            f"--scheduler {address!r} is not a scheduler address",
            hint="give tcp://HOST:PORT (or HOST:PORT), as `dask scheduler` prints it",
        )
    return full


def _distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise ExtraMissing(
            "--scheduler needs Dask distributed, which is not installed here",
            hint=EXTRA_HINT,
        ) from exc
    return distributed


# --- on the worker -------------------------------------------------------------------


@contextmanager
def local_copy(bundle: str) -> Iterator[Path]:
    """The bundle as a local folder (or model file): a path as is, a URL copied by fsspec
    into a temporary folder that is removed afterwards."""
    if not is_url(bundle):
        yield Path(bundle)
        return
    try:
        import fsspec
    except ImportError as exc:
        raise ExtraMissing(
            f"{bundle}: reading a URL needs fsspec on the worker",
            hint="pip install fsspec on the workers (and s3fs for s3://, gcsfs for gs://)",
        ) from exc
    with tempfile.TemporaryDirectory(prefix="rebuild-env-bundle-") as tmp:
        try:
            fs, path = fsspec.core.url_to_fs(bundle)
            path = str(path).rstrip("/")
            if not fs.exists(path):
                raise BundleError("no such bundle", path=bundle)
            target = Path(tmp) / (PurePosixPath(path).name or "bundle")
            if fs.isdir(path):
                fs.get(f"{path}/", str(target), recursive=True)
            else:
                fs.get(path, str(target))
        except (OSError, ValueError) as exc:
            raise BundleError(f"cannot copy it to the worker: {exc}", path=bundle) from exc
        yield target


def run_task(location: str, options: Options, number: int, run_id: str) -> BatchRow:
    """One bundle on a worker: the local run's call, its stages told as Dask events."""
    from distributed import get_worker

    worker = get_worker()
    where = Worker(address=str(worker.address), host=socket.gethostname())

    def tell(stage: str, event: str) -> None:
        worker.log_event(
            PROGRESS_TOPIC,
            {
                "run": run_id,
                "number": number,
                "stage": stage,
                "event": event,
                "worker": where.address,
                "host": where.host,
                "pid": os.getpid(),
            },
        )

    tell("task", "start")
    try:
        with local_copy(location) as local:
            row = verify_one(local, options, number, progress=tell)
    except BundleError as exc:  # the copy failed: that bundle's row, as a local run's error
        row = BatchRow(location, "error", exc.exit_code, exc.one_line())
    if row.bug is not None:
        text = "".join(traceback.format_exception(row.bug))
        row = replace(row, bug=RemoteBug(f"on {where.host} ({where.address}):\n{text}"))
    return replace(row, worker=where)


# --- on the client -------------------------------------------------------------------


def _connect(distributed: Any, address: str, timeout: float) -> Any:
    try:
        return distributed.Client(address, timeout=timeout, set_as_default=False)
    except (OSError, ValueError) as exc:  # TimeoutError is an OSError
        why = "" if "timed out" in str(exc).lower() else f" ({exc})"
        raise SchedulerUnreachable(
            f"cannot reach the Dask scheduler at {address} within {timeout:g} s{why}",
            hint=f"check the address and that `dask scheduler` runs there, or unset "
            f"{SCHEDULER_VARIABLE}",
        ) from exc


def _failed_row(bundle: Bundle, future: Any, distributed: Any) -> BatchRow:
    """The row of a task that returned nothing: its workers kept dying, or it was cancelled."""
    if future.status == "cancelled":
        return BatchRow(
            bundle,
            "error",
            ExitCode.INTERNAL,
            "cancelled on the cluster (the scheduler went away, or restarted)",
        )
    exc = future.exception()
    if isinstance(exc, distributed.KilledWorker):
        return BatchRow(
            bundle,
            "error",
            ExitCode.BUILD_FAILED,
            f"every worker that ran it died ({exc}) — check the workers' memory and logs",
        )
    return BatchRow(
        bundle,
        "error",
        ExitCode.INTERNAL,
        f"internal error on the cluster: {type(exc).__name__}: {exc}",
        bug=exc,
    )


def _on_cluster(bundle: Bundle) -> str:
    """What a worker is told to read: a URL as is, a path made absolute (its cwd differs)."""
    return bundle if isinstance(bundle, str) and is_url(bundle) else str(Path(bundle).absolute())


def verify_on_cluster(
    bundles: Sequence[Bundle],
    options: Options,
    *,
    address: str,
    on_done: Callable[[BatchRow], None] | None = None,
    on_start: Callable[[int, str], None] | None = None,
    connect_timeout: float = CONNECT_TIMEOUT_S,
) -> list[BatchRow]:
    """Verify every bundle on the cluster behind ``address``; rows in the order given.

    ``on_start(n, where)`` is called as a worker starts the n-th bundle (``where``: its
    host), ``on_done(row)`` as each row comes back. Any exception here, Ctrl-C included,
    cancels this run's tasks before it propagates.
    """
    distributed = _distributed()
    client = _connect(distributed, normalise_address(address), connect_timeout)
    run_id = uuid.uuid4().hex[:12]
    options = replace(options, code_paths=tuple(p.absolute() for p in options.code_paths))

    def heard(event: tuple[float, dict[str, Any]]) -> None:
        msg = event[1]
        if msg.get("run") == run_id and msg.get("stage") == "task" and on_start is not None:
            on_start(int(msg["number"]), str(msg.get("host", "")))

    futures: dict[Any, tuple[int, Bundle]] = {}
    try:
        client.subscribe_topic(PROGRESS_TOPIC, heard)
        for number, bundle in enumerate(bundles, start=1):
            future = client.submit(
                run_task,
                _on_cluster(bundle),
                options,
                number,
                run_id,
                key=f"{TASK_KEY_PREFIX}-{run_id}-{number}",
                pure=False,
            )
            futures[future] = (number, bundle)
        rows: dict[int, BatchRow] = {}
        for future in distributed.as_completed(list(futures), loop=client.loop):
            number, bundle = futures[future]
            if future.status == "finished":
                row = replace(future.result(), bundle=bundle)
            else:
                row = _failed_row(bundle, future, distributed)
            rows[number] = row
            if on_done is not None:
                on_done(row)
        return [rows[n] for n in sorted(rows)]
    except BaseException:
        # Ctrl-C (SIGTERM arrives as KeyboardInterrupt too): drop this run's tasks; a worker
        # already running one finishes that bundle into its cache, its row is discarded.
        client.cancel(list(futures), force=True)
        raise
    finally:
        client.unsubscribe_topic(PROGRESS_TOPIC)
        client.close(timeout=CLOSE_TIMEOUT_S)
